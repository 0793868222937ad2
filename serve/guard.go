package serve

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// ErrBodyTooSlow is what reading a request body returns once the client stopped sending, or sends
// slower than the minimum rate after the grace: the connection is closed after the answer.
var ErrBodyTooSlow = errors.New("the request body stalled or arrived too slowly")

// Deadlines bound what one request may hold: its body must keep moving, and the whole request has an
// end. Zero values take the defaults.
type Deadlines struct {
	// BodyGrace is how long a body may take before the rate counts, and the longest a body may stall
	// at any time (default 10s).
	BodyGrace time.Duration
	// MinBodyRate is the slowest body accepted after the grace, in bytes a second (default 1 KiB/s).
	MinBodyRate int64
	// Request bounds a whole request, from its headers to its answer's last byte (default 1m); a route
	// may set its own (Router.Bound).
	Request time.Duration
}

func (d Deadlines) withDefaults() Deadlines {
	if d.BodyGrace <= 0 {
		d.BodyGrace = 10 * time.Second
	}
	if d.MinBodyRate <= 0 {
		d.MinBodyRate = 1 << 10
	}
	if d.Request <= 0 {
		d.Request = time.Minute
	}
	return d
}

// BodyBound is the whole-request bound for a route that takes bodies of up to max bytes: long enough
// for the slowest body the rate accepts.
func (d Deadlines) BodyBound(max int64) time.Duration {
	d = d.withDefaults()
	return d.BodyGrace + time.Duration(max/d.MinBodyRate+1)*time.Second
}

// guards are the bodies being read now, so a shutdown can cut the stalled ones.
type guards struct {
	mu       sync.Mutex
	active   map[*guardedBody]struct{}
	draining bool
}

// drainGrace is how long a body may stall once the process shuts down.
const drainGrace = time.Second

func (gs *guards) add(g *guardedBody) {
	gs.mu.Lock()
	gs.active[g] = struct{}{}
	if gs.draining {
		g.drain()
	}
	gs.mu.Unlock()
}

func (gs *guards) remove(g *guardedBody) { gs.mu.Lock(); delete(gs.active, g); gs.mu.Unlock() }

// drain cuts every body that is not moving: each may stall drainGrace at most from now on.
func (gs *guards) drain() {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	gs.draining = true
	for g := range gs.active {
		g.drain()
	}
}

// guardedBody slides the connection's read deadline as the body arrives: the deadline is the
// earlier of "the bytes so far at the minimum rate, after the grace", "a grace from now" and the end
// of the whole request.
type guardedBody struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	w     http.ResponseWriter
	rate  int64
	start time.Time
	end   time.Time

	mu    sync.Mutex
	grace time.Duration
	n     int64
	cut   bool
}

func (g *guardedBody) deadline(now time.Time) time.Time {
	d := g.start.Add(g.grace + time.Duration(float64(g.n)/float64(g.rate)*float64(time.Second)))
	if stall := now.Add(g.grace); d.After(stall) {
		d = stall
	}
	if d.After(g.end) {
		d = g.end
	}
	return d
}

func (g *guardedBody) arm() {
	g.mu.Lock()
	d := g.deadline(time.Now())
	g.mu.Unlock()
	_ = g.rc.SetReadDeadline(d)
}

func (g *guardedBody) drain() {
	g.mu.Lock()
	g.grace = min(g.grace, drainGrace)
	g.mu.Unlock()
	g.arm()
}

func (g *guardedBody) Read(p []byte) (int, error) {
	g.arm()
	n, err := g.body.Read(p)
	g.mu.Lock()
	g.n += int64(n)
	g.mu.Unlock()
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		g.mu.Lock()
		g.cut = true
		g.mu.Unlock()
		g.w.Header().Set("Connection", "close")
		return n, ErrBodyTooSlow
	}
	return n, err
}

func (g *guardedBody) Close() error { return g.body.Close() }

func (g *guardedBody) wasCut() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.cut }

type boundKey struct{}

// guard puts the request's deadlines on its connection: the whole request must end by start+bound,
// and its body must keep moving. WebSocket upgrades are left alone: once hijacked, the connection's
// deadlines are the app's. It reports whether the body was cut.
func (s *Server) guard(w http.ResponseWriter, r *http.Request, bound time.Duration, serve func(http.ResponseWriter, *http.Request)) (cut bool) {
	if r.Header.Get("Upgrade") != "" {
		serve(w, r)
		return false
	}
	d := s.deadlines
	if bound <= 0 {
		bound = d.Request
	}
	start := time.Now()
	end := start.Add(bound)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(end)
	var g *guardedBody
	if r.Body != nil && r.Body != http.NoBody {
		g = &guardedBody{body: r.Body, rc: rc, w: w, rate: d.MinBodyRate, start: start, end: end, grace: d.BodyGrace}
		g.arm()
		s.guards.add(g)
		defer s.guards.remove(g)
		r.Body = g
	} else {
		_ = rc.SetReadDeadline(end)
	}
	ctx, cancel := context.WithDeadline(r.Context(), end)
	defer cancel()
	serve(w, r.WithContext(ctx))
	// The connection may serve another request: the next one gets deadlines of its own.
	_ = rc.SetWriteDeadline(time.Time{})
	return g != nil && g.wasCut()
}
