package session

import (
	"context"
	"sync"
	"time"
)

// Cached keeps sessions read from a shared store in process for at most maxAge, so a request that
// needs a session rarely waits for the network. A session replaced, deleted or expired by another
// process stops being accepted here within maxAge; changes made through this process apply at once.
type Cached struct {
	Store
	maxAge time.Duration

	mu      sync.Mutex
	entries map[string]cacheEntry
	stop    chan struct{}
}

type cacheEntry struct {
	s       Session
	fetched time.Time
}

// NewCached wraps store.
func NewCached(store Store, maxAge time.Duration) *Cached {
	c := &Cached{Store: store, maxAge: maxAge, entries: map[string]cacheEntry{}, stop: make(chan struct{})}
	go c.janitor()
	return c
}

// Get implements Store.
func (c *Cached) Get(ctx context.Context, id string) (Session, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < c.maxAge && now.Before(e.s.Expires) {
		return e.s, nil
	}
	s, err := c.Store.Get(ctx, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.entries, id)
		return s, err
	}
	c.entries[id] = cacheEntry{s: s, fetched: now}
	return s, nil
}

// Put implements Store: the openId's previous session is dropped here too.
func (c *Cached) Put(ctx context.Context, s Session) error {
	c.mu.Lock()
	for id, e := range c.entries {
		if e.s.OpenID == s.OpenID {
			delete(c.entries, id)
		}
	}
	c.mu.Unlock()
	return c.Store.Put(ctx, s)
}

// Delete implements Store.
func (c *Cached) Delete(ctx context.Context, id string) error {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
	return c.Store.Delete(ctx, id)
}

// Close implements Store.
func (c *Cached) Close() error {
	close(c.stop)
	return c.Store.Close()
}

// janitor drops stale entries so the cache holds only recently used sessions.
func (c *Cached) janitor() {
	t := time.NewTicker(10 * c.maxAge)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			for id, e := range c.entries {
				if now.Sub(e.fetched) >= c.maxAge {
					delete(c.entries, id)
				}
			}
			c.mu.Unlock()
		}
	}
}
