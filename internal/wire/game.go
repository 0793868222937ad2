package wire

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/qcloud-applet/applet/serve/session"
)

// newGameApp builds the game; a handshake that carries a session plays under the session's openId.
func newGameApp(w *Wiring, log *slog.Logger) (serve.App, error) {
	cfg := w.cfg
	c := cfg.Game
	var origins []string
	for _, o := range strings.Split(c.AllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	opts := game.Options{
		Logger:         log,
		Rules:          game.Rules{GameTime: c.GameTime, BotDelay: c.BotDelay, ReadyWait: c.ReadyWait, NearbyRadius: c.NearbyRadiusKm},
		IdleTimeout:    c.IdleTimeout,
		MaxMessage:     c.MaxMessageBytes,
		RateLimit:      c.RateLimit,
		AllowedOrigins: origins,
		MaxPerClient:   c.MaxPerClient,
		Proxies:        w.proxies,
	}
	parts, err := w.session()
	if err != nil {
		return nil, err
	}
	opts.Auth = parts.Middleware.Wrap
	opts.Owner = func(ctx context.Context) (string, bool) {
		s, ok := session.FromContext(ctx)
		return s.OpenID, ok
	}
	if cfg.Redis.Addr != "" {
		// Several nodes share one Redis: matchmaking, rooms across nodes and presence go through it.
		client := redis.NewClient(redis.Config{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB, Timeout: cfg.Session.Timeout})
		opts.Cluster = redis.NewGameCluster(client, cfg.Deployment, c.BotDelay+5*time.Second, log)
	}
	return game.New(opts), nil
}
