package redis_test

import (
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/storetest"
)

func TestRedisSessions(t *testing.T) {
	storetest.RunSessionStore(t, func(t *testing.T) session.Store {
		s := redis.NewSessions(redis.NewClient(redis.Config{Addr: testenv.RedisAddr(t), Timeout: time.Second}))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestRedisSessionsWithPassword(t *testing.T) {
	addr, password := testenv.RedisAuth(t)
	storetest.RunSessionStore(t, func(t *testing.T) session.Store {
		s := redis.NewSessions(redis.NewClient(redis.Config{Addr: addr, Password: password, Timeout: time.Second}))
		t.Cleanup(func() { s.Close() })
		return s
	})
	bad := redis.NewSessions(redis.NewClient(redis.Config{Addr: addr, Password: "wrong", Timeout: time.Second}))
	defer bad.Close()
	if err := bad.Ready(t.Context()); err == nil {
		t.Fatal("a wrong password should make Ready fail")
	}
}

// The in-process cache over Redis passes the same contract.
func TestCachedRedisSessions(t *testing.T) {
	storetest.RunSessionStore(t, func(t *testing.T) session.Store {
		s := session.NewCached(redis.NewSessions(redis.NewClient(redis.Config{Addr: testenv.RedisAddr(t)})), 500*time.Millisecond)
		t.Cleanup(func() { s.Close() })
		return s
	})
}
