package host_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/provision/host"
	"github.com/qcloud-applet/applet/serve"
)

// slowApp serves GET /slow until the release channel it finds is closed.
type slowApp struct {
	started chan struct{}
	mu      sync.Mutex
	release chan struct{}
}

func (a *slowApp) gate() chan struct{} { a.mu.Lock(); defer a.mu.Unlock(); return a.release }

func (a *slowApp) Name() string     { return "album" }
func (a *slowApp) BasePath() string { return "/applet/album" }
func (a *slowApp) Register(r *serve.Router) {
	r.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		gate := a.gate()
		a.started <- struct{}{}
		<-gate
		serve.WriteJSON(w, 200, map[string]any{"code": 0})
	})
}
func (a *slowApp) Ready(context.Context) error    { return nil }
func (a *slowApp) Shutdown(context.Context) error { return nil }

// Drain waits for the requests a real backend serves (read from its metrics) and no longer: at once
// when it is idle, until the last request ends, and at most its bound for one that does not.
func TestDrainWaitsForRequestsInFlight(t *testing.T) {
	app := &slowApp{started: make(chan struct{}, 4), release: make(chan struct{})}
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app}))
	defer ts.Close()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/applet"), 0o755)
	m, _ := json.Marshal(host.Manifest{Health: []string{ts.URL + "/applet/album/readyz"}})
	os.WriteFile(filepath.Join(root, host.ManifestPath), m, 0o644)
	o := host.Options{Root: root}
	ctx := context.Background()

	start := time.Now()
	if out, err := host.Drain(ctx, o, 5*time.Second); err != nil || !strings.Contains(out, "drained") || time.Since(start) > time.Second {
		t.Fatalf("an idle backend: %q, %v after %s", out, err, time.Since(start))
	}
	for range 2 {
		go http.Get(ts.URL + "/applet/album/slow")
		<-app.started
	}
	go func() { time.Sleep(400 * time.Millisecond); close(app.release) }()
	start = time.Now()
	out, err := host.Drain(ctx, o, 5*time.Second)
	if took := time.Since(start); err != nil || !strings.Contains(out, "drained") || took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("two requests ending after 400ms: %q, %v after %s", out, err, took)
	}

	stuck := make(chan struct{})
	defer close(stuck)
	app.mu.Lock()
	app.release = stuck
	app.mu.Unlock()
	go http.Get(ts.URL + "/applet/album/slow")
	<-app.started
	start = time.Now()
	out, err = host.Drain(ctx, o, 500*time.Millisecond)
	if took := time.Since(start); err != nil || !strings.Contains(out, "1 requests still in flight") || took < 500*time.Millisecond || took > 2*time.Second {
		t.Fatalf("a request that does not end: %q, %v after %s", out, err, took)
	}
}
