package wechatfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/serve/wechat"
)

// The content-security APIs: access tokens that expire (and can be revoked, as a second server
// fetching one revokes the first), msgSecCheck judging text by a list of risky words, and
// mediaCheckAsync fetching the image and pushing its verdict later to the message push URL, signed
// with the push token, as WeChat does.

// RiskyWord is in every stand-in's list: text holding it is risky, and so is an image holding it.
const RiskyWord = "违规内容"

type security struct {
	tokens   map[string]time.Time
	ttl      time.Duration
	pushURL  string
	pushTok  string
	checks   int
	verdicts []string // trace ids judged risky, in order
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// SetTokenTTL sets how long access tokens live (default 7200s).
func (s *Server) SetTokenTTL(d time.Duration) { s.mu.Lock(); s.sec.ttl = d; s.mu.Unlock() }

// RevokeTokens makes every access token handed out invalid (errcode 40001 on its next use).
func (s *Server) RevokeTokens() { s.mu.Lock(); s.sec.tokens = nil; s.mu.Unlock() }

// SetPush is the console's message push setting: where verdicts go and the token that signs them.
func (s *Server) SetPush(url, token string) {
	s.mu.Lock()
	s.sec.pushURL, s.sec.pushTok = url, token
	s.mu.Unlock()
}

// Checks counts the content checks asked for.
func (s *Server) Checks() int { s.mu.Lock(); defer s.mu.Unlock(); return s.sec.checks }

func (s *Server) security(w http.ResponseWriter, r *http.Request) {
	answer := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path == "/cgi-bin/token" {
		if q.Get("appid") != s.AppID || q.Get("secret") != s.AppSecret {
			answer(map[string]any{"errcode": 40125, "errmsg": "invalid appsecret"})
			return
		}
		ttl := s.sec.ttl
		if ttl <= 0 {
			ttl = 7200 * time.Second
		}
		tok := "AT" + randomHex(16)
		if s.sec.tokens == nil {
			s.sec.tokens = map[string]time.Time{}
		}
		s.sec.tokens[tok] = time.Now().Add(ttl)
		answer(map[string]any{"access_token": tok, "expires_in": int(ttl / time.Second)})
		return
	}
	exp, ok := s.sec.tokens[q.Get("access_token")]
	switch {
	case !ok:
		answer(map[string]any{"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
		return
	case time.Now().After(exp):
		answer(map[string]any{"errcode": 42001, "errmsg": "access_token expired"})
		return
	}
	var in struct {
		Content   string `json:"content"`
		MediaURL  string `json:"media_url"`
		Version   int    `json:"version"`
		OpenID    string `json:"openid"`
		Scene     int    `json:"scene"`
		MediaType int    `json:"media_type"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in) != nil || in.Version != 2 || in.OpenID == "" || in.Scene < 1 || in.Scene > 4 {
		answer(map[string]any{"errcode": 40003, "errmsg": "invalid openid or parameters"})
		return
	}
	s.sec.checks++
	if r.URL.Path == "/wxa/msg_sec_check" {
		suggest, label := "pass", 100
		if strings.Contains(in.Content, RiskyWord) {
			suggest, label = "risky", 20001
		}
		answer(map[string]any{"errcode": 0, "errmsg": "ok", "result": map[string]any{"suggest": suggest, "label": label}})
		return
	}
	trace := randomHex(12)
	answer(map[string]any{"errcode": 0, "errmsg": "ok", "trace_id": trace})
	push, tok := s.sec.pushURL, s.sec.pushTok
	go s.judge(trace, in.MediaURL, push, tok)
}

// judge fetches the image and pushes the verdict, a moment later, as WeChat does.
func (s *Server) judge(trace, mediaURL, push, tok string) {
	time.Sleep(100 * time.Millisecond)
	suggest := "pass"
	if resp, err := http.Get(mediaURL); err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
		resp.Body.Close()
		if strings.Contains(string(b), RiskyWord) {
			suggest = "risky"
		}
	}
	if suggest == "risky" {
		s.mu.Lock()
		s.sec.verdicts = append(s.sec.verdicts, trace)
		s.mu.Unlock()
	}
	if push == "" {
		return
	}
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), randomHex(4)
	q := url.Values{"signature": {wechat.PushSignature(tok, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}}
	body, _ := json.Marshal(map[string]any{"ToUserName": "gh_stand_in", "FromUserName": "system", "CreateTime": time.Now().Unix(), "MsgType": "event",
		"Event": "wxa_media_check", "appid": s.AppID, "trace_id": trace, "version": 2, "errcode": 0, "errmsg": "ok",
		"result": map[string]any{"suggest": suggest, "label": 100}})
	sep := "?"
	if strings.Contains(push, "?") {
		sep = "&"
	}
	if resp, err := http.Post(push+sep+q.Encode(), "application/json", strings.NewReader(string(body))); err == nil {
		resp.Body.Close()
	}
}
