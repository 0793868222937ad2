package game_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/loadtest"

	"github.com/qcloud-applet/applet/serve/game"
)

// BenchmarkIdleConnectionRSS holds 10,000 idle connections, opened by a separate client process that
// says hello on each as the game page does, and reports the server's resident memory per connection
// as a user would see it: default GOGC, no forced collection, read after the connections have been
// idle a few seconds.
// Run with: go test ./serve/game -run '^$' -bench IdleConnectionRSS -benchtime 1x
func BenchmarkIdleConnectionRSS(b *testing.B) {
	const n = 10_000
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	if l.Cur < n+100 {
		b.Fatalf("open-file limit %d is below %d connections", l.Cur, n)
	}
	bin := filepath.Join(b.TempDir(), "wsidle")
	if out, err := exec.Command("go", "build", "-o", bin, "../../internal/tools/wsidle").CombinedOutput(); err != nil {
		b.Fatalf("building wsidle: %v\n%s", err, out)
	}
	opts := fastOptions()
	opts.PingInterval = time.Minute // no pings during the measurement
	opts.MaxPerClient = n + 100     // one loopback address stands for 10,000 phones
	for range b.N {
		ts, app := newServer(b, opts)
		time.Sleep(time.Second)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0) // no collection: what the heap holds as the process runs
		before := loadtest.RSSKB()
		cmd := exec.Command(bin, "-url", "ws"+strings.TrimPrefix(ts.URL, "http")+game.BasePath+"/socket.io//?EIO=3&transport=websocket", "-n", strconv.Itoa(n), "-hello")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != fmt.Sprintf("ready %d\n", n) {
			b.Fatalf("client: %q %v", line, err)
		}
		for app.Conns() != n {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(3 * time.Second) // idle, as connections mostly are
		after := loadtest.RSSKB()
		goroutines := runtime.NumGoroutine()
		runtime.ReadMemStats(&m1)
		// After the reading, for the breakdown: what is live once collected, against what the heap holds.
		runtime.GC()
		var m2 runtime.MemStats
		runtime.ReadMemStats(&m2)
		stdin.Close()
		cmd.Wait()
		b.ReportMetric(float64(after-before)*1024/n, "rss_bytes/conn")
		b.ReportMetric(float64(goroutines)/n, "goroutines/conn")
		b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/n, "heap_inuse_bytes/conn")
		b.ReportMetric(float64(int64(m2.HeapAlloc)-int64(m0.HeapAlloc))/n, "live_bytes/conn")
	}
}
