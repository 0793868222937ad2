package session

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/wechat"
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

// Owner is the openid of the login a request context carries (Middleware.Wrap has seen it).
func (p *Shared) Owner(ctx context.Context) (string, bool) { return ownerOf(ctx) }

func ownerOf(ctx context.Context) (string, bool) {
	s, ok := FromContext(ctx)
	return s.OpenID, ok && s.OpenID != ""
}

// ContentCheck is WeChat's content security for the apps, on the login of each request: the
// session middleware (Wrap) must have seen the request.
type ContentCheck struct {
	wx *wechat.Client
	mw *Middleware
}

// ContentCheck is nil when logins go to no WeChat client (none configured).
func (p *Shared) ContentCheck() *ContentCheck {
	c, ok := p.Middleware.wx.(*wechat.Client)
	if !ok {
		return nil
	}
	return &ContentCheck{wx: c, mw: p.Middleware}
}

// Text checks what the request's user wrote (msgSecCheck): serve.ErrSignIn without a login,
// serve.ErrContentRefused when WeChat judges it risky.
func (c *ContentCheck) Text(r *http.Request, text string) error {
	openID, ok := c.Owner(r.Context())
	if !ok {
		return serve.ErrSignIn
	}
	err := c.wx.CheckText(r.Context(), openID, text)
	if errors.Is(err, wechat.ErrRisky) {
		return serve.ErrContentRefused
	}
	return err
}

// Image starts the check of an uploaded image (mediaCheckAsync); the verdict comes to Push.
func (c *ContentCheck) Image(ctx context.Context, openID, url string) (string, error) {
	return c.wx.CheckImage(ctx, openID, url)
}

// Wrap resolves the request's login (the session middleware).
func (c *ContentCheck) Wrap(h http.Handler) http.Handler { return c.mw.Wrap(h) }

// Owner is the login's openid from a request context Wrap has seen.
func (c *ContentCheck) Owner(ctx context.Context) (string, bool) { return ownerOf(ctx) }

// Push reads a verdict WeChat pushed to the message push URL, signed with pushToken.
func (c *ContentCheck) Push(pushToken string) func(r *http.Request, body []byte) (string, bool, bool) {
	return func(r *http.Request, body []byte) (string, bool, bool) {
		v, ok := wechat.ParsePush(pushToken, r.URL.Query(), body)
		return v.TraceID, v.Risky, ok
	}
}
