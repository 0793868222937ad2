package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/loadtest"
)

// BenchmarkHostileLoad measures an ordinary client (the video list, and a photo upload every tenth
// request, from its own address) against one `applet serve all`, first with the process idle, then
// while a separate process holds stalled uploads and idle WebSockets against it
// (internal/tools/hostileload). It reports the client's req/s and p99 in both, their ratios, and the
// server's open files and resident memory under the crowd; it fails if the server ever logs that it
// ran out of open files.
//
//	go test ./cmd/applet -run '^$' -bench HostileLoad -benchtime 1x
//
// HOSTILE_STALLED, HOSTILE_IDLE, HOSTILE_ADDRS (of the uploads; the WebSockets come from 100) and
// HOSTILE_SECONDS change the crowd and the length of each phase (2000, 5000, 50 and 10 by default).
func BenchmarkHostileLoad(b *testing.B) {
	env := func(k string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
			return v
		}
		return def
	}
	stalled, idle, addrs, seconds := env("HOSTILE_STALLED", 2000), env("HOSTILE_IDLE", 5000), env("HOSTILE_ADDRS", 50), env("HOSTILE_SECONDS", 10)
	bin := appletBinary(b)
	crowd := filepath.Join(b.TempDir(), "hostileload")
	if out, err := exec.Command("go", "build", "-o", crowd, "../../internal/tools/hostileload").CombinedOutput(); err != nil {
		b.Fatalf("building hostileload: %v\n%s", err, out)
	}
	for range b.N {
		// Budgets sized to hold the crowd: the game listener takes the WebSockets.
		// The write rate is off: the normal client stands for many users, and the crowd is held by the
		// budgets alone.
		r := startServeRig(b, bin, []string{"APPLET_LOG_LEVEL=warn", "APPLET_SERVE_TRUSTED_PROXIES=127.0.0.1",
			"APPLET_SERVE_MAX_CONNECTIONS=" + strconv.Itoa(idle+200), "APPLET_SERVE_WRITE_RATE=0"})
		normal := func(rnd *rand.Rand) error {
			if rnd.IntN(10) == 0 {
				code, body, err := r.upload(fmt.Sprintf("203.0.113.%d", 1+rnd.IntN(250)), pngOf(32<<10))
				if err != nil || code != 200 || !strings.Contains(body, `"code":0`) {
					return fmt.Errorf("upload: %d %s %v", code, body, err)
				}
				return nil
			}
			var list struct {
				Code int `json:"code"`
			}
			if err := r.getJSON(r.url("video", "/applet/video/list?pageNo=1"), "203.0.113.10", &list); err != nil || list.Code != 0 {
				return fmt.Errorf("list: %v %d", err, list.Code)
			}
			return nil
		}
		phase := time.Duration(seconds) * time.Second
		calm := loadtest.Run(b, 4, phase, normal)

		cmd := exec.Command(crowd, "-album", r.addr("album"), "-game", "ws://"+r.addr("game")+"/applet/websocket/ws",
			"-stalled", strconv.Itoa(stalled), "-idle", strconv.Itoa(idle), "-addrs", strconv.Itoa(addrs))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), "ready") {
			b.Fatalf("hostileload: %q", lines.Text())
		}
		b.Logf("crowd: %s", lines.Text())
		var last atomic.Value
		go func() {
			for lines.Scan() {
				last.Store(lines.Text())
			}
		}()
		loaded := loadtest.Run(b, 4, phase, normal)
		fds, rss := r.openFiles(), rssKB(r.cmd.Process.Pid)
		var health struct {
			Limits map[string]int `json:"limits"`
		}
		if resp, err := http.Get(r.url("album", "/healthz")); err == nil {
			json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
		}
		b.Logf("crowd at the end: %v", last.Load())
		stdin.Close()
		cmd.Wait()

		b.ReportMetric(calm.PerSec, "calm-req/s")
		b.ReportMetric(loadtest.Ms(calm.P99), "calm-p99-ms")
		b.ReportMetric(loaded.PerSec, "crowd-req/s")
		b.ReportMetric(loadtest.Ms(loaded.P99), "crowd-p99-ms")
		b.ReportMetric(loaded.PerSec/calm.PerSec, "req/s-ratio")
		b.ReportMetric(float64(calm.P99)/float64(loaded.P99), "p99-ratio")
		b.ReportMetric(float64(fds), "server-open-files")
		b.ReportMetric(float64(rss)/1024, "server-rss-MB")
		b.Logf("calm: %.0f req/s, p99 %v; crowd (%d stalled uploads, %d idle WebSockets): %.0f req/s, p99 %v; server %d open files of %d, %d MB",
			calm.PerSec, calm.P99, stalled, idle, loaded.PerSec, loaded.P99, fds, health.Limits["open_files"], rss/1024)
		if strings.Contains(r.stderr.String(), "too many open files") {
			b.Fatal("the server ran out of open files")
		}
		r.cmd.Process.Kill()
	}
}

func rssKB(pid int) int64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
