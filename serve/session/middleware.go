package session

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/wechat"
)

// Headers of the two protocols.
const (
	HeaderCode          = "X-WX-Code"
	HeaderRawData       = "X-WX-RawData"
	HeaderSignature     = "X-WX-Signature"
	HeaderSkey          = "X-WX-Skey"
	HeaderEncryptedData = "X-WX-Encrypted-Data"
	HeaderIV            = "X-WX-IV"
)

// MagicID marks an error body of the original session protocol; its client looks for it.
const MagicID = "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A"

// Reasons in the magic-id body. The original client logs in again after the first two.
const (
	ErrSessionExpired          = "ERR_SESSION_EXPIRED"
	ErrSessionKeyExchange      = "ERR_SESSION_KEY_EXCHANGE_FAILED"
	ErrUntrustedRawData        = "ERR_UNTRUSTED_RAW_DATA"
	ErrSessionStoreUnavailable = "ERR_SESSION_STORE_UNAVAILABLE"
	ErrSkeyInvalid             = "ERR_SKEY_INVALID"
)

// maxRawData bounds X-WX-RawData; a real getUserInfo rawData is a few hundred bytes.
const maxRawData = 16 << 10

// Exchanger turns a wx.login code into an openid and session key (wechat.Client does).
type Exchanger interface {
	Code2Session(ctx context.Context, code string) (wechat.Login, error)
	AppID() string
}

// Middleware resolves the session of a request, by skey or by the original headers, and puts it in
// the request's context. Requests with neither go through anonymously.
type Middleware struct {
	store Store
	wx    Exchanger
	ttl   time.Duration
	log   *slog.Logger
}

// NewMiddleware returns a middleware over store. wx may be nil: then logins fail with
// ERR_SESSION_KEY_EXCHANGE_FAILED, and existing sessions still work.
func NewMiddleware(store Store, wx Exchanger, ttl time.Duration, log *slog.Logger) *Middleware {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Middleware{store: store, wx: wx, ttl: ttl, log: log}
}

type ctxKey struct{}

// FromContext returns the request's session, if it has one.
func FromContext(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(Session)
	return s, ok
}

func magic(w http.ResponseWriter, status int, reason, message string, detail any) {
	e := map[string]any{"name": "Error", "message": message}
	if detail != nil {
		e["detail"] = detail
	}
	serve.WriteJSON(w, status, map[string]any{MagicID: 1, "reason": reason, "error": e})
}

func skeyError(w http.ResponseWriter, status int, reason string) {
	serve.WriteJSON(w, status, map[string]any{"code": -1, "error": reason})
}

// CodeStoreUnavailable is the skey protocol's code while the session store is down. It is not -1 on
// purpose: wafer2-client-sdk drops a still-valid login on code -1, and an outage must not log every
// user out; it hands this answer to the page, which asks the user to try again.
const CodeStoreUnavailable = 503

func storeDown(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	serve.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"code": CodeStoreUnavailable, "error": ErrSessionStoreUnavailable,
		"message": "the session store is unavailable: try again in a moment (your login is kept)"})
}

// Wrap runs next with the request's session in its context, or answers the protocol's error.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log := serve.LoggerFrom(r.Context(), m.log)
		if skey := r.Header.Get(HeaderSkey); skey != "" {
			s, err := m.store.Get(r.Context(), skey)
			switch {
			case errors.Is(err, ErrNotFound):
				skeyError(w, http.StatusUnauthorized, ErrSkeyInvalid)
			case err != nil:
				log.Error("session store", "err", err)
				storeDown(w)
			default:
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
			}
			return
		}
		code := r.Header.Get(HeaderCode)
		if code == "" {
			next.ServeHTTP(w, r)
			return
		}
		raw, hasRaw := r.Header[http.CanonicalHeaderKey(HeaderRawData)]
		var s Session
		var err error
		if !hasRaw {
			s, err = m.store.Get(r.Context(), code)
			if errors.Is(err, ErrNotFound) {
				magic(w, http.StatusOK, ErrSessionExpired, "session expired or unknown: log in again", nil)
				return
			}
		} else {
			var reason, msg string
			var detail any
			s, reason, msg, detail, err = m.login(r.Context(), code, raw[0], r.Header.Get(HeaderSignature))
			if reason != "" {
				log.Info("login refused", "reason", reason, "why", msg)
				magic(w, http.StatusOK, reason, msg, detail)
				return
			}
		}
		if err != nil {
			log.Error("session store", "err", err)
			magic(w, http.StatusServiceUnavailable, ErrSessionStoreUnavailable, "the session store is unavailable, try again later", nil)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

var signatureRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// login is the original protocol's first request: exchange the code, check sha1(rawData +
// session_key), store the session under the code. A non-empty reason is the client's error; err is
// the store failing.
func (m *Middleware) login(ctx context.Context, code, rawHeader, signature string) (s Session, reason, msg string, detail any, err error) {
	if len(rawHeader) > maxRawData {
		return s, ErrUntrustedRawData, "rawData is too long", nil, nil
	}
	raw, perr := url.PathUnescape(rawHeader) // the client sends encodeURIComponent(rawData)
	if perr != nil {
		return s, ErrUntrustedRawData, "rawData is not URI-encoded", nil, nil
	}
	var info map[string]any
	if json.Unmarshal([]byte(raw), &info) != nil || info == nil {
		return s, ErrUntrustedRawData, "rawData is not a JSON object", nil, nil
	}
	if !signatureRE.MatchString(signature) {
		return s, ErrUntrustedRawData, "signature must be 40 lower-case hex digits", nil, nil
	}
	if m.wx == nil {
		return s, ErrSessionKeyExchange, "no WeChat AppID is configured", nil, nil
	}
	lg, xerr := m.wx.Code2Session(ctx, code)
	if xerr != nil {
		var ae *wechat.APIError
		if errors.As(xerr, &ae) {
			d := map[string]any{"errcode": ae.ErrCode, "errmsg": ae.ErrMsg}
			if ae.Body != "" {
				d["body"] = ae.Body
			}
			return s, ErrSessionKeyExchange, xerr.Error(), d, nil
		}
		return s, ErrSessionKeyExchange, xerr.Error(), nil, nil
	}
	sum := sha1.Sum([]byte(raw + lg.SessionKey))
	want := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(signature)) != 1 {
		return s, ErrUntrustedRawData, "signature does not match rawData", nil, nil
	}
	info["openId"] = lg.OpenID
	ui, _ := json.Marshal(info)
	now := time.Now()
	s = Session{ID: code, OpenID: lg.OpenID, SessionKey: lg.SessionKey, UserInfo: ui, Created: now, Expires: now.Add(m.ttl)}
	return s, "", "", nil, m.store.Put(ctx, s)
}

// Login is the skey protocol's login (wafer2-client-sdk): exchange the code, decrypt the user info
// when the client sent it, and answer a new random skey.
func (m *Middleware) Login(w http.ResponseWriter, r *http.Request) {
	log := serve.LoggerFrom(r.Context(), m.log)
	code := r.Header.Get(HeaderCode)
	if code == "" {
		serve.WriteJSON(w, http.StatusBadRequest, map[string]any{"code": -1, "error": "ERR_HEADER_MISSED", "message": "X-WX-Code is required"})
		return
	}
	if m.wx == nil {
		serve.WriteJSON(w, http.StatusOK, map[string]any{"code": -1, "error": ErrSessionKeyExchange, "message": "no WeChat AppID is configured"})
		return
	}
	lg, err := m.wx.Code2Session(r.Context(), code)
	if err != nil {
		log.Info("login refused", "reason", ErrSessionKeyExchange, "err", err)
		serve.WriteJSON(w, http.StatusOK, map[string]any{"code": -1, "error": ErrSessionKeyExchange, "message": err.Error()})
		return
	}
	userinfo := json.RawMessage(`{"openId":` + jsonString(lg.OpenID) + `}`)
	if enc, iv := r.Header.Get(HeaderEncryptedData), r.Header.Get(HeaderIV); enc != "" || iv != "" {
		plain, err := wechat.Decrypt(m.wx.AppID(), lg.SessionKey, enc, iv)
		if err != nil {
			serve.WriteJSON(w, http.StatusOK, map[string]any{"code": -1, "error": "ERR_DECRYPT_FAILED", "message": err.Error()})
			return
		}
		var info map[string]any
		json.Unmarshal(plain, &info)
		delete(info, "watermark")
		info["openId"] = lg.OpenID
		userinfo, _ = json.Marshal(info)
	}
	now := time.Now()
	s := Session{ID: newSkey(), OpenID: lg.OpenID, SessionKey: lg.SessionKey, UserInfo: userinfo, Created: now, Expires: now.Add(m.ttl)}
	if err := m.store.Put(r.Context(), s); err != nil {
		log.Error("session store", "err", err)
		storeDown(w)
		return
	}
	serve.WriteJSON(w, http.StatusOK, map[string]any{"code": 0, "data": map[string]any{"skey": s.ID, "userinfo": userinfo, "time": now.Unix()}})
}

// newSkey is random: knowing a session key or an openid tells nothing about it.
func newSkey() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
