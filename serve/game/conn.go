package game

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one client. Only its reader goroutine runs while it is idle: frames to send are queued and
// a writer goroutine runs only until the queue is empty, so an idle connection holds one goroutine.
type conn struct {
	ws     *websocket.Conn
	proto  Protocol
	sid    string
	app    *App
	player *Player
	client netip.Addr // counted against Options.MaxPerClient

	mu      sync.Mutex
	queue   [][]byte
	writing bool
	closed  bool

	lastMsg  atomic.Int64 // unix nanos of the last client frame
	lastPong atomic.Int64 // unix nanos of the last pong (or frame)

	tokens   float64 // rate limit, reader goroutine only
	tokensAt time.Time
}

func newSID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Send implements Sender: queue and return; a client whose queue is full is disconnected.
func (c *conn) Send(event string, data any) { c.sendRaw(encodeEvent(c.proto, event, data)) }

func (c *conn) sendRaw(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if len(c.queue) >= c.app.opts.SendQueue {
		c.app.log.Warn("client cannot keep up; disconnecting", "sid", c.sid, "queued", len(c.queue))
		c.closeLocked(websocket.ClosePolicyViolation, "too slow")
		return
	}
	c.queue = append(c.queue, frame)
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.queue = nil
			c.writing = false
			c.mu.Unlock()
			return
		}
		frame := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		c.ws.SetWriteDeadline(time.Now().Add(c.app.opts.WriteTimeout))
		if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
			c.close(0, "")
			return
		}
	}
}

// close ends the connection, with a close frame when code is not 0. The reader then sees an error
// and cleans up.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason)
}

func (c *conn) closeLocked(code int, reason string) {
	if c.closed {
		return
	}
	c.closed = true
	if code != 0 {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
	_ = c.ws.Close()
}

// allow is a token bucket: Rate frames a second, bursts of twice that.
func (c *conn) allow(now time.Time) bool {
	rate := c.app.opts.RateLimit
	if rate <= 0 {
		return true
	}
	c.tokens += now.Sub(c.tokensAt).Seconds() * rate
	c.tokensAt = now
	if c.tokens > 2*rate {
		c.tokens = 2 * rate
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// readLoop runs until the connection ends.
func (c *conn) readLoop() {
	defer func() {
		c.close(0, "")
		c.app.hub.Disconnect(c.player)
		c.app.forget(c)
	}()
	c.ws.SetReadLimit(int64(c.app.opts.MaxMessage))
	c.ws.SetPongHandler(func(string) error { c.lastPong.Store(time.Now().UnixNano()); return nil })
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseMessageTooBig) || err == websocket.ErrReadLimit {
				c.close(websocket.CloseMessageTooBig, "message too big")
			}
			return
		}
		now := time.Now()
		c.lastMsg.Store(now.UnixNano())
		c.lastPong.Store(now.UnixNano())
		if mt != websocket.TextMessage {
			c.close(websocket.CloseUnsupportedData, "text frames only")
			return
		}
		if !c.allow(now) {
			c.app.log.Warn("client over its rate limit; disconnecting", "sid", c.sid)
			c.close(websocket.ClosePolicyViolation, "rate limit")
			return
		}
		if !c.dispatch(data) {
			return
		}
	}
}

// dispatch handles one frame; false ends the connection.
func (c *conn) dispatch(frame []byte) bool {
	in, err := decode(c.proto, frame)
	if err != nil {
		c.Send("error", map[string]any{"message": "malformed frame"})
		return true
	}
	switch in.kind {
	case inPing:
		c.sendRaw([]byte("3" + in.payload))
	case inClose, inDisconnect:
		c.close(websocket.CloseNormalClosure, "")
		return false
	case inConnect:
		if in.namespace != "/" {
			c.sendRaw(namespaceError(c.proto, in.namespace))
		} else if c.proto == EIO4 {
			c.sendRaw(connectPacket(EIO4, c.sid))
		}
	case inEvent:
		if in.namespace != "/" {
			c.sendRaw(namespaceError(c.proto, in.namespace))
			return true
		}
		err := c.app.hub.Handle(c.player, in.name, in.data)
		if in.ackID >= 0 {
			res := map[string]any{"ok": err == nil}
			if err != nil {
				res["error"] = err.Error()
			}
			c.sendRaw(encodeAck(in.namespace, in.ackID, res))
		} else if err != nil {
			c.Send("error", map[string]any{"message": err.Error()})
		}
	}
	return true
}

// keepalive is called by the app's ticker: WebSocket pings find dead connections, EIO 4 clients get
// their Engine.IO ping, and clients silent past the idle limit are closed.
func (c *conn) keepalive(now time.Time, log *slog.Logger) {
	o := c.app.opts
	if now.Sub(time.Unix(0, c.lastMsg.Load())) > o.IdleTimeout {
		c.close(websocket.CloseGoingAway, "idle")
		return
	}
	if now.Sub(time.Unix(0, c.lastPong.Load())) > o.PingInterval+o.PongWait {
		log.Info("connection dead (no pong)", "sid", c.sid)
		c.close(0, "")
		return
	}
	if c.ws.WriteControl(websocket.PingMessage, nil, now.Add(time.Second)) != nil {
		c.close(0, "")
		return
	}
	if c.proto == EIO4 {
		c.sendRaw([]byte{eioPing})
	}
}
