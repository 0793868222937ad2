package session

import (
	"context"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/serve"
)

// DrawingsFresh bounds how long a drawing saved or deleted through another instance (sharing
// MongoDB) takes to show here; through this process it shows at once.
const DrawingsFresh = time.Second

// Limits of the drawing cache: past them, an arbitrary half of the users' lists is dropped (cheap,
// and the busy ones come back).
const (
	drawCacheUsers = 10000
	drawCacheBytes = 64 << 20
)

// CachedDrawings keeps each user's drawing list in process: a page of drawings is listed far more
// often than one is saved, and a database round trip per list (MongoDB's above all) is most of its
// cost. A save or delete through this process drops the user's list at once, so a user always sees
// their own change; a list is kept at most maxAge for changes made elsewhere (0: until this process
// changes it, for a store only this process writes, as the embedded one).
type CachedDrawings struct {
	DrawingStore
	maxAge time.Duration

	mu     sync.Mutex
	byUser map[string]*drawEntry
	bytes  int
}

type drawEntry struct {
	once  sync.Once // one read of the store per entry, however many requests wait for it
	at    time.Time
	list  []Drawing
	err   error
	bytes int // counted in CachedDrawings.bytes once read
}

// NewCachedDrawings wraps store.
func NewCachedDrawings(store DrawingStore, maxAge time.Duration) *CachedDrawings {
	return &CachedDrawings{DrawingStore: store, maxAge: maxAge, byUser: map[string]*drawEntry{}}
}

// List implements DrawingStore. The list returned is shared: callers do not modify it.
func (c *CachedDrawings) List(ctx context.Context, openID string) ([]Drawing, error) {
	c.mu.Lock()
	e := c.byUser[openID]
	if e == nil || (c.maxAge > 0 && e.bytes > 0 && time.Since(e.at) > c.maxAge) {
		c.dropLocked(openID)
		e = &drawEntry{}
		c.byUser[openID] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		rctx, cancel := serve.Detached(ctx)
		defer cancel()
		e.list, e.err = c.DrawingStore.List(rctx, openID)
		e.at = time.Now()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.byUser[openID] != e {
			return // dropped meanwhile (a save): this read serves only the requests that waited on it
		}
		if e.err != nil {
			delete(c.byUser, openID) // a failure is not kept
			return
		}
		e.bytes = 64
		for _, d := range e.list {
			e.bytes += 64 + len(d.ID) + len(d.Actions)
		}
		c.bytes += e.bytes
		if len(c.byUser) > drawCacheUsers || c.bytes > drawCacheBytes {
			c.shrinkLocked(openID)
		}
	})
	return e.list, e.err
}

// Save implements DrawingStore.
func (c *CachedDrawings) Save(ctx context.Context, openID string, d Drawing) error {
	err := c.DrawingStore.Save(ctx, openID, d)
	c.forget(openID) // after a failure too: it may have been written all the same
	return err
}

// Delete implements DrawingStore.
func (c *CachedDrawings) Delete(ctx context.Context, openID, id string) error {
	err := c.DrawingStore.Delete(ctx, openID, id)
	c.forget(openID)
	return err
}

func (c *CachedDrawings) forget(openID string) {
	c.mu.Lock()
	c.dropLocked(openID)
	c.mu.Unlock()
}

func (c *CachedDrawings) dropLocked(openID string) {
	if e := c.byUser[openID]; e != nil {
		c.bytes -= e.bytes
		delete(c.byUser, openID)
	}
}

// shrinkLocked drops lists until half the limits are left, keeping keep's.
func (c *CachedDrawings) shrinkLocked(keep string) {
	for k := range c.byUser {
		if len(c.byUser) <= drawCacheUsers/2 && c.bytes <= drawCacheBytes/2 {
			return
		}
		if k != keep {
			c.dropLocked(k)
		}
	}
}
