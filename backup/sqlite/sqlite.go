// Package sqlite backs up an embedded SQLite database file: a consistent copy made by VACUUM INTO
// while the app keeps serving (a read transaction sees one moment; writers are not blocked in WAL
// mode), restored by replacing the file.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/backup"
	"github.com/qcloud-applet/applet/internal/atomicfile"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// File is the database's name in a backup.
const File = "db.sqlite"

// Store implements backup.Store and backup.Checker on one database file.
type Store struct {
	name, path string
}

var (
	_ backup.Store   = (*Store)(nil)
	_ backup.Checker = (*Store)(nil)
)

// New returns the store of the database at path, backed up under name.
func New(name, path string) *Store { return &Store{name: name, path: path} }

func (s *Store) Name() string { return s.name }
func (s *Store) Kind() string { return "sqlite" }

func open(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		q.Set("mode", "ro")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Dump copies the database with VACUUM INTO beside it, stores the copy and removes it. A missing
// database is an empty store (the app has not run yet).
func (s *Store) Dump(ctx context.Context, w backup.Writer) (backup.Mark, error) {
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return backup.Mark{}, nil
	}
	tmp := s.path + ".backup"
	os.Remove(tmp) // a killed backup's copy
	defer os.Remove(tmp)
	db, err := open(s.path, false)
	if err != nil {
		return nil, err
	}
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", tmp)
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("copying %s: %w", s.path, err)
	}
	mark, err := markOf(ctx, tmp)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := w.Add(File, 0o600, f); err != nil {
		return nil, err
	}
	return mark, nil
}

// markOf reads, per table, the largest rowid and the largest integer updated_at (a drawing saved
// again keeps its row but moves its time).
func markOf(ctx context.Context, path string) (backup.Mark, error) {
	db, err := open(path, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, n)
	}
	rows.Close()
	mark := backup.Mark{}
	for _, t := range tables {
		q := `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
		var id sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT MAX(rowid) FROM "+q).Scan(&id); err == nil {
			mark[t+".rowid"] = id.Int64
		}
		var at sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT MAX(updated_at) FROM "+q+" WHERE typeof(updated_at) = 'integer'").Scan(&at); err == nil && at.Valid {
			mark[t+".updated_at"] = at.Int64
		}
	}
	return mark, nil
}

// Newer compares the live database with the backup's mark.
func (s *Store) Newer(ctx context.Context, was *backup.StoreEntry) (string, error) {
	mark := was.Mark
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	now, err := markOf(ctx, s.path)
	if err != nil {
		return "", err
	}
	var out []string
	for k, v := range now {
		if was, ok := mark[k]; v > was || (!ok && v > 0) {
			out = append(out, fmt.Sprintf("%s is %d, the backup's is %d", k, v, was))
		}
	}
	return strings.Join(out, "; "), nil
}

// Restore writes the backup's copy beside the database, checks it, and renames it over the database
// (its WAL and shared-memory files go first: they belong to the old file).
func (s *Store) Restore(ctx context.Context, r backup.Reader) error {
	if len(r.Files()) == 0 {
		return nil // backed up before the app first ran
	}
	tmp := s.path + ".restore"
	if err := s.write(ctx, r, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(s.path + ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

// Check writes the copy to a scratch file and runs SQLite's integrity check on it.
func (s *Store) Check(ctx context.Context, r backup.Reader) error {
	if len(r.Files()) == 0 {
		return nil
	}
	f, err := os.CreateTemp("", "applet-verify-*.sqlite")
	if err != nil {
		return err
	}
	f.Close()
	defer os.Remove(f.Name())
	return s.write(ctx, r, f.Name())
}

func (s *Store) write(ctx context.Context, r backup.Reader, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	rc, err := r.Open(ctx, File)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := atomicfile.WriteFrom(path, rc, 0o600, time.Time{}); err != nil {
		return err
	}
	db, err := open(path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("checking the restored database: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("the restored database fails its integrity check: %s", res)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
