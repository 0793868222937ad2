package cli

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

func sessionServer(t *testing.T, cfg *config.Config) *httptest.Server {
	t.Helper()
	app, err := testWiring(t, cfg).App(context.Background(), "session")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(serve.New(serve.Options{ReadyTimeout: 3 * time.Second}).Handler([]serve.App{app}))
	t.Cleanup(func() { ts.Close(); app.Shutdown(context.Background()) })
	return ts
}

func wxConfig(t *testing.T, cfg *config.Config) *wechatfake.Server {
	wx, err := wechatfake.Start("wx0123456789abcdef", "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wx.Close() })
	cfg.WeChat = config.WeChat{AppID: "wx0123456789abcdef", AppSecret: "secret", APIBase: wx.URL}
	return wx
}

// loginAndGet logs in with the original protocol and returns the reply and HTTP status.
func sessionGet(t *testing.T, base, path string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func loginHeaders(code string) map[string]string {
	raw := `{"nickName":"n"}`
	sum := sha1.Sum([]byte(raw + wechatfake.SessionKey(code)))
	return map[string]string{session.HeaderCode: code, session.HeaderRawData: url.PathEscape(raw), session.HeaderSignature: hex.EncodeToString(sum[:])}
}

// Two processes share Redis: a login on B replaces the session on A within session.cache_max_age; a
// drawing saved on B shows on A within session.DrawingsFresh.
func TestSessionReplacedElsewhereStopsWithinOneSecond(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Redis.Addr = testenv.RedisAddr(t)
	cfg.Mongo.URI = testenv.MongoURI(t)
	cfg.Mongo.Database = testenv.Unique("applet_test_")
	wxConfig(t, cfg)
	a, b := sessionServer(t, cfg), sessionServer(t, cfg)
	user := testenv.Unique("u")
	if _, out := sessionGet(t, a.URL+session.BasePath, "/paints/list", loginHeaders(user+":1")); out["code"] != float64(0) {
		t.Fatalf("login on A: %v", out)
	}
	// Warm A's cache.
	if _, out := sessionGet(t, a.URL+session.BasePath, "/paints/list", map[string]string{session.HeaderCode: user + ":1"}); out["code"] != float64(0) {
		t.Fatalf("code on A: %v", out)
	}
	if _, out := sessionGet(t, b.URL+session.BasePath, "/paints/list", loginHeaders(user+":2")); out["code"] != float64(0) {
		t.Fatalf("login on B: %v", out)
	}
	replaced := time.Now()
	for {
		_, out := sessionGet(t, a.URL+session.BasePath, "/paints/list", map[string]string{session.HeaderCode: user + ":1"})
		if out["reason"] == session.ErrSessionExpired {
			break
		}
		if time.Since(replaced) > time.Second {
			t.Fatalf("A still accepts the replaced session %v after the login on B", time.Since(replaced))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("A refused the replaced session %v after the login on B", time.Since(replaced).Round(time.Millisecond))
	// Drawings saved through B are listed through A (one MongoDB) within session.DrawingsFresh, and
	// through B at once.
	if _, out := sessionGet(t, a.URL+session.BasePath, "/paints/list", map[string]string{session.HeaderCode: user + ":2"}); out["code"] != float64(0) {
		t.Fatalf("list on A: %v", out) // A now keeps the empty list
	}
	req, _ := http.NewRequest("POST", b.URL+session.BasePath+"/paints/save", strings.NewReader(`{"id":"x","actions":"[]"}`))
	req.Header.Set(session.HeaderCode, user+":2")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	saved := time.Now()
	if _, out := sessionGet(t, b.URL+session.BasePath, "/paints/list", map[string]string{session.HeaderCode: user + ":2"}); len(out["data"].([]any)) != 1 {
		t.Fatalf("list on B right after its save: %v", out)
	}
	for {
		_, out := sessionGet(t, a.URL+session.BasePath, "/paints/list", map[string]string{session.HeaderCode: user + ":2"})
		if d, _ := out["data"].([]any); len(d) == 1 {
			break
		}
		if time.Since(saved) > session.DrawingsFresh+500*time.Millisecond {
			t.Fatalf("list on A %v after the save on B: %v", time.Since(saved), out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Redis down: 503 with the magic body and ERR_SESSION_STORE_UNAVAILABLE, fast; /readyz red; back by
// itself. MongoDB down: drawing routes fail fast with 503; back by itself.
func TestSessionStoresDownAndBack(t *testing.T) {
	redisProxy := testenv.NewProxy(t, testenv.RedisAddr(t))
	mongoURI := testenv.MongoURI(t)
	mongoProxy := testenv.NewProxy(t, strings.TrimSuffix(strings.TrimPrefix(mongoURI, "mongodb://"), "/"))
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Redis.Addr = redisProxy.Addr
	cfg.Mongo.URI = "mongodb://" + mongoProxy.Addr + "/"
	cfg.Mongo.Database = testenv.Unique("applet_test_")
	cfg.Session.Timeout = 500 * time.Millisecond
	wxConfig(t, cfg)
	ts := sessionServer(t, cfg) // both down at start: serve starts anyway
	base := ts.URL + session.BasePath
	user := testenv.Unique("u")

	if status, _ := sessionGet(t, ts.URL, "/readyz", nil); status != 503 {
		t.Fatalf("readyz with both stores down = %d", status)
	}
	start := time.Now()
	status, out := sessionGet(t, base, "/paints/list", loginHeaders(user+":1"))
	if status != 503 || out["reason"] != session.ErrSessionStoreUnavailable || out[session.MagicID] != float64(1) {
		t.Fatalf("login with Redis down: %d %v", status, out)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the failure took %v", took)
	}
	status, out = sessionGet(t, base, "/user", map[string]string{session.HeaderSkey: "whatever"})
	// Not code -1: wafer2-client-sdk would drop the user's still-valid login on it.
	if status != 503 || out["error"] != session.ErrSessionStoreUnavailable || out["code"] != float64(session.CodeStoreUnavailable) {
		t.Fatalf("skey with Redis down: %d %v", status, out)
	}

	redisProxy.Start(t)
	status, out = sessionGet(t, base, "/paints/list", loginHeaders(user+":2"))
	if status != 503 || !strings.Contains(fmt.Sprint(out), "drawing store unavailable") {
		t.Fatalf("Redis back, MongoDB still down: %d %v", status, out)
	}
	mongoProxy.Start(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _ = sessionGet(t, ts.URL, "/readyz", nil)
		_, out = sessionGet(t, base, "/paints/list", map[string]string{session.HeaderCode: user + ":2"})
		if status == 200 && out["code"] == float64(0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered: readyz %d, list %v", status, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestDevModeRefusedWithADomain(t *testing.T) {
	code, _, errOut := runCLI(t, map[string]string{"APPLET_DOMAIN": "applet.example.com"}, "", "serve", "session", "--dev")
	if code != ExitConfig || !strings.Contains(errOut, "session.dev") || !strings.Contains(errOut, "wechat.app_id") {
		t.Fatalf("%d %s", code, errOut)
	}
}

func TestDevModeLogsIn(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Session.Dev = true
	ts := sessionServer(t, cfg)
	req, _ := http.NewRequest("GET", ts.URL+session.BasePath+"/login", nil)
	req.Header.Set(session.HeaderCode, "dev-user")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Code int
		Data struct{ Skey string }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if out.Code != 0 || out.Data.Skey == "" {
		t.Fatalf("dev login: %+v", out)
	}
}
