package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Repo is the backups kept in one target.
type Repo struct {
	target Target
	key    *Key // nil: not encrypted
	// Progress, when set, hears a line per store (the CLI prints it; the timer's journal keeps it).
	Progress func(format string, args ...any)
}

// New returns the backups in target, encrypted with key (nil: not encrypted).
func New(target Target, key *Key) *Repo { return &Repo{target: target, key: key} }

// Describe says where the backups are.
func (r *Repo) Describe() string { return r.target.Describe() }

func (r *Repo) say(format string, args ...any) {
	if r.Progress != nil {
		r.Progress(format, args...)
	}
}

const manifestVersion = 1

// Backup dumps every store and writes the manifest last. Parts already in the target are not stored
// again.
func (r *Repo) Backup(ctx context.Context, stores []Store, host string) (*Manifest, error) {
	now := time.Now().UTC()
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	m := &Manifest{Version: manifestVersion, ID: now.Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix),
		Created: now, Host: host, Encrypted: r.key != nil}
	if r.key != nil {
		m.KeyID = r.key.ID
	}
	have, err := r.parts(ctx)
	if err != nil {
		return nil, err
	}
	// Parts the last verify found damaged are stored again, overwritten with good content.
	if st, err := r.LastVerify(ctx); err == nil && st != nil {
		for _, id := range st.Damaged {
			delete(have, id)
		}
	}
	// The last backup's file entries let an unchanged file go unread.
	prev, err := r.Load(ctx, "latest")
	switch {
	case errors.Is(err, ErrNotFound):
		prev = nil
	case err != nil:
		return nil, err
	case prev.KeyID != m.KeyID:
		prev = nil
	}
	for _, s := range stores {
		start := time.Now()
		w := &writer{repo: r, ctx: ctx, have: have, entry: &StoreEntry{Name: s.Name()}}
		if prev != nil {
			w.prev, _ = prev.Store(s.Name())
		}
		mark, err := s.Dump(ctx, w)
		if err == nil {
			err = w.wait()
		}
		if err != nil {
			return nil, fmt.Errorf("backing up %s: %w", s.Name(), err)
		}
		w.entry.Mark, w.entry.Kind = mark, s.Kind()
		m.Stores = append(m.Stores, *w.entry)
		var size int64
		for _, f := range w.entry.Files {
			size += f.Size
		}
		m.Size += size
		m.Stored += w.stored
		r.say("%s: %d files, %s, %s new, %s", s.Name(), len(w.entry.Files), Bytes(size), Bytes(w.stored), time.Since(start).Round(time.Millisecond))
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	if err := r.target.Put(ctx, manifestName(m.ID), bytes.NewReader(b), int64(len(b))); err != nil {
		return nil, fmt.Errorf("writing the manifest: %w", err)
	}
	return m, nil
}

// ManifestDir is where in a target the manifests are: one object per backup.
const ManifestDir = "manifests/"

func manifestName(id string) string { return ManifestDir + id + ".json" }

// ManifestID is the backup id a manifest's object name (with or without a prefix before ManifestDir)
// stands for; false for any other object.
func ManifestID(name string) (string, bool) {
	_, rest, ok := strings.Cut(name, ManifestDir)
	if !ok || strings.Contains(rest, "/") {
		return "", false
	}
	return strings.CutSuffix(rest, ".json")
}

// parts lists the parts in the target: id → stored size.
func (r *Repo) parts(ctx context.Context) (map[string]Object, error) {
	objs, err := r.target.List(ctx, "parts/")
	if err != nil {
		return nil, fmt.Errorf("listing parts: %w", err)
	}
	have := make(map[string]Object, len(objs))
	for _, o := range objs {
		have[path.Base(o.Name)] = o
	}
	return have, nil
}

// List reads every manifest, newest first.
func (r *Repo) List(ctx context.Context) ([]*Manifest, error) {
	ids, err := r.IDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, id := range ids {
		m, err := r.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// IDs lists the backups' ids, newest first, without reading them.
func (r *Repo) IDs(ctx context.Context) ([]string, error) {
	objs, err := r.target.List(ctx, ManifestDir)
	if err != nil {
		return nil, fmt.Errorf("listing backups in %s: %w", r.target.Describe(), err)
	}
	var ids []string
	for _, o := range objs {
		if id, ok := ManifestID(o.Name); ok {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	return ids, nil
}

// Load reads one manifest; "latest" is the newest.
func (r *Repo) Load(ctx context.Context, id string) (*Manifest, error) {
	if id == "latest" || id == "" {
		ids, err := r.IDs(ctx)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("no backup in %s: %w", r.target.Describe(), ErrNotFound)
		}
		id = ids[0]
	}
	rc, err := r.target.Get(ctx, manifestName(id))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("backup %s: not in %s (applet backup list shows what is): %w", id, r.target.Describe(), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading backup %s: %w", id, err)
	}
	defer rc.Close()
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(rc, 256<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("backup %s: damaged manifest: %w", id, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("backup %s: manifest version %d, this applet reads %d", id, m.Version, manifestVersion)
	}
	return &m, nil
}

// CanRead says whether this repo's key opens m's parts, and if not, what to do.
func (r *Repo) CanRead(m *Manifest) error {
	switch {
	case m.Encrypted && r.key == nil:
		return fmt.Errorf("backup %s is encrypted (key %s): set backup.encryption_key_file to the key it was made with", m.ID, m.KeyID)
	case m.Encrypted && r.key.ID != m.KeyID:
		return fmt.Errorf("backup %s was encrypted with key %s, backup.encryption_key_file holds key %s: use the key it was made with", m.ID, m.KeyID, r.key.ID)
	}
	return nil
}

// writer stores one store's files: chunks are sealed and uploaded by a few workers while the store
// goes on dumping.
type writer struct {
	repo   *Repo
	ctx    context.Context
	have   map[string]Object
	prev   *StoreEntry
	entry  *StoreEntry
	stored int64

	mu   sync.Mutex
	wg   sync.WaitGroup
	sem  chan struct{}
	err  error
	busy map[string]bool // parts being uploaded now
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *writer) wait() error { w.wg.Wait(); return w.failed() }

func (w *writer) Add(name string, mode fs.FileMode, r io.Reader) error {
	f, err := w.add(name, mode, r)
	if err != nil {
		return err
	}
	w.entry.Files = append(w.entry.Files, *f)
	return nil
}

func (w *writer) AddFile(name, p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if w.prev != nil {
		for _, f := range w.prev.Files {
			if f.Name == name && f.Size == st.Size() && f.Modified.Equal(st.ModTime().UTC()) && w.allHave(f.Parts) {
				w.entry.Files = append(w.entry.Files, f)
				return nil
			}
		}
	}
	fh, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fh.Close()
	f, err := w.add(name, st.Mode().Perm(), fh)
	if err != nil {
		return err
	}
	f.Modified = st.ModTime().UTC()
	w.entry.Files = append(w.entry.Files, *f)
	return nil
}

func (w *writer) allHave(parts []Part) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range parts {
		if _, ok := w.have[p.ID]; !ok {
			return false
		}
	}
	return true
}

func (w *writer) add(name string, mode fs.FileMode, r io.Reader) (*File, error) {
	if w.sem == nil {
		w.sem = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
		w.busy = map[string]bool{}
	}
	f := &File{Name: name, Mode: uint32(mode.Perm())}
	whole := w.repo.key.digest()
	c := newChunker(r)
	for {
		if err := w.failed(); err != nil {
			return nil, err
		}
		chunk, err := c.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		whole.Write(chunk)
		h := w.repo.key.digest()
		h.Write(chunk)
		p := Part{ID: hex.EncodeToString(h.Sum(nil)), Size: int64(len(chunk))}
		f.Size += p.Size
		i := len(f.Parts)
		f.Parts = append(f.Parts, p)
		w.mu.Lock()
		o, ok := w.have[p.ID]
		if ok || w.busy[p.ID] {
			w.mu.Unlock()
			if ok {
				f.Parts[i].Stored = o.Size
			} else {
				// Being uploaded by a worker now: wait for it, then take its size.
				if err := w.wait(); err != nil {
					return nil, err
				}
				f.Parts[i].Stored = w.have[p.ID].Size
			}
			continue
		}
		w.busy[p.ID] = true
		w.mu.Unlock()
		// The chunk is copied: the chunker reuses its buffer. At most sem's size are in flight.
		data := append([]byte(nil), chunk...)
		select {
		case w.sem <- struct{}{}:
		case <-w.ctx.Done():
			return nil, w.ctx.Err()
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer func() { <-w.sem }()
			stored, err := w.repo.key.seal(data)
			if err == nil {
				err = w.repo.target.Put(w.ctx, partName(p.ID), bytes.NewReader(stored), int64(len(stored)))
			}
			if err != nil {
				w.fail(fmt.Errorf("storing part of %s: %w", name, err))
				return
			}
			w.mu.Lock()
			w.have[p.ID] = Object{Name: partName(p.ID), Size: int64(len(stored))}
			delete(w.busy, p.ID)
			w.stored += int64(len(stored))
			w.mu.Unlock()
		}()
	}
	if err := w.wait(); err != nil {
		return nil, err
	}
	// Sizes of the parts uploaded in this file are known now.
	for i := range f.Parts {
		if f.Parts[i].Stored == 0 {
			f.Parts[i].Stored = w.have[f.Parts[i].ID].Size
		}
	}
	f.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return f, nil
}

// Bytes formats a size for people.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
