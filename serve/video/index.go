package video

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// The video list is read thousands of times for every change, and its changes come from operators
// (seed-mysql, SQL), never from users: the app keeps every video in memory and serves any page by
// slicing, so a deep page costs what the first does and no query's plan is in the way. A cheap check
// (the count and the largest id) runs at most every ListCheck, in the background, and reloads the
// list when it changed; the whole list is reloaded every ListReload anyway, which bounds how long an
// edit of an existing video (same count, same ids) takes to show.
const (
	ListCheck  = time.Second
	ListReload = 30 * time.Second
)

type index struct {
	store Store
	log   *slog.Logger

	loadMu sync.Mutex // one first load at a time
	mu     sync.RWMutex
	videos []Video
	count  int
	maxID  int64
	ok     bool
	at     time.Time // last check
	loaded time.Time
	gen    uint64      // counts loads: a page encoded under one generation is stale under the next
	busy   atomic.Bool // a background check is running
}

// page returns videos [offset, offset+limit), the total and the generation of the list they come from.
func (x *index) page(ctx context.Context, offset, limit int) ([]Video, int, uint64, error) {
	x.mu.RLock()
	ok, stale := x.ok, time.Since(x.at) > ListCheck
	x.mu.RUnlock()
	if !ok {
		if err := x.firstLoad(ctx); err != nil {
			return nil, 0, 0, err
		}
	} else if stale && x.busy.CompareAndSwap(false, true) {
		go x.refresh()
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	total := len(x.videos)
	if offset >= total {
		return []Video{}, total, x.gen, nil
	}
	return x.videos[offset:min(offset+limit, total)], total, x.gen, nil
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
	return x.load(ctx)
}

func (x *index) load(ctx context.Context) error {
	count, maxID, err := x.store.VideoStamp(ctx)
	if err != nil {
		return err
	}
	all, err := x.store.AllVideos(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	x.mu.Lock()
	x.videos, x.count, x.maxID, x.ok, x.at, x.loaded = all, count, maxID, true, now, now
	x.gen++
	x.mu.Unlock()
	return nil
}

// refresh runs the cheap check and reloads when it changed (or ListReload passed). A failure keeps
// the list it had: the database may be down for a moment, and the list is still right. Either way
// the next check comes ListCheck later, not on every request.
func (x *index) refresh() {
	defer x.busy.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	count, maxID, err := x.store.VideoStamp(ctx)
	x.mu.RLock()
	same := count == x.count && maxID == x.maxID && time.Since(x.loaded) < ListReload
	x.mu.RUnlock()
	switch {
	case err != nil:
		x.log.Warn("checking the video list for changes", "err", err)
	case !same:
		err := x.load(ctx)
		if err == nil {
			return // load set the time of the check
		}
		x.log.Warn("reloading the video list", "err", err)
	}
	x.mu.Lock()
	x.at = time.Now()
	x.mu.Unlock()
}
