package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// reader gives back one store's files from a manifest.
type reader struct {
	repo  *Repo
	entry *StoreEntry
}

func (r *reader) Files() []File { return r.entry.Files }

func (r *reader) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	for _, f := range r.entry.Files {
		if f.Name == name {
			return r.repo.open(ctx, f), nil
		}
	}
	return nil, fmt.Errorf("%s: no file %s in the backup", r.entry.Name, name)
}

// open streams a file's parts, each checked, and the whole file's digest at its end. The next part is
// fetched while the current one is read.
func (r *Repo) open(ctx context.Context, f File) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	type got struct {
		data []byte
		err  error
	}
	ch := make(chan got, 1)
	go func() {
		defer close(ch)
		for _, p := range f.Parts {
			data, err := r.part(ctx, p)
			select {
			case ch <- got{data, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	h := r.key.digest()
	var cur []byte
	var size int64
	return &funcReader{close: func() error { cancel(); return nil }, read: func(b []byte) (int, error) {
		for len(cur) == 0 {
			g, ok := <-ch
			if !ok {
				if size != f.Size || fmt.Sprintf("%x", h.Sum(nil)) != f.SHA256 {
					return 0, fmt.Errorf("%s: does not match its digest (damaged)", f.Name)
				}
				return 0, io.EOF
			}
			if g.err != nil {
				return 0, fmt.Errorf("%s: %w", f.Name, g.err)
			}
			cur = g.data
			h.Write(cur)
			size += int64(len(cur))
		}
		n := copy(b, cur)
		cur = cur[n:]
		return n, nil
	}}
}

type funcReader struct {
	read  func([]byte) (int, error)
	close func() error
}

func (f *funcReader) Read(b []byte) (int, error) { return f.read(b) }
func (f *funcReader) Close() error               { return f.close() }

// part fetches and checks one part.
func (r *Repo) part(ctx context.Context, p Part) ([]byte, error) {
	rc, err := r.target.Get(ctx, partName(p.ID))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("part %s: missing from %s", p.ID, r.target.Describe())
	}
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", p.ID, err)
	}
	defer rc.Close()
	stored, err := io.ReadAll(io.LimitReader(rc, p.Stored+1))
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", p.ID, err)
	}
	return r.key.open(stored, p)
}

// VerifyStatus is the outcome of the last verify, kept in the target.
type VerifyStatus struct {
	Time    time.Time `json:"time"`
	Backups []string  `json:"backups"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
	// Damaged are the parts that failed: the next backup stores them again when it has their content,
	// which heals every backup that names them.
	Damaged []string `json:"damaged,omitempty"`
}

const statusName = "status/verify.json"

// Verify fetches every part of the given backups once and checks it against the manifests, then lets
// each store that can check its files load them somewhere harmless. It records the outcome in the
// target.
func (r *Repo) Verify(ctx context.Context, ms []*Manifest, stores []Store) error {
	damaged, err := r.verify(ctx, ms, stores)
	st := VerifyStatus{Time: time.Now().UTC(), OK: err == nil, Damaged: damaged}
	for _, m := range ms {
		st.Backups = append(st.Backups, m.ID)
	}
	if err != nil {
		st.Error = err.Error()
	}
	b, _ := json.Marshal(st)
	if perr := r.target.Put(ctx, statusName, bytes.NewReader(b), int64(len(b))); perr != nil && err == nil {
		err = fmt.Errorf("recording the verify: %w", perr)
	}
	return err
}

func (r *Repo) verify(ctx context.Context, ms []*Manifest, stores []Store) (damaged []string, err error) {
	seen := map[string]bool{}
	var bad []string
	for _, m := range ms {
		if err := r.CanRead(m); err != nil {
			return nil, err
		}
		n, size := 0, int64(0)
		for _, s := range m.Stores {
			for _, f := range s.Files {
				for _, p := range f.Parts {
					if seen[p.ID] {
						continue
					}
					seen[p.ID] = true
					if _, err := r.part(ctx, p); err != nil {
						if ctx.Err() != nil {
							return nil, ctx.Err()
						}
						bad = append(bad, fmt.Sprintf("%s %s/%s: %v", m.ID, s.Name, f.Name, err))
						damaged = append(damaged, p.ID)
					}
					n++
					size += p.Stored
				}
			}
		}
		r.say("backup %s: %d new parts checked, %s", m.ID, n, Bytes(size))
	}
	if len(bad) > 0 {
		return damaged, fmt.Errorf("%d damaged parts:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	if len(ms) == 0 {
		return nil, nil
	}
	// Loading into scratch space is only done for the newest: it is what a restore would use.
	m := ms[0]
	for _, s := range stores {
		c, ok := s.(Checker)
		e, found := m.Store(s.Name())
		if !ok || !found {
			continue
		}
		if err := c.Check(ctx, &reader{repo: r, entry: e}); err != nil {
			return nil, fmt.Errorf("backup %s: %s does not load: %w", m.ID, s.Name(), err)
		}
		r.say("backup %s: %s loads", m.ID, s.Name())
	}
	return nil, nil
}

// LastVerify reads the last verify's outcome; nil when there was none.
func (r *Repo) LastVerify(ctx context.Context) (*VerifyStatus, error) {
	rc, err := r.target.Get(ctx, statusName)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var st VerifyStatus
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ErrNewer is the error of a restore that would overwrite data newer than the backup.
var ErrNewer = errors.New("data is newer than the backup")

// Restore puts every store back as it was in m. It verifies the whole backup first, refuses when a
// store holds data newer than the backup unless force, and then restores store by store.
func (r *Repo) Restore(ctx context.Context, m *Manifest, stores []Store, force bool) error {
	if err := r.CanRead(m); err != nil {
		return err
	}
	type pair struct {
		s Store
		e *StoreEntry
	}
	var todo []pair
	for _, s := range stores {
		e, ok := m.Store(s.Name())
		if !ok {
			return fmt.Errorf("backup %s has no %s (it holds %s): restore from a backup made with this configuration", m.ID, s.Name(), storeNames(m))
		}
		if e.Kind != s.Kind() {
			return fmt.Errorf("backup %s holds %s as %s, the configuration keeps it in %s: restore with the configuration the backup was made with", m.ID, s.Name(), e.Kind, s.Kind())
		}
		todo = append(todo, pair{s, e})
	}
	if !force {
		var newer []string
		for _, p := range todo {
			msg, err := p.s.Newer(ctx, p.e)
			if err != nil {
				return fmt.Errorf("comparing %s with the backup: %w", p.s.Name(), err)
			}
			if msg != "" {
				newer = append(newer, p.s.Name()+": "+msg)
			}
		}
		if len(newer) > 0 {
			return fmt.Errorf("%w %s (%s):\n  %s\nrestoring would lose it; back it up first, or pass --force to overwrite it",
				ErrNewer, m.ID, m.Created.Format(time.RFC3339), strings.Join(newer, "\n  "))
		}
	}
	if _, err := r.verify(ctx, []*Manifest{m}, nil); err != nil {
		return fmt.Errorf("backup %s fails its check, nothing was restored: %w", m.ID, err)
	}
	for _, p := range todo {
		start := time.Now()
		if err := p.s.Restore(ctx, &reader{repo: r, entry: p.e}); err != nil {
			return fmt.Errorf("restoring %s: %w (running the restore again finishes it)", p.s.Name(), err)
		}
		r.say("%s: restored in %s", p.s.Name(), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func storeNames(m *Manifest) string {
	var names []string
	for _, s := range m.Stores {
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}
