package session

import (
	"context"
	"sync"
)

// Shared is the one session store and middleware that the apps of one process share (the session
// app, and the album's and game's logins). Close releases them once, whichever app shuts down first.
type Shared struct {
	Store      Store
	Middleware *Middleware
	// Backend describes the store and the WeChat client for the startup log.
	Backend []any
	release func()
	once    sync.Once
}

// NewShared holds store and mw; release frees what only the middleware holds (nil: nothing).
func NewShared(store Store, mw *Middleware, backend []any, release func()) *Shared {
	if release == nil {
		release = func() {}
	}
	return &Shared{Store: store, Middleware: mw, Backend: backend, release: release}
}

// Close closes the store and releases the rest, once.
func (p *Shared) Close() error {
	p.once.Do(func() {
		p.Store.Close()
		p.release()
	})
	return nil
}

// Handle is the store for one app: closing it closes the shared parts, once.
func (p *Shared) Handle() Store { return sharedHandle{p} }

type sharedHandle struct{ p *Shared }

func (s sharedHandle) Put(ctx context.Context, x Session) error { return s.p.Store.Put(ctx, x) }
func (s sharedHandle) Get(ctx context.Context, id string) (Session, error) {
	return s.p.Store.Get(ctx, id)
}
func (s sharedHandle) Delete(ctx context.Context, id string) error { return s.p.Store.Delete(ctx, id) }
func (s sharedHandle) Ready(ctx context.Context) error             { return s.p.Store.Ready(ctx) }
func (s sharedHandle) Close() error                                { return s.p.Close() }
