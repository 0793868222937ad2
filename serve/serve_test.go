package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/serve"
)

// testApp is a small real App: the runtime is tested through the same interface the backends use.
type testApp struct {
	name, base string
	readyErr   error
	release    chan struct{} // GET /slow waits for it
	started    chan struct{} // closed when /slow has begun
	mu         sync.Mutex
	events     []string
}

func newTestApp(name string) *testApp {
	return &testApp{name: name, base: "/applet/" + name, release: make(chan struct{}), started: make(chan struct{})}
}

func (a *testApp) Name() string     { return a.name }
func (a *testApp) BasePath() string { return a.base }
func (a *testApp) Register(r *serve.Router) {
	r.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		serve.WriteJSON(w, 200, map[string]any{"code": 0, "msg": "ok", "rid": serve.RequestID(r.Context())})
	})
	r.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	r.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(a.started)
		<-a.release
		a.record("slow done")
		serve.WriteJSON(w, 200, map[string]any{"code": 0})
	})
}
func (a *testApp) Ready(ctx context.Context) error { return a.readyErr }
func (a *testApp) Shutdown(ctx context.Context) error {
	a.record("shutdown")
	return nil
}
func (a *testApp) record(e string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

func get(t *testing.T, url string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHealthReadinessAndRouting(t *testing.T) {
	ok, broken := newTestApp("album"), newTestApp("video")
	broken.readyErr = errors.New("mysql: connection refused")
	srv := serve.New(serve.Options{})
	ts := httptest.NewServer(srv.Handler([]serve.App{ok, broken}))
	defer ts.Close()

	for _, path := range []string{"/healthz", "/applet/album/healthz", "/applet/video/healthz"} {
		if code, _, body := get(t, ts.URL+path); code != 200 || !strings.Contains(body, `"status":"ok"`) {
			t.Errorf("%s = %d %s", path, code, body)
		}
	}
	if code, _, body := get(t, ts.URL+"/applet/album/readyz"); code != 200 {
		t.Errorf("album readyz = %d %s", code, body)
	}
	code, _, body := get(t, ts.URL+"/applet/video/readyz")
	if code != 503 || !strings.Contains(body, "mysql: connection refused") {
		t.Errorf("video readyz = %d %s", code, body)
	}
	// The root readiness covers every app on the listener.
	code, _, body = get(t, ts.URL+"/readyz")
	var rz struct {
		Status string
		Checks map[string]string
	}
	_ = json.Unmarshal([]byte(body), &rz)
	if code != 503 || rz.Checks["album"] != "ok" || rz.Checks["video"] != "mysql: connection refused" {
		t.Errorf("root readyz = %d %s", code, body)
	}

	if code, _, body := get(t, ts.URL+"/applet/album/ping"); code != 200 || !strings.Contains(body, `"msg":"ok"`) {
		t.Errorf("ping = %d %s", code, body)
	}
	for _, path := range []string{"/applet/album/nope", "/elsewhere", "/applet/album/ping/"} {
		code, hdr, body := get(t, ts.URL+path)
		if code != 404 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(body, `"code":-1`) {
			t.Errorf("%s = %d %s %s", path, code, hdr.Get("Content-Type"), body)
		}
	}
}

func TestMetricsOnlyAtRoot(t *testing.T) {
	app := newTestApp("album")
	srv := serve.New(serve.Options{})
	ts := httptest.NewServer(srv.Handler([]serve.App{app}))
	defer ts.Close()
	get(t, ts.URL+"/applet/album/ping")
	get(t, ts.URL+"/applet/album/ping")
	get(t, ts.URL+"/applet/album/missing")
	_, _, body := get(t, ts.URL+"/metrics")
	for _, want := range []string{
		`applet_http_requests_total{app="album",code="200",route="GET /applet/album/ping"} 2`,
		`applet_http_requests_total{app="album",code="404",route="/applet/album/"} 1`,
		`applet_http_request_duration_seconds_bucket{app="album",route="GET /applet/album/ping",le="+Inf"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Never under a base path, which the public proxy forwards.
	if code, _, body := get(t, ts.URL+"/applet/album/metrics"); code != 404 || strings.Contains(body, "applet_http") {
		t.Errorf("/applet/album/metrics = %d %s", code, body)
	}
}

func TestRequestID(t *testing.T) {
	srv := serve.New(serve.Options{})
	ts := httptest.NewServer(srv.Handler([]serve.App{newTestApp("album")}))
	defer ts.Close()
	_, hdr, body := get(t, ts.URL+"/applet/album/ping", serve.RequestIDHeader, "from-proxy-123")
	if hdr.Get(serve.RequestIDHeader) != "from-proxy-123" || !strings.Contains(body, `"rid":"from-proxy-123"`) {
		t.Errorf("proxy id not kept: %s %s", hdr.Get(serve.RequestIDHeader), body)
	}
	_, hdr, _ = get(t, ts.URL+"/applet/album/ping", serve.RequestIDHeader, "bad id with spaces and a very long tail that goes past the sixty-four characters allowed")
	if id := hdr.Get(serve.RequestIDHeader); len(id) != 16 {
		t.Errorf("insane id should be replaced, got %q", id)
	}
	_, h1, _ := get(t, ts.URL+"/applet/album/ping")
	_, h2, _ := get(t, ts.URL+"/applet/album/ping")
	if h1.Get(serve.RequestIDHeader) == h2.Get(serve.RequestIDHeader) {
		t.Error("two requests got the same id")
	}
}

func TestPanicIsA500AndTheServerLives(t *testing.T) {
	srv := serve.New(serve.Options{})
	ts := httptest.NewServer(srv.Handler([]serve.App{newTestApp("album")}))
	defer ts.Close()
	code, _, body := get(t, ts.URL+"/applet/album/panic")
	if code != 500 || !strings.Contains(body, `"code":-1`) {
		t.Fatalf("panic = %d %s", code, body)
	}
	if code, _, _ := get(t, ts.URL+"/applet/album/ping"); code != 200 {
		t.Fatalf("after a panic, ping = %d", code)
	}
	_, _, metrics := get(t, ts.URL+"/metrics")
	if !strings.Contains(metrics, `code="500",route="GET /applet/album/panic"} 1`) {
		t.Error("the panic was not counted as a 500")
	}
}

// start runs a Server on loopback port 0 and returns its address and Run's result.
func start(t *testing.T, ctx context.Context, timeout time.Duration, lists ...[]serve.App) ([]string, <-chan error) {
	t.Helper()
	var listeners []serve.Listener
	for _, apps := range lists {
		listeners = append(listeners, serve.Listener{Addr: "127.0.0.1:0", Apps: apps})
	}
	addrs := make(chan string, len(lists))
	srv := serve.New(serve.Options{
		Listeners:       listeners,
		ShutdownTimeout: timeout,
		OnListen:        func(a net.Addr, _ []string) { addrs <- a.String() },
	})
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var out []string
	for range lists {
		select {
		case a := <-addrs:
			out = append(out, a)
		case err := <-done:
			t.Fatalf("Run: %v", err)
		}
	}
	return out, done
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	album, game := newTestApp("album"), newTestApp("game")
	ctx, cancel := context.WithCancel(context.Background())
	addrs, done := start(t, ctx, 5*time.Second, []serve.App{album}, []serve.App{game})

	if code, _, _ := get(t, "http://"+addrs[1]+"/applet/game/healthz"); code != 200 {
		t.Fatal("second listener not serving")
	}
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addrs[0] + "/applet/album/slow")
		if err != nil {
			slow <- -1
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-album.started
	cancel() // as SIGTERM does
	time.Sleep(100 * time.Millisecond)
	// New connections are refused while the in-flight request drains.
	if _, err := net.DialTimeout("tcp", addrs[0], time.Second); err == nil {
		t.Error("listener still accepting during shutdown")
	}
	close(album.release)
	if code := <-slow; code != 200 {
		t.Fatalf("in-flight request got %d", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	album.mu.Lock()
	defer album.mu.Unlock()
	// Apps shut down after their in-flight requests, so stores are not closed under a request.
	if strings.Join(album.events, ",") != "slow done,shutdown" {
		t.Fatalf("events = %v", album.events)
	}
	if len(game.events) != 1 {
		t.Fatalf("game events = %v", game.events)
	}
}

// A request that does not end by the timeout is cut; nothing of the process's own was lost, so Run
// ends without an error (a deploy is not a failure because one phone sat in a lift).
func TestShutdownIsBoundedByTimeout(t *testing.T) {
	app := newTestApp("album")
	defer close(app.release)
	ctx, cancel := context.WithCancel(context.Background())
	addrs, done := start(t, ctx, 200*time.Millisecond, []serve.App{app})
	go http.Get("http://" + addrs[0] + "/applet/album/slow")
	<-app.started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("shutdown not bounded by its timeout")
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if !slices.Contains(app.events, "shutdown") {
		t.Fatalf("the app was not shut down: %v", app.events)
	}
}

func TestListenErrorIsReported(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := serve.New(serve.Options{Listeners: []serve.Listener{
		{Addr: "127.0.0.1:0", Apps: []serve.App{newTestApp("album")}},
		{Addr: l.Addr().String(), Apps: []serve.App{newTestApp("game")}},
	}})
	err = srv.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listening on "+l.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run = %v", err)
	}
}
