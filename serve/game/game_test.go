package game_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/game"
)

func fastOptions() game.Options {
	return game.Options{
		Rules: game.Rules{GameTime: 300 * time.Millisecond, BotDelay: 50 * time.Millisecond, ReadyWait: 400 * time.Millisecond},
		// Test clients answer pings only while a test reads them; real WebSocket stacks always do.
		PingInterval: time.Second, PongWait: 5 * time.Second, IdleTimeout: time.Minute,
		RateLimit: 50, MaxMessage: 4096,
	}
}

func newServer(t testing.TB, opts game.Options) (*httptest.Server, *game.App) {
	t.Helper()
	app := game.New(opts)
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app}))
	t.Cleanup(func() { app.Shutdown(t.Context()); ts.Close() })
	return ts, app
}

// client is a raw WebSocket client that speaks frames, as the mini programs do. A goroutine reads
// all the time (answering pings, as WebSocket stacks do); tests take frames from a channel.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	proto  int // 3, 4, or 0 for plain
	frames chan []byte
	err    error // why reading stopped, once frames is closed
}

func dial(t *testing.T, ts *httptest.Server, path string, proto int) *client {
	return dialWith(t, ts, path, proto, true)
}

func dialWith(t *testing.T, ts *httptest.Server, path string, proto int, pong bool) *client {
	t.Helper()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + path
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", path, err, status)
	}
	t.Cleanup(func() { ws.Close() })
	if !pong {
		ws.SetPingHandler(func(string) error { return nil })
	}
	c := &client{t: t, ws: ws, proto: proto, frames: make(chan []byte, 4096)}
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				c.err = err
				close(c.frames)
				return
			}
			c.frames <- b
		}
	}()
	return c
}

// closeErr waits for the connection to end and returns why.
func (c *client) closeErr(within time.Duration) error {
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return c.err
			}
		case <-deadline:
			return nil
		}
	}
}

// original dials exactly as the original mini program: EIO 3, websocket only, the double slash.
func original(t *testing.T, ts *httptest.Server) *client {
	return dial(t, ts, game.BasePath+"/socket.io//?EIO=3&transport=websocket", 3)
}

func (c *client) raw(frame string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("write %q: %v", frame, err)
	}
}

func (c *client) emit(event string, data any) {
	c.t.Helper()
	if c.proto == 0 {
		b, _ := json.Marshal(map[string]any{"event": event, "data": data})
		c.raw(string(b))
		return
	}
	args := []any{event}
	if data != nil {
		args = append(args, data)
	}
	b, _ := json.Marshal(args)
	c.raw("42" + string(b))
}

type frame struct {
	raw   string
	event string
	data  map[string]any
}

// next takes the next frame; ok is false on timeout or a closed connection.
func (c *client) next(d time.Duration) (frame, bool) {
	var b []byte
	select {
	case x, ok := <-c.frames:
		if !ok {
			return frame{}, false
		}
		b = x
	case <-time.After(d):
		return frame{}, false
	}
	f := frame{raw: string(b)}
	if c.proto == 0 {
		var m struct {
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
		}
		json.Unmarshal(b, &m)
		f.event, f.data = m.Event, m.Data
	} else if strings.HasPrefix(f.raw, "42[") {
		var args []json.RawMessage
		json.Unmarshal(b[2:], &args)
		json.Unmarshal(args[0], &f.event)
		if len(args) > 1 {
			json.Unmarshal(args[1], &f.data)
		}
	}
	return f, true
}

// expect reads until event arrives, skipping pings and the other events listed in skip.
func (c *client) expect(event string, within time.Duration, skip ...string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		f, ok := c.next(time.Until(deadline))
		if !ok {
			break
		}
		if f.event == event {
			return f.data
		}
		if f.raw == "2" && c.proto == 4 {
			c.raw("3")
			continue
		}
		if f.event == "" || contains(skip, f.event) {
			continue
		}
		c.t.Fatalf("waiting for %s, got %s", event, f.raw)
	}
	c.t.Fatalf("no %s within %v", event, within)
	return nil
}

// none asserts that event does not arrive within d.
func (c *client) none(event string, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, ok := c.next(time.Until(deadline))
		if !ok {
			return
		}
		if f.event == event {
			c.t.Fatalf("unexpected %s: %s", event, f.raw)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hello(uid string) map[string]any {
	return map[string]any{"user": map[string]any{"uid": uid, "uname": "name-" + uid, "uavatar": "https://a.example/" + uid + ".png"}}
}

func num(v any) int { f, _ := v.(float64); return int(f) }

// The original client: emits hello before it has read the handshake, never pings, plays a bot over
// several rounds (rematch by join) and sees the contract's scoring, streaks included.
func TestOriginalClientPlaysTheBot(t *testing.T) {
	ts, _ := newServer(t, fastOptions())
	c := original(t, ts)
	c.emit("hello", hello("alice"))
	f, _ := c.next(time.Second)
	if !strings.HasPrefix(f.raw, `0{"sid":"`) || !strings.Contains(f.raw, `","upgrades":[],"pingInterval":1000,"pingTimeout":5000}`) {
		t.Fatalf("open packet: %s", f.raw)
	}
	if f, _ := c.next(time.Second); f.raw != "40" {
		t.Fatalf("EIO 3 connect: %q", f.raw)
	}
	hi := c.expect("hi", time.Second)
	if hi["message"] != "welcome" || num(hi["nearby"]) != 0 {
		t.Fatalf("hi: %v", hi)
	}
	total, streak := 0, 0
	for round := 0; round < 4; round++ {
		c.emit("join", nil)
		start := c.expect("start", time.Second)
		users := start["roomUsers"].([]any)
		if num(start["gameTime"]) != 1 || len(users) != 2 {
			t.Fatalf("start: %v", start)
		}
		var bot string
		for _, u := range users {
			m := u.(map[string]any)
			if uid := m["uid"].(string); strings.HasPrefix(uid, "robot-") {
				bot = uid
			} else if uid != "alice" || num(m["totalScore"]) != total || num(m["winStreak"]) != streak {
				t.Fatalf("round %d: alice in start %v, want total %d streak %d", round, m, total, streak)
			}
		}
		if bot == "" {
			t.Fatalf("no bot in %v", users)
		}
		c.emit("choice", map[string]any{"choice": game.Rock})
		res := c.expect("result", time.Second, "movement")["result"].([]any)
		var me, other map[string]any
		for _, r := range res {
			m := r.(map[string]any)
			if m["uid"] == "alice" {
				me = m
			} else {
				other = m
			}
		}
		x := game.Judge(num(me["choice"]), num(other["choice"]))
		roundScore, next := game.Score(game.Standing{TotalScore: total, WinStreak: streak}, x)
		if num(me["choice"]) != game.Rock || num(me["roundScore"]) != roundScore || num(me["totalScore"]) != next.TotalScore || num(me["winStreak"]) != next.WinStreak {
			t.Fatalf("round %d: result %v, want score %d total %d streak %d", round, me, roundScore, next.TotalScore, next.WinStreak)
		}
		total, streak = next.TotalScore, next.WinStreak
	}
}

// Two humans, one on EIO 4 framing and one on the original EIO 3: matched together, choice and face
// reach the other as movement, results are alike, a rematch yields one start each, leave reaches the
// other, and a disconnect during a round cancels it.
func TestTwoHumans(t *testing.T) {
	ts, app := newServer(t, fastOptions())
	a := dial(t, ts, game.BasePath+"/socket.io/?EIO=4&transport=websocket", 4)
	if f, _ := a.next(time.Second); !strings.HasPrefix(f.raw, `0{`) || !strings.Contains(f.raw, `"maxPayload"`) {
		t.Fatalf("EIO 4 open: %s", f.raw)
	}
	a.raw("40")
	if f, _ := a.next(time.Second); !strings.HasPrefix(f.raw, `40{"sid":"`) {
		t.Fatalf("EIO 4 connect answer: %s", f.raw)
	}
	b := original(t, ts)
	b.next(time.Second)
	b.next(time.Second)
	a.emit("hello", map[string]any{"user": map[string]any{"uid": "A"}, "cordinate": map[string]any{"lat": 23.13, "lng": 113.26}})
	a.expect("hi", time.Second)
	b.emit("hello", map[string]any{"user": map[string]any{"uid": "B"}, "cordinate": map[string]any{"lat": 23.14, "lng": 113.27}})
	if hi := b.expect("hi", time.Second); num(hi["nearby"]) != 1 {
		t.Fatalf("nearby: %v", hi)
	}
	playRound := func() {
		a.emit("join", nil)
		b.emit("join", nil)
		for _, c := range []*client{a, b} {
			users := c.expect("start", time.Second)["roomUsers"].([]any)
			if len(users) != 2 || strings.HasPrefix(users[0].(map[string]any)["uid"].(string), "robot") || strings.HasPrefix(users[1].(map[string]any)["uid"].(string), "robot") {
				t.Fatalf("start: %v", users)
			}
		}
		a.emit("choice", map[string]any{"choice": game.Paper})
		if m := b.expect("movement", time.Second); !pseudonym(m["uid"]) || m["movement"] != "choice" || m["choice"] != nil {
			t.Fatalf("movement to B: %v", m)
		}
		a.emit("face", map[string]any{"face": 3})
		if m := b.expect("movement", time.Second); m["movement"] != "face" || num(m["face"]) != 3 {
			t.Fatalf("face to B: %v", m)
		}
		b.emit("choice", map[string]any{"choice": game.Rock})
		a.expect("movement", time.Second)
		ra := a.expect("result", time.Second)
		rb := b.expect("result", time.Second)
		// Each sees itself by its own uid and the other by a pseudonym; otherwise the same result.
		ja, jb := mustJSON(ra), mustJSON(rb)
		if !strings.Contains(ja, `"uid":"A"`) || !strings.Contains(jb, `"uid":"B"`) || strings.Contains(ja, `"uid":"B"`) || strings.Contains(jb, `"uid":"A"`) ||
			len(ja) != len(jb) {
			t.Fatalf("results: %v %v", ra, rb)
		}
	}
	playRound()
	playRound() // rematch: both join again
	a.none("start", 200*time.Millisecond)
	b.none("start", 10*time.Millisecond)

	a.raw(`421["leave"]`)
	if f, _ := a.next(time.Second); f.raw != `431[{"ok":true}]` {
		t.Fatalf("ack of leave: %q", f.raw)
	}
	if m := b.expect("leave", time.Second); !pseudonym(m["uid"]) {
		t.Fatalf("leave: %v", m)
	}
	// Seated again together; A vanishes during the round: B gets leave and no result.
	a.emit("join", nil)
	b.emit("join", nil)
	a.expect("start", time.Second)
	b.expect("start", time.Second)
	a.ws.UnderlyingConn().Close() // no close frame
	if m := b.expect("leave", time.Second, "movement"); !pseudonym(m["uid"]) {
		t.Fatalf("leave after a disconnect: %v", m)
	}
	b.none("result", 500*time.Millisecond)
	deadline := time.Now().Add(time.Second)
	for app.Conns() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if app.Conns() != 1 || app.Hub().Players() != 1 {
		t.Fatalf("after A vanished: %d conns, %d players", app.Conns(), app.Hub().Players())
	}
	// B plays on, against a bot.
	b.emit("join", nil)
	b.expect("start", time.Second)
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// Between rounds, a player whose opponent never says join again is seated anew.
func TestReadyWaitReseats(t *testing.T) {
	ts, _ := newServer(t, fastOptions())
	a, b := original(t, ts), original(t, ts)
	a.emit("hello", hello("A"))
	b.emit("hello", hello("B"))
	a.expect("hi", time.Second)
	b.expect("hi", time.Second)
	a.emit("join", nil)
	b.emit("join", nil)
	a.expect("start", time.Second)
	b.expect("start", time.Second)
	a.expect("result", time.Second, "movement")
	b.expect("result", time.Second, "movement")
	a.emit("join", nil) // ready again; B is not
	if m := b.expect("leave", 2*time.Second); !pseudonym(m["uid"]) {
		t.Fatalf("B should see A go: %v", m)
	}
	users := a.expect("start", 2*time.Second)["roomUsers"].([]any)
	if !strings.Contains(mustJSON(users), "robot-") {
		t.Fatalf("A should play a bot now: %v", users)
	}
}

func TestPlainProtocol(t *testing.T) {
	ts, _ := newServer(t, fastOptions())
	c := dial(t, ts, game.BasePath+"/ws", 0)
	c.emit("hello", hello("p"))
	if hi := c.expect("hi", time.Second); hi["message"] != "welcome" {
		t.Fatalf("hi: %v", hi)
	}
	c.emit("join", nil)
	c.expect("start", time.Second)
	c.emit("choice", map[string]any{"choice": 1})
	c.expect("result", time.Second, "movement")
}

func TestBadInput(t *testing.T) {
	ts, app := newServer(t, fastOptions())
	// A game that must go on while others misbehave.
	good := original(t, ts)
	good.emit("hello", hello("good"))
	good.expect("hi", time.Second)

	c := original(t, ts)
	c.emit("hello", hello("bad"))
	c.expect("hi", time.Second)
	errorsFor := []struct{ frame, want string }{
		{`42not json`, "malformed frame"},
		{`42{"event":"hello"}`, "malformed frame"},
		{`42["dance",{}]`, `unknown event \"dance\"`},
		{`42["choice",{"choice":"rock"}]`, "choice must be 1"},
		{`42["choice",{"choice":7}]`, "choice must be 1"},
		{`42["choice",{"choice":2}]`, "no round is running"},
		{`42/admin,["hello",{}]`, "Invalid namespace"},
	}
	for _, e := range errorsFor {
		c.raw(e.frame)
		f, ok := c.next(time.Second)
		if !ok || !strings.Contains(f.raw, e.want) {
			t.Errorf("%s: got %q, want %q", e.frame, f.raw, e.want)
		}
	}
	// A uid that is connected now cannot be claimed.
	d := original(t, ts)
	d.emit("hello", hello("good"))
	if m := d.expect("error", time.Second); !strings.Contains(m["message"].(string), "connected already") {
		t.Fatalf("uid takeover: %v", m)
	}
	d.emit("join", nil)
	if m := d.expect("error", time.Second); !strings.Contains(m["message"].(string), "hello first") {
		t.Fatalf("join without identity: %v", m)
	}

	closedWith := func(c *client, code int) {
		t.Helper()
		if err := c.closeErr(2 * time.Second); !websocket.IsCloseError(err, code) {
			t.Fatalf("want close %d, got %v", code, err)
		}
	}
	flood := original(t, ts)
	for i := 0; i < 1000; i++ {
		if flood.ws.WriteMessage(websocket.TextMessage, []byte(`42["join"]`)) != nil {
			break
		}
	}
	closedWith(flood, websocket.ClosePolicyViolation)

	big := original(t, ts)
	big.ws.WriteMessage(websocket.TextMessage, []byte(`42["hello",{"x":"`+strings.Repeat("x", 1<<20)+`"}]`))
	closedWith(big, websocket.CloseMessageTooBig)

	bin := original(t, ts)
	bin.ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	closedWith(bin, websocket.CloseUnsupportedData)

	for _, q := range []string{"?EIO=5&transport=websocket", "?EIO=3&transport=polling", "?transport=websocket"} {
		resp, err := http.Get(ts.URL + game.BasePath + "/socket.io/" + q)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body["message"] == nil {
			t.Errorf("%s: %d %v", q, resp.StatusCode, body)
		}
		if strings.Contains(q, "polling") && !strings.Contains(body["message"].(string), "websocket") {
			t.Errorf("polling refusal should name websocket: %v", body)
		}
	}

	// The good client's game was never disturbed.
	good.emit("join", nil)
	good.expect("start", time.Second)
	good.emit("choice", map[string]any{"choice": 3})
	good.expect("result", time.Second, "movement")
	if app.Hub().Players() < 2 {
		t.Fatal("players lost")
	}
}

// A client that vanished (no close frame, no pongs) is found by WebSocket pings and dropped; an idle
// client is kept until the idle limit.
func TestDeadAndIdleClients(t *testing.T) {
	opts := fastOptions()
	opts.IdleTimeout = 600 * time.Millisecond
	opts.PingInterval, opts.PongWait = 100*time.Millisecond, 300*time.Millisecond
	ts, app := newServer(t, opts)
	dialWith(t, ts, game.BasePath+"/socket.io//?EIO=3&transport=websocket", 3, false) // never answers pings
	original(t, ts)                                                                   // answers pings but never sends
	time.Sleep(100 * time.Millisecond)
	if app.Conns() != 2 {
		t.Fatalf("%d conns", app.Conns())
	}
	deadline := time.Now().Add(550 * time.Millisecond)
	for app.Conns() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if app.Conns() != 1 {
		t.Fatalf("the dead client was not dropped by the ping check: %d conns", app.Conns())
	}
	deadline = time.Now().Add(time.Second)
	for app.Conns() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if app.Conns() != 0 {
		t.Fatal("the idle client outlived the idle limit")
	}
}

func TestShutdownSendsCloseFrames(t *testing.T) {
	ts, app := newServer(t, fastOptions())
	c := original(t, ts)
	c.next(time.Second)
	app.Shutdown(t.Context())
	if err := c.closeErr(time.Second); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("want a going-away close frame, got %v", err)
	}
}

// A restart lets the round under way finish: its players get the result, then the close frame; a
// join during the drain is refused with a reason.
func TestShutdownLetsRoundsFinish(t *testing.T) {
	ts, app := newServer(t, fastOptions())
	c := dial(t, ts, game.BasePath+"/ws", 0)
	c.emit("hello", hello("p"))
	c.expect("hi", time.Second)
	c.emit("join", nil)
	c.expect("start", time.Second)
	other := dial(t, ts, game.BasePath+"/ws", 0)
	other.emit("hello", hello("q"))
	other.expect("hi", time.Second)
	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Shutdown(ctx)
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	other.emit("join", nil)
	if m := other.expect("error", time.Second); !strings.Contains(m["message"].(string), "restarting") {
		t.Fatalf("join while draining: %v", m)
	}
	c.expect("result", time.Second, "movement")
	if err := c.closeErr(time.Second); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("want a going-away close frame after the result, got %v", err)
	}
	<-done
}

func TestOriginCheck(t *testing.T) {
	opts := fastOptions()
	opts.AllowedOrigins = []string{"https://servicewechat.com"}
	ts, _ := newServer(t, opts)
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + game.BasePath + "/socket.io/?EIO=3&transport=websocket"
	for origin, ok := range map[string]bool{"https://evil.example": false, "https://servicewechat.com": true, "": true} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(u, h)
		if (err == nil) != ok {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("origin %q: err %v (HTTP %d), want allowed=%v", origin, err, status, ok)
		}
		if ws != nil {
			ws.Close()
		}
	}
}

// A client that stops reading is disconnected once its queue fills; the player flooding it, and the
// node, carry on.
func TestSlowClientIsCutOff(t *testing.T) {
	opts := fastOptions()
	opts.RateLimit = 0
	opts.SendQueue = 256 // larger than a flood batch: the flooder's own error replies fit
	ts, app := newServer(t, opts)
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + game.BasePath + "/socket.io/?EIO=3&transport=websocket"
	// The slow phone: a tiny receive buffer, and it never reads.
	dialer := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, _, err := dialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.WriteMessage(websocket.TextMessage, []byte(`42["hello",{"user":{"uid":"slow"}}]`))
	fast := original(t, ts)
	fast.emit("hello", hello("fast"))
	fast.expect("hi", time.Second)
	slow.WriteMessage(websocket.TextMessage, []byte(`42["join"]`))
	fast.emit("join", nil)
	fast.expect("start", time.Second)
	// Every face becomes a movement frame for the slow phone. Flood until the room reports it gone.
	face := []byte(`42["face",{"face":1}]`)
	deadline := time.Now().Add(10 * time.Second)
	left := false
	for !left && time.Now().Before(deadline) {
		// A batch, then an Engine.IO ping: its pong means the batch was handled, so at most one
		// batch of faces (each answered by an error) lands after the cut.
		for i := 0; i < 50; i++ {
			fast.ws.WriteMessage(websocket.TextMessage, face)
		}
		fast.ws.WriteMessage(websocket.TextMessage, []byte("2"))
		for pong := false; !pong && !left; {
			select {
			case b, ok := <-fast.frames:
				left = !ok || strings.HasPrefix(string(b), `42["leave"`)
				pong = string(b) == "3"
			case <-time.After(2 * time.Second):
				t.Fatal("no pong")
			}
		}
	}
	if !left {
		t.Fatal("the slow client was never cut off")
	}
	for app.Conns() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if app.Conns() != 1 || fast.err != nil {
		t.Fatalf("after the cut: %d conns, fast client %v", app.Conns(), fast.err)
	}
	fast.emit("join", nil)
	fast.expect("start", 2*time.Second, "result", "error") // plays on, against a bot
}

// pseudonym: how a player is named to strangers (never the uid it said, never an openId).
func pseudonym(uid any) bool {
	s, _ := uid.(string)
	return strings.HasPrefix(s, "player-") && len(s) == len("player-")+12
}

// Frames of every length encoding reach the client whole (the server writes its frames itself).
func TestLongFrames(t *testing.T) {
	opts := fastOptions()
	opts.MaxMessage = 1 << 17
	ts, _ := newServer(t, opts)
	c := original(t, ts)
	c.emit("hello", hello("long"))
	c.expect("hi", time.Second)
	for _, n := range []int{100, 300, 70000} {
		name := strings.Repeat("d", n)
		c.raw(`42["` + name + `",{}]`)
		f, ok := c.next(2 * time.Second)
		if !ok || !strings.Contains(f.raw, name) {
			t.Fatalf("%d: got %d bytes: %.100s", n, len(f.raw), f.raw)
		}
	}
}

// A frame started and never finished is a slow client: it is closed once the frame timeout passes,
// and holds no goroutine meanwhile.
func TestIncompleteFrameIsClosed(t *testing.T) {
	opts := fastOptions()
	opts.FrameTimeout = 300 * time.Millisecond
	ts, app := newServer(t, opts)
	c := dialWith(t, ts, game.BasePath+"/socket.io//?EIO=3&transport=websocket", 3, false) // sends no pongs
	c.next(time.Second)
	// Half a text frame's header: the length, the mask, no payload.
	c.ws.UnderlyingConn().Write([]byte{0x81, 0x85, 1, 2, 3, 4, 'a'})
	if err := c.closeErr(2 * time.Second); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("want a policy-violation close, got %v", err)
	}
	if app.Conns() != 0 {
		deadline := time.Now().Add(time.Second)
		for app.Conns() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if app.Conns() != 0 {
			t.Fatal("the slow client is still counted")
		}
	}
}

// Idle connections own no goroutine: the poller watches their sockets and a worker reads when bytes
// arrive (Linux; elsewhere each keeps one).
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's")
	}
	opts := fastOptions()
	opts.MaxPerClient = 1000
	ts, app := newServer(t, opts)
	warm := original(t, ts)
	warm.emit("hello", hello("warm"))
	warm.expect("hi", time.Second)
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 100
	// The test's own clients each keep a reading goroutine: count them apart.
	for i := range n {
		c := original(t, ts)
		c.emit("hello", hello(fmt.Sprintf("idle%d", i)))
		c.expect("hi", time.Second)
	}
	for app.Conns() != n+1 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // writers done, workers back
	if grown := runtime.NumGoroutine() - before - n; grown > 10 {
		t.Fatalf("%d goroutines for %d idle server connections", grown, n)
	}
}

// Without a poller (other systems), every connection reads on a goroutine of its own: the same
// game, limits and closes.
func TestWithoutPoller(t *testing.T) {
	defer game.SetPolling(game.SetPolling(false))
	for name, f := range map[string]func(*testing.T){
		"OriginalClientPlaysTheBot":  TestOriginalClientPlaysTheBot,
		"TwoHumans":                  TestTwoHumans,
		"BadInput":                   TestBadInput,
		"DeadAndIdleClients":         TestDeadAndIdleClients,
		"LongFrames":                 TestLongFrames,
		"IncompleteFrameIsClosed":    TestIncompleteFrameIsClosed,
		"ChurnKeepsConnectionsApart": TestChurnKeepsConnectionsApart,
	} {
		t.Run(name, f)
	}
}

// Connections come and go by the hundred while others talk: descriptors are reused by new
// connections, and every answer still reaches the connection that asked (the poller's bookkeeping
// never hands one connection's bytes to another).
func TestChurnKeepsConnectionsApart(t *testing.T) {
	opts := fastOptions()
	opts.MaxPerClient, opts.RateLimit = 1000, 0
	ts, app := newServer(t, opts)
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + game.BasePath + "/ws"
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				ws, _, err := websocket.DefaultDialer.Dial(u, nil)
				if err != nil {
					errs <- err
					return
				}
				for j := range 3 {
					name := fmt.Sprintf("dance-%d-%d-%d", w, i, j)
					ws.WriteMessage(websocket.TextMessage, []byte(`{"event":"`+name+`","data":{}}`))
					ws.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, msg, err := ws.ReadMessage()
					if err != nil || !strings.Contains(string(msg), `\"`+name+`\"`) {
						errs <- fmt.Errorf("asked %s, got %q (%v)", name, msg, err)
						ws.Close()
						return
					}
				}
				if i%2 == 0 {
					ws.Close() // abrupt
				} else {
					ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
					ws.Close()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for app.Conns() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := app.Conns(); n != 0 {
		t.Fatalf("%d connections still counted after every client left", n)
	}
}

// One address gets MaxPerClient connections however fast it opens them, even while accept is still
// busy with the last one; the rest are closed with 1013 and the reason, and a slot given back is
// usable again.
func TestConnectionsPerClient(t *testing.T) {
	opts := fastOptions()
	opts.MaxPerClient = 5
	ts, app := newServer(t, opts)
	game.SlowAccept(t, 20*time.Millisecond)
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + game.BasePath + "/ws"
	// held tells, for each connection, whether it was kept; a refused one gets its close frame at once.
	held := func(conns []*websocket.Conn) []bool {
		kept := make([]bool, len(conns))
		var wg sync.WaitGroup
		for i, ws := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ws.SetReadDeadline(time.Now().Add(time.Second))
				_, _, err := ws.ReadMessage()
				var ce *websocket.CloseError
				switch {
				case errors.As(err, &ce) && ce.Code == websocket.CloseTryAgainLater && strings.Contains(ce.Text, "too many connections"):
				case isTimeout(err):
					kept[i] = true
				default:
					t.Errorf("connection %d neither held nor refused: %v", i, err)
				}
			}()
		}
		wg.Wait()
		return kept
	}
	count := func(kept []bool) (n int) {
		for _, k := range kept {
			if k {
				n++
			}
		}
		return n
	}
	open := func(n int) []*websocket.Conn {
		var conns []*websocket.Conn
		for range n {
			ws, _, err := websocket.DefaultDialer.Dial(u, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ws.Close() })
			conns = append(conns, ws)
		}
		return conns
	}
	// One after the other, each as soon as the last is up.
	conns := open(8)
	if kept := held(conns); fmt.Sprint(kept) != fmt.Sprint([]bool{true, true, true, true, true, false, false, false}) {
		t.Fatalf("connections from one address, one after the other, held: %v; want the first 5", kept)
	}
	for _, ws := range conns {
		ws.Close()
	}
	for app.Conns() != 0 {
		time.Sleep(10 * time.Millisecond)
	}
	// Several at once.
	var (
		mu  sync.Mutex
		all []*websocket.Conn
		wg  sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := open(4)
			mu.Lock()
			all = append(all, c...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if kept := count(held(all)); kept != 5 {
		t.Fatalf("%d of 16 connections opened at once from one address held; want 5", kept)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
