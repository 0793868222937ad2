package game

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one client. While it is idle nothing runs for it: the poller hands it to a worker when
// bytes arrive (a goroutine per connection only where there is no poller); frames to send go out at
// once when the socket takes them, else a writer goroutine runs until the queue is empty. One writer
// at a time (writing) keeps a frame's bytes together.
type conn struct {
	nc     net.Conn
	proto  Protocol
	sid    string
	app    *App
	player *Player
	client netip.Addr // counted against Options.MaxPerClient

	// Reading, by one reader at a time (the poller arms a connection for one event at a time).
	fr       frameReader
	tokens   float64 // rate limit
	tokensAt int64
	raw      syscall.RawConn // set while the poller watches the connection
	fd       int32
	gen      uint32
	slow     *time.Timer // running while a frame is incomplete: closes the connection at FrameTimeout

	mu       sync.Mutex
	queue    []outFrame
	closeMsg []byte // a close frame for the writer to send last
	writing  bool
	closed   bool

	forgotten bool // under app.mu: closed before the app registered it

	lastMsg  atomic.Int64 // unix nanos of the last client message
	lastPong atomic.Int64 // unix nanos of the last pong (or frame)
}

func newSID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// outFrame is a frame queued for the socket: bytes, or an event encoded when it is written (outside
// the hub's lock).
type outFrame struct {
	b     []byte
	event string
	data  any
}

func (f outFrame) bytes(p Protocol) []byte {
	if f.b != nil {
		return f.b
	}
	return frameBytes(opText, encodeEvent(p, f.event, f.data))
}

// Send implements Sender, for sends outside the hub's lock: queue and return; a client whose queue
// is full is disconnected.
func (c *conn) Send(event string, data any) { c.sendRaw(encodeEvent(c.proto, event, data)) }

func (c *conn) sendRaw(payload []byte) { c.send(opText, payload, true) }

// send writes a frame at once when nothing is queued and the socket takes it without waiting (no
// goroutine, no hand-off); otherwise it is queued for the writer. Control frames (queue false) are
// dropped instead when the writer is busy: the client is slow, and pings or pongs would only wait.
func (c *conn) send(op byte, payload []byte, queue bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.writing {
		if queue && c.room() {
			c.queue = append(c.queue, outFrame{b: frameBytes(op, payload)})
		}
		return
	}
	frame := frameBytes(op, payload)
	if c.raw != nil {
		n, err := c.writeNow(frame)
		if err != nil && !wouldBlock(err) {
			c.closeLocked(0, "")
			return
		}
		if n == len(frame) {
			return
		}
		frame = frame[max(n, 0):] // the rest of this frame goes first
	}
	c.queue = append(c.queue, outFrame{b: frame})
	c.writing = true
	go c.drain(false)
}

// enqueue implements lockedSender: under the hub's lock an event is only queued; true asks the hub
// to flush this connection once the lock is released.
func (c *conn) enqueue(event string, data any) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.room() {
		return false
	}
	c.queue = append(c.queue, outFrame{event: event, data: data})
	if c.writing {
		return false // whoever writes drains it
	}
	c.writing = true
	return true
}

// flush implements lockedSender.
func (c *conn) flush() { c.drain(true) }

// room reports whether the queue takes another frame; a client whose queue is full cannot keep up
// and is disconnected. Under c.mu.
func (c *conn) room() bool {
	if len(c.queue) < c.app.opts.SendQueue {
		return true
	}
	c.app.log.Warn("client cannot keep up; disconnecting", "sid", c.sid, "queued", len(c.queue))
	c.closeLocked(websocket.ClosePolicyViolation, "too slow")
	// The close frame goes after the frame being written, which gets a second more at most.
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	return false
}

// drain writes what is queued; while it runs nothing else writes, so a frame's bytes are never
// interleaved. Inline (on the goroutine that released the hub's lock) it writes only what the socket
// takes at once and leaves the rest to a goroutine of its own, which waits on the socket up to the
// write timeout per frame.
func (c *conn) drain(inline bool) {
	for {
		c.mu.Lock()
		if c.closed {
			if inline {
				c.mu.Unlock()
				go c.drain(false) // closing waits on the socket
				return
			}
			// What is left is at most the rest of a frame written in part: it goes before the close.
			rest, msg := c.queue, c.closeMsg
			c.queue, c.closeMsg, c.writing = nil, nil, false
			c.mu.Unlock()
			for _, f := range rest {
				if c.writeAll(f.bytes(c.proto), time.Now().Add(time.Second)) != nil {
					msg = nil
				}
			}
			c.lingerClose(msg)
			return
		}
		if len(c.queue) == 0 {
			c.queue = nil
			c.writing = false
			c.mu.Unlock()
			return
		}
		f := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		b := f.bytes(c.proto)
		if inline && c.raw != nil {
			n, err := c.writeNow(b)
			if err == nil && n == len(b) {
				continue
			}
			if err != nil && !wouldBlock(err) {
				c.close(0, "")
				return
			}
			c.mu.Lock()
			c.queue = append([]outFrame{{b: b[max(n, 0):]}}, c.queue...)
			c.mu.Unlock()
			go c.drain(false)
			return
		}
		if err := c.writeAll(b, time.Now().Add(c.app.opts.WriteTimeout)); err != nil {
			c.close(0, "")
			_ = c.nc.Close() // closed already, the socket was left to this writer
			return
		}
	}
}

func (c *conn) writeAll(b []byte, deadline time.Time) error {
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := c.nc.Write(b)
	return err
}

// close ends the connection, with a close frame when code is not 0; the hub and the app forget it
// on a goroutine of their own, as close may run under the hub's lock (a send to a slow client).
// Frames still queued are dropped.
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
	if c.writing && len(c.queue) > 0 {
		c.queue = c.queue[:1] // it may be the rest of a frame written in part
	}
	if c.raw != nil {
		c.app.poll.remove(c)
	}
	switch {
	case code != 0 && c.writing:
		// The writer sends it after the frame it is writing, then closes.
		c.closeMsg = websocket.FormatCloseMessage(code, reason)
	case code != 0:
		go c.lingerClose(websocket.FormatCloseMessage(code, reason))
	default:
		_ = c.nc.Close()
	}
	go func() {
		c.app.hub.Disconnect(c.player)
		c.app.forget(c)
	}()
}

// lingerClose sends the close frame, then lets what the client sent meanwhile drain (for a second, up
// to 64 KiB) before the socket closes: a socket closed with bytes unread is reset, and the client
// could lose the close frame with its reason.
func (c *conn) lingerClose(msg []byte) {
	defer c.nc.Close()
	deadline := time.Now().Add(time.Second)
	if msg == nil || c.writeAll(frameBytes(opClose, msg), deadline) != nil {
		return
	}
	if hc, ok := c.nc.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil && c.nc.SetReadDeadline(deadline) == nil {
		_, _ = io.CopyN(io.Discard, c.nc, 64<<10)
	}
}

// allow is a token bucket: Rate frames a second, bursts of twice that.
func (c *conn) allow(now time.Time) bool {
	rate := c.app.opts.RateLimit
	if rate <= 0 {
		return true
	}
	c.tokens += float64(now.UnixNano()-c.tokensAt) / 1e9 * rate
	c.tokensAt = now.UnixNano()
	if c.tokens > 2*rate {
		c.tokens = 2 * rate
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// readBufs are the workers' read buffers: a connection holds none while it waits.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// readable runs on a poller worker when bytes have arrived: it reads what is there without
// waiting, handles every complete frame and has the poller watch the connection again.
func (c *conn) readable() {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for range 4 { // then other connections' turn: the poller fires again while bytes remain
		n, err := c.readNow(*bp)
		if n > 0 && !c.consume((*bp)[:n]) {
			return
		}
		switch {
		case err != nil && wouldBlock(err):
		case err != nil || n == 0: // gone, or end of stream
			c.close(0, "")
			return
		case n == len(*bp):
			continue
		}
		break
	}
	c.app.poll.rearm(c)
}

// readLoop reads until the connection ends, where no poller watches it.
func (c *conn) readLoop() {
	nc := c.nc
	buf := make([]byte, 1024)
	for {
		n, err := nc.Read(buf)
		if n > 0 && !c.consume(buf[:n]) {
			return
		}
		if err != nil {
			c.close(0, "")
			return
		}
	}
}

// consume feeds bytes that arrived to the frame reader; false when the connection has ended.
func (c *conn) consume(data []byte) bool {
	ok := true
	if err := c.fr.feed(data, func(op byte, payload []byte) bool { ok = c.frame(op, payload); return ok }); err != nil {
		fe := err.(*frameError)
		c.close(fe.code, fe.reason)
		return false
	}
	switch pending := c.fr.pending(); {
	case pending && c.slow == nil:
		c.slow = time.AfterFunc(c.app.opts.FrameTimeout, func() {
			c.close(websocket.ClosePolicyViolation, "frame not completed in time")
		})
	case !pending && c.slow != nil:
		c.slow.Stop()
		c.slow = nil
	}
	return ok
}

// frame handles a complete message or control frame; false ends the connection.
func (c *conn) frame(op byte, payload []byte) bool {
	now := time.Now()
	c.lastPong.Store(now.UnixNano())
	switch op {
	case opPong:
		return true
	case opPing:
		c.send(opPong, payload, false)
		return true
	case opClose:
		code := websocket.CloseNoStatusReceived // answered with an empty close frame
		if len(payload) >= 2 {
			code = int(payload[0])<<8 | int(payload[1])
		}
		c.close(code, "")
		return false
	case opBinary:
		c.close(websocket.CloseUnsupportedData, "text frames only")
		return false
	}
	c.lastMsg.Store(now.UnixNano())
	if !c.allow(now) {
		c.app.log.Warn("client over its rate limit; disconnecting", "sid", c.sid)
		c.close(websocket.ClosePolicyViolation, "rate limit")
		return false
	}
	// A copy: the payload lives in a shared read buffer, and the hub may keep what it decodes.
	return c.dispatch(bytes.Clone(payload))
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
	c.send(opPing, nil, false)
	if c.proto == EIO4 {
		c.sendRaw([]byte{eioPing})
	}
}
