package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeAllSIGTERM runs the built binary with no config: four listeners on the apps' own addresses
// answer /healthz, and SIGTERM exits 0 within the shutdown timeout.
func TestServeAllSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := appletBinary(t)
	apps := map[string]string{"album": "/applet/album", "game": "/applet/websocket", "session": "/applet/session", "video": "/applet/video"}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "APPLET_SERVE_SHUTDOWN_TIMEOUT=5s"}
	ports := map[string]int{}
	for name := range apps {
		ports[name] = freePort(t)
		env = append(env, "APPLET_"+strings.ToUpper(name)+"_LISTEN=127.0.0.1:"+strconv.Itoa(ports[name]))
	}
	cmd := exec.Command(bin, "serve", "all")
	cmd.Dir = t.TempDir() // no applet.yaml here: embedded defaults
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	for name, base := range apps {
		for _, path := range []string{"/healthz", base + "/healthz"} {
			url := "http://127.0.0.1:" + strconv.Itoa(ports[name]) + path
			if err := waitOK(url, 10*time.Second); err != nil {
				t.Fatalf("%s: %v\nstderr:\n%s", name, err, stderr.String())
			}
		}
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(7 * time.Second):
		t.Fatalf("still running 7s after SIGTERM (timeout 5s)\nstderr:\n%s", stderr.String())
	}
	t.Logf("exited 0, %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	logs := stderr.String()
	for _, want := range []string{`"msg":"no config file: running on embedded defaults"`, `"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	for name := range apps {
		if !strings.Contains(logs, `"apps":"`+name+`"`) {
			t.Errorf("no listener line for %s", name)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitOK(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return last
}
