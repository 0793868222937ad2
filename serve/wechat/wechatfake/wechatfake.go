// Package wechatfake is a stand-in for the WeChat API's jscode2session, for tests and `applet serve
// --dev`. Codes look like "<user>" or "<user>:<anything>": the openid depends only on <user> (the same
// person logging in again), the session key on the whole code (a new one per login), and a code works
// once, as wx.login codes do. It can fail on demand.
package wechatfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/serve/wechat"
)

// Server is the stand-in.
type Server struct {
	URL       string
	AppID     string
	AppSecret string

	mu     sync.Mutex
	sec    security
	used   map[string]bool
	faults []Fault
	calls  int
	srv    *http.Server
}

// Fault is one injected failure.
type Fault struct {
	ErrCode int           // answer {errcode, errmsg}
	HTML    bool          // answer an HTML error page
	Hang    time.Duration // answer nothing for this long
}

// Start runs a stand-in on a loopback port.
func Start(appID, secret string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String(), AppID: appID, AppSecret: secret, used: map[string]bool{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops it.
func (s *Server) Close() error { return s.srv.Close() }

// FailNext queues failures for the next calls.
func (s *Server) FailNext(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Calls counts the exchanges asked for.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// OpenID is the openid the stand-in gives the user of code.
func OpenID(appID, code string) string {
	user, _, _ := strings.Cut(code, ":")
	sum := sha256.Sum256([]byte("openid:" + appID + ":" + user))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

// SessionKey is the session key the stand-in gives for code.
func SessionKey(code string) string {
	sum := sha256.Sum256([]byte("session_key:" + code))
	return base64.StdEncoding.EncodeToString(sum[:16])
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/cgi-bin/token", "/wxa/msg_sec_check", "/wxa/media_check_async":
		s.security(w, r)
		return
	case "/sns/jscode2session":
	default:
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.calls++
	var f *Fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()
	answer := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	if f != nil {
		switch {
		case f.Hang > 0:
			select {
			case <-time.After(f.Hang):
			case <-r.Context().Done():
			}
			return
		case f.HTML:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
			return
		default:
			answer(map[string]any{"errcode": f.ErrCode, "errmsg": map[int]string{40029: "invalid code", 45011: "api minute-quota reach limit", -1: "system error"}[f.ErrCode]})
			return
		}
	}
	q := r.URL.Query()
	if q.Get("appid") != s.AppID || q.Get("secret") != s.AppSecret {
		answer(map[string]any{"errcode": 40125, "errmsg": "invalid appsecret"})
		return
	}
	if q.Get("grant_type") != "authorization_code" {
		answer(map[string]any{"errcode": 40002, "errmsg": "invalid grant_type"})
		return
	}
	code := q.Get("js_code")
	s.mu.Lock()
	used := s.used[code]
	s.used[code] = true
	s.mu.Unlock()
	if code == "" || used {
		answer(map[string]any{"errcode": 40163, "errmsg": "code been used"})
		return
	}
	answer(map[string]any{"openid": OpenID(s.AppID, code), "session_key": SessionKey(code)})
}

// Dev starts a stand-in for `applet serve --dev` and returns a client of it, its URL, and how to stop it.
func Dev(appID string) (*wechat.Client, string, func(), error) {
	s, err := Start(appID, "dev-secret")
	if err != nil {
		return nil, "", nil, err
	}
	c, err := wechat.New(wechat.Config{AppID: appID, AppSecret: "dev-secret", BaseURL: s.URL})
	return c, s.URL, func() { s.Close() }, err
}
