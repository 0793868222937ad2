// Package game is rock-paper-scissors over WebSocket, `applet serve game`, mounted at
// /applet/websocket. It speaks Engine.IO 3 and 4 with the Socket.IO packets the original mini program
// and socket.io-client 2.x-4.x use (at /applet/websocket/socket.io/), and plain JSON frames at
// /applet/websocket/ws. Rounds, bots and scoring follow the compat contract; the rules are pure
// functions (rules.go), the rooms live in a Hub behind one lock.
package game

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/serve"
)

// BasePath is where the app is mounted.
const BasePath = "/applet/websocket"

// DefaultListen is the app's documented address.
const DefaultListen = ":9595"

// Options configure the app.
type Options struct {
	Logger *slog.Logger
	Rules  Rules
	// IdleTimeout closes a client that sent nothing for this long (the original client never pings).
	IdleTimeout time.Duration
	// PingInterval is how often clients are pinged (WebSocket ping; plus Engine.IO's for EIO 4).
	PingInterval time.Duration
	// PongWait is how long past a ping a client may stay silent before it counts as dead.
	PongWait     time.Duration
	WriteTimeout time.Duration
	// FrameTimeout closes a client whose frame (or fragmented message) stays incomplete this long.
	FrameTimeout time.Duration
	MaxMessage   int     // bytes per message
	RateLimit    float64 // frames a second per connection (bursts of twice that); 0: none
	SendQueue    int     // frames queued per connection before it counts as too slow
	// AllowedOrigins, when set, are the only Origin values accepted (clients without Origin, as mini
	// programs are, always are).
	AllowedOrigins []string
	// Auth and Owner give a connection the session's openId as uid (the session middleware).
	Auth  func(http.Handler) http.Handler
	Owner func(ctx context.Context) (string, bool)
	// Cluster, when set, makes this node one of several sharing matchmaking, rooms and presence;
	// the App closes it on shutdown.
	Cluster Cluster
	// MaxPerClient is how many connections one client address may hold (0: 64); Proxies are the
	// proxies whose X-Forwarded-For names the client.
	MaxPerClient int
	Proxies      []netip.Prefix
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PongWait <= 0 {
		o.PongWait = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.FrameTimeout <= 0 {
		o.FrameTimeout = 10 * time.Second
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = 4096
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 64
	}
}

// noPoller is for tests: a goroutine per connection, as on systems without epoll.
var noPoller atomic.Bool

// acceptPause is for tests: a random pause up to it between the handshake's answer and the rest of
// accept, as a busy machine schedules handlers, while the client already opens its next connection.
var acceptPause atomic.Int64

// App is the game backend.
type App struct {
	opts     Options
	log      *slog.Logger
	hub      *Hub
	upgrader websocket.Upgrader
	poll     *poller // nil: a goroutine reads each connection

	mu       sync.Mutex
	conns    map[*conn]bool
	byClient map[netip.Addr]int
	stop     chan struct{}
	once     sync.Once
}

var _ serve.App = (*App)(nil)

// New returns the app and starts its keepalive ticker.
func New(opts Options) *App {
	opts.defaults()
	if opts.MaxPerClient <= 0 {
		opts.MaxPerClient = 64
	}
	a := &App{opts: opts, log: opts.Logger, hub: NewHub(opts.Rules), conns: map[*conn]bool{}, byClient: map[netip.Addr]int{}, stop: make(chan struct{})}
	a.upgrader = websocket.Upgrader{
		// The write buffer only while writing, and gorilla's read buffer at its minimum: frames are
		// read by frameReader (frames.go) and gorilla's Conn is dropped after the handshake.
		ReadBufferSize:  1,
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     a.checkOrigin,
	}
	if opts.Cluster == nil {
		opts.Cluster = NewLocalCluster() // one node: the same interface, in memory
		a.opts.Cluster = opts.Cluster
	}
	// Subscribing fails only on a closed client; a Redis that is down is retried by the client.
	if err := a.hub.SetCluster(opts.Cluster, opts.Logger); err != nil {
		opts.Logger.Error("game: joining the cluster", "err", err)
	}
	if p, err := thePoller(); err == nil {
		a.poll = p
	} else {
		opts.Logger.Debug("game: a goroutine per connection", "reason", err)
	}
	go a.ticker()
	return a
}

// Hub exposes the rooms, for tests and metrics.
func (a *App) Hub() *Hub { return a.hub }

func (a *App) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(a.opts.AllowedOrigins) == 0 {
		return true
	}
	for _, o := range a.opts.AllowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// Name implements serve.App.
func (a *App) Name() string { return "game" }

// BasePath implements serve.App.
func (a *App) BasePath() string { return BasePath }

// Register implements serve.App.
func (a *App) Register(r *serve.Router) {
	wrap := func(h http.HandlerFunc) http.Handler {
		if a.opts.Auth != nil {
			return a.opts.Auth(h)
		}
		return h
	}
	r.Handle("GET /socket.io/", wrap(a.serveSocketIO))
	r.Handle("GET /ws", wrap(a.servePlain))
}

// Ready implements serve.App.
func (a *App) Ready(ctx context.Context) error { return a.opts.Cluster.Ready(ctx) }

// Describe implements serve.Describer.
func (a *App) Describe() []any {
	rooms := "in process"
	if _, local := a.opts.Cluster.(*LocalCluster); !local {
		rooms = "shared through Redis, node " + a.opts.Cluster.Node()
	}
	return []any{"rooms", rooms, "game_time", a.hub.rules.GameTime.String(), "bot_delay", a.hub.rules.BotDelay.String()}
}

// Shutdown implements serve.App: every client gets a close frame (going away).
func (a *App) Shutdown(ctx context.Context) error {
	// Rounds under way finish (a restart during an upgrade costs nobody a game), within the shutdown
	// timeout; then every client gets a close frame.
	a.hub.Drain()
	for a.hub.Playing() > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}
	a.once.Do(func() { close(a.stop) })
	a.hub.Close()
	for _, c := range a.snapshot() {
		c.close(websocket.CloseGoingAway, "server shutting down")
	}
	a.opts.Cluster.Close()
	return nil
}

// snapshot copies the open connections, so they can be acted on without holding the lock.
func (a *App) snapshot() []*conn {
	a.mu.Lock()
	defer a.mu.Unlock()
	conns := make([]*conn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	return conns
}

func badRequest(w http.ResponseWriter, code int, msg string) {
	serve.WriteJSON(w, http.StatusBadRequest, map[string]any{"code": code, "message": msg})
}

func (a *App) serveSocketIO(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if t := q.Get("transport"); t != "websocket" {
		badRequest(w, 0, "Transport unknown: only the websocket transport is supported (transport=websocket), got "+strconvQuote(t))
		return
	}
	var p Protocol
	switch q.Get("EIO") {
	case "3":
		p = EIO3
	case "4":
		p = EIO4
	default:
		badRequest(w, 5, "Unsupported protocol version: EIO must be 3 or 4")
		return
	}
	a.accept(w, r, p)
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (a *App) servePlain(w http.ResponseWriter, r *http.Request) { a.accept(w, r, Plain) }

// accept upgrades, registers the connection and returns: the handler does not stay on the stack of
// a long-lived connection.
func (a *App) accept(w http.ResponseWriter, r *http.Request, p Protocol) {
	if !websocket.IsWebSocketUpgrade(r) {
		badRequest(w, 3, "Bad request: this endpoint speaks WebSocket only (send Upgrade: websocket)")
		return
	}
	// The slot is taken before the handshake answers: a client that opens its next connection as
	// soon as this one is up must find it counted.
	client := serve.ClientIP(r, a.opts.Proxies)
	a.mu.Lock()
	full := a.byClient[client] >= a.opts.MaxPerClient
	if !full {
		a.byClient[client]++
	}
	a.mu.Unlock()
	ws, err := a.upgrader.Upgrade(w, r, nil)
	if err != nil {
		if !full {
			a.mu.Lock()
			a.release(client)
			a.mu.Unlock()
		}
		return // the upgrader answered already
	}
	if d := acceptPause.Load(); d > 0 {
		time.Sleep(time.Duration(rand.Int64N(d)))
	}
	if full {
		// Told in the close frame, so a client library can say why instead of retrying blindly.
		serve.CountRefused(a.Name(), "connections per client")
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "too many connections from your address"), time.Now().Add(time.Second))
		ws.Close()
		return
	}
	forced := ""
	if a.opts.Owner != nil {
		forced, _ = a.opts.Owner(r.Context())
	}
	c := &conn{nc: ws.NetConn(), proto: p, sid: newSID(), app: a, client: client, tokens: 2 * a.opts.RateLimit, tokensAt: time.Now().UnixNano()}
	c.fr.max = a.opts.MaxMessage
	polled := a.poll != nil && !noPoller.Load() && watchable(c)
	now := time.Now().UnixNano()
	c.lastMsg.Store(now)
	c.lastPong.Store(now)
	c.player = a.hub.Connect(c, forced)
	a.mu.Lock()
	if c.forgotten {
		a.release(client)
	} else {
		a.conns[c] = true
	}
	a.mu.Unlock()
	if p != Plain {
		c.sendRaw(openPacket(p, c.sid, int(a.opts.PingInterval/time.Millisecond), int(a.opts.PongWait/time.Millisecond)))
		if p == EIO3 {
			c.sendRaw(connectPacket(EIO3, c.sid)) // EIO 3 clients never send 40 for "/"
		}
	}
	if polled {
		c.mu.Lock()
		polled = !c.closed && a.poll.add(c)
		c.mu.Unlock()
	}
	if !polled {
		go c.readLoop()
	}
}

func (a *App) forget(c *conn) {
	a.mu.Lock()
	if a.conns[c] {
		delete(a.conns, c)
		a.release(c.client)
	} else {
		c.forgotten = true // accept releases its slot when it gets to registering it
	}
	a.mu.Unlock()
}

// release gives back a connection's slot of its client's budget; a.mu is held.
func (a *App) release(client netip.Addr) {
	if a.byClient[client]--; a.byClient[client] <= 0 {
		delete(a.byClient, client)
	}
}

// Conns counts open connections.
func (a *App) Conns() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns)
}

// ticker is one goroutine for all connections' keepalives.
func (a *App) ticker() {
	t := time.NewTicker(a.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case now := <-t.C:
			for _, c := range a.snapshot() {
				c.keepalive(now, a.log)
			}
		}
	}
}
