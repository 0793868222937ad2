package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "applet_http_requests_total",
			Help: "HTTP requests by app, route and status code.",
		}, []string{"app", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "applet_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by app and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"app", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "applet_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.inflight, refusedTotal,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// refusedTotal counts what the budgets refused, in every server of the process.
var refusedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "applet_http_refused_total",
	Help: "Connections and requests refused or cut to keep the process's promises to other clients, by app and reason.",
}, []string{"app", "reason"})

// CountRefused counts one refusal in applet_http_refused_total.
func CountRefused(app, reason string) { refusedTotal.WithLabelValues(app, reason).Inc() }

// instrument records metrics and an access log line for one route, and turns a panic into a logged
// 500 so one bad request never takes the process down.
func (s *Server) instrument(app, route string, bound time.Duration, h http.Handler, level slog.Level) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		log := LoggerFrom(r.Context(), s.log)
		s.metrics.inflight.Inc()
		defer func() {
			s.metrics.inflight.Dec()
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p) // the server's own signal to drop the connection quietly
				}
				log.Error("panic serving request", "app", app, "route", route, "panic", p, "stack", string(debug.Stack()))
				if !rec.wrote {
					WriteJSON(rec, http.StatusInternalServerError, map[string]any{"code": -1, "msg": "internal error", "data": map[string]any{}})
				}
				rec.status = http.StatusInternalServerError
			}
			d := time.Since(start)
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.requests.WithLabelValues(app, route, strconv.Itoa(code)).Inc()
			s.metrics.duration.WithLabelValues(app, route).Observe(d.Seconds())
			log.Log(r.Context(), level, "request", "app", app, "method", r.Method, "path", r.URL.Path,
				"route", route, "status", code, "bytes", rec.bytes, "duration", d.Round(time.Microsecond).String())
		}()
		if s.guard(rec, r, bound, h.ServeHTTP) {
			CountRefused(app, "slow body")
		}
	})
}

// recorder remembers the status and size of a response. It keeps Flush and Hijack working (WebSocket
// upgrades go through it) and exposes the original writer to http.ResponseController.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil {
		r.status, r.wrote = http.StatusSwitchingProtocols, true
	}
	return conn, rw, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID gives every request an id: the proxy's, when it sent a sane one, or a new one. The id
// is echoed in the response and attached to the request's logger.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !requestIDRE.MatchString(id) {
			id = newID()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RequestID returns the request's id, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// LoggerFrom returns base with the request id of ctx attached.
func LoggerFrom(ctx context.Context, base *slog.Logger) *slog.Logger {
	if id := RequestID(ctx); id != "" {
		return base.With("request_id", id)
	}
	return base
}

// WriteJSON writes v as a JSON response with the status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// EncodeJSON is the body WriteJSON writes for v, for an answer encoded once and served many times.
func EncodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteEncoded writes a body from EncodeJSON as WriteJSON would.
func WriteEncoded(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// Detached is the context of a read that several requests wait on (a cache filling): not the
// request's, since a client that leaves must not fail the others, and bounded by its own deadline.
func Detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
