package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The hostile-client suite: the built binary, real sockets, and in every case a well-behaved client
// alongside that must keep getting correct answers. Each case ends by checking that the process's
// open files, goroutines and spool files come back to what they were. Outcomes are asserted (answered,
// refused, counted, cleaned up), never how long anything took.

// pngOf is a valid PNG padded to size bytes: the album reads the header, stores the whole file.
func pngOf(size int) []byte {
	b, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
	return append(b, make([]byte, max(size-len(b), 0))...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type hostileRig struct {
	t      testing.TB
	cmd    *exec.Cmd
	stderr *syncBuffer
	data   string
	ports  map[string]int
	done   chan error
}

var hostileApps = map[string]string{"album": "/applet/album", "game": "/applet/websocket", "session": "/applet/session", "video": "/applet/video"}

// hostileSettings are small budgets and a one-second body grace, so the suite runs in seconds.
var hostileSettings = []string{"APPLET_SERVE_BODY_GRACE=1s", "APPLET_SERVE_MIN_BODY_RATE=1024", "APPLET_SERVE_TRUSTED_PROXIES=127.0.0.1",
	"APPLET_SERVE_MAX_CONNECTIONS=400", "APPLET_GAME_MAX_PER_CLIENT=5", "APPLET_SERVE_WRITE_RATE=60", "APPLET_SERVE_WRITE_BURST=20",
	"APPLET_SERVE_SHUTDOWN_TIMEOUT=10s"}

func startHostile(t *testing.T, extra ...string) *hostileRig {
	return startServeRig(t, appletBinary(t), append(append([]string{}, hostileSettings...), extra...))
}

// startServeRig runs applet serve all, each app on its own loopback port, with the settings (APPLET_*
// variables) and waits until every app is ready.
func startServeRig(tb testing.TB, bin string, settings []string) *hostileRig {
	tb.Helper()
	r := &hostileRig{t: tb, stderr: &syncBuffer{}, data: tb.TempDir(), ports: map[string]int{}, done: make(chan error, 1)}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tb.TempDir(), "APPLET_LOG_FORMAT=json", "APPLET_DATA_DIR=" + r.data, "APPLET_GAME_BOT_DELAY=1h"}
	for name := range hostileApps {
		r.ports[name] = freeTCP(tb)
		env = append(env, "APPLET_"+strings.ToUpper(name)+"_LISTEN=127.0.0.1:"+strconv.Itoa(r.ports[name]))
	}
	r.cmd = exec.Command(bin, "serve", "all")
	r.cmd.Dir = tb.TempDir()
	r.cmd.Env = append(env, settings...)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	tb.Cleanup(func() { r.cmd.Process.Kill() })
	for name, base := range hostileApps {
		if err := waitOK(r.url(name, base+"/readyz"), 10*time.Second); err != nil {
			tb.Fatalf("%s: %v\n%s", name, err, r.stderr.String())
		}
	}
	return r
}

func (r *hostileRig) addr(app string) string { return "127.0.0.1:" + strconv.Itoa(r.ports[app]) }
func (r *hostileRig) url(app, path string) string {
	return "http://" + r.addr(app) + path
}

// openFiles counts the process's open file descriptors.
func (r *hostileRig) openFiles() int {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.cmd.Process.Pid))
	if err != nil {
		r.t.Fatal(err)
	}
	return len(fds)
}

// metric reads one sample of the album listener's /metrics (the metrics are the process's).
func (r *hostileRig) metric(name string) float64 {
	resp, err := http.Get(r.url("album", "/metrics"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

func (r *hostileRig) spoolFiles() int {
	entries, _ := os.ReadDir(filepath.Join(r.data, "album", ".spool"))
	return len(entries)
}

type usage struct{ fds, goroutines int }

func (r *hostileRig) usage() usage {
	return usage{r.openFiles(), int(r.metric("go_goroutines"))}
}

// settled waits for the open files and goroutines to come back near base and the spool to be empty.
func (r *hostileRig) settled(base usage, what string) {
	r.t.Helper()
	var now usage
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		now = r.usage()
		if now.fds <= base.fds+8 && now.goroutines <= base.goroutines+16 && r.spoolFiles() == 0 {
			r.t.Logf("%s: open files %d → %d, goroutines %d → %d, spool files 0", what, base.fds, now.fds, base.goroutines, now.goroutines)
			return
		}
	}
	r.t.Fatalf("%s: did not settle: open files %d (was %d), goroutines %d (was %d), spool files %d", what, now.fds, base.fds, now.goroutines, base.goroutines, r.spoolFiles())
}

// wellBehaved is an ordinary client from its own address: the video list, a photo upload, and
// every app's health.
func (r *hostileRig) wellBehaved(from string) error {
	var list struct {
		Code int `json:"code"`
		Data struct {
			List []any `json:"list"`
		} `json:"data"`
	}
	if err := r.getJSON(r.url("video", "/applet/video/list?pageNo=1"), from, &list); err != nil || list.Code != 0 || len(list.Data.List) == 0 {
		return fmt.Errorf("video list: %v %+v", err, list)
	}
	code, body, err := r.upload(from, pngOf(4096))
	if err != nil || code != 200 || !strings.Contains(body, `"code":0`) {
		return fmt.Errorf("upload: %d %s %v", code, body, err)
	}
	for name, base := range hostileApps {
		resp, err := http.Get(r.url(name, base+"/healthz"))
		if err != nil {
			return fmt.Errorf("%s healthz: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s healthz: %d", name, resp.StatusCode)
		}
	}
	return nil
}

func (r *hostileRig) getJSON(u, from string, v any) error {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("X-Forwarded-For", from)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func multipartBody(img []byte) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="image"; filename="a.png"`)
	h.Set("Content-Type", "image/png")
	p, _ := mw.CreatePart(h)
	p.Write(img)
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func (r *hostileRig) upload(from string, img []byte) (int, string, error) {
	ct, body := multipartBody(img)
	req, _ := http.NewRequest("POST", r.url("album", "/applet/album/upload"), bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Forwarded-For", from)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// stalledUpload announces a 5 MB upload, sends its first KiB and then nothing.
func (r *hostileRig) stalledUpload(from string) (net.Conn, error) {
	c, err := net.Dial("tcp", r.addr("album"))
	if err != nil {
		return nil, err
	}
	ct, body := multipartBody(pngOf(1024))
	head := body[:len(body)-64] // never the closing boundary
	fmt.Fprintf(c, "POST /applet/album/upload HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nContent-Type: %s\r\nContent-Length: 5000000\r\n\r\n", from, ct)
	if _, err := c.Write(head); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// answer reads the response on c and whether the server then closed the connection.
func answer(c net.Conn, within time.Duration) (status int, body string, closed bool, err error) {
	c.SetReadDeadline(time.Now().Add(within))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, "", false, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A connection the server means to close ends at once; a kept-alive one stays open.
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = br.ReadByte()
	return resp.StatusCode, string(b), err == io.EOF || isReset(err), nil
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	r := startHostile(t)
	if err := r.wellBehaved("203.0.113.1"); err != nil {
		t.Fatal(err)
	}
	base := r.usage()
	t.Logf("at rest: %d open files, %d goroutines", base.fds, base.goroutines)

	t.Run("stalled uploads", func(t *testing.T) {
		for _, n := range []int{1, 2000} {
			slowBefore, refusedBefore := r.metric(`applet_http_refused_total{app="album",reason="slow body"}`), r.metric("applet_http_refused_total")
			conns := make([]net.Conn, 0, n)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := range n {
				c, err := r.stalledUpload("198.51.100.66") // one client
				if err != nil {
					t.Fatalf("stalled upload %d: %v", i, err)
				}
				conns = append(conns, c)
			}
			// While they hang, another client is served.
			if err := r.wellBehaved("203.0.113.2"); err != nil {
				t.Fatalf("with %d stalled uploads: %v", n, err)
			}
			cut, refused := 0, 0
			for i, c := range conns {
				status, body, closed, err := answer(c, 15*time.Second)
				c.Close()
				switch {
				case err != nil:
					t.Fatalf("stalled upload %d of %d never answered: %v", i, n, err)
				case status == 200 && strings.Contains(body, "参数错误") && strings.Contains(body, "stalled or was too slow") && closed:
					cut++
				case status == 503 && closed, status == 200 && strings.Contains(body, `"field":"rate"`) && closed:
					refused++ // a budget, or the address's write rate
				default:
					t.Fatalf("stalled upload %d: %d %s (closed %v)", i, status, body, closed)
				}
			}
			if cut == 0 || cut+refused != n {
				t.Fatalf("%d stalled uploads: %d cut, %d refused", n, cut, refused)
			}
			if got := r.metric(`applet_http_refused_total{app="album",reason="slow body"}`) - slowBefore; int(got) != cut {
				t.Errorf("slow bodies counted %v, cut %d", got, cut)
			}
			if got := r.metric("applet_http_refused_total") - refusedBefore; int(got) != n {
				t.Errorf("refusals counted %v for %d stalled uploads", got, n)
			}
			t.Logf("%d stalled uploads: %d cut after the grace, %d refused at once (budgets)", n, cut, refused)
			r.settled(base, fmt.Sprintf("%d stalled uploads", n))
		}
		if lines := strings.Count(r.stderr.String(), `"msg":"upload not received"`); lines > 3 {
			t.Errorf("%d log lines for aborted uploads: repeats should be one line per interval", lines)
		}
	})

	t.Run("trickling bodies", func(t *testing.T) {
		trickle := func(img []byte, perSecond int) (string, error) {
			c, err := net.Dial("tcp", r.addr("album"))
			if err != nil {
				return "", err
			}
			defer c.Close()
			ct, body := multipartBody(img)
			fmt.Fprintf(c, "POST /applet/album/upload HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.250\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
			type result struct {
				body string
				err  error
			}
			answered := make(chan result, 1)
			go func() { _, b, _, err := answer(c, 30*time.Second); answered <- result{b, err} }()
			chunk := perSecond / 10
			for i := 0; i < len(body); i += chunk {
				select {
				case res := <-answered: // cut before the end
					return res.body, res.err
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := c.Write(body[i:min(i+chunk, len(body))]); err != nil {
					break
				}
			}
			res := <-answered
			return res.body, res.err
		}
		var wg sync.WaitGroup
		var fast, slow string
		var fastErr, slowErr error
		wg.Add(2)
		go func() { defer wg.Done(); fast, fastErr = trickle(pngOf(6<<10), 4<<10) }() // 4 KiB/s, over the minimum
		go func() { defer wg.Done(); slow, slowErr = trickle(pngOf(6<<10), 300) }()   // 300 B/s, under it
		if err := r.wellBehaved("203.0.113.3"); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if fastErr != nil || !strings.Contains(fast, `"code":0`) {
			t.Fatalf("a body over the minimum rate: %v %s", fastErr, fast)
		}
		if slowErr != nil || !strings.Contains(slow, "stalled or was too slow") {
			t.Fatalf("a body under the minimum rate: %v %s", slowErr, slow)
		}
		r.settled(base, "trickling bodies")
	})

	t.Run("slowloris headers", func(t *testing.T) {
		var conns []net.Conn
		for range 100 {
			c, err := net.Dial("tcp", r.addr("video"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /applet/video/list HTTP/1.1\r\nHost: x\r\nX-A: ")
			conns = append(conns, c)
		}
		if err := r.wellBehaved("203.0.113.4"); err != nil {
			t.Fatal(err)
		}
		// One header byte at a time, slower than the grace allows for the whole header.
		for range 20 {
			for _, c := range conns {
				c.Write([]byte("a"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(15 * time.Second))
			_, err := io.ReadAll(c)
			c.Close()
			if err != nil && !isReset(err) {
				t.Fatalf("slowloris %d was not closed: %v", i, err)
			}
		}
		r.settled(base, "slowloris headers")
	})

	t.Run("websockets", func(t *testing.T) {
		dial := func(from string) (*websocket.Conn, *http.Response, error) {
			d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
			return d.Dial("ws://"+r.addr("game")+"/applet/websocket/ws", http.Header{"X-Forwarded-For": {from}})
		}
		// One address: its budget, then a close frame that says why.
		var held []*websocket.Conn
		for i := range 6 {
			c, _, err := dial("198.51.100.77")
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			held = append(held, c)
		}
		last := held[5]
		last.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := last.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater || !strings.Contains(ce.Text, "too many connections") {
			t.Fatalf("the sixth connection of one address: %v", err)
		}
		// The listener's budget: up to it, then 503 with Retry-After, health still answered.
		refused := 0
		for i := 0; len(held) < 460 && i < 460; i++ {
			c, resp, err := dial(fmt.Sprintf("10.%d.%d.1", i/200, i%200))
			if err != nil {
				if resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("past the budget: %v %v", err, resp)
				}
				refused++
				continue
			}
			held = append(held, c)
		}
		if refused == 0 {
			t.Fatal("no connection was refused past the listener's budget")
		}
		if resp, err := http.Get(r.url("game", "/applet/websocket/healthz")); err != nil || resp.StatusCode != 200 {
			t.Fatalf("game health with its budget taken: %v %v", err, resp)
		}
		if err := r.wellBehaved("203.0.113.5"); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d WebSockets held, %d refused past the budget", len(held)-1, refused)
		for _, c := range held {
			c.Close()
		}
		r.settled(base, "websockets")
	})

	t.Run("comment flood", func(t *testing.T) {
		post := func(from, body string) map[string]any {
			req, _ := http.NewRequest("POST", r.url("video", "/applet/video/comment"), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", from)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			return out
		}
		ok, limited := 0, 0
		for range 100 {
			out := post("198.51.100.99", `{"vid":1,"nick":"flood","avatar":"https://a.example/a.png","content":"spam"}`)
			switch {
			case out["code"] == float64(0):
				ok++
			case fmt.Sprint(out["error"]) == "map[field:rate reason:too many comments from this address; try again in a minute]":
				limited++
			default:
				t.Fatalf("flood answer: %v", out)
			}
		}
		if ok < 20 || ok > 22 || ok+limited != 100 {
			t.Fatalf("100 comments from one address: %d stored, %d limited", ok, limited)
		}
		if out := post("203.0.113.6", `{"vid":1,"nick":"reader","avatar":"https://a.example/a.png","content":"first\nsecond line"}`); out["code"] != float64(0) {
			t.Fatalf("a comment from another address: %v", out)
		}
		for body, field := range map[string]string{
			`{"vid":1,"nick":"a\u0000b","avatar":"https://a.example/a.png","content":"x"}`:            "nick",
			`{"vid":1,"nick":"n","avatar":"https://a.example/a.png","content":"bell\u0007"}`:          "content",
			`{"vid":1,"nick":"n","avatar":"http://a/b\"><img src=x onerror=alert(1)>","content":"x"}`: "avatar",
			`{"vid":1,"nick":"n","avatar":"https://evil.example@x.example/","content":"x"}`:           "avatar",
			`{"vid":1,"nick":"n","avatar":"javascript:alert(1)//https://a.example/","content":"x"}`:   "avatar",
			`{"vid":1,"nick":"n","avatar":"https://a.example/a.png","content":"\u202eevil"}`:          "content",
		} {
			out := post("203.0.113.7", body)
			if e, _ := out["error"].(map[string]any); out["code"] != float64(-1) || e["field"] != field {
				t.Errorf("%s: %v, want a failure on %s", body, out, field)
			}
		}
		r.settled(base, "comment flood")
	})

	t.Run("paths", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "secret.png")
		os.WriteFile(outside, append(pngOf(100), []byte("TOP-SECRET")...), 0o644)
		name := "1700000000000-abcdefgh.png"
		shard := filepath.Join(r.data, "album", "photos", name[:5])
		os.MkdirAll(shard, 0o755)
		if err := os.Symlink(outside, filepath.Join(shard, name[5:])); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(r.url("album", "/applet/album/files/photos/"+name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || bytes.Contains(b, []byte("TOP-SECRET")) {
			t.Fatalf("a link in the album folder was served: %d", resp.StatusCode)
		}
		req, _ := http.NewRequest("POST", r.url("album", "/applet/album/delete"), strings.NewReader(`{"filepath":"/photos/`+name+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else {
			resp.Body.Close()
		}
		if _, err := os.Lstat(filepath.Join(shard, name[5:])); err != nil {
			t.Fatal("delete removed the planted link")
		}
		if _, err := os.Stat(outside); err != nil {
			t.Fatal("delete reached the file behind the link")
		}
		for _, p := range []string{"/applet/album/files/../../../../etc/passwd", "/applet/album/files/photos/..%2f..%2f..%2fetc%2fpasswd", "/applet/album/files/%2e%2e/%2e%2e/etc/passwd"} {
			c, err := net.Dial("tcp", r.addr("album"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p)
			status, body, _, err := answer(c, 10*time.Second)
			c.Close()
			if err != nil || status == 200 || strings.Contains(body, "root:") {
				t.Fatalf("%s: %d %v", p, status, err)
			}
		}
		if err := r.wellBehaved("203.0.113.8"); err != nil {
			t.Fatal(err)
		}
		r.settled(base, "paths")
	})

	if resp, err := http.Get(r.url("video", "/applet/video/list?pageNo=1")); err != nil || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("JSON answers lack nosniff: %v", err)
	}
	if strings.Contains(r.stderr.String(), "too many open files") {
		t.Fatal("the process ran out of open files")
	}
}

// SIGTERM with uploads under way: the one making progress is stored, the stalled ones are cut with
// their spool files, and the process exits 0.
func TestShutdownWithStalledAndProgressingUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	r := startHostile(t)
	var stalled []net.Conn
	for i := range 10 {
		c, err := r.stalledUpload(fmt.Sprintf("198.51.100.%d", i))
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
	}
	// A photo at 16 KiB/s: about three seconds.
	img := pngOf(48 << 10)
	ct, body := multipartBody(img)
	c, err := net.Dial("tcp", r.addr("album"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /applet/album/upload HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < len(body); i += 1600 {
			if _, err := c.Write(body[i:min(i+1600, len(body))]); err != nil {
				sent <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		sent <- nil
	}()
	for r.spoolFiles() < 11 {
		time.Sleep(20 * time.Millisecond) // every upload has its spool file
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, s := range stalled {
		status, body, closed, err := answer(s, 15*time.Second)
		if err != nil || status != 200 || !strings.Contains(body, "stalled or was too slow") || !closed {
			t.Fatalf("stalled upload %d at shutdown: %d %s %v", i, status, body, err)
		}
		s.Close()
	}
	if err := <-sent; err != nil {
		t.Fatalf("the progressing upload was cut: %v", err)
	}
	status, out, _, err := answer(c, 15*time.Second)
	if err != nil || status != 200 || !strings.Contains(out, `"code":0`) {
		t.Fatalf("the progressing upload: %d %s %v", status, out, err)
	}
	var res struct {
		Data struct {
			ImgURL string `json:"imgUrl"`
		} `json:"data"`
	}
	json.Unmarshal([]byte(out), &res)
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, r.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running after SIGTERM")
	}
	stored := filepath.Join(r.data, "album", filepath.FromSlash(strings.SplitN(res.Data.ImgURL, "/applet/album/files/", 2)[1]))
	name := filepath.Base(stored)
	got, err := os.ReadFile(filepath.Join(filepath.Dir(stored), name[:5], name[5:]))
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("the progressing upload was not stored whole: %v (%d bytes)", err, len(got))
	}
	if n := r.spoolFiles(); n != 0 {
		t.Fatalf("%d spool files left", n)
	}
}
