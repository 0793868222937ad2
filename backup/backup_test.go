package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/backup"
	bcos "github.com/qcloud-applet/applet/backup/cos"
	"github.com/qcloud-applet/applet/backup/dir"
	"github.com/qcloud-applet/applet/backup/files"
	bmongo "github.com/qcloud-applet/applet/backup/mongo"
	bmysql "github.com/qcloud-applet/applet/backup/mysql"
	bsqlite "github.com/qcloud-applet/applet/backup/sqlite"
	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/cos"
	smongo "github.com/qcloud-applet/applet/serve/mongo"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/sqldb"
	ssqlite "github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/serve/video"
)

// targets are the Target implementations every conformance test runs against.
func targets(t *testing.T) map[string]func(t *testing.T) backup.Target {
	return map[string]func(t *testing.T) backup.Target{
		"dir": func(t *testing.T) backup.Target {
			d, err := dir.New(filepath.Join(t.TempDir(), "backups"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		"cos": func(t *testing.T) backup.Target { return cosTarget(t, nil) },
	}
}

func cosTarget(t *testing.T, fake **cosfake.Server) backup.Target {
	srv, err := cosfake.New("AKIDbackup", "backupsecret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.CreateBucket("backup-1250000000", "private")
	if fake != nil {
		*fake = srv
	}
	tg, err := bcos.New(cos.Config{Bucket: "backup-1250000000", Region: "ap-guangzhou", SecretID: "AKIDbackup", SecretKey: "backupsecret", Endpoint: srv.Addr}, "demo/")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestTargetConformance(t *testing.T) {
	for name, mk := range targets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tg := mk(t)
			if _, err := tg.Get(ctx, "parts/ab/abc"); !errors.Is(err, backup.ErrNotFound) {
				t.Fatalf("missing object: %v, want ErrNotFound", err)
			}
			for i, n := range []string{"parts/ab/abc", "parts/cd/cde", "manifests/1.json"} {
				body := strings.Repeat("x", i+1)
				if err := tg.Put(ctx, n, strings.NewReader(body), int64(len(body))); err != nil {
					t.Fatal(err)
				}
			}
			got, err := tg.List(ctx, "parts/")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range got {
				names = append(names, fmt.Sprintf("%s:%d", o.Name, o.Size))
				if time.Since(o.Modified) > time.Minute || o.Modified.After(time.Now().Add(time.Minute)) {
					t.Errorf("%s: modified %v", o.Name, o.Modified)
				}
			}
			slices.Sort(names)
			if want := []string{"parts/ab/abc:1", "parts/cd/cde:2"}; !slices.Equal(names, want) {
				t.Fatalf("list = %v, want %v", names, want)
			}
			rc, err := tg.Get(ctx, "manifests/1.json")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "xxx" {
				t.Fatalf("get = %q", b)
			}
			if err := tg.Delete(ctx, "parts/ab/abc"); err != nil {
				t.Fatal(err)
			}
			if err := tg.Delete(ctx, "parts/ab/abc"); err != nil {
				t.Fatalf("deleting a missing object: %v", err)
			}
			if got, _ := tg.List(ctx, "parts/"); len(got) != 1 {
				t.Fatalf("after delete: %v", got)
			}
		})
	}
}

// rig is every store of a deployment, filled with known data.
type rig struct {
	mysqlDSN, mongoURI, mongoDB string
	dataDir                     string
	videos                      *sqldb.VideoStore
	drawings                    session.DrawingStore
	sqliteDrawings              session.DrawingStore
	stores                      []backup.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{mysqlDSN: testenv.MySQLDatabase(t), mongoURI: testenv.MongoURI(t), mongoDB: testenv.Unique("backup_"), dataDir: t.TempDir()}
	vs, _, err := sqldb.OpenMySQL(ctx, r.mysqlDSN, 10*time.Second, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	r.videos = vs
	db, err := sql.Open("mysql", r.mysqlDSN)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO video (video_title, video_image, video_url) VALUES (?, ?, ?)", fmt.Sprintf("视频 %d 🎬", i), "/p.jpg", "/v.mp4"); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	md, err := smongo.Open(r.mongoURI, r.mongoDB, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	r.drawings = md
	sdb, err := ssqlite.Open(filepath.Join(r.dataDir, "session.db"))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ssqlite.NewDrawings(ctx, sdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	r.sqliteDrawings = sd

	ms, err := bmysql.New("video", r.mysqlDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	mg, err := bmongo.New("drawings", r.mongoURI, r.mongoDB, smongo.Collection)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mg.Close() })
	r.stores = []backup.Store{ms, mg, bsqlite.New("drawings-sqlite", filepath.Join(r.dataDir, "session.db")), files.New("album", filepath.Join(r.dataDir, "album"))}
	return r
}

var contents = []string{"好看😀", "it's a \"quote\" \\ and a\nnewline", "\x00\x1a\r\t", strings.Repeat("長", 400)}

func (r *rig) fill(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if _, err := r.videos.AddComment(ctx, video.Comment{VID: 1 + int64(i%3), Nick: fmt.Sprintf("用户%d🐱", i), Avatar: "", Content: contents[i%len(contents)]}); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat(`[{"x":1,"y":2,"c":"#ff0000"}]`, (1<<20)/30)
	for i, d := range []session.DrawingStore{r.drawings, r.sqliteDrawings} {
		for j := 0; j < 3; j++ {
			actions := fmt.Sprintf(`[{"n":%d,"t":"画😀"}]`, j)
			if j == 0 {
				actions = big
			}
			if err := d.Save(ctx, fmt.Sprintf("o-%d", i), session.Drawing{ID: fmt.Sprintf("d%d", j), Actions: actions}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 5; i++ {
		p := filepath.Join(r.dataDir, "album", "photos", fmt.Sprintf("9999%d", i), fmt.Sprintf("%d-abcd.jpg", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i), 0xff, 0xd8}, 1000*(i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(r.dataDir, "album", ".spool"), 0o755)
	os.WriteFile(filepath.Join(r.dataDir, "album", ".spool", "upload-1"), []byte("half an upload"), 0o600)
}

// snapshot is every store's content, row by row and byte by byte.
func (r *rig) snapshot(t *testing.T) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	db, err := sql.Open("mysql", r.mysqlDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tbl := range []string{"video", "comment"} {
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+tbl+" ORDER BY id")
		if err != nil {
			out[tbl+" error"] = []string{err.Error()}
			continue
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			rows.Scan(ptrs...)
			out[tbl] = append(out[tbl], fmt.Sprintf("%q", vals))
		}
		rows.Close()
	}
	// The embedded store is opened afresh, as a backend restarted after a restore opens it.
	sdb, err := ssqlite.Open(filepath.Join(r.dataDir, "session.db"))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := ssqlite.NewDrawings(ctx, sdb)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for i, d := range []session.DrawingStore{r.drawings, fresh} {
		list, err := d.List(ctx, fmt.Sprintf("o-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		for _, dr := range list {
			out[fmt.Sprint("drawings", i)] = append(out[fmt.Sprint("drawings", i)], fmt.Sprintf("%s %x %d", dr.ID, dr.Actions, dr.Updated.UnixMilli()))
		}
	}
	filepath.Walk(filepath.Join(r.dataDir, "album"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && !strings.Contains(p, ".spool") {
			b, _ := os.ReadFile(p)
			out["album"] = append(out["album"], fmt.Sprintf("%s %x %v", p, b, info.Mode()))
		}
		return nil
	})
	return out
}

// wipe removes every store's data, as a lost instance would.
func (r *rig) wipe(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("mysql", r.mysqlDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"SET FOREIGN_KEY_CHECKS=0", "DROP TABLE comment", "DROP TABLE video", "DROP TABLE schema_migrations"} {
		db.ExecContext(ctx, q)
	}
	for i, d := range []session.DrawingStore{r.drawings, r.sqliteDrawings} {
		for j := 0; j < 3; j++ {
			d.Delete(ctx, fmt.Sprintf("o-%d", i), fmt.Sprintf("d%d", j))
		}
	}
	os.RemoveAll(filepath.Join(r.dataDir, "album"))
}

func equal(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s: %d rows after restore, %d before; first difference in %v", k, len(got[k]), len(w), firstDiff(got[k], w))
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return fmt.Sprint("row ", i)
		}
	}
	return "none"
}

func TestBackupRestoreEveryStore(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprint("encrypted=", encrypted), func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			r.fill(t, 200)
			want := r.snapshot(t)
			if len(want["comment"]) < 200 || len(want["album"]) != 5 {
				t.Fatalf("filled: %d comments, %d files", len(want["comment"]), len(want["album"]))
			}
			var key *backup.Key
			if encrypted {
				key, _ = backup.ParseKey([]byte(strings.Repeat("ab", 32)))
			}
			repo := backup.New(cosTarget(t, nil), key)
			m, err := repo.Backup(ctx, r.stores, "test")
			if err != nil {
				t.Fatal(err)
			}
			if err := repo.Verify(ctx, []*backup.Manifest{m}, r.stores); err != nil {
				t.Fatalf("verify: %v", err)
			}
			// Restoring over the data it was made from changes nothing and needs no --force.
			if err := repo.Restore(ctx, m, r.stores, false); err != nil {
				t.Fatalf("restore over the same data: %v", err)
			}
			equal(t, r.snapshot(t), want)

			r.wipe(t)
			if got := r.snapshot(t); len(got["comment"]) != 0 || len(got["album"]) != 0 {
				t.Fatal("wipe left data")
			}
			if err := repo.Restore(ctx, m, r.stores, false); err != nil {
				t.Fatalf("restore: %v", err)
			}
			equal(t, r.snapshot(t), want)
			// The app works on the restored tables: a comment gets the next id.
			c, err := r.videos.AddComment(ctx, video.Comment{VID: 1, Nick: "n", Content: "after"})
			if err != nil {
				t.Fatalf("comment after restore: %v", err)
			}
			if want := int64(len(want["comment"]) + 1); c.ID < want {
				t.Errorf("id after restore %d, want ≥ %d", c.ID, want)
			}
		})
	}
}

// failing wraps a target so that Put (or Get) fails after n successful calls.
type failing struct {
	backup.Target
	puts, gets atomic.Int64
	putLimit   int64
	getLimit   int64
}

func (f *failing) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if f.putLimit > 0 && f.puts.Add(1) > f.putLimit {
		return errors.New("disk went away")
	}
	return f.Target.Put(ctx, name, r, size)
}

func (f *failing) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if f.getLimit > 0 && f.gets.Add(1) > f.getLimit {
		return nil, errors.New("network went away")
	}
	return f.Target.Get(ctx, name)
}
