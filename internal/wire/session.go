package wire

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/mongo"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/sqlite"
)

// newSessionAppWith wires sessions (Redis, or in process, through the shared parts) and drawings
// (MongoDB, or the embedded database) to the session app.
func newSessionAppWith(ctx context.Context, cfg *config.Config, log *slog.Logger, parts *session.Shared) (serve.App, error) {
	// The app closes the shared parts through store (once) when it shuts down; on the error paths
	// below nothing else will.
	store, mw, cleanup := parts.Handle(), parts.Middleware, func() { parts.Close() }
	desc := append([]any{}, parts.Backend...)
	var drawings session.DrawingStore
	if cfg.Mongo.URI != "" {
		d, err := mongo.Open(cfg.Mongo.URI, cfg.Mongo.Database, cfg.Session.Timeout)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("session: %w", err)
		}
		if err := d.EnsureIndex(ctx); err != nil {
			log.Warn("MongoDB unreachable at start; serving with /readyz red until it answers", "err", err)
		}
		// Other instances may write the same collection: a list is kept for a second at most.
		drawings = session.NewCachedDrawings(d, session.DrawingsFresh)
		desc = append(desc, "drawings", "mongodb "+cfg.Mongo.Database+"."+mongo.Collection)
	} else {
		path := cfg.SessionDBPath()
		db, err := sqlite.Open(path)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("session: %w", err)
		}
		d, err := sqlite.NewDrawings(ctx, db)
		if err != nil {
			db.Close()
			cleanup()
			return nil, fmt.Errorf("session: %w", err)
		}
		// Only this process writes the embedded database (a restore locks it out): lists are kept
		// until this process changes them.
		drawings = session.NewCachedDrawings(d, 0)
		desc = append(desc, "drawings", "embedded sqlite "+path)
	}
	return session.New(session.Options{Sessions: store, Drawings: drawings, Middleware: mw, Logger: log,
		MaxActions: cfg.Session.MaxActionsBytes, Backend: desc}), nil
}
