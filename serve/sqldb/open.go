package sqldb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/qcloud-applet/applet/internal/hint"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/sqlseed"
)

func progress(log *slog.Logger) func(sqlseed.Step, time.Duration) {
	return func(s sqlseed.Step, d time.Duration) {
		if s.Skipped != "" {
			log.Info("skipped", "step", s.String(), "why", s.Skipped)
			return
		}
		log.Info("applied", "step", s.String(), "took", d.Round(time.Millisecond).String())
	}
}

// OpenEmbedded opens the embedded video database at path, migrated and seeded on the spot.
func OpenEmbedded(ctx context.Context, path string, timeout time.Duration, log *slog.Logger) (*VideoStore, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	if _, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.SQLite, Progress: progress(log)}).Apply(ctx, true); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	return NewVideoStore(db, sqlseed.SQLite, timeout), nil
}

// OpenMySQL opens the video store of dsn and checks its schema: behind, it applies the migrations when
// migrate is set and refuses to serve otherwise; a database that is down now is not down for good, so
// the store is returned and readiness reports it until it answers. It also returns the database's name
// without its password.
func OpenMySQL(ctx context.Context, dsn string, timeout time.Duration, migrate, seed bool, log *slog.Logger) (*VideoStore, string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, mcfg, err := mysql.Open(dsn)
	if err != nil {
		return nil, "", err
	}
	where := mysql.Describe(mcfg)
	store := NewVideoStore(db, sqlseed.MySQL, timeout)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = store.CheckSchema(cctx)
	switch {
	case err == nil:
	case errors.Is(err, ErrSchemaBehind) && migrate:
		if _, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL, Progress: progress(log)}).Apply(ctx, seed); err != nil {
			db.Close()
			var me *sqlseed.MismatchError
			if errors.As(err, &me) {
				return nil, "", hint.New(fmt.Errorf("migrating %s: %w", where, err), "applet seed-mysql --dry-run, then applet seed-mysql: it adopts the original demo's tables")
			}
			return nil, "", fmt.Errorf("migrating %s: %w", where, err)
		}
	case errors.Is(err, ErrSchemaBehind), errors.Is(err, sqlseed.ErrNewerSchema):
		db.Close()
		return nil, "", hint.New(fmt.Errorf("%s: %w", where, err), "applet seed-mysql (or applet serve --migrate)")
	default:
		log.Warn("database unreachable at start; serving with /readyz red until it answers", "db", where, "err", err)
	}
	return store, where, nil
}
