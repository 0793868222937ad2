// Package wire turns the configuration into what the commands run: the apps of a serve run (each
// wired to the stores its keys choose), the backups' options. It is the command layer's factory, kept
// apart from the commands as cli/cli keeps its factory apart from its verbs: no cobra here.
package wire

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/memory"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/wechat"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

// Wiring builds the apps of one serve run; what apps share (the session store) is built once.
type Wiring struct {
	cfg   *config.Config
	log   *slog.Logger
	parts *session.Shared
	// What the runtime and the apps share out: deadlines, budgets, the proxies whose
	// X-Forwarded-For names the client, and one write limit per client address.
	Deadlines serve.Deadlines
	Budgets   serve.Budgets
	proxies   []netip.Prefix
	writes    *serve.Limiter
}

// New starts the wiring of one serve run whose apps are spread over listeners.
func New(cfg *config.Config, log *slog.Logger, listeners int) (*Wiring, error) {
	proxies, err := cfg.Serve.Proxies()
	if err != nil {
		return nil, err // Validate refused it already
	}
	s := cfg.Serve
	return &Wiring{cfg: cfg, log: log, proxies: proxies, writes: serve.NewLimiter(s.WriteRate, s.WriteBurst),
		Deadlines: serve.Deadlines{BodyGrace: s.BodyGrace, MinBodyRate: int64(s.MinBodyRate), Request: s.RequestTimeout},
		Budgets:   serve.Budgets{Reserve: s.FDReserve, Connections: s.MaxConnections}.Derive(serve.OpenFileLimit(), listeners)}, nil
}

func (w *Wiring) session() (*session.Shared, error) {
	if w.parts == nil {
		p, err := newSessionParts(w.cfg, w.log.With("app", "session"))
		if err != nil {
			return nil, err
		}
		w.parts = p
	}
	return w.parts, nil
}

// withContentCheck hands WeChat's content security to an app's options when wechat.content_check
// asks (config validation makes sure there is a WeChat client).
func (w *Wiring) withContentCheck(set func(*session.ContentCheck)) error {
	if !w.cfg.WeChat.ContentCheck {
		return nil
	}
	parts, err := w.session()
	if err == nil {
		set(parts.ContentCheck())
	}
	return err
}

// App wires one app to the backends its configuration chooses.
func (w *Wiring) App(ctx context.Context, name string) (serve.App, error) {
	log := w.log.With("app", name)
	switch name {
	case "album":
		return newAlbumApp(w, log)
	case "game":
		return newGameApp(w, log)
	case "session":
		parts, err := w.session()
		if err != nil {
			return nil, err
		}
		return newSessionAppWith(ctx, w.cfg, log, parts)
	case "video":
		return newVideoApp(ctx, w, log)
	}
	return nil, fmt.Errorf("unknown app %q", name)
}

// ListenAddr is where an app listens by the configuration.
func ListenAddr(cfg *config.Config, app string) string {
	f, _ := cfg.Field(app + ".listen")
	return f.String()
}

// devAppID is the AppID of the built-in WeChat stand-in.
const devAppID = "wx00000000000000de"

func newSessionParts(cfg *config.Config, log *slog.Logger) (*session.Shared, error) {
	store, mw, desc, cleanup, err := newSessionMiddleware(cfg, log)
	if err != nil {
		return nil, err
	}
	return session.NewShared(store, mw, desc, cleanup), nil
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
		c, url, stop, err := wechatfake.Dev(devAppID)
		if err != nil {
			return nil, nil, nil, cleanup, fmt.Errorf("session: starting the WeChat stand-in: %w", err)
		}
		wx, cleanup = c, stop
		log.Warn("DEVELOPMENT MODE: logins are answered by a built-in WeChat stand-in, not by WeChat; never expose this server", "stand_in", url)
		desc = append(desc, "wechat", "built-in stand-in (--dev)")
	default:
		log.Warn("no wechat.app_id: logins will fail with ERR_SESSION_KEY_EXCHANGE_FAILED; set wechat.app_id and wechat.app_secret, or run with --dev locally")
		desc = append(desc, "wechat", "not configured")
	}
	return store, session.NewMiddleware(store, wx, cfg.Session.TTL, log), desc, cleanup, nil
}
