// Package wechat calls the WeChat mini program API: the jscode2session code exchange, and the
// decryption of encryptedData with the session key.
package wechat

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// DefaultBaseURL is the real API.
const DefaultBaseURL = "https://api.weixin.qq.com"

// Config is the mini program's identity and where the API is.
type Config struct {
	AppID     string
	AppSecret string
	BaseURL   string        // default DefaultBaseURL; a stand-in in tests and development
	Timeout   time.Duration // per call; default 5s
}

// Client calls the API.
type Client struct {
	cfg   Config
	http  *http.Client
	token token // the access token of the content-security APIs
}

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, errors.New("wechat: missing wechat.app_id or wechat.app_secret")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Client{cfg: cfg, http: &http.Client{Timeout: cfg.Timeout}}, nil
}

// AppID is the mini program's id.
func (c *Client) AppID() string { return c.cfg.AppID }

// Login is the answer of a successful code exchange.
type Login struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid,omitempty"`
}

// APIError is WeChat refusing the exchange, or answering something that is not its JSON. Body is what
// it answered (never holding a session key: a successful answer is not an error).
type APIError struct {
	ErrCode int
	ErrMsg  string
	Body    string
}

func (e *APIError) Error() string {
	if e.ErrCode != 0 {
		return fmt.Sprintf("wechat: jscode2session: errcode %d: %s", e.ErrCode, e.ErrMsg)
	}
	return "wechat: jscode2session: " + e.ErrMsg
}

// Code2Session exchanges a wx.login code for the user's openid and session key.
func (c *Client) Code2Session(ctx context.Context, code string) (Login, error) {
	q := url.Values{"appid": {c.cfg.AppID}, "secret": {c.cfg.AppSecret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	var out struct {
		Login
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	raw, err := c.call(ctx, http.MethodGet, "/sns/jscode2session?"+q.Encode(), nil, &out)
	if err != nil {
		return Login{}, err
	}
	if out.ErrCode != 0 || out.SessionKey == "" || out.OpenID == "" {
		if out.ErrMsg == "" {
			out.ErrMsg = "no session_key in the answer"
		}
		return Login{}, &APIError{ErrCode: out.ErrCode, ErrMsg: out.ErrMsg, Body: truncate(string(raw))}
	}
	return out.Login, nil
}

func truncate(s string) string {
	if len(s) > 512 {
		return s[:512] + "..."
	}
	return s
}

// Decrypt opens encryptedData (AES-128-CBC, key and IV base64, PKCS#7) and checks that its watermark
// names appID. It returns the plaintext JSON object.
func Decrypt(appID, sessionKey, encryptedData, iv string) (json.RawMessage, error) {
	key, err1 := base64.StdEncoding.DecodeString(sessionKey)
	ivb, err2 := base64.StdEncoding.DecodeString(iv)
	data, err3 := base64.StdEncoding.DecodeString(encryptedData)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("wechat: encrypted data: not base64: %w", err)
	}
	if len(key) != 16 || len(ivb) != aes.BlockSize || len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, errors.New("wechat: encrypted data: wrong key, iv or data length")
	}
	block, _ := aes.NewCipher(key)
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, ivb).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("wechat: encrypted data: bad padding (wrong session key or iv)")
	}
	plain = plain[:len(plain)-pad]
	var wm struct {
		Watermark struct {
			AppID string `json:"appid"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(plain, &wm); err != nil {
		return nil, errors.New("wechat: encrypted data: not JSON")
	}
	if wm.Watermark.AppID != appID {
		return nil, fmt.Errorf("wechat: encrypted data: watermark appid %q is not this mini program's", wm.Watermark.AppID)
	}
	return plain, nil
}

// Encrypt is Decrypt's inverse, for stand-ins and tests.
func Encrypt(sessionKey, iv string, plain []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil {
		return "", err
	}
	ivb, err := base64.StdEncoding.DecodeString(iv)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	data := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, ivb).CryptBlocks(data, data)
	return base64.StdEncoding.EncodeToString(data), nil
}
