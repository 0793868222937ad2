package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/serve/sqldb"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/serve/storetest"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/sqlseed"
)

// prepare migrates db (without the sample seed) and inserts n videos.
func prepare(t *testing.T, db *sql.DB, d sqlseed.Dialect, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := (&sqlseed.Migrator{DB: db, Dialect: d}).Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO video (video_title, video_image, video_url) VALUES (?, ?, ?)",
			fmt.Sprintf("video %d", i), fmt.Sprintf("https://m.example/p/%d.jpg", i), fmt.Sprintf("https://m.example/v/%d.mp4", i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVideoStoreMySQL(t *testing.T) {
	storetest.RunVideoStore(t, func(t *testing.T, n int) video.Store {
		db, _, err := mysql.Open(testenv.MySQLDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		prepare(t, db, sqlseed.MySQL, n)
		s := sqldb.NewVideoStore(db, sqlseed.MySQL, 5*time.Second)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestVideoStoreSQLite(t *testing.T) {
	storetest.RunVideoStore(t, func(t *testing.T, n int) video.Store {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "video.db"))
		if err != nil {
			t.Fatal(err)
		}
		prepare(t, db, sqlseed.SQLite, n)
		s := sqldb.NewVideoStore(db, sqlseed.SQLite, 5*time.Second)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// On MySQL an edit that leaves the count and the ids alone still moves the stamp: updated_at
// follows every UPDATE by itself, which is how the app's list sees an operator's edit.
func TestVideoStampSeesAnEditOnMySQL(t *testing.T) {
	ctx := context.Background()
	db, _, err := mysql.Open(testenv.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	prepare(t, db, sqlseed.MySQL, 3)
	s := sqldb.NewVideoStore(db, sqlseed.MySQL, 5*time.Second)
	t.Cleanup(func() { s.Close() })
	// Rows older than this second, so the edit's own second is a new one.
	if _, err := db.ExecContext(ctx, "UPDATE video SET updated_at = '2020-01-01 00:00:00'"); err != nil {
		t.Fatal(err)
	}
	before, err := s.VideoStamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE video SET video_title = 'edited' WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	after, err := s.VideoStamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before || after.Count != before.Count || after.MaxID != before.MaxID {
		t.Fatalf("stamp before the edit %+v, after %+v: want only Updated to move", before, after)
	}
}
