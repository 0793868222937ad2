// Package redis keeps sessions in Redis (go-redis v9), so that several processes share them.
//
// Keys, as the original middleware's: "weapp-session:<id>" holds the session JSON and
// "weapp-session:openid:<openId>" the id of that user's live session, both with the session's TTL.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qcloud-applet/applet/serve/session"
)

// Prefix of every key.
const Prefix = "weapp-session:"

// Config is the server and how long to wait for it.
type Config struct {
	Addr     string
	Password string // empty: no AUTH (the original crashed on a Redis without a password)
	DB       int
	// Timeout bounds each command, dial included; a Redis that is down fails requests this fast.
	Timeout time.Duration
}

// NewClient returns a client with bounded timeouts; it does not connect.
func NewClient(cfg Config) *goredis.Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	return goredis.NewClient(&goredis.Options{
		Addr: cfg.Addr, Password: cfg.Password, DB: cfg.DB,
		DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
		PoolTimeout: cfg.Timeout, MaxRetries: 1,
	})
}

// Sessions implements session.Store on Redis.
type Sessions struct {
	rdb     *goredis.Client
	timeout time.Duration
}

var _ session.Store = (*Sessions)(nil)

// NewSessions returns a store on rdb.
func NewSessions(rdb *goredis.Client) *Sessions {
	// The configured timeout bounds each call as a whole, dial and retry included.
	return &Sessions{rdb: rdb, timeout: rdb.Options().ReadTimeout}
}

// put replaces the openId's previous session and stores the new one in one step, so two logins of
// the same user racing on two processes still leave exactly one live session.
var put = goredis.NewScript(`
local old = redis.call('GET', KEYS[2])
if old and old ~= ARGV[1] then redis.call('DEL', ARGV[3] .. old) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
return 1`)

func unavailable(op string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, goredis.ErrClosed) || errors.Is(err, goredis.ErrPoolTimeout) {
		return fmt.Errorf("redis: %s: %w: %v", op, session.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// Put implements session.Store.
func (r *Sessions) Put(ctx context.Context, s session.Session) error {
	ttl := time.Until(s.Expires)
	if ttl <= 0 {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err = put.Run(ctx, r.rdb, []string{Prefix + s.ID, Prefix + "openid:" + s.OpenID}, s.ID, b, Prefix, ttl.Milliseconds()).Err()
	if err != nil {
		return unavailable("storing a session", err)
	}
	return nil
}

// Get implements session.Store.
func (r *Sessions) Get(ctx context.Context, id string) (session.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.rdb.Get(ctx, Prefix+id).Bytes()
	if errors.Is(err, goredis.Nil) {
		return session.Session{}, session.ErrNotFound
	}
	if err != nil {
		return session.Session{}, unavailable("reading a session", err)
	}
	var s session.Session
	if err := json.Unmarshal(b, &s); err != nil {
		return session.Session{}, fmt.Errorf("redis: session %q is not JSON: %w", id, err)
	}
	if !time.Now().Before(s.Expires) {
		return session.Session{}, session.ErrNotFound
	}
	return s, nil
}

// Delete implements session.Store.
func (r *Sessions) Delete(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.rdb.Del(ctx, Prefix+id).Err(); err != nil {
		return unavailable("deleting a session", err)
	}
	return nil
}

// Ready implements session.Store.
func (r *Sessions) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close implements session.Store.
func (r *Sessions) Close() error { return r.rdb.Close() }
