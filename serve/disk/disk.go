// Package disk keeps the album's images on local disk, the embedded default, and serves them itself.
//
// Layout: a key "photos/9998235112345-ab12cd34.jpg" lives at <root>/photos/99982/35112345-ab12cd34.jpg.
// The five-digit shard (about a day of uploads) keeps directories small, and since the digits count
// down with time, reading shards and names in ascending order lists newest first: a page reads one or
// two shards, never the whole folder.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/qcloud-applet/applet/serve/album"
)

const shardLen = 5

var keyRE = regexp.MustCompile(`^((?:[a-zA-Z0-9_-]+/)+)(` + album.KeyNamePattern + `)$`)

// Storage implements album.Storage and album.FileServer.
type Storage struct {
	root      string
	urlPrefix string // e.g. "/applet/album/files/"
}

var (
	_ album.Storage    = (*Storage)(nil)
	_ album.FileServer = (*Storage)(nil)
)

// FilesPath is where, under the app's base path, the images are served.
const FilesPath = "/files/"

// New returns a storage rooted at dir (created if missing), serving under album.BasePath+FilesPath.
func New(dir string) (*Storage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	return &Storage{root: dir, urlPrefix: album.BasePath + FilesPath}, nil
}

// SpoolDir is where uploads should be received: inside the root, so storing one is a rename. Its
// name starts with a dot, which List never shows.
func (s *Storage) SpoolDir() string { return filepath.Join(s.root, ".spool") }

// Describe implements album.Storage.
func (s *Storage) Describe() string { return "local disk " + s.root }

func (s *Storage) file(key string) (string, error) {
	m := keyRE.FindStringSubmatch(key)
	if m == nil {
		return "", fmt.Errorf("disk: %q is not an album key", key)
	}
	name := m[2]
	return filepath.Join(s.root, filepath.FromSlash(m[1]), name[:shardLen], name[shardLen:]), nil
}

// Put implements album.Storage: the spool is synced and renamed into place, so a half-written image
// is never listed.
func (s *Storage) Put(ctx context.Context, key string, sp album.Spool) error {
	dst, err := s.file(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	if err := sp.File.Sync(); err != nil {
		return fmt.Errorf("disk: syncing upload: %w", err)
	}
	if err := sp.File.Chmod(0o644); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	err = os.Rename(sp.File.Name(), dst)
	if errors.Is(err, syscall.EXDEV) {
		err = copyInto(sp.File, dst)
	}
	if err != nil {
		return fmt.Errorf("disk: storing %s: %w", key, err)
	}
	return nil
}

// copyInto is the fallback when the spool is on another file system: temp name, then rename.
func copyInto(src *os.File, dst string) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func visible(names []fs.DirEntry, dirs bool) []string {
	var out []string
	for _, e := range names {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() != dirs {
			continue
		}
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// List implements album.Storage.
func (s *Storage) List(ctx context.Context, prefix, marker string, limit int) ([]string, string, error) {
	if !strings.HasSuffix(prefix, "/") || strings.Contains(prefix, "..") {
		return nil, "", fmt.Errorf("disk: prefix %q must be a folder", prefix)
	}
	entries, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(prefix)))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("disk: %w", err)
	}
	fromShard := ""
	if marker != "" {
		rest := strings.TrimPrefix(marker, prefix)
		if len(rest) >= shardLen {
			fromShard = rest[:shardLen]
		}
	}
	keys := []string{}
	for _, shard := range visible(entries, true) {
		if len(shard) != shardLen || shard < fromShard {
			continue
		}
		if _, err := strconv.Atoi(shard); err != nil {
			continue
		}
		files, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(prefix), shard))
		if err != nil {
			return nil, "", fmt.Errorf("disk: %w", err)
		}
		for _, name := range visible(files, false) {
			key := prefix + shard + name
			if key <= marker {
				continue
			}
			keys = append(keys, key)
			if len(keys) > limit {
				return keys[:limit], keys[limit-1], nil
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
	}
	return keys, "", nil
}

// Delete implements album.Storage.
func (s *Storage) Delete(ctx context.Context, key string) error {
	p, err := s.file(key)
	if err != nil {
		return album.ErrNotFound
	}
	if err := s.removeImage(key); errors.Is(err, fs.ErrNotExist) || errors.Is(err, errLink) {
		return album.ErrNotFound
	} else if err != nil {
		return fmt.Errorf("disk: deleting %s: %w", key, err)
	}
	_ = os.Remove(filepath.Dir(p)) // an emptied shard goes too; a full one stays
	return nil
}

// URL implements album.Storage: a path on the album app.
func (s *Storage) URL(key string) string { return s.urlPrefix + key }

// KeyFromPath implements album.Storage.
func (s *Storage) KeyFromPath(p string) (string, bool) {
	if !strings.HasPrefix(p, s.urlPrefix) {
		return "", false
	}
	key := strings.TrimPrefix(p, s.urlPrefix)
	return key, keyRE.MatchString(key)
}

// FilesPath implements album.FileServer.
func (s *Storage) FilesPath() string { return FilesPath }

var contentTypes = map[string]string{".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp"}

// ServeFile implements album.FileServer: ranges, If-None-Match and If-Modified-Since come from
// http.ServeContent; keys never change content, so clients may cache for a year.
func (s *Storage) ServeFile(w http.ResponseWriter, r *http.Request, key string) {
	f, err := s.openImage(key)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypes[path.Ext(key)])
	h.Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano()))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// Ready implements album.Storage: the root is a writable directory.
func (s *Storage) Ready(ctx context.Context) error {
	f, err := os.CreateTemp(s.root, ".ready-*")
	if err != nil {
		return fmt.Errorf("disk: %s is not writable: %w", s.root, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
