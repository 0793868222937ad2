package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// OpenFileLimit is the process's limit on open files (Go raises the soft limit to the hard one at
// start), or 0 when it cannot be read.
func OpenFileLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return 0
	}
	return int(l.Cur)
}

// Budgets share the open files out so the process never runs out of them: a reserve for health
// checks, databases, spool files and logs, and the rest for connections. Zero values are derived from
// the open-file limit.
type Budgets struct {
	// Reserve is what connections never take (default: a quarter of the limit, at least 64, at most 4096).
	Reserve int
	// Connections caps the open connections of each listener, WebSockets included (default: what the
	// reserve leaves, shared out between the listeners).
	Connections int
	// HealthReserve connections past the cap are still accepted, for /healthz and /readyz only.
	HealthReserve int
}

// Derive fills the zero budgets for listeners listeners under limit open files.
func (b Budgets) Derive(limit, listeners int) Budgets {
	if limit <= 0 {
		limit = 1024
	}
	if b.Reserve <= 0 {
		b.Reserve = min(max(limit/4, 64), 4096)
	}
	if b.HealthReserve <= 0 {
		b.HealthReserve = 8
	}
	if b.Connections <= 0 {
		b.Connections = max((limit-b.Reserve)/max(listeners, 1)-b.HealthReserve, 16)
	}
	return b
}

// Needed is how many open files the budgets can take at once with listeners listeners.
func (b Budgets) Needed(listeners int) int {
	return b.Reserve + listeners*(b.Connections+b.HealthReserve)
}

// RetryAfter is what a refused client is told to wait, in seconds.
const RetryAfter = "5"

// Refuse answers a request the process has no room for now: 503 with Retry-After, in the apps' JSON
// shape, and the connection closed.
func Refuse(w http.ResponseWriter, reason string) {
	w.Header().Set("Retry-After", RetryAfter)
	w.Header().Set("Connection", "close")
	WriteJSON(w, http.StatusServiceUnavailable, refusalBody(reason))
}

// refusalBody is what a refused client reads, in the apps' JSON shape.
func refusalBody(reason string) map[string]any {
	return map[string]any{"code": -1, "msg": "服务繁忙，请稍候再试", "data": map[string]any{}, "error": map[string]any{"reason": reason}}
}

type overKey struct{}

// budgetListener caps a listener's open connections. Past the cap a few more are accepted for health
// checks only (marked in their context); past those, a connection gets a 503 at once and is closed.
type budgetListener struct {
	net.Listener
	max, health int
	open        atomic.Int64
	apps        string
}

// refuseWriteTimeout bounds the write of a refusal to a client that does not read.
const refuseWriteTimeout = time.Second

func (l *budgetListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := l.open.Load()
		if n >= int64(l.max+l.health) {
			CountRefused(l.apps, "connections")
			go refuseConn(c)
			continue
		}
		l.open.Add(1)
		return &countedConn{Conn: c, l: l, over: n >= int64(l.max)}, nil
	}
}

// refusal is the whole answer to a connection past the budget, written before its request is read.
var refusal = func() []byte {
	body, _ := json.Marshal(refusalBody("connections"))
	return []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nRetry-After: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", RetryAfter, len(body), body))
}()

// refuseConn answers 503 before reading the request, then closes the way an HTTP server must when
// it leaves a request unread: write side first, the rest read and dropped for a moment, so the
// client's kernel does not turn the unread bytes into a reset that loses the answer.
func refuseConn(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(refuseWriteTimeout))
	if _, err := c.Write(refusal); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	io.CopyN(io.Discard, c, 64<<10)
}

type countedConn struct {
	net.Conn
	l    *budgetListener
	over bool
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// overBudget reports whether the request came on a connection past the listener's cap.
func overBudget(ctx context.Context) bool {
	c, ok := ctx.Value(overKey{}).(*countedConn)
	return ok && c.over
}

// ClientIP is the address of the client: the peer's, or, when the peer is a trusted proxy, the last
// address X-Forwarded-For names that is not itself a trusted proxy.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip
		}
		if a = a.Unmap(); !isTrusted(a) {
			return a
		}
	}
	return ip
}

// Limiter is a token bucket per client address: rate a second, bursts of burst. Idle buckets are
// forgotten, so memory stays bounded by the addresses seen in a few minutes.
type Limiter struct {
	rate, burst float64
	mu          sync.Mutex
	buckets     map[netip.Addr]*bucket
	swept       time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter allows perMinute requests a minute per address, in bursts of burst; perMinute 0 allows all.
func NewLimiter(perMinute float64, burst int) *Limiter {
	return &Limiter{rate: perMinute / 60, burst: float64(max(burst, 1)), buckets: map[netip.Addr]*bucket{}}
}

// Allow takes a token for the address, or reports that it has none.
func (l *Limiter) Allow(a netip.Addr) bool {
	if l == nil || l.rate <= 0 {
		return true
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.last) > time.Duration(l.burst/l.rate*float64(time.Second)) {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[a]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[a] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Uploads is how many uploads may be received at once: each holds a spool file besides its
// connection, and spool files come out of the reserve, which they may take half of.
func (b Budgets) Uploads() int { return max(min(b.Connections/8, b.Reserve/2), 1) }
