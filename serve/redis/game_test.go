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

// A Redis with a password and another database: the nodes' messages (written on a connection of
// their own) still arrive.
func TestGameClusterWithPassword(t *testing.T) {
	addr, pass := testenv.RedisAuth(t)
	ns := testenv.Unique("gc")
	node := func() game.Cluster {
		c := redis.NewGameCluster(redis.NewClient(redis.Config{Addr: addr, Password: pass, DB: 3, Timeout: time.Second}), ns, 10*time.Second, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := node(), node()
	got := make(chan game.Message, 10)
	b.Subscribe(func(ms []game.Message) {
		for _, m := range ms {
			got <- m
		}
	})
	time.Sleep(100 * time.Millisecond)
	a.Publish(b.Node(), game.Message{Kind: game.MsgDeliver, To: "x", Event: "hi"})
	select {
	case m := <-got:
		if m.To != "x" {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no message through a Redis with a password")
	}
}

// Redis goes away and comes back: messages sent meanwhile may be lost (as documented), and the ones
// after it arrive again without a restart.
func TestGameClusterMessagesAfterAnOutage(t *testing.T) {
	proxy := testenv.NewProxy(t, testenv.RedisAddr(t))
	proxy.Start(t)
	ns := testenv.Unique("gc")
	node := func(addr string) game.Cluster {
		c := redis.NewGameCluster(redis.NewClient(redis.Config{Addr: addr, Timeout: time.Second}), ns, 10*time.Second, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := node(proxy.Addr), node(testenv.RedisAddr(t)) // only a's connections go through the proxy
	got := make(chan game.Message, 100)
	b.Subscribe(func(ms []game.Message) {
		for _, m := range ms {
			got <- m
		}
	})
	time.Sleep(100 * time.Millisecond)
	arrives := func(to string) bool {
		a.Publish(b.Node(), game.Message{Kind: game.MsgDeliver, To: to})
		for {
			select {
			case m := <-got:
				if m.To == to {
					return true
				}
			case <-time.After(500 * time.Millisecond):
				return false
			}
		}
	}
	if !arrives("before") {
		t.Fatal("no message before the outage")
	}
	proxy.Stop()
	arrives("during") // lost or not: Redis was unreachable
	proxy.Start(t)
	deadline := time.Now().Add(5 * time.Second)
	for !arrives("after") {
		if time.Now().After(deadline) {
			t.Fatal("messages did not resume after Redis came back")
		}
	}
}
