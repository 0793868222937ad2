package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	"github.com/qcloud-applet/applet/serve"
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
	vs, _, err := sqldb.OpenMySQL(ctx, r.mysqlDSN, 10*time.Second, true, false, nil)
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

func TestKilledBackupLeavesNoBackup(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.fill(t, 50)
	inner := cosTarget(t, nil)
	f := &failing{Target: inner, putLimit: 2}
	repo := backup.New(f, nil)
	if _, err := repo.Backup(ctx, r.stores, "test"); err == nil {
		t.Fatal("a backup whose target fails succeeded")
	}
	list, err := backup.New(inner, nil).List(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("after a killed backup: %d backups listed (%v), want none", len(list), err)
	}
	if parts, _ := inner.List(ctx, "parts/"); len(parts) == 0 {
		t.Fatal("the killed backup stored no part: the test did not kill it midway")
	}
	f.putLimit = 0
	m, err := repo.Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatalf("the next backup: %v", err)
	}
	if err := repo.Verify(ctx, []*backup.Manifest{m}, r.stores); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedPartIsNamedAndRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.fill(t, 50)
	var fake *cosfake.Server
	tg := cosTarget(t, &fake)
	repo := backup.New(tg, nil)
	m, err := repo.Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := m.Store("drawings")
	damaged := e.Files[0].Parts[0].ID
	if !fake.Damage("backup-1250000000", "demo/parts/"+damaged[:2]+"/"+damaged) {
		t.Fatal("no such part")
	}
	err = repo.Verify(ctx, []*backup.Manifest{m}, r.stores)
	if err == nil || !strings.Contains(err.Error(), damaged) || !strings.Contains(err.Error(), "drawings/collection.bson") {
		t.Fatalf("verify of a damaged part: %v, want it named", err)
	}
	st, _ := repo.LastVerify(ctx)
	if st == nil || st.OK {
		t.Fatalf("last verify recorded as %+v", st)
	}
	// The next backup stores the damaged part again (the data still has that content), which heals
	// the older backup too.
	if _, err := repo.Backup(ctx, r.stores, "test"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Verify(ctx, []*backup.Manifest{m}, r.stores); err != nil {
		t.Fatalf("the damaged backup after a new one stored its part again: %v", err)
	}
	fake.Damage("backup-1250000000", "demo/parts/"+damaged[:2]+"/"+damaged)
	r.wipe(t)
	err = repo.Restore(ctx, m, r.stores, true)
	if err == nil || !strings.Contains(err.Error(), "nothing was restored") {
		t.Fatalf("restore from a damaged backup: %v", err)
	}
	if got := r.snapshot(t); len(got["comment"]) != 0 || len(got["drawings0"]) != 0 {
		t.Fatal("a refused restore wrote data")
	}
}

func TestRestoreRefusesNewerData(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.fill(t, 20)
	repo := backup.New(cosTarget(t, nil), nil)
	m, err := repo.Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatal(err)
	}
	want := r.snapshot(t)
	if _, err := r.videos.AddComment(ctx, video.Comment{VID: 1, Nick: "late", Content: "after the backup"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // drawings' times are in milliseconds
	if err := r.drawings.Save(ctx, "o-0", session.Drawing{ID: "new", Actions: "[]"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.dataDir, "album", "photos", "99990", "late.jpg"), []byte("x"), 0o644)
	err = repo.Restore(ctx, m, r.stores, false)
	if !errors.Is(err, backup.ErrNewer) {
		t.Fatalf("restore onto newer data: %v, want ErrNewer", err)
	}
	for _, s := range []string{"table comment", "drawings:", "late.jpg", "--force"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("refusal does not mention %q:\n%v", s, err)
		}
	}
	if err := repo.Restore(ctx, m, r.stores, true); err != nil {
		t.Fatalf("restore --force: %v", err)
	}
	equal(t, r.snapshot(t), want)
}

func TestEncryptedBackupNeedsItsKey(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.fill(t, 5)
	tg := cosTarget(t, nil)
	key, _ := backup.ParseKey([]byte(strings.Repeat("01", 32)))
	m, err := backup.New(tg, key).Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := backup.ParseKey([]byte(strings.Repeat("02", 32)))
	for _, c := range []struct {
		key  *backup.Key
		want string
	}{{nil, "is encrypted"}, {other, "was encrypted with key " + key.ID}} {
		repo := backup.New(tg, c.key)
		if err := repo.Verify(ctx, []*backup.Manifest{m}, nil); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "backup.encryption_key_file") {
			t.Errorf("verify: %v, want %q", err, c.want)
		}
		if err := repo.Restore(ctx, m, r.stores, true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("restore: %v, want %q", err, c.want)
		}
	}
	if _, err := backup.ParseKey([]byte("short")); err == nil || !strings.Contains(err.Error(), "openssl rand -hex 32") {
		t.Errorf("a bad key: %v", err)
	}
	// No part holds the data in the clear.
	parts, _ := tg.List(ctx, "parts/")
	for _, p := range parts {
		rc, _ := tg.Get(ctx, p.Name)
		b, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(b, []byte("用户")) || bytes.HasPrefix(b, []byte{0x1f, 0x8b}) { // plain text, or plain gzip
			t.Fatalf("part %s is readable without the key", p.Name)
		}
	}
}

func TestIncrementalBackupStoresOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.fill(t, 3000)
	tg, _ := dir.New(t.TempDir())
	repo := backup.New(tg, nil)
	first, err := repo.Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatal(err)
	}
	second, err := repo.Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first backup: %s of data, %s stored; unchanged second: %s stored", backup.Bytes(first.Size), backup.Bytes(first.Stored), backup.Bytes(second.Stored))
	if first.Stored == 0 || second.Stored*4 > first.Stored {
		t.Errorf("an unchanged second backup stored %d bytes, the first %d", second.Stored, first.Stored)
	}
	// An unchanged album file is not read again: its entry is the first backup's.
	a1, _ := first.Store("album")
	a2, _ := second.Store("album")
	if len(a1.Files) != 5 || !slices.EqualFunc(a1.Files, a2.Files, func(x, y backup.File) bool { return x.SHA256 == y.SHA256 && x.Modified.Equal(y.Modified) }) {
		t.Errorf("album entries differ between unchanged backups")
	}
}

func TestRetentionKeepsDailyAndWeekly(t *testing.T) {
	day := 24 * time.Hour
	start := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC) // a Monday
	var ms []*backup.Manifest
	for i := 0; i < 40; i++ { // newest first: two a day for twenty days
		at := start.Add(-time.Duration(i) * 12 * time.Hour)
		ms = append(ms, &backup.Manifest{ID: at.Format("20060102T150405Z"), Created: at})
	}
	keep := backup.Retention{Daily: 7, Weekly: 4}.Keep(ms)
	var kept []string
	for _, m := range ms {
		if keep[m.ID] {
			kept = append(kept, m.Created.Format("01-02 15"))
		}
	}
	want := []string{"11-30 03", "11-29 15", "11-28 15", "11-27 15", "11-26 15", "11-25 15", "11-24 15", "11-22 15", "11-15 15"}
	if !slices.Equal(kept, want) {
		t.Fatalf("kept %v\nwant %v", kept, want)
	}
	_ = day
}

func TestPruneDeletesOnlyUnreferencedParts(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.fill(t, 100)
	tg, _ := dir.New(t.TempDir())
	repo := backup.New(tg, nil)
	old, err := repo.Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatal(err)
	}
	r.fill(t, 500) // new comments, new drawings' times, same files
	keepM, err := repo.Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatal(err)
	}
	// An orphan part, as a killed backup leaves.
	tg.Put(ctx, "parts/00/00orphan", strings.NewReader("x"), 1)
	rep, err := repo.Prune(ctx, backup.Retention{Daily: 1, Weekly: 0})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Backups != 1 || rep.Parts == 0 {
		t.Fatalf("prune: %+v, want the old backup and its own parts gone", rep)
	}
	if _, err := repo.Load(ctx, old.ID); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("old backup still there: %v", err)
	}
	if err := repo.Verify(ctx, []*backup.Manifest{keepM}, r.stores); err != nil {
		t.Fatalf("the kept backup after prune: %v", err)
	}
}

func TestRestoreKilledMidwayFinishesWhenRunAgain(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.fill(t, 3000)
	inner, _ := dir.New(t.TempDir())
	m, err := backup.New(inner, nil).Backup(ctx, r.stores, "test")
	if err != nil {
		t.Fatal(err)
	}
	want := r.snapshot(t)
	r.wipe(t)
	parts := 0
	for _, s := range m.Stores {
		for _, f := range s.Files {
			parts += len(f.Parts)
		}
	}
	// The check reads every part once; the kill comes during the writes after it.
	f := &failing{Target: inner, getLimit: int64(parts + parts/2)}
	if err := backup.New(f, nil).Restore(ctx, m, r.stores, false); err == nil || strings.Contains(err.Error(), "nothing was restored") {
		t.Fatalf("a restore killed while writing: %v", err)
	}
	if err := backup.New(inner, nil).Restore(ctx, m, r.stores, true); err != nil {
		t.Fatalf("restore run again: %v", err)
	}
	equal(t, r.snapshot(t), want)
}

// TestBackupWhileCommentsFlow backs up while the video app takes comments over HTTP as fast as it
// can: the dump is one snapshot, so every restored comment is whole and the restored table is exactly
// the rows up to the backup's mark. The app's throughput during the backup is reported.
func TestBackupWhileCommentsFlow(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.fill(t, 2000)
	tg, _ := dir.New(t.TempDir())
	repo := backup.New(tg, nil)
	app := video.New(video.Options{Store: r.videos, Logger: slog.New(slog.DiscardHandler)})
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app}))
	defer ts.Close()
	stop := make(chan struct{})
	var added atomic.Int64
	var wg sync.WaitGroup
	rate := func(d time.Duration) float64 { n := added.Swap(0); return float64(n) / d.Seconds() }
	writer := func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := fmt.Sprintf(`{"vid":2,"nick":"flow","avatar":"","content":"comment %d %s"}`, i, contents[0])
			resp, err := http.Post(ts.URL+video.BasePath+"/comment", "application/json", strings.NewReader(body))
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(b, []byte(`"code":0`)) {
				added.Add(1)
			}
		}
	}
	for range 4 {
		wg.Add(1)
		go writer()
	}
	time.Sleep(time.Second)
	before := rate(time.Second)
	start := time.Now()
	m, err := repo.Backup(ctx, r.stores, "test")
	took := time.Since(start)
	during := rate(took)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("comments a second: %.0f before the backup, %.0f during it (%.2f×); backup took %s", before, during, during/before, took.Round(time.Millisecond))
	r.wipe(t)
	if err := repo.Restore(ctx, m, r.stores, true); err != nil {
		t.Fatal(err)
	}
	e, _ := m.Store("video")
	maxID := e.Mark["comment.id"]
	db, _ := sql.Open("mysql", r.mysqlDSN)
	defer db.Close()
	var n, top int64
	var bad int
	db.QueryRow("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM comment").Scan(&n, &top)
	db.QueryRow("SELECT COUNT(*) FROM comment WHERE nick = 'flow' AND content NOT LIKE CONCAT('comment %', ?)", contents[0]).Scan(&bad)
	if top != maxID || bad != 0 || n == 0 {
		t.Fatalf("restored %d comments up to id %d (mark %d), %d damaged", n, top, maxID, bad)
	}
}
