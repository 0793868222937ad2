package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Lease is a lock among the instances of a deployment, held in their shared Redis until it is released
// or its time runs out (a holder that dies does not keep it).
type Lease struct {
	rdb   *goredis.Client
	key   string
	token string
}

// leaseRelease deletes the key only while it still holds this holder's token: a lease that ran out
// and was taken by another is not released by the first.
var leaseRelease = goredis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// TryLease takes the lease named key for ttl; held is false while another holds it.
func TryLease(ctx context.Context, rdb *goredis.Client, key string, ttl time.Duration) (l *Lease, held bool, err error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	l = &Lease{rdb: rdb, key: key, token: hex.EncodeToString(b)}
	ok, err := rdb.SetNX(ctx, key, l.token, ttl).Result()
	if err != nil || !ok {
		return nil, false, err
	}
	return l, true, nil
}

// Release gives the lease back.
func (l *Lease) Release(ctx context.Context) error {
	return leaseRelease.Run(ctx, l.rdb, []string{l.key}, l.token).Err()
}
