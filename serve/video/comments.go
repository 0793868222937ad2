package video

import (
	"context"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/serve"
)

// The newest comments of a video are read far more often than written: the first page (up to
// MaxCommentPage+1 comments, enough for any limit) is kept per video for at most CommentsFresh. A
// comment posted through this process drops its video's entry at once; one posted elsewhere (another
// instance) shows within CommentsFresh. Older pages (before=...) go to the store.
const (
	CommentsFresh   = time.Second
	commentsEntries = 10000 // videos with a cached first page; past it, entries are dropped
)

type commentCache struct {
	store Store
	mu    sync.Mutex
	byVID map[int64]*newest
}

type newest struct {
	once sync.Once // one read of the store per entry, however many requests wait for it
	at   time.Time
	list []Comment
	err  error
	body []byte // the answer to commentList without limit or before, encoded once
}

// first returns up to n of the newest comments of vid.
func (c *commentCache) first(ctx context.Context, vid int64, n int) ([]Comment, error) {
	e, err := c.entry(ctx, vid)
	if err != nil {
		return nil, err
	}
	return e.list[:min(n, len(e.list))], nil
}

// firstBody is the answer to commentList for vid's first page at the default limit, encoded once.
func (c *commentCache) firstBody(ctx context.Context, vid int64) ([]byte, error) {
	e, err := c.entry(ctx, vid)
	if err != nil {
		return nil, err
	}
	return e.body, nil
}

func (c *commentCache) entry(ctx context.Context, vid int64) (*newest, error) {
	c.mu.Lock()
	if c.byVID == nil {
		c.byVID = map[int64]*newest{}
	}
	e := c.byVID[vid]
	if e == nil || (!e.at.IsZero() && time.Since(e.at) > CommentsFresh) {
		if len(c.byVID) >= commentsEntries {
			for k := range c.byVID { // drop an arbitrary half: cheap, and the hot ones come back
				if delete(c.byVID, k); len(c.byVID) < commentsEntries/2 {
					break
				}
			}
		}
		e = &newest{}
		c.byVID[vid] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		rctx, cancel := serve.Detached(ctx)
		defer cancel()
		list, err := c.store.Comments(rctx, vid, 0, MaxCommentPage+1)
		if err == nil {
			e.body, err = serve.EncodeJSON(commentPage(list, MaxCommentPage))
		}
		e.list, e.err = list, err
		e.at = time.Now()
		if e.err != nil {
			c.forget(vid, e) // a failure is not cached
		}
	})
	return e, e.err
}

// forget drops vid's entry (after a comment on it), or only entry e when given.
func (c *commentCache) forget(vid int64, e *newest) {
	c.mu.Lock()
	if cur := c.byVID[vid]; cur != nil && (e == nil || cur == e) {
		delete(c.byVID, vid)
	}
	c.mu.Unlock()
}
