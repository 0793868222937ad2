// Package album is the photo album, `applet serve album`, mounted at /applet/album. Routes and JSON
// shapes are those of the original demo server (see the compat contract), with its defects fixed:
// uploads stream with bounded memory and never leave temporary files, the list is newest first and
// paged, and delete checks what it deletes.
package album

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/serve"
)

// BasePath is where the app is mounted.
const BasePath = "/applet/album"

// DefaultListen is the app's documented address.
const DefaultListen = ":9993"

// ErrNotFound is returned for a key that holds no object.
var ErrNotFound = errors.New("no such image")

// Spool is an upload received in full: a private file the storage may move or read (and re-read:
// it is seekable). The app removes it afterwards unless the storage renamed it away.
type Spool struct {
	File        *os.File
	Size        int64
	ContentType string
}

// Storage keeps the images. Keys are "<folder><13 digits>-<8 chars>.<ext>"; the digits count down with
// time, so ascending key order is newest first.
//
// The contract, checked by storetest.RunAlbumStorage against every implementation:
//   - Put stores the spool under key; once it returns, List and the URL serve the object, and a failed
//     Put leaves nothing that List shows.
//   - List returns up to limit keys with the prefix, in ascending order, after marker when it is set,
//     and next (the marker of the following page) only when more exist. It reads about one page, not
//     the whole store.
//   - Delete removes the key, or returns ErrNotFound when there is nothing there.
//   - URL is where a client downloads the object: absolute, or a path on this app ("/applet/...").
//   - KeyFromPath maps the path of such a URL back to its key.
type Storage interface {
	Put(ctx context.Context, key string, s Spool) error
	List(ctx context.Context, prefix, marker string, limit int) (keys []string, next string, err error)
	Delete(ctx context.Context, key string) error
	URL(key string) string
	KeyFromPath(path string) (key string, ok bool)
	Ready(ctx context.Context) error
	Describe() string
}

// FileServer is implemented by storages that the app serves itself (local disk).
type FileServer interface {
	// ServeFile answers GET/HEAD for the object at key, with ranges and validators.
	ServeFile(w http.ResponseWriter, r *http.Request, key string)
	// FilesPath is the path prefix under the app's base path, e.g. "/files/".
	FilesPath() string
}

// Options configure the app.
type Options struct {
	Storage Storage
	Logger  *slog.Logger
	// Folder is the key prefix of uploads, e.g. "photos/".
	Folder string
	// MaxUploadMB is the size limit of one image in MiB (the original's 5).
	MaxUploadMB int
	AllowGIF    bool
	AllowWebP   bool
	// SpoolDir holds uploads while they are received; on local disk it is on the same file system as
	// the images so that storing one is a rename.
	SpoolDir string
	// PublicURL is the origin clients reach this app at (https://domain); empty: taken from the request
	// (X-Forwarded-Proto/Host from the proxy, or Host).
	PublicURL string
	// OwnerCheck records who uploaded each image and lets only them delete it. It needs Auth and Owner.
	OwnerCheck bool
	// Auth resolves the request's login (the session middleware's Wrap).
	Auth func(http.Handler) http.Handler
	// Owner returns the signed-in user's openId from a request context Auth has seen.
	Owner func(ctx context.Context) (openID string, ok bool)
	// CheckImage, when set, sends each stored upload to WeChat's content security, which names the
	// uploader (so uploads need a login: Auth and Owner); the verdict comes later through Push, and a
	// risky image is deleted. Push reads a verdict WeChat pushed, checking its signature.
	CheckImage func(ctx context.Context, openID, url string) (traceID string, err error)
	Push       func(r *http.Request, body []byte) (traceID string, risky, ok bool)
	// MaxUploads is how many uploads are received at once (0: 64), and MaxUploadsPerClient how many
	// of them one client address may hold (0: 8); past either an upload gets 503 with Retry-After.
	MaxUploads          int
	MaxUploadsPerClient int
	// Writes limits uploads per client address when no login is needed (nil: no limit); Proxies are
	// the proxies whose X-Forwarded-For names the client.
	Writes  *serve.Limiter
	Proxies []netip.Prefix
}

// App is the album backend.
type App struct {
	opts     Options
	log      *slog.Logger
	mu       sync.Mutex
	uploads  int                // uploads being received
	byClient map[netip.Addr]int // of them, by client address
	checking map[string]pending // content checks under way, by trace id
}

type pending struct {
	key   string
	since time.Time
}

var _ serve.App = (*App)(nil)

// New returns the app.
func New(opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxUploadMB <= 0 {
		opts.MaxUploadMB = 5
	}
	f, err := NormalizeFolder(opts.Folder)
	if err != nil {
		return nil, err
	}
	opts.Folder = f
	if opts.SpoolDir == "" {
		opts.SpoolDir = os.TempDir()
	}
	if err := os.MkdirAll(opts.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating spool directory: %w", err)
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	if (opts.OwnerCheck || opts.CheckImage != nil) && (opts.Auth == nil || opts.Owner == nil) {
		return nil, errors.New("owner checks need the session middleware")
	}
	if opts.MaxUploads <= 0 {
		opts.MaxUploads = 64
	}
	if opts.MaxUploadsPerClient <= 0 {
		opts.MaxUploadsPerClient = 8
	}
	return &App{opts: opts, log: opts.Logger, byClient: map[netip.Addr]int{}}, nil
}

var folderRE = regexp.MustCompile(`^([a-zA-Z0-9_-]+/)+$`)

// NormalizeFolder turns "/photos/", "photos" or "photos/" into the key prefix "photos/".
func NormalizeFolder(f string) (string, error) {
	if f == "" {
		f = "photos/"
	}
	f = strings.TrimPrefix(f, "/")
	if !strings.HasSuffix(f, "/") {
		f += "/"
	}
	if !folderRE.MatchString(f) {
		return "", fmt.Errorf("upload folder %q: use letters, digits, - and _ in /-separated names, e.g. photos/", f)
	}
	return f, nil
}

// Name implements serve.App.
func (a *App) Name() string { return "album" }

// BasePath implements serve.App.
func (a *App) BasePath() string { return BasePath }

// Register implements serve.App.
func (a *App) Register(r *serve.Router) {
	if a.opts.OwnerCheck {
		r.Handle("GET /list", a.opts.Auth(http.HandlerFunc(a.list))) // a signed-in list says which are theirs
	} else {
		r.HandleFunc("GET /list", a.list)
	}
	if a.opts.Push != nil {
		r.HandleFunc("POST /wechat/media-check", a.mediaVerdict)
		r.HandleFunc("GET /wechat/media-check", a.mediaVerdict) // the console's check of the push URL
	}
	// An upload, or an image download, may take what the minimum body rate allows for its size.
	long := r.Deadlines().BodyBound(int64(a.opts.MaxUploadMB+1) << 20)
	if a.opts.OwnerCheck || a.opts.CheckImage != nil {
		r.Handle("POST /delete", a.opts.Auth(http.HandlerFunc(a.delete)))
		r.Bound(long)
		r.Handle("POST /upload", a.opts.Auth(http.HandlerFunc(a.upload)))
	} else {
		r.HandleFunc("POST /delete", a.delete)
		r.Bound(long)
		r.HandleFunc("POST /upload", a.upload)
	}
	if fs, ok := a.opts.Storage.(FileServer); ok {
		r.HandleFunc("GET "+fs.FilesPath()+"{key...}", func(w http.ResponseWriter, r *http.Request) {
			fs.ServeFile(w, r, r.PathValue("key"))
		})
	}
}

// Ready implements serve.App.
func (a *App) Ready(ctx context.Context) error { return a.opts.Storage.Ready(ctx) }

// Shutdown implements serve.App.
func (a *App) Shutdown(ctx context.Context) error { return nil }

// Describe implements serve.Describer.
func (a *App) Describe() []any {
	return []any{"storage", a.opts.Storage.Describe(), "folder", a.opts.Folder, "max_upload_mb", a.opts.MaxUploadMB, "owner_check", a.opts.OwnerCheck}
}

// KeyNamePattern is the part of a key after the folder: countdown digits, the owner's tag when
// owner checks are on, a random part and the real type's extension.
const KeyNamePattern = `[0-9]{13}-(?:[0-9a-f]{12}-)?[a-z0-9]{8}\.(?:jpg|png|gif|webp)`

var keyRE = regexp.MustCompile(`^` + KeyNamePattern + `$`)

// NewKey returns a key for an anonymous upload now: the digits count down so that newer keys sort
// first.
func NewKey(folder, ext string, now time.Time) string { return NewOwnedKey(folder, "", ext, now) }

// NewOwnedKey returns a key that records its uploader (an openId; "" for none).
func NewOwnedKey(folder, owner, ext string, now time.Time) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	tag := ""
	if owner != "" {
		tag = OwnerTag(owner) + "-"
	}
	return fmt.Sprintf("%s%013d-%s%s.%s", folder, 9_999_999_999_999-now.UnixMilli(), tag, b[:], ext)
}

// OwnerTag is the part of a key that names its uploader: a hash, so keys and URLs do not reveal
// openIds.
func OwnerTag(openID string) string {
	sum := sha256.Sum256([]byte("applet-album-owner:" + openID))
	return hex.EncodeToString(sum[:6])
}

// ownedBy reports whether key (after the folder) carries openID's tag.
func ownedBy(name, openID string) bool {
	parts := strings.Split(name, "-")
	return len(parts) == 3 && parts[1] == OwnerTag(openID)
}
