// Package cos keeps the album's images in a Tencent Cloud COS bucket through the official SDK.
package cos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/serve/album"
	sdk "github.com/tencentyun/cos-go-sdk-v5"
)

// Config is a bucket and the credentials to use it.
type Config struct {
	Bucket    string // <name>-<appid>
	Region    string
	SecretID  string
	SecretKey string
	// Credentials, when set, sign instead of SecretID/SecretKey: temporary ones (an instance role)
	// that change while the process runs.
	Credentials rolecred.Source
	// PublicDomain is the host in the URLs handed to clients (a CDN); empty: the bucket's own domain.
	PublicDomain string
	// Endpoint, when set, is the host:port every request is dialled to instead of the bucket's domain
	// (a stand-in); the bucket URL, Host header and signatures stay those of the real service.
	Endpoint string
	// Timeout bounds each request; default 60s (uploads of several MB on slow links).
	Timeout time.Duration
}

// Validate names what is missing.
func (c Config) Validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"bucket", c.Bucket}, {"region", c.Region}, {"secret_id", c.SecretID}, {"secret_key", c.SecretKey}} {
		if f.v == "" && !(c.Credentials != nil && strings.HasPrefix(f.name, "secret")) {
			missing = append(missing, "cos."+f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cos: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// Storage implements album.Storage on a bucket.
type Storage struct {
	cfg    Config
	client *sdk.Client
	public string // scheme://host of the URLs handed out
}

var _ album.Storage = (*Storage)(nil)

// NewClient returns the SDK's client for the configured bucket: signed with the static key or the
// role's changing credentials, three attempts a request, CRC checked. The album and the backups
// share it.
func NewClient(cfg Config) (*sdk.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	bu, err := sdk.NewBucketURL(cfg.Bucket, cfg.Region, cfg.Endpoint == "")
	if err != nil {
		return nil, fmt.Errorf("cos: %w", err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Endpoint != "" {
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		base.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, cfg.Endpoint)
		}
	}
	src := cfg.Credentials
	if src == nil {
		src = rolecred.Static{ID: cfg.SecretID, Key: cfg.SecretKey}
	}
	client := sdk.NewClient(&sdk.BaseURL{BucketURL: bu}, &http.Client{Timeout: cfg.Timeout, Transport: rolecred.COSTransport(src, base)})
	client.Conf.RetryOpt.Count = 3 // three attempts in all; PUT bodies are files, so they replay
	client.Conf.RetryOpt.Interval = 200 * time.Millisecond
	client.Conf.EnableCRC = true
	return client, nil
}

// New returns a storage on the configured bucket. It makes no request.
func New(cfg Config) (*Storage, error) {
	client, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	bu := client.BaseURL.BucketURL
	public := "https://" + bu.Host
	if cfg.PublicDomain != "" {
		public = "https://" + cfg.PublicDomain
	}
	return &Storage{cfg: cfg, client: client, public: public}, nil
}

// Describe implements album.Storage.
func (s *Storage) Describe() string { return "cos " + s.cfg.Bucket + " (" + s.cfg.Region + ")" }

// Put implements album.Storage. The SDK replays a body on retry only when it can seek back, and the
// HTTP client closes a body that is an io.Closer after the first attempt; a SectionReader over the
// spool seeks, knows its size and has no Close, so all three attempts send the whole image.
func (s *Storage) Put(ctx context.Context, key string, sp album.Spool) error {
	body := io.NewSectionReader(sp.File, 0, sp.Size)
	_, err := s.client.Object.Put(ctx, key, body, &sdk.ObjectPutOptions{
		ObjectPutHeaderOptions: &sdk.ObjectPutHeaderOptions{ContentType: sp.ContentType, ContentLength: sp.Size},
	})
	if err != nil {
		return fmt.Errorf("cos: uploading %s: %w", key, err)
	}
	return nil
}

// List implements album.Storage: one ListObjects call of about a page.
func (s *Storage) List(ctx context.Context, prefix, marker string, limit int) ([]string, string, error) {
	res, _, err := s.client.Bucket.Get(ctx, &sdk.BucketGetOptions{Prefix: prefix, Marker: marker, MaxKeys: limit})
	if err != nil {
		return nil, "", fmt.Errorf("cos: listing %s: %w", prefix, err)
	}
	keys := make([]string, 0, len(res.Contents))
	for _, o := range res.Contents {
		keys = append(keys, o.Key)
	}
	next := ""
	if res.IsTruncated && len(keys) > 0 {
		next = res.NextMarker
		if next == "" {
			next = keys[len(keys)-1]
		}
	}
	return keys, next, nil
}

// Delete implements album.Storage. COS deletes a missing key silently, so the key is looked up first.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if _, err := s.client.Object.Head(ctx, key, nil); err != nil {
		if sdk.IsNotFoundError(err) {
			return album.ErrNotFound
		}
		return fmt.Errorf("cos: looking up %s: %w", key, err)
	}
	if _, err := s.client.Object.Delete(ctx, key); err != nil {
		return fmt.Errorf("cos: deleting %s: %w", key, err)
	}
	return nil
}

// URL implements album.Storage.
func (s *Storage) URL(key string) string {
	return s.public + "/" + (&url.URL{Path: key}).EscapedPath()
}

// KeyFromPath implements album.Storage: the URL's path is "/" + key.
func (s *Storage) KeyFromPath(p string) (string, bool) {
	if !strings.HasPrefix(p, "/") || len(p) < 2 {
		return "", false
	}
	return p[1:], true
}

// Ready implements album.Storage: the bucket answers.
func (s *Storage) Ready(ctx context.Context) error {
	if _, err := s.client.Bucket.Head(ctx); err != nil {
		var e *sdk.ErrorResponse
		if errors.As(err, &e) && e.Response != nil && e.Response.StatusCode == http.StatusNotFound {
			return fmt.Errorf("cos: bucket %s does not exist in %s", s.cfg.Bucket, s.cfg.Region)
		}
		return fmt.Errorf("cos: bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}
