// Package album is the photo album backend of `applet serve album`, mounted at /applet/album.
// Its routes arrive with the app's own issue; until then it serves health only.
package album

import (
	"context"
	"log/slog"

	"github.com/qcloud-applet/applet/serve"
)

// BasePath is where the app is mounted.
const BasePath = "/applet/album"

// DefaultListen is the app's documented address.
const DefaultListen = ":9993"

// Options configure the app.
type Options struct {
	Logger *slog.Logger
}

// App is the photo album backend.
type App struct {
	log *slog.Logger
}

var _ serve.App = (*App)(nil)

// New returns the app.
func New(opts Options) *App {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &App{log: opts.Logger}
}

// Name implements serve.App.
func (a *App) Name() string { return "album" }

// BasePath implements serve.App.
func (a *App) BasePath() string { return BasePath }

// Register implements serve.App.
func (a *App) Register(r *serve.Router) {}

// Ready implements serve.App: the app has no dependencies yet.
func (a *App) Ready(ctx context.Context) error { return nil }

// Shutdown implements serve.App.
func (a *App) Shutdown(ctx context.Context) error { return nil }
