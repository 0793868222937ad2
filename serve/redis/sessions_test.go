package redis_test

import (
	"context"
	"errors"
	"net"
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

// A Redis that accepts and never answers fails a call within session.timeout as a whole, not once
// per attempt (the client retries once).
func TestHungRedisFailsWithinTheTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	const timeout = time.Second
	s := redis.NewSessions(redis.NewClient(redis.Config{Addr: ln.Addr().String(), Timeout: timeout}))
	defer s.Close()
	start := time.Now()
	_, err = s.Get(context.Background(), "whatever")
	took := time.Since(start)
	if err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get on a hung Redis = %v", err)
	}
	// Twice the timeout is what a dial bound plus a read bound per attempt used to add up to.
	if took >= timeout*8/5 {
		t.Fatalf("Get took %v with a %v timeout", took, timeout)
	}
}

// One holder at a time; a lease run out is free again, and its first holder cannot release the next
// holder's.
func TestLease(t *testing.T) {
	rdb := redis.NewClient(redis.Config{Addr: testenv.RedisAddr(t)})
	defer rdb.Close()
	ctx := context.Background()
	key := testenv.Unique("lease-")
	a, held, err := redis.TryLease(ctx, rdb, key, 300*time.Millisecond)
	if err != nil || !held {
		t.Fatalf("first: %v %v", held, err)
	}
	if _, held, err := redis.TryLease(ctx, rdb, key, time.Minute); err != nil || held {
		t.Fatalf("second while the first holds it: %v %v", held, err)
	}
	time.Sleep(400 * time.Millisecond)
	b, held, err := redis.TryLease(ctx, rdb, key, time.Minute)
	if err != nil || !held {
		t.Fatalf("after the first ran out: %v %v", held, err)
	}
	a.Release(ctx) // too late: not the first's any more
	if _, held, _ := redis.TryLease(ctx, rdb, key, time.Minute); held {
		t.Fatal("the first holder released the second's lease")
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, held, _ := redis.TryLease(ctx, rdb, key, time.Minute); !held {
		t.Fatal("a released lease is not free")
	}
}
