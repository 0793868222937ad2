// Package video is the video list backend of `applet serve video`, mounted at /applet/video.
// Its routes arrive with the app's own issue; until then it serves health only.
package video

import (
	"context"
	"log/slog"

	"github.com/qcloud-applet/applet/serve"
)

// BasePath is where the app is mounted.
const BasePath = "/applet/video"

// DefaultListen is the app's documented address.
const DefaultListen = ":9994"

// Options configure the app.
type Options struct {
	Logger *slog.Logger
}

// App is the video list backend.
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
func (a *App) Name() string { return "video" }

// BasePath implements serve.App.
func (a *App) BasePath() string { return BasePath }

// Register implements serve.App.
func (a *App) Register(r *serve.Router) {}

// Ready implements serve.App: the app has no dependencies yet.
func (a *App) Ready(ctx context.Context) error { return nil }

// Shutdown implements serve.App.
func (a *App) Shutdown(ctx context.Context) error { return nil }
