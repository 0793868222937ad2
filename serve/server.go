package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Listener is one address and the apps it routes to by path.
type Listener struct {
	Addr string
	Apps []App
}

// Options configure a Server.
type Options struct {
	Listeners       []Listener
	Logger          *slog.Logger
	ShutdownTimeout time.Duration // bound on the whole graceful shutdown
	ReadyTimeout    time.Duration // bound on each app's Ready in /readyz
	// OnListen, if set, is told each bound address (useful with port 0).
	OnListen func(addr net.Addr, apps []string)
	// Deadlines bound each request and its body; Budgets the open connections.
	Deadlines Deadlines
	Budgets   Budgets
	// OpenFiles is the open-file limit the budgets are shared from (0: the process's).
	OpenFiles int
}

// Server runs the listeners until its context ends, then shuts down gracefully.
type Server struct {
	opts      Options
	log       *slog.Logger
	metrics   *metrics
	draining  atomic.Bool
	deadlines Deadlines
	budgets   Budgets
	openFiles int
	guards    guards
}

// New returns a Server; nothing listens until Run.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 15 * time.Second
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Second
	}
	if opts.OpenFiles <= 0 {
		opts.OpenFiles = OpenFileLimit()
	}
	return &Server{opts: opts, log: opts.Logger, metrics: newMetrics(), deadlines: opts.Deadlines.withDefaults(),
		budgets: opts.Budgets.Derive(opts.OpenFiles, len(opts.Listeners)), openFiles: opts.OpenFiles,
		guards: guards{active: map[*guardedBody]struct{}{}}}
}

// Deadlines are the request deadlines in force (defaults filled in).
func (s *Server) Deadlines() Deadlines { return s.deadlines }

// Budgets are the connection budgets in force (derived ones filled in).
func (s *Server) Budgets() Budgets { return s.budgets }

// Registry is the Prometheus registry behind /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// Handler routes one listener's requests: health and metrics at the root, each app under its base
// path (with its own health), JSON 404 for the rest.
func (s *Server) Handler(apps []App) http.Handler {
	mux := http.NewServeMux()
	quiet := func(route string, h http.HandlerFunc) {
		mux.Handle(route, s.instrument("", route, 0, h, slog.LevelDebug))
	}
	quiet("GET /healthz", s.healthz)
	quiet("GET /readyz", func(w http.ResponseWriter, r *http.Request) { s.readyz(w, r, apps) })
	// Metrics only at the listener's root: the public proxy forwards base paths, never this.
	mux.Handle("GET /metrics", s.instrument("", "GET /metrics", 0, promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}), slog.LevelDebug))
	quiet("/", notFound)
	for _, app := range apps {
		app := app
		base := strings.TrimSuffix(app.BasePath(), "/")
		quiet("GET "+base+"/healthz", s.healthz)
		quiet("GET "+base+"/readyz", func(w http.ResponseWriter, r *http.Request) { s.readyz(w, r, []App{app}) })
		r := &Router{mux: mux, base: base, app: app.Name(), deadlines: s.deadlines, wrap: func(a, route string, bound time.Duration, h http.Handler) http.Handler {
			return s.instrument(a, route, bound, h, slog.LevelInfo)
		}}
		app.Register(r)
		// Unknown paths under the base answer like the apps do: JSON, not the default text page.
		mux.Handle(base+"/", s.instrument(app.Name(), base+"/", 0, http.HandlerFunc(notFound), slog.LevelInfo))
	}
	return withRequestID(collapseSlashes(s.healthOnlyPastBudget(mux)))
}

// healthOnlyPastBudget answers requests on connections past the listener's cap with a 503, but for
// health checks, which keep answering whatever the load.
func (s *Server) healthOnlyPastBudget(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if overBudget(r.Context()) && !strings.HasSuffix(r.URL.Path, "/healthz") && !strings.HasSuffix(r.URL.Path, "/readyz") {
			CountRefused("", "connections")
			Refuse(w, "connections")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// collapseSlashes routes "/a//b" as "/a/b" in place: the mux would answer such paths with a
// redirect, and the original game client really asks for ".../socket.io//?EIO=3", over WebSocket,
// where redirects are not followed.
func collapseSlashes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "//") {
			r2 := r.Clone(r.Context())
			for strings.Contains(r2.URL.Path, "//") {
				r2.URL.Path = strings.ReplaceAll(r2.URL.Path, "//", "/")
			}
			r2.URL.RawPath = ""
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		WriteJSON(w, http.StatusOK, map[string]any{"status": "ok"})
		return
	}
	// At the listener's root only (the public proxy forwards base paths): the budgets, so applet
	// doctor can tell a limit too low for them.
	WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "limits": map[string]any{
		"open_files": s.openFiles, "needed": s.budgets.Needed(len(s.opts.Listeners)), "connections": s.budgets.Connections}})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, apps []App) {
	if s.draining.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "shutting down"})
		return
	}
	checks := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	for _, app := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadyTimeout)
			defer cancel()
			res := "ok"
			if err := app.Ready(ctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			checks[app.Name()] = res
			if res != "ok" {
				ok = false
				LoggerFrom(r.Context(), s.log).Warn("not ready", "app", app.Name(), "err", res)
			}
		}()
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	if !ok {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	WriteJSON(w, code, map[string]any{"status": status, "checks": checks})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusNotFound, map[string]any{"code": -1, "msg": "not found", "data": map[string]any{}})
}

// Run listens on every address, serves until ctx ends, then shuts down: readiness fails at once, the
// listeners stop accepting and in-flight requests finish, then each app's Shutdown closes its
// WebSockets and stores; all of it bounded by ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	type bound struct {
		srv *http.Server
		ln  net.Listener
	}
	var servers []bound
	closeAll := func() {
		for _, b := range servers {
			b.ln.Close()
		}
	}
	var apps []App
	for _, l := range s.opts.Listeners {
		raw, err := net.Listen("tcp", l.Addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listening on %s: %w", l.Addr, err)
		}
		names := make([]string, len(l.Apps))
		for i, a := range l.Apps {
			names[i] = a.Name()
			apps = append(apps, a)
		}
		ln := &budgetListener{Listener: raw, max: s.budgets.Connections, health: s.budgets.HealthReserve, apps: strings.Join(names, ",")}
		srv := &http.Server{
			Handler:           s.Handler(l.Apps),
			ReadHeaderTimeout: s.deadlines.BodyGrace, // headers, too, must arrive within the grace
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, overKey{}, c)
			},
		}
		servers = append(servers, bound{srv, ln})
		s.log.Info("listening", "addr", ln.Addr().String(), "apps", strings.Join(names, ","))
		if s.opts.OnListen != nil {
			s.opts.OnListen(ln.Addr(), names)
		}
	}

	errc := make(chan error, len(servers))
	for _, b := range servers {
		go func() {
			if err := b.srv.Serve(b.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving %s: %w", b.ln.Addr(), err)
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "timeout", s.opts.ShutdownTimeout.String())
	case runErr = <-errc:
		s.log.Error("listener failed, shutting down", "err", runErr)
	}

	s.draining.Store(true)
	s.guards.drain() // bodies that are not moving are cut now; the others may finish
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, b := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.srv.Shutdown(sctx); err != nil {
				b.srv.Close()
			}
		}()
	}
	wg.Wait()
	var appErrs []error
	for _, a := range apps {
		if err := a.Shutdown(sctx); err != nil {
			appErrs = append(appErrs, fmt.Errorf("%s: %w", a.Name(), err))
		}
	}
	if sctx.Err() != nil {
		// Nothing of the process's own is lost: what is cut here are requests their clients retry.
		for _, b := range servers {
			b.srv.Close()
		}
		s.log.Warn("shutdown took longer than its timeout: the remaining connections were closed", "timeout", s.opts.ShutdownTimeout.String())
	}
	if len(appErrs) > 0 {
		return errors.Join(append([]error{runErr}, appErrs...)...)
	}
	s.log.Info("stopped")
	return runErr
}

// Layout puts apps on listeners: all on one address when shared is set, otherwise each on its own
// address (addrs, in the apps' order).
func Layout(apps []App, shared string, addrs []string) []Listener {
	if shared != "" {
		return []Listener{{Addr: shared, Apps: apps}}
	}
	var ls []Listener
	for i, a := range apps {
		ls = append(ls, Listener{Addr: addrs[i], Apps: []App{a}})
	}
	return ls
}
