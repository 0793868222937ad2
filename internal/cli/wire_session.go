package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/wechatfake"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/memory"
	"github.com/qcloud-applet/applet/serve/mongo"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/serve/wechat"
)

// devAppID is the AppID of the built-in WeChat stand-in.
const devAppID = "wx00000000000000de"

// sessionParts are what the session app and the album's owner checks share in one process: one store,
// one middleware. Close releases them once, whichever app shuts down first.
type sessionParts struct {
	store session.Store
	mw    *session.Middleware
	desc  []any
	once  sync.Once
	close func()
}

func (p *sessionParts) Close() error {
	p.once.Do(func() {
		p.store.Close()
		p.close()
	})
	return nil
}

func newSessionParts(cfg *config.Config, log *slog.Logger) (*sessionParts, error) {
	store, mw, desc, cleanup, err := newSessionMiddleware(cfg, log)
	if err != nil {
		return nil, err
	}
	return &sessionParts{store: store, mw: mw, desc: desc, close: cleanup}, nil
}

// newSessionMiddleware builds the session store and WeChat client the configuration chooses. The
// returned cleanup releases what only the middleware holds (the dev stand-in).
func newSessionMiddleware(cfg *config.Config, log *slog.Logger) (session.Store, *session.Middleware, []any, func(), error) {
	var store session.Store
	desc := []any{}
	cleanup := func() {}
	if cfg.Redis.Addr != "" {
		rs := redis.NewSessions(redis.NewClient(redis.Config{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB, Timeout: cfg.Session.Timeout}))
		store = rs
		if cfg.Session.CacheMaxAge > 0 {
			store = session.NewCached(rs, cfg.Session.CacheMaxAge)
		}
		desc = append(desc, "sessions", "redis "+cfg.Redis.Addr)
	} else {
		store = memory.NewSessions()
		desc = append(desc, "sessions", "in process")
	}

	var wx session.Exchanger
	switch {
	case cfg.WeChat.AppID != "":
		c, err := wechat.New(wechat.Config{AppID: cfg.WeChat.AppID, AppSecret: cfg.WeChat.AppSecret, BaseURL: cfg.WeChat.APIBase})
		if err != nil {
			return nil, nil, nil, cleanup, err
		}
		wx = c
		desc = append(desc, "wechat", cfg.WeChat.APIBase)
	case cfg.Session.Dev:
		fake, err := wechatfake.Start(devAppID, "dev-secret")
		if err != nil {
			return nil, nil, nil, cleanup, fmt.Errorf("session: starting the WeChat stand-in: %w", err)
		}
		cleanup = func() { fake.Close() }
		c, _ := wechat.New(wechat.Config{AppID: devAppID, AppSecret: "dev-secret", BaseURL: fake.URL})
		wx = c
		log.Warn("DEVELOPMENT MODE: logins are answered by a built-in WeChat stand-in, not by WeChat; never expose this server", "stand_in", fake.URL)
		desc = append(desc, "wechat", "built-in stand-in (--dev)")
	default:
		log.Warn("no wechat.app_id: logins will fail with ERR_SESSION_KEY_EXCHANGE_FAILED; set wechat.app_id and wechat.app_secret, or run with --dev locally")
		desc = append(desc, "wechat", "not configured")
	}
	return store, session.NewMiddleware(store, wx, cfg.Session.TTL, log), desc, cleanup, nil
}

// newSessionApp wires sessions (Redis, or in process) and drawings (MongoDB, or the embedded
// database) to the session app.
func newSessionApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (serve.App, error) {
	parts, err := newSessionParts(cfg, log)
	if err != nil {
		return nil, err
	}
	return newSessionAppWith(ctx, cfg, log, parts)
}

func newSessionAppWith(ctx context.Context, cfg *config.Config, log *slog.Logger, parts *sessionParts) (serve.App, error) {
	// The app closes the shared parts through store (once) when it shuts down; on the error paths
	// below nothing else will.
	store, mw, cleanup := sharedStore{parts}, parts.mw, func() { parts.Close() }
	desc := append([]any{}, parts.desc...)
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
		drawings = d
		desc = append(desc, "drawings", "mongodb "+cfg.Mongo.Database+"."+mongo.Collection)
	} else {
		path := filepath.Join(cfg.DataDir, "session.db")
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
		drawings = d
		desc = append(desc, "drawings", "embedded sqlite "+path)
	}
	return session.New(session.Options{Sessions: store, Drawings: drawings, Middleware: mw, Logger: log,
		MaxActions: cfg.Session.MaxActionsBytes, Backend: desc}), nil
}

// sharedStore lets an app close the shared session store through sessionParts, once.
type sharedStore struct{ p *sessionParts }

func (s sharedStore) Put(ctx context.Context, x session.Session) error { return s.p.store.Put(ctx, x) }
func (s sharedStore) Get(ctx context.Context, id string) (session.Session, error) {
	return s.p.store.Get(ctx, id)
}
func (s sharedStore) Delete(ctx context.Context, id string) error { return s.p.store.Delete(ctx, id) }
func (s sharedStore) Ready(ctx context.Context) error             { return s.p.store.Ready(ctx) }
func (s sharedStore) Close() error                                { return s.p.Close() }
