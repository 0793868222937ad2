package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/serve/storetest"
)

func newDrawings(t *testing.T) *sqlite.Drawings {
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
}

func TestSQLiteDrawings(t *testing.T) {
	storetest.RunDrawingStore(t, func(t *testing.T) session.DrawingStore { return newDrawings(t) })
}

// The cache in front of the store keeps its contract.
func TestSQLiteDrawingsCached(t *testing.T) {
	storetest.RunDrawingStore(t, func(t *testing.T) session.DrawingStore { return session.NewCachedDrawings(newDrawings(t), 0) })
}

// The pool keeps the connections it opened: under load a query takes an idle one instead of opening
// a new one and running its pragmas again.
func TestPoolKeepsItsConnections(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "pool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var conns []*sql.Conn
	for i := 0; i < 4; i++ {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	if st := db.Stats(); st.Idle != 4 || st.MaxOpenConnections < 4 {
		t.Fatalf("after 4 connections were used: %d idle, at most %d open", st.Idle, st.MaxOpenConnections)
	}
}
