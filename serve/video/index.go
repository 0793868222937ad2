package video

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The video list is read thousands of times for every change, and its changes come from operators
// (seed-mysql, SQL), never from users: the app keeps every video in memory and serves any page by
// slicing, so a deep page costs what the first does and no query's plan is in the way. A cheap check
// (the count, the largest id and the latest updated_at, which MySQL moves on every UPDATE) runs at
// most every ListCheck, in the background, and reloads the list when it changed, and once more at
// the next check, for an edit made within the same second as the one seen. The whole list is
// reloaded every ListReload anyway: it bounds how long an edit the check cannot see takes to show
// (one that sets updated_at itself, commits long after it ran, or is made to SQLite).
const (
	ListCheck  = time.Second
	ListReload = 5 * time.Minute
)

type index struct {
	store Store
	log   *slog.Logger

	loadMu sync.Mutex // one first load at a time
	mu     sync.RWMutex
	table  *videoTable
	stamp  Stamp
	again  bool // reload at the next check: the stamp moved at the last one
	ok     bool
	at     time.Time // last check
	loaded time.Time
	gen    uint64      // counts loads: a page encoded under one generation is stale under the next
	busy   atomic.Bool // a background check is running
}

// listPage is a page of the list as it was when read: its rows, the total and the generation.
type listPage struct {
	t      *videoTable
	lo, hi int
	total  int
	gen    uint64
}

func (p listPage) empty() bool { return p.lo >= p.hi }

// videos makes the page's rows into Videos (strings allocated: once per page and generation).
func (p listPage) videos() []Video {
	out := make([]Video, 0, p.hi-p.lo)
	for i := p.lo; i < p.hi; i++ {
		out = append(out, p.t.video(i))
	}
	return out
}

// page returns videos [offset, offset+limit) with the total and the generation of the list.
func (x *index) page(ctx context.Context, offset, limit int) (listPage, error) {
	x.mu.RLock()
	ok, stale := x.ok, time.Since(x.at) > ListCheck
	x.mu.RUnlock()
	if !ok {
		if err := x.firstLoad(ctx); err != nil {
			return listPage{}, err
		}
	} else if stale && x.busy.CompareAndSwap(false, true) {
		go x.refresh()
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	total := len(x.table.rows)
	lo := min(offset, total)
	return listPage{t: x.table, lo: lo, hi: min(lo+limit, total), total: total, gen: x.gen}, nil
}

func (x *index) firstLoad(ctx context.Context) error {
	x.loadMu.Lock()
	defer x.loadMu.Unlock()
	x.mu.RLock()
	ok := x.ok
	x.mu.RUnlock()
	if ok {
		return nil
	}
	return x.load(ctx, 0)
}

// A reload reads the list in ranges of ids, pausing between them in the background rather than
// taking the database's processor for 30–44 ms at once (100,000 videos). The stamp is read first,
// so a change made during a reload shows at the next check.
const (
	reloadChunk = 2000
	reloadPause = 5 * time.Millisecond
)

// load reads the whole list; pause > 0 spreads the reads out (no request waits for them).
func (x *index) load(ctx context.Context, pause time.Duration) error {
	st, err := x.store.VideoStamp(ctx)
	if err != nil {
		return err
	}
	count := st.Count
	all := &videoTable{rows: make([]videoRow, 0, count)}
	x.mu.RLock()
	if old := x.table; old != nil && len(old.rows) > 0 {
		// The text sized as the last list's, with room to grow: growing it by doubling copies it
		// over and over while the requests go on.
		all.text = make([]byte, 0, len(old.text)/len(old.rows)*count*11/10)
	}
	x.mu.RUnlock()
	for after := int64(0); ; {
		chunk, err := x.store.VideosAfter(ctx, after, reloadChunk)
		if err != nil {
			return err
		}
		for _, v := range chunk {
			if err := all.add(v); err != nil {
				return err
			}
		}
		if len(chunk) < reloadChunk {
			break
		}
		after = chunk[len(chunk)-1].ID
		if pause > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
		}
	}
	now := time.Now()
	x.mu.Lock()
	x.again = x.ok && st != x.stamp
	x.table, x.stamp, x.ok, x.at, x.loaded = all, st, true, now, now
	x.gen++
	x.mu.Unlock()
	return nil
}

// refresh runs the cheap check and reloads when it changed, when the last check saw a change, or
// when ListReload passed. A failure keeps the list it had: the database may be down for a moment,
// and the list is still right. Either way the next check comes ListCheck later, not on every request.
func (x *index) refresh() {
	defer x.busy.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := x.store.VideoStamp(ctx)
	x.mu.RLock()
	same := st == x.stamp && !x.again && time.Since(x.loaded) < ListReload
	x.mu.RUnlock()
	switch {
	case err != nil:
		x.log.Warn("checking the video list for changes", "err", err)
	case !same:
		err := x.load(ctx, reloadPause)
		if err == nil {
			return // load set the time of the check
		}
		x.log.Warn("reloading the video list", "err", err)
	}
	x.mu.Lock()
	x.at = time.Now()
	x.mu.Unlock()
}

// videoTable is the list without a pointer per video: ids and offsets into one block of text. The
// collector marks it as two objects, where 100,000 videos as structs of strings were 300,000 to
// mark on every cycle, and under load a cycle comes every 100 ms.
type videoTable struct {
	text []byte
	rows []videoRow
}

// videoRow's fields follow one another in text: the title from title to image, and so on.
type videoRow struct {
	id                     int64
	title, image, url, end uint32
}

func (t *videoTable) add(v Video) error {
	if len(t.text)+len(v.Title)+len(v.Image)+len(v.URL) > math.MaxUint32 {
		return errors.New("loading videos: their text passes 4 GiB")
	}
	r := videoRow{id: v.ID, title: uint32(len(t.text))}
	t.text = append(t.text, v.Title...)
	r.image = uint32(len(t.text))
	t.text = append(t.text, v.Image...)
	r.url = uint32(len(t.text))
	t.text = append(t.text, v.URL...)
	r.end = uint32(len(t.text))
	t.rows = append(t.rows, r)
	return nil
}

func (t *videoTable) video(i int) Video {
	r := t.rows[i]
	return Video{ID: r.id, Title: string(t.text[r.title:r.image]), Image: string(t.text[r.image:r.url]), URL: string(t.text[r.url:r.end])}
}
