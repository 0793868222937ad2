// Package serve is the runtime every backend shares: listeners, path routing, health, metrics, request
// logging, panic recovery and graceful shutdown. The apps (album, game, session, video) register their
// routes on a Router and know nothing of listeners or configuration.
package serve

import (
	"context"
	"net/http"
	"time"
)

// App is one backend. Its routes live under BasePath.
type App interface {
	// Name is the app's name as in `applet serve <name>`; it labels logs and metrics.
	Name() string
	// BasePath is where the app is mounted, e.g. "/applet/album"; health is served under it too.
	BasePath() string
	// Register adds the app's routes; patterns are relative to BasePath ("GET /list").
	Register(r *Router)
	// Ready reports whether the app's dependencies answer; /readyz calls it.
	Ready(ctx context.Context) error
	// Shutdown releases what the app holds once the listeners stop taking requests: WebSockets get a
	// close frame, stores are closed. It must return by the time ctx is done.
	Shutdown(ctx context.Context) error
}

// Describer is implemented by apps that can say which backends they use, for the startup log.
type Describer interface {
	Describe() []any // slog key/value pairs, e.g. "storage", "local disk data/album"
}

// Router registers an app's routes under its base path with the runtime's instrumentation.
type Router struct {
	mux       *http.ServeMux
	base      string
	app       string
	wrap      func(app, route string, bound time.Duration, h http.Handler) http.Handler
	patterns  []string
	bound     time.Duration
	deadlines Deadlines
}

// Bound sets the whole-request bound of the routes registered after it (0: the runtime's default).
func (r *Router) Bound(d time.Duration) { r.bound = d }

// Deadlines are the runtime's request deadlines, for an app to size its own bounds.
func (r *Router) Deadlines() Deadlines { return r.deadlines.withDefaults() }

// Handle registers h for pattern ("[METHOD ]/path"), relative to the app's base path.
func (r *Router) Handle(pattern string, h http.Handler) {
	method, path := "", pattern
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			method, path = pattern[:i+1], pattern[i+1:]
			break
		}
	}
	full := method + r.base + path
	r.patterns = append(r.patterns, full)
	r.mux.Handle(full, r.wrap(r.app, full, r.bound, h))
}

// HandleFunc is Handle for a function.
func (r *Router) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	r.Handle(pattern, http.HandlerFunc(h))
}

// BasePath is the prefix every route of this router is under.
func (r *Router) BasePath() string { return r.base }
