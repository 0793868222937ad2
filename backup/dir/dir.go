// Package dir keeps backups in a local directory (a mounted disk, or a restore drill's scratch space).
package dir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/backup"
	"github.com/qcloud-applet/applet/internal/atomicfile"
)

// Target implements backup.Target on a directory.
type Target struct{ root string }

var _ backup.Target = (*Target)(nil)

// New returns the target rooted at dir, created 0700 if missing: backups hold every user's data.
func New(dir string) (*Target, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the backup directory: %w", err)
	}
	return &Target{root: dir}, nil
}

func (t *Target) Describe() string { return t.root }

func (t *Target) path(name string) (string, error) {
	if name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("bad object name %q", name)
	}
	return filepath.Join(t.root, filepath.FromSlash(name)), nil
}

// Put writes to a temporary file beside the object, syncs it and renames it into place.
func (t *Target) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	p, err := t.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	cr := &countingReader{r: r}
	if err := atomicfile.WriteFrom(p, cr, 0o600, time.Time{}); err != nil {
		return err
	}
	if size >= 0 && cr.n != size {
		os.Remove(p)
		return fmt.Errorf("%s: wrote %d bytes of %d", name, cr.n, size)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func (t *Target) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := t.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, backup.ErrNotFound
	}
	return f, err
}

func (t *Target) List(ctx context.Context, prefix string) ([]backup.Object, error) {
	var out []backup.Object
	err := filepath.WalkDir(t.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, _ := filepath.Rel(t.root, p)
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, backup.Object{Name: name, Size: info.Size(), Modified: info.ModTime()})
		return nil
	})
	return out, err
}

func (t *Target) Delete(ctx context.Context, name string) error {
	p, err := t.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
