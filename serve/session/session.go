// Package session is the login session and drawing backend of `applet serve session`, mounted at /applet/session.
// Its routes arrive with the app's own issue; until then it serves health only.
package session

import (
	"context"
	"log/slog"

	"github.com/qcloud-applet/applet/serve"
)

// BasePath is where the app is mounted.
const BasePath = "/applet/session"

// DefaultListen is the app's documented address.
const DefaultListen = ":5757"

// Options configure the app.
type Options struct {
	Logger *slog.Logger
}

// App is the login session and drawing backend.
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
func (a *App) Name() string { return "session" }

// BasePath implements serve.App.
func (a *App) BasePath() string { return BasePath }

// Register implements serve.App.
func (a *App) Register(r *serve.Router) {}

// Ready implements serve.App: the app has no dependencies yet.
func (a *App) Ready(ctx context.Context) error { return nil }

// Shutdown implements serve.App.
func (a *App) Shutdown(ctx context.Context) error { return nil }
