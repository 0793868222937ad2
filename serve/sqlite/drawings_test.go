package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/serve/storetest"
)

func TestSQLiteDrawings(t *testing.T) {
	storetest.RunDrawingStore(t, func(t *testing.T) session.DrawingStore {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "d.db"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := sqlite.NewDrawings(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}
