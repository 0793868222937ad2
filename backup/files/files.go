// Package files backs up a directory of files, the album on local disk: each file is stored once by
// its content, and a file whose size and modification time did not change since the last backup is
// not even read again.
package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qcloud-applet/applet/backup"
	"github.com/qcloud-applet/applet/internal/atomicfile"
)

// Store implements backup.Store on a directory. Names starting with a dot (the upload spool) are not
// the store's.
type Store struct {
	name, root string
}

var _ backup.Store = (*Store)(nil)

// New returns the store of the files under root, backed up under name.
func New(name, root string) *Store { return &Store{name: name, root: root} }

func (s *Store) Name() string { return s.name }
func (s *Store) Kind() string { return "files" }

// walk calls fn for every file of the store, by slash-separated name.
func (s *Store) walk(fn func(name, path string, d fs.DirEntry) error) error {
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile, or no album yet
			}
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != s.root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), p, d)
	})
	return err
}

// Dump stores every file. Files are written by rename (the album's spool), so each is whole.
func (s *Store) Dump(ctx context.Context, w backup.Writer) (backup.Mark, error) {
	n := int64(0)
	err := s.walk(func(name, p string, d fs.DirEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := w.AddFile(name, p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while the backup ran
		}
		n++
		return err
	})
	if err != nil {
		return nil, err
	}
	return backup.Mark{"files": n}, nil
}

// Newer names files the backup does not have.
func (s *Store) Newer(ctx context.Context, was *backup.StoreEntry) (string, error) {
	have := map[string]bool{}
	for _, f := range was.Files {
		have[f.Name] = true
	}
	var extra []string
	err := s.walk(func(name, _ string, _ fs.DirEntry) error {
		if !have[name] {
			extra = append(extra, name)
		}
		return nil
	})
	if err != nil || len(extra) == 0 {
		return "", err
	}
	more := ""
	if len(extra) > 3 {
		more = fmt.Sprintf(" and %d more", len(extra)-3)
		extra = extra[:3]
	}
	return fmt.Sprintf("%d files are not in the backup: %s%s", len(extra), strings.Join(extra, ", "), more), nil
}

// Restore writes every file of the backup that is missing or different (by rename, so each appears
// whole) and removes files the backup does not have.
func (s *Store) Restore(ctx context.Context, r backup.Reader) error {
	want := map[string]backup.File{}
	for _, f := range r.Files() {
		if strings.Contains(f.Name, "..") || strings.HasPrefix(f.Name, "/") {
			return fmt.Errorf("bad file name %q in the backup", f.Name)
		}
		want[f.Name] = f
	}
	var stale []string
	if err := s.walk(func(name, p string, d fs.DirEntry) error {
		f, ok := want[name]
		if !ok {
			stale = append(stale, p)
			return nil
		}
		if info, err := d.Info(); err == nil && info.Size() == f.Size && info.ModTime().UTC().Equal(f.Modified) {
			delete(want, name) // already there
		}
		return nil
	}); err != nil {
		return err
	}
	for _, f := range r.Files() {
		if _, ok := want[f.Name]; !ok {
			continue
		}
		if err := s.restoreFile(ctx, r, f); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (s *Store) restoreFile(ctx context.Context, r backup.Reader, f backup.File) error {
	dst := filepath.Join(s.root, filepath.FromSlash(f.Name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rc, err := r.Open(ctx, f.Name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return atomicfile.WriteFrom(dst, rc, fs.FileMode(f.Mode)&fs.ModePerm, f.Modified)
}
