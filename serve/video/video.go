// Package video is the video list with comments, `applet serve video`, mounted at /applet/video. Routes
// and JSON shapes are those of the original demo server (see the compat contract), with its defects
// fixed: the list is ordered and paged safely, comments are validated and indexed.
package video

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/qcloud-applet/applet/serve"
)

// BasePath is where the app is mounted.
const BasePath = "/applet/video"

// DefaultListen is the app's documented address.
const DefaultListen = ":9994"

// Limits of the comment fields, in characters.
const (
	MaxNick    = 64
	MaxAvatar  = 1024
	MaxContent = 500
	// MaxCommentPage is the most comments one commentList returns, and what it returns without limit.
	MaxCommentPage = 100
)

// Video is one entry of the list.
type Video struct {
	ID    int64
	Title string
	Image string
	URL   string
}

// Stamp summarises the video table: its count, largest id and latest updated_at (as the database
// prints it; MySQL moves it on every UPDATE, SQLite only when the writer sets it).
type Stamp struct {
	Count   int
	MaxID   int64
	Updated string
}

// Comment is one comment on a video.
type Comment struct {
	ID        int64
	VID       int64
	Nick      string
	Avatar    string
	Content   string
	CreatedAt time.Time
}

// ErrVideoNotFound is returned for a video id that does not exist.
var ErrVideoNotFound = errors.New("video not found")

// Store keeps videos and comments. Implementations are safe for concurrent use.
//
// The contract, checked by storetest.RunVideoStore against every implementation:
//   - Videos pages in ascending id order, stable across calls, and reports the total count (which
//     may lag writes made outside applet by about a second); an offset past the end gives an empty
//     page with the total.
//   - Comments lists a video's comments newest first (descending id), only ids below before when
//     before > 0, at most limit; an unknown video is ErrVideoNotFound, a video without comments is empty.
//   - AddComment returns only once the comment is durable, with its new id; an unknown video is
//     ErrVideoNotFound and nothing is stored. Text round-trips exactly (utf8mb4, markup kept as text).
//   - Ready fails while the database cannot serve requests (unreachable, or its schema behind).
type Store interface {
	Videos(ctx context.Context, offset, limit int) (list []Video, total int, err error)
	// VideosAfter returns up to limit videos with ids above after, in id order (never nil);
	// VideoStamp is a cheap summary of the table that changes when videos are added, removed or
	// edited. The app lists from memory with them.
	VideosAfter(ctx context.Context, after int64, limit int) ([]Video, error)
	VideoStamp(ctx context.Context) (Stamp, error)
	Comments(ctx context.Context, vid, before int64, limit int) ([]Comment, error)
	AddComment(ctx context.Context, c Comment) (Comment, error)
	Ready(ctx context.Context) error
	Close() error
}

// Options configure the app.
type Options struct {
	Store    Store
	Logger   *slog.Logger
	PageSize int // videos per list page; 6 like the original
	// Backend describes the store for the startup log, e.g. "mysql 127.0.0.1:3306/applet".
	Backend string
	// Writes limits comments per client address (nil: no limit); Proxies are the proxies whose
	// X-Forwarded-For names the client.
	Writes  *serve.Limiter
	Proxies []netip.Prefix
	// MediaOrigin is the origin of relative video URLs (the sample media), e.g. the bucket's
	// https://...; empty: where the request came to.
	MediaOrigin string
	// CheckText, when set, vets a comment before it is stored: serve.ErrSignIn when the request has
	// no login, serve.ErrContentRefused for content that must not be published, another error when
	// the check could not be made (nothing is stored then). Auth resolves the login first (the
	// session middleware's Wrap).
	CheckText func(r *http.Request, text string) error
	Auth      func(http.Handler) http.Handler
}

// App is the video backend.
type App struct {
	store       Store
	log         *slog.Logger
	pageSize    int
	backend     string
	writes      *serve.Limiter
	proxies     []netip.Prefix
	mediaOrigin string
	index       *index
	pages       pageCache
	comments    *commentCache
	checkText   func(r *http.Request, text string) error
	auth        func(http.Handler) http.Handler
}

var _ serve.App = (*App)(nil)

// New returns the app.
func New(opts Options) *App {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 6
	}
	return &App{store: opts.Store, log: opts.Logger, pageSize: opts.PageSize, backend: opts.Backend, writes: opts.Writes, proxies: opts.Proxies,
		mediaOrigin: opts.MediaOrigin, checkText: opts.CheckText, auth: opts.Auth, index: &index{store: opts.Store, log: opts.Logger},
		comments: &commentCache{store: opts.Store}}
}

// Name implements serve.App.
func (a *App) Name() string { return "video" }

// BasePath implements serve.App.
func (a *App) BasePath() string { return BasePath }

// Register implements serve.App.
func (a *App) Register(r *serve.Router) {
	r.HandleFunc("GET /list", a.list)
	r.HandleFunc("GET /commentList", a.commentList)
	if a.checkText != nil && a.auth != nil {
		r.Handle("POST /comment", a.auth(http.HandlerFunc(a.comment)))
	} else {
		r.HandleFunc("POST /comment", a.comment)
	}
	r.HandleFunc("GET "+MediaPath+"{name}", a.serveMedia)
}

// Ready implements serve.App.
func (a *App) Ready(ctx context.Context) error { return a.store.Ready(ctx) }

// Shutdown implements serve.App.
func (a *App) Shutdown(ctx context.Context) error { return a.store.Close() }

// Describe implements serve.Describer.
func (a *App) Describe() []any { return []any{"store", a.backend, "page_size", a.pageSize} }
