package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/loadtest"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/qcloud-applet/applet/serve/session"
)

// plainApp answers the same JSON as /applet/session/user with no session at all: the baseline.
type plainApp struct{ body []byte }

func (p plainApp) Name() string     { return "plain" }
func (p plainApp) BasePath() string { return "/plain" }
func (p plainApp) Register(r *serve.Router) {
	r.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(p.body)
	})
}
func (p plainApp) Ready(context.Context) error    { return nil }
func (p plainApp) Shutdown(context.Context) error { return nil }

type noDrawings struct{ session.DrawingStore }

func (noDrawings) Ready(context.Context) error { return nil }
func (noDrawings) Close() error                { return nil }

// BenchmarkSessionRoute compares GET /applet/session/user (the session from Redis, through the
// in-process cache, and without it) with a route that returns the same JSON with no session, at the
// same concurrency in the same run.
// Run with: go test ./serve/redis -run '^$' -bench SessionRoute -benchtime 1x
func BenchmarkSessionRoute(b *testing.B) {
	addr := testenv.RedisAddr(b)
	const users, workers = 1000, 16
	for _, mode := range []struct {
		name   string
		maxAge time.Duration
	}{{"cached", 500 * time.Millisecond}, {"redis-every-request", 0}} {
		b.Run(mode.name, func(b *testing.B) {
			var store session.Store = redis.NewSessions(redis.NewClient(redis.Config{Addr: addr}))
			if mode.maxAge > 0 {
				store = session.NewCached(store, mode.maxAge)
			}
			defer store.Close()
			ctx := context.Background()
			skeys := make([]string, users)
			for i := range skeys {
				skeys[i] = fmt.Sprintf("bench-skey-%d-%d", time.Now().UnixNano(), i)
				now := time.Now()
				if err := store.Put(ctx, session.Session{ID: skeys[i], OpenID: fmt.Sprintf("bench-open-%s", skeys[i]), SessionKey: "k",
					UserInfo: json.RawMessage(`{"nickName":"bench","openId":"o"}`), Created: now, Expires: now.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
			app := session.New(session.Options{Sessions: store, Drawings: noDrawings{}, Middleware: session.NewMiddleware(store, nil, time.Hour, nil)})
			plain := plainApp{body: []byte(`{"code":0,"data":{"nickName":"bench","openId":"o"}}` + "\n")}
			ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app, plain}))
			defer ts.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
			get := func(path, skey string) error {
				req, _ := http.NewRequest("GET", ts.URL+path, nil)
				if skey != "" {
					req.Header.Set(session.HeaderSkey, skey)
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("HTTP %d", resp.StatusCode)
				}
				return nil
			}
			for range b.N {
				plainRes := loadtest.Run(b, workers, 3*time.Second, func(r *rand.Rand) error { return get("/plain/user", "") })
				sessRes := loadtest.Run(b, workers, 3*time.Second, func(r *rand.Rand) error { return get(session.BasePath+"/user", skeys[r.IntN(users)]) })
				b.ReportMetric(plainRes.PerSec, "plain_req/s")
				b.ReportMetric(sessRes.PerSec, "session_req/s")
				b.ReportMetric(sessRes.PerSec/plainRes.PerSec, "session/plain")
				b.ReportMetric(loadtest.Ms(plainRes.P99), "plain_p99_ms")
				b.ReportMetric(loadtest.Ms(sessRes.P99), "session_p99_ms")
			}
		})
	}
}
