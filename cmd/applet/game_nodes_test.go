package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/internal/testenv"
)

type gameNode struct {
	cmd  *exec.Cmd
	port int
	log  *bytes.Buffer
}

// startGameNode runs `applet serve game` against redisAddr, in the namespace of deployment.
func startGameNode(t *testing.T, bin, redisAddr, deployment string) *gameNode {
	t.Helper()
	n := &gameNode{port: freeTCP(t), log: &bytes.Buffer{}}
	n.cmd = exec.Command(bin, "serve", "game")
	n.cmd.Dir = t.TempDir()
	n.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + n.cmd.Dir, "APPLET_DEPLOYMENT=" + deployment,
		"APPLET_REDIS_ADDR=" + redisAddr, "APPLET_GAME_LISTEN=127.0.0.1:" + strconv.Itoa(n.port),
		"APPLET_GAME_BOT_DELAY=3s", "APPLET_GAME_GAME_TIME=400ms", "APPLET_SERVE_SHUTDOWN_TIMEOUT=2s"}
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.cmd.Process.Kill(); n.cmd.Wait() })
	if err := waitOK("http://127.0.0.1:"+strconv.Itoa(n.port)+"/healthz", 10*time.Second); err != nil {
		t.Fatalf("node: %v\n%s", err, n.log)
	}
	return n
}

type wsPlayer struct {
	t  *testing.T
	ws *websocket.Conn
}

func (n *gameNode) player(t *testing.T) *wsPlayer {
	ws, _, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:"+strconv.Itoa(n.port)+"/applet/websocket/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &wsPlayer{t: t, ws: ws}
}

func (p *wsPlayer) emit(event string, data any) {
	b, _ := json.Marshal(map[string]any{"event": event, "data": data})
	p.ws.WriteMessage(websocket.TextMessage, b)
}

func (p *wsPlayer) expect(event string, within time.Duration) map[string]any {
	p.t.Helper()
	p.ws.SetReadDeadline(time.Now().Add(within))
	for {
		_, msg, err := p.ws.ReadMessage()
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", event, err)
		}
		var f struct {
			Event string
			Data  map[string]any
		}
		json.Unmarshal(msg, &f)
		if f.Event == event {
			return f.Data
		}
	}
}

func hello(uid string, lat, lng float64) map[string]any {
	return map[string]any{"user": map[string]any{"uid": uid, "uname": uid, "uavatar": "https://a.example/" + uid + ".png"},
		"cordinate": map[string]any{"lat": lat, "lng": lng}}
}

// Two serve processes share one Redis: one player on each is matched into one room and plays; nearby
// counts both; killing one node gives the other player leave, and the survivor keeps serving.
func TestGameAcrossNodes(t *testing.T) {
	redisAddr := testenv.RedisAddr(t)
	bin := appletBinary(t)
	ns := testenv.Unique("nodes")
	n1 := startGameNode(t, bin, redisAddr, ns)
	n2 := startGameNode(t, bin, redisAddr, ns)

	a := n1.player(t)
	a.emit("hello", hello("alice", 22.54, 114.05))
	a.expect("hi", 3*time.Second)
	b := n2.player(t)
	b.emit("hello", hello("bob", 22.541, 114.051))
	if hi := b.expect("hi", 3*time.Second); hi["nearby"] != float64(1) {
		t.Fatalf("bob on node 2 should see alice on node 1 nearby: %v", hi)
	}
	// alice is connected on node 1: node 2 refuses her uid.
	imp := n2.player(t)
	imp.emit("hello", hello("alice", 0, 0))
	if m := imp.expect("error", 3*time.Second); !strings.Contains(m["message"].(string), "connected already") {
		t.Fatalf("a uid in use on another node: %v", m)
	}
	a.emit("join", nil)
	time.Sleep(200 * time.Millisecond) // alice waits first
	b.emit("join", nil)
	startB := b.expect("start", 3*time.Second)
	startA := a.expect("start", 3*time.Second)
	if s := mustJSONString(startB["roomUsers"]); !strings.Contains(s, "alice") || !strings.Contains(s, "bob") || strings.Contains(s, "robot") {
		t.Fatalf("bob's room: %s", s)
	}
	if s := mustJSONString(startA["roomUsers"]); !strings.Contains(s, "bob") {
		t.Fatalf("alice's room: %s", s)
	}
	// bob knows alice by a pseudonym of this game session, never by her uid.
	var alias string
	for _, u := range startB["roomUsers"].([]any) {
		if m := u.(map[string]any); m["uname"] == "alice" {
			alias, _ = m["uid"].(string)
		}
	}
	if alias == "" || alias == "alice" || !strings.HasPrefix(alias, "player-") {
		t.Fatalf("bob sees alice as %q", alias)
	}
	a.emit("choice", map[string]any{"choice": 2}) // rock
	if m := b.expect("movement", 2*time.Second); m["uid"] != alias {
		t.Fatalf("bob should see alice's movement: %v", m)
	}
	b.emit("choice", map[string]any{"choice": 1}) // scissors
	a.expect("movement", 2*time.Second)
	resA, resB := a.expect("result", 3*time.Second), b.expect("result", 3*time.Second)
	if ja, jb := mustJSONString(resA), mustJSONString(resB); !strings.Contains(ja, `"uid":"alice"`) || !strings.Contains(jb, `"uid":"bob"`) ||
		!strings.Contains(jb, `"uid":"`+alias+`"`) || strings.Contains(jb, `"uid":"alice"`) || !strings.Contains(jb, `"roundScore":1`) {
		t.Fatalf("results (each sees itself, the other by pseudonym) or nobody won: %v / %v", resA, resB)
	}

	// A second round (ready again) works across nodes too.
	a.emit("join", nil)
	b.emit("join", nil)
	a.expect("start", 3*time.Second)
	b.expect("start", 3*time.Second)

	// Node 1 dies: bob gets leave within a few seconds; node 2 keeps serving.
	killed := time.Now()
	n1.cmd.Process.Signal(syscall.SIGKILL)
	n1.cmd.Wait()
	if m := b.expect("leave", 10*time.Second); m["uid"] != alias {
		t.Fatalf("leave: %v", m)
	}
	t.Logf("leave reached bob %s after node 1 was killed", time.Since(killed).Round(10*time.Millisecond))
	b.emit("join", nil)
	if s := mustJSONString(b.expect("start", 6*time.Second)["roomUsers"]); !strings.Contains(s, "robot") {
		t.Fatalf("with nobody else, bob plays the bot: %s", s)
	}

	// A restarted node rejoins by itself.
	n3 := startGameNode(t, bin, redisAddr, ns)
	c := n3.player(t)
	c.emit("hello", hello("carol", 1, 1))
	c.expect("hi", 3*time.Second)
	d := n2.player(t)
	d.emit("hello", hello("dave", 1, 1))
	d.expect("hi", 3*time.Second)
	c.emit("join", nil)
	time.Sleep(200 * time.Millisecond)
	d.emit("join", nil)
	if s := mustJSONString(d.expect("start", 3*time.Second)["roomUsers"]); !strings.Contains(s, "carol") {
		t.Fatalf("dave should meet carol on the restarted node: %s", s)
	}
}

// With Redis gone, new matches fail with a clear error and /readyz is red; rounds already running on
// one node finish; when Redis returns the node recovers by itself.
func TestGameRedisOutage(t *testing.T) {
	proxy := testenv.NewProxy(t, testenv.RedisAddr(t))
	proxy.Start(t)
	n := startGameNode(t, appletBinary(t), proxy.Addr, testenv.Unique("outage"))
	ready := func() int {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(n.port) + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if ready() != 200 {
		t.Fatal("not ready with Redis up")
	}
	// A round with the bot starts while Redis is up, and finishes while it is down.
	a := n.player(t)
	a.emit("hello", hello("amy", 0, 0))
	a.expect("hi", 3*time.Second)
	a.emit("join", nil)
	a.expect("start", 6*time.Second)
	proxy.Stop()
	a.expect("result", 3*time.Second)

	b := n.player(t)
	b.emit("hello", hello("ben", 0, 0))
	b.expect("hi", 5*time.Second)
	b.emit("join", nil)
	if m := b.expect("error", 5*time.Second); !strings.Contains(m["message"].(string), "matchmaking is unavailable") {
		t.Fatalf("join without Redis: %v", m)
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with Redis down: %d", code)
	}
	proxy.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for ready() != 200 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	b.emit("join", nil)
	b.expect("start", 6*time.Second)
}

func mustJSONString(v any) string { b, _ := json.Marshal(v); return string(b) }
