package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/serve/sqldb"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/sqlseed"
)

// newVideoApp opens the video store the configuration chooses. The embedded SQLite database is
// migrated and seeded on the spot. A MySQL database is only checked: behind, serve refuses to start
// (unless video.migrate); unreachable, serve starts with /readyz red and recovers when it returns.
func newVideoApp(ctx context.Context, w *wiring, log *slog.Logger) (serve.App, error) {
	cfg := w.cfg
	opts := video.Options{Logger: log, PageSize: cfg.Video.PageSize, Writes: w.writes, Proxies: w.proxies}
	if cfg.MySQL.DSN == "" {
		path := cfg.Video.SQLitePath
		if path == "" {
			path = filepath.Join(cfg.DataDir, "video.db")
		}
		db, err := sqlite.Open(path)
		if err != nil {
			return nil, fmt.Errorf("video: %w", err)
		}
		m := &sqlseed.Migrator{DB: db, Dialect: sqlseed.SQLite, Progress: func(s sqlseed.Step, d time.Duration) {
			log.Info("applied", "step", s.String(), "took", d.Round(time.Millisecond).String())
		}}
		if _, err := m.Apply(ctx, true); err != nil {
			db.Close()
			return nil, fmt.Errorf("video: migrating %s: %w", path, err)
		}
		opts.Store = sqldb.NewVideoStore(db, sqlseed.SQLite, cfg.Video.QueryTimeout)
		opts.Backend = "embedded sqlite " + path
		return video.New(opts), nil
	}

	db, mcfg, err := mysql.Open(cfg.MySQL.DSN)
	if err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	where := mysql.Describe(mcfg)
	store := sqldb.NewVideoStore(db, sqlseed.MySQL, cfg.Video.QueryTimeout)
	opts.Store = store
	opts.Backend = "mysql " + where

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = store.CheckSchema(cctx)
	switch {
	case err == nil:
	case errors.Is(err, sqldb.ErrSchemaBehind) && cfg.Video.Migrate:
		m := &sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL, Progress: func(s sqlseed.Step, d time.Duration) {
			log.Info("applied", "step", s.String(), "took", d.Round(time.Millisecond).String())
		}}
		if _, err := m.Apply(ctx, false); err != nil {
			db.Close()
			return nil, fmt.Errorf("video: migrating %s: %w", where, err)
		}
	case errors.Is(err, sqldb.ErrSchemaBehind), errors.Is(err, sqlseed.ErrNewerSchema):
		db.Close()
		return nil, &HintError{Err: fmt.Errorf("video: %s: %w", where, err), Hint: "applet seed-mysql (or applet serve --migrate)"}
	default:
		// Down now is not down for good: serve, report it on /readyz, check again on each readiness probe.
		log.Warn("database unreachable at start; serving with /readyz red until it answers", "db", where, "err", err)
	}
	return video.New(opts), nil
}
