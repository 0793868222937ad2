package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qcloud-applet/applet/serve/game"
)

// GameCluster implements game.Cluster on Redis: a waiting slot taken or set by one Lua script, a
// pub/sub channel per node, a heartbeat key per node (its TTL is how a dead node is noticed), and a
// geo set per node for nearby. Keys live under applet:<namespace>:game:.
type GameCluster struct {
	c       *goredis.Client
	prefix  string
	node    string
	waitTTL time.Duration
	log     *slog.Logger

	out    chan pub
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	ps     *goredis.PubSub
	closed bool
	uids   map[string]uidClaim // uids claimed by this node
}

type pub struct {
	channel string
	m       game.Message
}

// outQueue is how many messages to other nodes may wait for Redis before they are dropped: about a
// second of a busy node's traffic. The queue's buffer holds pointers, so the collector scans all of
// it on every cycle, empty or not: 65,536 messages were 8 MB scanned each time.
const outQueue = 4096

// Heartbeat timing: a node is dead once its key is HeartbeatTTL old.
const (
	HeartbeatEvery = time.Second
	HeartbeatTTL   = 3 * time.Second
)

var _ game.Cluster = (*GameCluster)(nil)

// NewGameCluster joins the cluster of namespace as a new node. waitTTL bounds how long a ticket waits
// (the bot delay and a margin). Close closes the client.
func NewGameCluster(c *goredis.Client, namespace string, waitTTL time.Duration, log *slog.Logger) *GameCluster {
	b := make([]byte, 6)
	rand.Read(b)
	g := &GameCluster{c: c, prefix: "applet:" + namespace + ":game:", node: hex.EncodeToString(b), waitTTL: waitTTL, log: log,
		out: make(chan pub, outQueue), done: make(chan struct{}), uids: map[string]uidClaim{}}
	g.beat()
	go g.heartbeat()
	go g.publisher()
	return g
}

func (g *GameCluster) Node() string { return g.node }

func (g *GameCluster) nodeKey(n string) string { return g.prefix + "node:" + n }
func (g *GameCluster) geoKey(n string) string  { return g.prefix + "geo:" + n }
func (g *GameCluster) inbox(n string) string   { return g.prefix + "inbox:" + n }

func (g *GameCluster) beat() {
	ctx, cancel := context.WithTimeout(context.Background(), HeartbeatEvery)
	defer cancel()
	pipe := g.c.Pipeline()
	pipe.Set(ctx, g.nodeKey(g.node), "1", HeartbeatTTL)
	pipe.SAdd(ctx, g.prefix+"nodes", g.node)
	pipe.Expire(ctx, g.geoKey(g.node), 2*HeartbeatTTL)
	// A claim lives as long as its node's heartbeat, so it needs no refresh of its own each beat:
	// only its key's long expiry (which clears the keys of nodes that died) is renewed, a few claims
	// a beat, once an hour each. Refreshing every claim every second was thousands of commands a
	// second that held up the messages between nodes.
	now := time.Now()
	g.mu.Lock()
	n := 0
	for uid, cl := range g.uids {
		if n == claimRenewBatch {
			break
		}
		if now.Sub(cl.renewed) > claimRenew {
			pipe.PExpire(ctx, g.uidKey(uid), claimTTL)
			g.uids[uid] = uidClaim{cl.player, now}
			n++
		}
	}
	g.mu.Unlock()
	pipe.Exec(ctx)
}

// A uid claim's key expires after claimTTL unless renewed, which happens every claimRenew, at most
// claimRenewBatch claims a beat.
const (
	claimTTL        = 24 * time.Hour
	claimRenew      = time.Hour
	claimRenewBatch = 256
)

type uidClaim struct {
	player  string
	renewed time.Time
}

// claimScript takes KEYS[1] for ARGV[1] ("node|player") unless another player holds it on a node
// whose heartbeat key (ARGV[2] .. node) is alive.
var claimScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  local node = string.match(cur, '^([^|]*)|')
  if node and redis.call('EXISTS', ARGV[2] .. node) == 1 then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`)

func (g *GameCluster) uidKey(uid string) string { return g.prefix + "uid:" + uid }

// ClaimUID takes uid for player unless a live player holds it; a claim lapses with its node's
// heartbeat.
func (g *GameCluster) ClaimUID(ctx context.Context, uid, player string) (bool, error) {
	n, err := claimScript.Run(ctx, g.c, []string{g.uidKey(uid)}, g.node+"|"+player, g.prefix+"node:", claimTTL.Milliseconds()).Int()
	if err != nil || n == 0 {
		return false, err
	}
	g.mu.Lock()
	g.uids[uid] = uidClaim{player, time.Now()}
	g.mu.Unlock()
	return true, nil
}

var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// ReleaseUID gives uid up if player still holds it.
func (g *GameCluster) ReleaseUID(ctx context.Context, uid, player string) error {
	g.mu.Lock()
	if g.uids[uid].player == player {
		delete(g.uids, uid)
	}
	g.mu.Unlock()
	return releaseScript.Run(ctx, g.c, []string{g.uidKey(uid)}, g.node+"|"+player).Err()
}

func (g *GameCluster) heartbeat() {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-t.C:
			g.beat()
		}
	}
}

// publisher sends the queued messages, as many as are waiting: those for one node as one PUBLISH
// (messages a line each), every node's in one pipeline. Under load one round trip carries hundreds
// of messages, and the receiving node handles them under one hold of its hub's lock. Marshalling
// happens here, not under the hub's lock where Publish is called.
func (g *GameCluster) publisher() {
	const batch = 1024
	payloads := map[string][]byte{}
	var order []string
	add := func(p pub) {
		b, err := json.Marshal(p.m)
		if err != nil {
			return
		}
		cur, ok := payloads[p.channel]
		if !ok {
			order = append(order, p.channel)
		} else {
			cur = append(cur, '\n') // JSON never holds a raw newline
		}
		payloads[p.channel] = append(cur, b...)
	}
	for {
		select {
		case <-g.done:
			return
		case p := <-g.out:
			add(p)
		}
	more:
		for n := 1; n < batch; n++ {
			select {
			case p := <-g.out:
				add(p)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		pipe := g.c.Pipeline()
		for _, ch := range order {
			pipe.Publish(ctx, ch, payloads[ch])
		}
		if _, err := pipe.Exec(ctx); err != nil {
			g.log.Warn("game: messages to other nodes are lost", "publishes", pipe.Len(), "err", err)
		}
		cancel()
		clear(payloads)
		order = order[:0]
	}
}

var matchScript = goredis.NewScript(`
local w = redis.call('GET', KEYS[1])
if w then
  local t = cjson.decode(w)
  if t.player ~= ARGV[2] and redis.call('EXISTS', ARGV[3] .. t.node) == 1 then
    redis.call('DEL', KEYS[1])
    return w
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
return false`)

var unwaitScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`)

// Match takes the waiting ticket or leaves t waiting, in one step.
func (g *GameCluster) Match(ctx context.Context, t game.Ticket) (game.Ticket, bool, error) {
	b, _ := json.Marshal(t)
	res, err := matchScript.Run(ctx, g.c, []string{g.prefix + "waiting"}, b, t.Player, g.prefix+"node:", g.waitTTL.Milliseconds()).Text()
	if errors.Is(err, goredis.Nil) {
		return game.Ticket{}, false, nil
	}
	if err != nil {
		return game.Ticket{}, false, err
	}
	var opp game.Ticket
	if err := json.Unmarshal([]byte(res), &opp); err != nil {
		return game.Ticket{}, false, err
	}
	return opp, true, nil
}

// Unwait withdraws t if it still waits.
func (g *GameCluster) Unwait(ctx context.Context, t game.Ticket) (bool, error) {
	b, _ := json.Marshal(t)
	n, err := unwaitScript.Run(ctx, g.c, []string{g.prefix + "waiting"}, b).Int()
	return n == 1, err
}

// Publish queues m for node; a full queue drops it (a stuck Redis must not stall the game).
func (g *GameCluster) Publish(node string, m game.Message) {
	select {
	case g.out <- pub{g.inbox(node), m}:
	default:
		g.log.Warn("game: the queue to other nodes is full; a message is dropped")
	}
}

// Subscribe delivers this node's messages to f, a published batch at a time, read on one goroutine
// (no hand-off through the client's channel: a hop less per message); the client resubscribes by
// itself after an outage.
func (g *GameCluster) Subscribe(f func([]game.Message)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errors.New("game cluster closed")
	}
	g.ps = g.c.Subscribe(context.Background(), g.inbox(g.node))
	ps := g.ps
	go func() {
		var batch []game.Message
		for {
			msg, err := ps.ReceiveMessage(context.Background())
			if err != nil {
				if g.isClosed() {
					return
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			batch = appendMessages(batch[:0], msg.Payload)
			if len(batch) > 0 {
				f(batch)
			}
		}
	}()
	return nil
}

func (g *GameCluster) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Alive reports whether node's heartbeat is fresh; this node always is.
func (g *GameCluster) Alive(ctx context.Context, node string) bool {
	if node == g.node {
		return true
	}
	n, err := g.c.Exists(ctx, g.nodeKey(node)).Result()
	if err != nil {
		return true // Redis is down: nobody can tell, so nobody is declared dead
	}
	return n == 1
}

func (g *GameCluster) SetPosition(ctx context.Context, player string, lat, lng float64) error {
	return g.c.GeoAdd(ctx, g.geoKey(g.node), &goredis.GeoLocation{Name: player, Longitude: lng, Latitude: lat}).Err()
}

func (g *GameCluster) RemovePosition(ctx context.Context, player string) error {
	return g.c.ZRem(ctx, g.geoKey(g.node), player).Err()
}

// Nearby counts, on every live node, the players within km.
func (g *GameCluster) Nearby(ctx context.Context, lat, lng, km float64) (int, error) {
	nodes, err := g.c.SMembers(ctx, g.prefix+"nodes").Result()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, n := range nodes {
		if !g.Alive(ctx, n) {
			g.c.SRem(ctx, g.prefix+"nodes", n)
			continue
		}
		names, err := g.c.GeoSearch(ctx, g.geoKey(n), &goredis.GeoSearchQuery{Longitude: lng, Latitude: lat, Radius: km, RadiusUnit: "km"}).Result()
		if err != nil {
			return 0, err
		}
		total += len(names)
	}
	return total, nil
}

// Ready pings Redis.
func (g *GameCluster) Ready(ctx context.Context) error { return g.c.Ping(ctx).Err() }

// Close leaves the cluster: the heartbeat stops and the node's keys go.
func (g *GameCluster) Close() error {
	g.once.Do(func() {
		close(g.done)
		g.mu.Lock()
		g.closed = true
		if g.ps != nil {
			g.ps.Close()
		}
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		g.c.Del(ctx, g.nodeKey(g.node), g.geoKey(g.node))
		g.c.SRem(ctx, g.prefix+"nodes", g.node)
		g.c.Close()
	})
	return nil
}

// appendMessages decodes a payload of messages, one a line; a line that does not decode is skipped.
func appendMessages(ms []game.Message, payload string) []game.Message {
	for line := range strings.SplitSeq(payload, "\n") {
		var m game.Message
		if json.Unmarshal([]byte(line), &m) == nil {
			ms = append(ms, m)
		}
	}
	return ms
}
