package wire

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/sqldb"
	"github.com/qcloud-applet/applet/serve/video"
)

// newVideoApp opens the video store the configuration chooses. The embedded SQLite database is
// migrated and seeded on the spot. A MySQL database is only checked: behind, serve refuses to start
// (unless video.migrate); unreachable, serve starts with /readyz red and recovers when it returns.
func newVideoApp(ctx context.Context, w *Wiring, log *slog.Logger) (serve.App, error) {
	cfg := w.cfg
	opts := video.Options{Logger: log, PageSize: cfg.Video.PageSize, Writes: w.writes, Proxies: w.proxies, MediaOrigin: cfg.Video.MediaOrigin}
	if err := w.withContentCheck(func(cc *session.ContentCheck) { opts.CheckText, opts.Auth = cc.Text, cc.Wrap }); err != nil {
		return nil, err
	}
	if cfg.MySQL.DSN == "" {
		path := cfg.VideoSQLitePath()
		store, err := sqldb.OpenEmbedded(ctx, path, cfg.Video.QueryTimeout, log)
		if err != nil {
			return nil, fmt.Errorf("video: %w", err)
		}
		opts.Store, opts.Backend = store, "embedded sqlite "+path
		return video.New(opts), nil
	}
	store, where, err := sqldb.OpenMySQL(ctx, cfg.MySQL.DSN, cfg.Video.QueryTimeout, cfg.Video.Migrate, cfg.Video.Seed, log)
	if err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	opts.Store, opts.Backend = store, "mysql "+where
	return video.New(opts), nil
}
