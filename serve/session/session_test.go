package session_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/memory"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/serve/wechat"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

const appID = "wx0123456789abcdef"

type fixture struct {
	ts    *httptest.Server
	wx    *wechatfake.Server
	store session.Store
}

// newFixture runs the app on real stores (the embedded defaults) with the WeChat stand-in.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	wx, err := wechatfake.Start(appID, "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wx.Close() })
	client, _ := wechat.New(wechat.Config{AppID: appID, AppSecret: "secret", BaseURL: wx.URL, Timeout: 500 * time.Millisecond})
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	drawings, err := sqlite.NewDrawings(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	store := memory.NewSessions()
	app := session.New(session.Options{Sessions: store, Drawings: drawings, Middleware: session.NewMiddleware(store, client, time.Hour, nil), MaxActions: 1 << 20})
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app}))
	t.Cleanup(ts.Close)
	return &fixture{ts: ts, wx: wx, store: store}
}

// origClient is the original session client: it logs in with rawData + signature, then sends only the
// code; after ERR_SESSION_EXPIRED or ERR_SESSION_KEY_EXCHANGE_FAILED it logs in again (at most 4
// requests in all), any other reason fails at once.
type origClient struct {
	t      *testing.T
	base   string
	user   string
	n      int    // wx.login calls
	code   string // current session id
	fresh  bool   // code not yet used to log in
	logins int
}

func (c *origClient) wxLogin() {
	c.n++
	c.code = fmt.Sprintf("%s:%d", c.user, c.n)
	c.fresh = true
}

func rawData(user string) string {
	return `{"nickName":"` + user + ` 小程序","gender":1,"avatarUrl":"https://thirdwx.example/` + user + `.png"}`
}

func sign(raw, code string) string {
	sum := sha1.Sum([]byte(raw + wechatfake.SessionKey(code)))
	return hex.EncodeToString(sum[:])
}

func (c *origClient) do(method, path, body string) (int, map[string]any) {
	if c.code == "" {
		c.wxLogin()
	}
	for attempt := 0; attempt < 4; attempt++ {
		req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(session.HeaderCode, c.code)
		if c.fresh {
			raw := rawData(c.user)
			req.Header.Set(session.HeaderRawData, url.PathEscape(raw))
			req.Header.Set(session.HeaderSignature, sign(raw, c.code))
			c.logins++
		}
		status, out := doJSON(c.t, req)
		c.fresh = false
		reason, _ := out["reason"].(string)
		if _, magic := out[session.MagicID]; magic && (reason == session.ErrSessionExpired || reason == session.ErrSessionKeyExchange) {
			c.wxLogin()
			continue
		}
		return status, out
	}
	c.t.Fatal("original client gave up after 4 requests")
	return 0, nil
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: HTTP %d, not JSON: %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func TestOriginalClientFlow(t *testing.T) {
	f := newFixture(t)
	c := &origClient{t: t, base: f.ts.URL + session.BasePath, user: "alice"}
	_, out := c.do("GET", "/paints/list", "")
	if out["code"] != float64(0) || out["msg"] != "success" || c.logins != 1 {
		t.Fatalf("first request (login): %v, %d logins", out, c.logins)
	}
	actions := `[{"type":"line","x":1,"y":2,"c":"#f00"}]`
	body, _ := json.Marshal(map[string]any{"id": "d1", "actions": actions})
	if _, out := c.do("POST", "/paints/save", string(body)); out["code"] != float64(0) {
		t.Fatalf("save: %v", out)
	}
	_, out = c.do("GET", "/paints/list", "")
	list, _ := out["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["actions"] != actions || c.logins != 1 {
		t.Fatalf("list with the code only: %v (logins %d)", out, c.logins)
	}
	// The session expires (deleted here, as the TTL would): the client logs in again by itself.
	f.store.Delete(context.Background(), c.code)
	if _, out := c.do("GET", "/paints/list", ""); out["code"] != float64(0) || c.logins != 2 {
		t.Fatalf("after expiry: %v, logins %d", out, c.logins)
	}
	if _, out := c.do("POST", "/paints/delete", `{"id":"d1"}`); out["code"] != float64(0) {
		t.Fatalf("delete: %v", out)
	}
	if _, out := c.do("POST", "/paints/delete", `{"id":"d1"}`); out["code"] != float64(-1) || out["error"].(map[string]any)["reason"] != "id does not exists" {
		t.Fatalf("delete twice: %v", out)
	}
	// Anonymous: no code, no session.
	req, _ := http.NewRequest("GET", f.ts.URL+session.BasePath+"/paints/list", nil)
	if _, out := doJSON(t, req); out["error"].(map[string]any)["reason"] != "openId does not exists" {
		t.Fatalf("anonymous list: %v", out)
	}
}

func loginReq(t *testing.T, base, code, raw, sig string) (int, map[string]any) {
	req, _ := http.NewRequest("GET", base+"/paints/list", nil)
	req.Header.Set(session.HeaderCode, code)
	req.Header.Set(session.HeaderRawData, raw)
	req.Header.Set(session.HeaderSignature, sig)
	return doJSON(t, req)
}

func TestOriginalProtocolRefusals(t *testing.T) {
	f := newFixture(t)
	base := f.ts.URL + session.BasePath
	raw := rawData("bob")
	reason := func(out map[string]any) string {
		if _, ok := out[session.MagicID]; !ok {
			return fmt.Sprint("no magic id: ", out)
		}
		r, _ := out["reason"].(string)
		return r
	}
	cases := []struct {
		name, code, raw, sig, want string
	}{
		{"bad signature", "bob:1", url.PathEscape(raw), strings.Repeat("0", 40), session.ErrUntrustedRawData},
		{"signature upper case", "bob:2", url.PathEscape(raw), strings.ToUpper(sign(raw, "bob:2")), session.ErrUntrustedRawData},
		{"signature too short", "bob:3", url.PathEscape(raw), sign(raw, "bob:3")[:39], session.ErrUntrustedRawData},
		{"rawData malformed encoding", "bob:4", "%E4%zz" + url.PathEscape(raw), sign(raw, "bob:4"), session.ErrUntrustedRawData},
		{"rawData not JSON", "bob:5", url.PathEscape("nickName=bob"), sign("nickName=bob", "bob:5"), session.ErrUntrustedRawData},
		{"rawData too long", "bob:6", strings.Repeat("a", 20<<10), sign("x", "bob:6"), session.ErrUntrustedRawData},
	}
	for _, c := range cases {
		status, out := loginReq(t, base, c.code, c.raw, c.sig)
		if status != 200 || reason(out) != c.want {
			t.Errorf("%s: %d %v, want %s", c.name, status, out, c.want)
		}
		if c.name == "rawData not JSON" || c.name == "bad signature" {
			if e, _ := out["error"].(map[string]any); e["message"] == "" {
				t.Errorf("%s: no message", c.name)
			}
		}
	}
	// rawData sent without URI encoding but plain ASCII JSON still verifies, as in the original.
	if _, out := loginReq(t, base, "bob:7", raw, sign(raw, "bob:7")); out["code"] != float64(0) {
		t.Errorf("plain ASCII rawData: %v", out)
	}
	// A 1 MB header never reaches WeChat.
	calls := f.wx.Calls()
	req, _ := http.NewRequest("GET", base+"/paints/list", nil)
	req.Header.Set(session.HeaderCode, "bob:8")
	req.Header.Set(session.HeaderRawData, strings.Repeat("a", 1<<20))
	req.Header.Set(session.HeaderSignature, sign("a", "bob:8"))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge && resp.StatusCode != 200 {
			t.Errorf("1 MB rawData: HTTP %d", resp.StatusCode)
		}
	}
	if f.wx.Calls() != calls {
		t.Error("an oversized rawData was sent on to WeChat")
	}

	// A code reused after a newer login of the same user: expired.
	if _, out := loginReq(t, base, "carol:1", url.PathEscape(rawData("carol")), sign(rawData("carol"), "carol:1")); out["code"] != float64(0) {
		t.Fatalf("carol login 1: %v", out)
	}
	if _, out := loginReq(t, base, "carol:2", url.PathEscape(rawData("carol")), sign(rawData("carol"), "carol:2")); out["code"] != float64(0) {
		t.Fatalf("carol login 2: %v", out)
	}
	req, _ = http.NewRequest("GET", base+"/paints/list", nil)
	req.Header.Set(session.HeaderCode, "carol:1")
	if _, out := doJSON(t, req); reason(out) != session.ErrSessionExpired {
		t.Fatalf("old code after a newer login: %v", out)
	}

	// WeChat answering an errcode, HTML, or nothing: the exchange failed, with WeChat's answer as detail.
	for _, fault := range []wechatfake.Fault{{ErrCode: 40029}, {ErrCode: 45011}, {ErrCode: -1}, {HTML: true}, {Hang: 2 * time.Second}} {
		f.wx.FailNext(fault)
		code := fmt.Sprintf("dave:%d", time.Now().UnixNano())
		start := time.Now()
		_, out := loginReq(t, base, code, url.PathEscape(rawData("dave")), sign(rawData("dave"), code))
		if reason(out) != session.ErrSessionKeyExchange {
			t.Errorf("fault %+v: %v", fault, out)
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("fault %+v: the login took %v", fault, took)
		}
		if fault.ErrCode != 0 {
			d, _ := out["error"].(map[string]any)["detail"].(map[string]any)
			if d["errcode"] != float64(fault.ErrCode) {
				t.Errorf("errcode %d not in detail: %v", fault.ErrCode, out)
			}
		}
		if fault.HTML && !strings.Contains(fmt.Sprint(out), "502 Bad Gateway") {
			t.Errorf("the HTML answer should be in detail: %v", out)
		}
	}
}

// skeyClient drives the app the way wafer2-client-sdk does: login, then X-WX-Skey; on HTTP 401 or
// code -1 it drops the session, logs in again and retries once.
type skeyClient struct {
	t      *testing.T
	base   string
	user   string
	n      int
	skey   string
	logins int
}

func (c *skeyClient) login() map[string]any {
	c.n++
	code := fmt.Sprintf("%s:s%d", c.user, c.n)
	iv := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	plain := `{"openId":"` + wechatfake.OpenID(appID, code) + `","nickName":"` + c.user + `","watermark":{"appid":"` + appID + `","timestamp":1700000000}}`
	enc, err := wechat.Encrypt(wechatfake.SessionKey(code), iv, []byte(plain))
	if err != nil {
		c.t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", c.base+"/login", nil)
	req.Header.Set(session.HeaderCode, code)
	req.Header.Set(session.HeaderEncryptedData, enc)
	req.Header.Set(session.HeaderIV, iv)
	_, out := doJSON(c.t, req)
	if out["code"] != float64(0) {
		c.t.Fatalf("login: %v", out)
	}
	c.logins++
	data := out["data"].(map[string]any)
	c.skey = data["skey"].(string)
	return data
}

func (c *skeyClient) request(method, path, body string) map[string]any {
	if c.skey == "" {
		c.login()
	}
	for retried := false; ; retried = true {
		req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
		req.Header.Set(session.HeaderSkey, c.skey)
		status, out := doJSON(c.t, req)
		if (status == 401 || out["code"] == float64(-1)) && !retried {
			c.skey = ""
			c.login()
			continue
		}
		return out
	}
}

func TestSkeyClientFlow(t *testing.T) {
	f := newFixture(t)
	c := &skeyClient{t: t, base: f.ts.URL + session.BasePath, user: "erin"}
	data := c.login()
	ui := data["userinfo"].(map[string]any)
	if ui["nickName"] != "erin" || ui["openId"] != wechatfake.OpenID(appID, "erin:s1") || ui["watermark"] != nil || data["time"] == nil {
		t.Fatalf("login data: %v", data)
	}
	if len(c.skey) < 32 || strings.Contains(c.skey, wechatfake.SessionKey("erin:s1")) {
		t.Fatalf("skey %q", c.skey)
	}
	if out := c.request("GET", "/user", ""); out["code"] != float64(0) || out["data"].(map[string]any)["nickName"] != "erin" {
		t.Fatalf("user: %v", out)
	}
	if out := c.request("POST", "/paints/save", `{"id":"s1","actions":"[1,2,3]"}`); out["code"] != float64(0) {
		t.Fatalf("save: %v", out)
	}
	// The session goes away: one 401, one new login, one retry.
	f.store.Delete(context.Background(), c.skey)
	out := c.request("GET", "/paints/list", "")
	if out["code"] != float64(0) || c.logins != 2 || len(out["data"].([]any)) != 1 {
		t.Fatalf("after the session went away: %v, logins %d", out, c.logins)
	}
	// A forged skey: 401 ERR_SKEY_INVALID.
	req, _ := http.NewRequest("GET", c.base+"/user", nil)
	req.Header.Set(session.HeaderSkey, strings.Repeat("f", 48))
	if status, out := doJSON(t, req); status != 401 || out["error"] != session.ErrSkeyInvalid || out["code"] != float64(-1) {
		t.Fatalf("forged skey: %d %v", status, out)
	}
	// Both protocols share one openId: an original-protocol login of the same user replaces the skey.
	orig := &origClient{t: t, base: c.base, user: "erin"}
	orig.n = 100
	if _, out := orig.do("GET", "/paints/list", ""); len(out["data"].([]any)) != 1 {
		t.Fatalf("the same user over the original protocol sees other drawings: %v", out)
	}
	req, _ = http.NewRequest("GET", c.base+"/user", nil)
	req.Header.Set(session.HeaderSkey, c.skey)
	if status, _ := doJSON(t, req); status != 401 {
		t.Fatalf("the skey still works after a newer login: %d", status)
	}
	// Encrypted data for another mini program is refused.
	code := "erin:x"
	iv := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	enc, _ := wechat.Encrypt(wechatfake.SessionKey(code), iv, []byte(`{"watermark":{"appid":"wxffffffffffffffff"}}`))
	req, _ = http.NewRequest("GET", c.base+"/login", nil)
	req.Header.Set(session.HeaderCode, code)
	req.Header.Set(session.HeaderEncryptedData, enc)
	req.Header.Set(session.HeaderIV, iv)
	if _, out := doJSON(t, req); out["code"] != float64(-1) || !strings.Contains(fmt.Sprint(out["message"]), "watermark") {
		t.Fatalf("foreign watermark: %v", out)
	}
}

func TestDrawingBadInput(t *testing.T) {
	f := newFixture(t)
	c := &skeyClient{t: t, base: f.ts.URL + session.BasePath, user: "frank"}
	big := `"[` + strings.Repeat(`1,`, 600<<10) + `1]"`
	cases := []struct{ name, body, reason string }{
		{"actions not JSON", `{"id":"a","actions":"not json"}`, "actions must be a JSON array"},
		{"actions not an array", `{"id":"a","actions":"{\"a\":1}"}`, "actions must be a JSON array"},
		{"actions not a string", `{"id":"a","actions":[1,2]}`, "id or actions does not exists"},
		{"actions too big", `{"id":"a","actions":` + big + `}`, "actions is too large"},
		{"id missing", `{"actions":"[]"}`, "id or actions does not exists"},
		{"id 10 KB", `{"id":"` + strings.Repeat("i", 10<<10) + `","actions":"[]"}`, "id must be a string of 1 to 128 characters"},
		{"id a Mongo operator", `{"id":{"$gt":""},"actions":"[]"}`, "id or actions does not exists"},
		{"not JSON", `id=a`, "id or actions does not exists: body is not a JSON object"},
	}
	for _, tc := range cases {
		out := c.request("POST", "/paints/save", tc.body)
		e, _ := out["error"].(map[string]any)
		if out["code"] != float64(-1) || out["msg"] != "fail" || e["reason"] != tc.reason {
			t.Errorf("%s: %v", tc.name, out)
		}
	}
	if out := c.request("POST", "/paints/delete", `{"id":{"$gt":""}}`); out["code"] != float64(-1) {
		t.Errorf("delete with an operator: %v", out)
	}
	if out := c.request("GET", "/paints/list", ""); len(out["data"].([]any)) != 0 {
		t.Errorf("refused saves stored something: %v", out)
	}
}

// A session that ends up in a log never shows its session key, with either slog handler or fmt.
func TestSessionKeyNeverLogged(t *testing.T) {
	s := session.Session{ID: "code", OpenID: "o-123", SessionKey: "SECRET-KEY", UserInfo: json.RawMessage(`{}`)}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "session", s)
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "session", s)
	fmt.Fprintf(&b, "%v %+v %s", s, s, s)
	if strings.Contains(b.String(), "SECRET-KEY") || !strings.Contains(b.String(), "o-123") {
		t.Fatalf("log output: %s", b.String())
	}
}
