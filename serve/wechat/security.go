package wechat

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Content security (内容安全): msgSecCheck for text, mediaCheckAsync for images, both version 2
// (they name the user's openid), with the app's access token, which is cached and fetched again
// shortly before it expires or when WeChat says it is no longer valid.

// ErrRisky is content WeChat judged risky: it must not be published.
var ErrRisky = errors.New("wechat: content judged risky")

type token struct {
	mu      sync.Mutex
	value   string
	expires time.Time
}

func (c *Client) accessToken(ctx context.Context, fresh bool) (string, error) {
	t := &c.token
	t.mu.Lock()
	defer t.mu.Unlock()
	if !fresh && t.value != "" && time.Now().Before(t.expires) {
		return t.value, nil
	}
	q := url.Values{"grant_type": {"client_credential"}, "appid": {c.cfg.AppID}, "secret": {c.cfg.AppSecret}}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		ErrCode     int    `json:"errcode"`
		ErrMsg      string `json:"errmsg"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/cgi-bin/token?"+q.Encode(), nil, &out); err != nil {
		return "", err
	}
	if out.ErrCode != 0 || out.AccessToken == "" {
		return "", fmt.Errorf("wechat: access token: errcode %d: %s", out.ErrCode, out.ErrMsg)
	}
	// Fetched again five minutes early (or at half its life, for short ones).
	life := time.Duration(out.ExpiresIn) * time.Second
	t.value, t.expires = out.AccessToken, time.Now().Add(life-min(5*time.Minute, life/2))
	return t.value, nil
}

// call sends a request and decodes the JSON answer into out, returning the raw answer too; errors
// never carry the URL (it holds the AppSecret or the access token).
func (c *Client) call(ctx context.Context, method, path string, body any, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
	if err != nil {
		return nil, errors.New("wechat: bad request")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		msg := "request failed"
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
		return nil, &APIError{ErrMsg: "no answer: " + msg}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, &APIError{ErrMsg: "reading the answer: " + err.Error()}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return b, &APIError{ErrMsg: fmt.Sprintf("HTTP %d with a body that is not JSON", resp.StatusCode), Body: truncate(string(b))}
	}
	return b, nil
}

// secCall posts to a content-security API with the access token, once more with a new token when
// WeChat says the one it was given is invalid or expired (40001, 42001).
func (c *Client) secCall(ctx context.Context, path string, body any, out interface{ code() (int, string) }) error {
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx, attempt > 0)
		if err != nil {
			return err
		}
		if _, err := c.call(ctx, http.MethodPost, path+"?access_token="+url.QueryEscape(tok), body, out); err != nil {
			return err
		}
		code, msg := out.code()
		if (code == 40001 || code == 42001) && attempt == 0 {
			continue
		}
		if code != 0 {
			return fmt.Errorf("wechat: %s: errcode %d: %s", strings.TrimPrefix(path, "/wxa/"), code, msg)
		}
		return nil
	}
}

type secAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	TraceID string `json:"trace_id"`
	Result  struct {
		Suggest string `json:"suggest"`
		Label   int    `json:"label"`
	} `json:"result"`
}

func (a *secAnswer) code() (int, string) { return a.ErrCode, a.ErrMsg }

// CheckText asks msgSecCheck about text a user wrote (scene 2: a comment). Risky text is ErrRisky;
// text for review passes (WeChat publishes it too and reviews it later).
func (c *Client) CheckText(ctx context.Context, openID, text string) error {
	var out secAnswer
	if err := c.secCall(ctx, "/wxa/msg_sec_check", map[string]any{"content": text, "version": 2, "scene": 2, "openid": openID}, &out); err != nil {
		return err
	}
	if out.Result.Suggest == "risky" {
		return ErrRisky
	}
	return nil
}

// CheckImage starts mediaCheckAsync on an image's public URL (scene 1: a user's profile content);
// the verdict comes later to the message push URL, with the trace id returned here.
func (c *Client) CheckImage(ctx context.Context, openID, mediaURL string) (string, error) {
	var out secAnswer
	if err := c.secCall(ctx, "/wxa/media_check_async", map[string]any{"media_url": mediaURL, "media_type": 2, "version": 2, "scene": 1, "openid": openID}, &out); err != nil {
		return "", err
	}
	return out.TraceID, nil
}

// MediaVerdict is a mediaCheckAsync result as WeChat pushes it.
type MediaVerdict struct {
	TraceID string
	Risky   bool
}

// ParsePush checks a message push's signature (sha1 of the sorted token, timestamp and nonce) and
// reads a wxa_media_check event from its JSON body. ok is false for anything else.
func ParsePush(pushToken string, query url.Values, body []byte) (MediaVerdict, bool) {
	want := PushSignature(pushToken, query.Get("timestamp"), query.Get("nonce"))
	if pushToken == "" || subtle.ConstantTimeCompare([]byte(want), []byte(query.Get("signature"))) != 1 {
		return MediaVerdict{}, false
	}
	var ev struct {
		Event   string `json:"Event"`
		TraceID string `json:"trace_id"`
		Result  struct {
			Suggest string `json:"suggest"`
		} `json:"result"`
	}
	if json.Unmarshal(body, &ev) != nil || ev.Event != "wxa_media_check" || ev.TraceID == "" {
		return MediaVerdict{}, false
	}
	return MediaVerdict{TraceID: ev.TraceID, Risky: ev.Result.Suggest == "risky"}, true
}

// PushSignature signs a push as WeChat does (the stand-in uses it).
func PushSignature(pushToken, timestamp, nonce string) string {
	parts := []string{pushToken, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}
