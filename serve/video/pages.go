package video

import "sync"

// A page of the list is read far more often than the list changes, and its answer depends only on
// the list's generation and the origin that relative media URLs are made absolute against: it is
// encoded once per (origin, page) and served as bytes until the list is reloaded. The origin comes
// from the request's Host, so a client choosing hosts and page numbers could grow the cache without
// bound: past pageEntries it is emptied, which costs one encoding per page again, never memory.
const pageEntries = 4096

type pageKey struct {
	origin string
	page   int64 // 0: any page past the last (they all say the same)
}

type pageCache struct {
	mu     sync.Mutex
	gen    uint64
	bodies map[pageKey][]byte
}

// get returns the body kept for k under generation gen, if any.
func (c *pageCache) get(gen uint64, k pageKey) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil
	}
	return c.bodies[k]
}

// put keeps body for k under gen; a newer generation drops what the older one kept, and an older
// one (a request that read the list before a reload) is not kept.
func (c *pageCache) put(gen uint64, k pageKey, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return
	case gen > c.gen || c.bodies == nil || len(c.bodies) >= pageEntries:
		c.gen, c.bodies = gen, make(map[pageKey][]byte)
	}
	c.bodies[k] = body
}
