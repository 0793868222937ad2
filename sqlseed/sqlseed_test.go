package sqlseed_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/sqlseed"
)

type opener func(t *testing.T) *sql.DB

var dialects = map[sqlseed.Dialect]opener{
	sqlseed.MySQL: func(t *testing.T) *sql.DB {
		db, _, err := mysql.Open(testenv.MySQLDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	},
	sqlseed.SQLite: func(t *testing.T) *sql.DB {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "v.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	},
}

func forEachDialect(t *testing.T, f func(t *testing.T, d sqlseed.Dialect, db *sql.DB)) {
	for _, d := range []sqlseed.Dialect{sqlseed.MySQL, sqlseed.SQLite} {
		t.Run(string(d), func(t *testing.T) { f(t, d, dialects[d](t)) })
	}
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func names(steps []sqlseed.Step) []string {
	out := []string{}
	for _, s := range steps {
		out = append(out, s.String())
	}
	return out
}

func TestEveryVersionExistsInBothDialects(t *testing.T) {
	my, err := sqlseed.Migrations(sqlseed.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := sqlseed.Migrations(sqlseed.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names(my), names(lite)) || len(my) < 2 {
		t.Fatalf("mysql %v, sqlite %v", names(my), names(lite))
	}
	seeds, _ := sqlseed.Seeds(sqlseed.MySQL)
	if len(seeds) != 2 || len(seeds[0].Statements) < 8 || seeds[0].OnlyIntoEmpty != "video" {
		t.Fatalf("the sample seed must hold at least 8 videos: %v", seeds)
	}
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlseed.Dialect, db *sql.DB) {
		ctx := context.Background()
		m := &sqlseed.Migrator{DB: db, Dialect: d}
		st, err := m.Status(ctx, true)
		if err != nil || st.Version != 0 || len(st.Pending) != 4 {
			t.Fatalf("fresh status = %+v, %v", st, err)
		}
		done, err := m.Apply(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(done); !reflect.DeepEqual(got, []string{"migration 0001_video", "migration 0002_comment", "seed 0001_sample_videos", "seed 0002_sample_media"}) {
			t.Fatalf("applied %v", got)
		}
		videos := count(t, db, "video")
		if videos < 8 {
			t.Fatalf("%d sample videos", videos)
		}
		again, err := m.Apply(ctx, true)
		if err != nil || len(again) != 0 {
			t.Fatalf("second apply did %v, %v", names(again), err)
		}
		if count(t, db, "video") != videos {
			t.Fatal("second apply changed the rows")
		}
		st, err = m.Status(ctx, true)
		if err != nil || st.Version != sqlseed.Latest(d) || len(st.Pending) != 0 {
			t.Fatalf("status after = %+v, %v", st, err)
		}
		// Sample rows a team deleted stay deleted.
		if _, err := db.Exec("DELETE FROM video WHERE id <= 3"); err != nil {
			t.Fatal(err)
		}
		if done, err := m.Apply(ctx, true); err != nil || len(done) != 0 || count(t, db, "video") != videos-3 {
			t.Fatalf("apply after deleting samples: %v, %v, %d rows", names(done), err, count(t, db, "video"))
		}
	})
}

// version1 and version3 are what an older and a newer applet carry.
func fsWith(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

func TestNewerBinaryAppliesOnlyWhatIsNew(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlseed.Dialect, db *sql.DB) {
		ctx := context.Background()
		old := fsWith(map[string]string{
			"migrations/0001_a.sql":                   "CREATE TABLE a (id INT NOT NULL PRIMARY KEY);",
			"seed/0001_rows.sql":                      "INSERT INTO a (id) VALUES (1);",
			"migrations/0002_b." + string(d) + ".sql": "CREATE TABLE b (id INT NOT NULL PRIMARY KEY);",
		})
		if _, err := (&sqlseed.Migrator{DB: db, Dialect: d, FS: old}).Apply(ctx, true); err != nil {
			t.Fatal(err)
		}
		newer := fsWith(map[string]string{
			"migrations/0001_a.sql":                   "CREATE TABLE a (id INT NOT NULL PRIMARY KEY);",
			"seed/0001_rows.sql":                      "INSERT INTO a (id) VALUES (1);",
			"migrations/0002_b." + string(d) + ".sql": "CREATE TABLE b (id INT NOT NULL PRIMARY KEY);",
			"migrations/0003_c.sql":                   "-- a comment line\nCREATE TABLE c (id INT NOT NULL PRIMARY KEY);\nINSERT INTO c (id) VALUES (7);",
			"seed/0002_more.sql":                      "INSERT INTO a (id) VALUES (2);",
		})
		done, err := (&sqlseed.Migrator{DB: db, Dialect: d, FS: newer}).Apply(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(done); !reflect.DeepEqual(got, []string{"migration 0003_c", "seed 0002_more"}) {
			t.Fatalf("newer binary applied %v", got)
		}
		if count(t, db, "a") != 2 || count(t, db, "c") != 1 {
			t.Fatal("rows wrong after upgrade")
		}
		// The old binary now meets a newer schema and says so instead of guessing.
		_, err = (&sqlseed.Migrator{DB: db, Dialect: d, FS: old}).Status(ctx, false)
		if !errors.Is(err, sqlseed.ErrNewerSchema) || !strings.Contains(err.Error(), "version 3") {
			t.Fatalf("old binary on newer schema: %v", err)
		}
	})
}

func TestFailingStatementIsNamedAndNotRecorded(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlseed.Dialect, db *sql.DB) {
		ctx := context.Background()
		bad := fsWith(map[string]string{
			"migrations/0001_a.sql": "CREATE TABLE a (id INT NOT NULL PRIMARY KEY);",
			"migrations/0002_b.sql": "CREATE TABLE b (id INT NOT NULL PRIMARY KEY);\nCREATE TABLEE broken (id INT);",
		})
		m := &sqlseed.Migrator{DB: db, Dialect: d, FS: bad}
		done, err := m.Apply(ctx, false)
		var se *sqlseed.StatementError
		if !errors.As(err, &se) || se.Index != 2 || !strings.Contains(err.Error(), "applying migration 0002_b: statement 2 (CREATE TABLEE broken") {
			t.Fatalf("err = %v", err)
		}
		if len(done) != 1 {
			t.Fatalf("applied %v before the failure", names(done))
		}
		st, err := m.Status(ctx, false)
		if err != nil || st.Version != 1 || len(st.Pending) != 1 {
			t.Fatalf("status after failure = %+v, %v", st, err)
		}
		// Fixed, it applies: the statements that ran before the failure are re-runnable.
		fixed := fsWith(map[string]string{
			"migrations/0001_a.sql": "CREATE TABLE a (id INT NOT NULL PRIMARY KEY);",
			"migrations/0002_b.sql": "CREATE TABLE IF NOT EXISTS b (id INT NOT NULL PRIMARY KEY);\nCREATE TABLE fixed (id INT);",
		})
		if done, err := (&sqlseed.Migrator{DB: db, Dialect: d, FS: fixed}).Apply(ctx, false); err != nil || len(done) != 1 {
			t.Fatalf("fixed apply: %v, %v", names(done), err)
		}
	})
}

func TestConcurrentApplySeedsOnce(t *testing.T) {
	db := dialects[sqlseed.MySQL](t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Apply(context.Background(), true)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seeds, _ := sqlseed.Seeds(sqlseed.MySQL)
	if n := count(t, db, "video"); n != len(seeds[0].Statements) {
		t.Fatalf("%d videos after 4 concurrent applies, want %d", n, len(seeds[0].Statements))
	}
}

func TestSplit(t *testing.T) {
	got := sqlseed.Split("-- c\nCREATE TABLE a (\n  x INT\n);\n\nINSERT INTO a VALUES (1);\nSELECT 1")
	want := []string{"CREATE TABLE a (\n  x INT\n)", "INSERT INTO a VALUES (1)", "SELECT 1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Split = %q", got)
	}
}

// A database seeded by an earlier version (placeholder URLs) gets the shipped media; rows a team
// changed keep theirs; sample rows never go beside a team's own videos.
func TestSampleMediaSeedAndEmptyTable(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlseed.Dialect, db *sql.DB) {
		ctx := context.Background()
		m := &sqlseed.Migrator{DB: db, Dialect: d}
		if _, err := m.Apply(ctx, false); err != nil { // the schema, no seed yet
			t.Fatal(err)
		}
		for _, q := range []string{
			"INSERT INTO video (video_title, video_image, video_url) VALUES ('Harbor Lights', 'https://media.example.com/applet/posters/01-harbor-lights.jpg', 'https://media.example.com/applet/videos/01-harbor-lights.mp4')",
			"INSERT INTO video (video_title, video_image, video_url) VALUES ('Ours', 'https://media.example.com/applet/posters/02-the-long-ridge.jpg', 'https://ours.example/2.mp4')",
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		var skipped []string
		m.Progress = func(s sqlseed.Step, _ time.Duration) {
			if s.Skipped != "" {
				skipped = append(skipped, s.Name+": "+s.Skipped)
			}
		}
		if _, err := m.Apply(ctx, true); err != nil {
			t.Fatal(err)
		}
		if count(t, db, "video") != 2 || len(skipped) != 1 || skipped[0] != "0001_sample_videos: video already holds 2 rows" {
			t.Fatalf("%d videos, skipped %v", count(t, db, "video"), skipped)
		}
		var img1, img2 string
		db.QueryRow("SELECT video_image FROM video WHERE video_title = 'Harbor Lights'").Scan(&img1)
		db.QueryRow("SELECT video_image FROM video WHERE video_title = 'Ours'").Scan(&img2)
		if img1 != "/applet/video/media/01-harbor-lights.jpg" || img2 != "https://media.example.com/applet/posters/02-the-long-ridge.jpg" {
			t.Fatalf("after the media seed: %q, %q", img1, img2)
		}
	})
}
