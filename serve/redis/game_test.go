package redis_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/qcloud-applet/applet/serve/storetest"
)

func TestGameCluster(t *testing.T) {
	addr := testenv.RedisAddr(t)
	storetest.RunGameCluster(t, func(t *testing.T) game.Cluster {
		// Nodes of one subtest share a namespace; subtests do not share.
		ns, ok := namespaces[t.Name()]
		if !ok {
			ns = testenv.Unique("gc")
			namespaces[t.Name()] = ns
		}
		c := redis.NewGameCluster(redis.NewClient(redis.Config{Addr: addr, Timeout: time.Second}), ns, 10*time.Second, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { c.Close() })
		return c
	}, true)
}

var namespaces = map[string]string{}
