package game_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/redis"
)

// echoServer is the floor: a bare gorilla/websocket echo whose handler keeps its read loop.
func echoServer(b *testing.B) *httptest.Server {
	up := websocket.Upgrader{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(mt, m) != nil {
				return
			}
		}
	}))
	b.Cleanup(ts.Close)
	return ts
}

// runLoad runs the load generator as a separate process and parses its report.
func runLoad(b *testing.B, bin string, args ...string) map[string]float64 {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("gameload %v: %v\n%s", args, err, out)
	}
	f := strings.Fields(strings.TrimSpace(string(out)))
	m := map[string]float64{}
	for i := 0; i+1 < len(f); i += 2 {
		m[f[i]], _ = strconv.ParseFloat(f[i+1], 64)
	}
	return m
}

// BenchmarkGameLoad plays GAMELOAD_ROOMS (default 5,000) concurrent two-player rooms on one node and
// measures the choice→movement latency, against a bare echo's round trip in the same run. Rounds last
// GAMELOAD_GAME_TIME (default 200ms: every room replays as fast as it can; 3s is the original's). The
// game and the echo take turns GAMELOAD_PAIRS times (default 3) and the medians are reported: on a
// shared machine one pair's p99s swing by several times, taking turns keeps drift out of the ratio.
// Run with: go test ./serve/game -run '^$' -bench GameLoad -benchtime 1x
func BenchmarkGameLoad(b *testing.B) {
	rooms, bin, opts := loadSetup(b)
	for range b.N {
		ts, _ := newServer(b, opts)
		ws := "ws" + strings.TrimPrefix(ts.URL, "http") + game.BasePath + "/socket.io/"
		pairs(b, bin, rooms, opts, "-url", ws)
	}
}

// pairs runs the game load (with args) and the echo load in turns and reports the medians.
func pairs(b *testing.B, bin string, rooms int, opts game.Options, args ...string) {
	n := 3
	if s := os.Getenv("GAMELOAD_PAIRS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	echo := echoServer(b)
	var rounds, p50, p99, echo99, ratio, alloc, gcs, heap []float64
	for range max(n, 1) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		g := runLoad(b, bin, append(args, "-rooms", strconv.Itoa(rooms), "-duration", "10s", "-spread", opts.Rules.GameTime.String())...)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		// What the nodes allocated per round played, setup and teardown included: the garbage
		// that sets how often the collector runs (a quarter of the processors mark while it does),
		// how often it ran, and the heap it had to mark (what the last cycle left).
		alloc = append(alloc, float64(after.TotalAlloc-before.TotalAlloc)/(g["rounds_per_s"]*10))
		gcs = append(gcs, float64(after.NumGC-before.NumGC)/took.Seconds())
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		heap = append(heap, float64(live[0].Value.Uint64())/(1<<20))
		e := runLoad(b, bin, "-echo", "-url", "ws"+strings.TrimPrefix(echo.URL, "http"), "-rooms", strconv.Itoa(rooms), "-duration", "10s", "-interval", echoInterval(opts))
		rounds, p50, p99 = append(rounds, g["rounds_per_s"]), append(p50, g["p50_ms"]), append(p99, g["p99_ms"])
		echo99, ratio = append(echo99, e["p99_ms"]), append(ratio, g["p99_ms"]/e["p99_ms"])
		b.Logf("pair: move p99 %.2f ms, echo p99 %.2f ms, ratio %.2f; nodes: %.2f collections/s, %.1f MB live", g["p99_ms"], e["p99_ms"], g["p99_ms"]/e["p99_ms"], gcs[len(gcs)-1], heap[len(heap)-1])
	}
	median := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(median(rounds), "rounds/s")
	b.ReportMetric(median(p50), "move_p50_ms")
	b.ReportMetric(median(p99), "move_p99_ms")
	b.ReportMetric(median(echo99), "echo_p99_ms")
	b.ReportMetric(median(ratio), "move/echo_p99")
	b.ReportMetric(median(alloc), "server_B/round")
	b.ReportMetric(median(gcs), "server_gc/s")
	b.ReportMetric(median(heap), "server_live_MB")
}

func loadSetup(b *testing.B) (int, string, game.Options) {
	rooms := 5000
	if s := os.Getenv("GAMELOAD_ROOMS"); s != "" {
		rooms, _ = strconv.Atoi(s)
	}
	bin := filepath.Join(b.TempDir(), "gameload")
	if out, err := exec.Command("go", "build", "-o", bin, "../../internal/tools/gameload").CombinedOutput(); err != nil {
		b.Fatalf("building gameload: %v\n%s", err, out)
	}
	gameTime := 200 * time.Millisecond
	if s := os.Getenv("GAMELOAD_GAME_TIME"); s != "" {
		gameTime, _ = time.ParseDuration(s)
	}
	opts := fastOptions()
	opts.Rules = game.Rules{GameTime: gameTime, BotDelay: 30 * time.Second, ReadyWait: 30 * time.Second}
	// The production keepalive, not the tests' fast one: 10,000 pings a second would be load of its own.
	opts.PingInterval, opts.PongWait = 25*time.Second, time.Minute
	opts.RateLimit = 0
	opts.MaxPerClient = 1 << 20 // every player comes from loopback here
	return rooms, bin, opts
}

// BenchmarkGameLoadTwoNodes is BenchmarkGameLoad with two nodes sharing one Redis (the test services')
// and the players split between them, so rooms form across nodes; the echo floor is measured in the
// same run, in turns as there. Run with: go test ./serve/game -run '^$' -bench GameLoadTwoNodes -benchtime 1x
func BenchmarkGameLoadTwoNodes(b *testing.B) {
	rooms, bin, opts := loadSetup(b)
	addr := testenv.RedisAddr(b)
	for range b.N {
		ns := testenv.Unique("bench")
		var urls []string
		for range 2 {
			o := opts
			o.Cluster = redis.NewGameCluster(redis.NewClient(redis.Config{Addr: addr, Timeout: 2 * time.Second}), ns, time.Minute, slog.New(slog.DiscardHandler))
			ts, _ := newServer(b, o)
			urls = append(urls, "ws"+strings.TrimPrefix(ts.URL, "http")+game.BasePath+"/socket.io/")
		}
		pairs(b, bin, rooms, opts, "-url", urls[0], "-url2", urls[1])
	}
}

// echoInterval gives the echo's connections about the game's own frame rate: a player sends two
// frames a round (choice, then join).
func echoInterval(opts game.Options) string { return (opts.Rules.GameTime / 2).String() }
