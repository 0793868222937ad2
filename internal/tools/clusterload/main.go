// Command clusterload is the clients of a deployment behind its load balancer, in a process of its own:
// -workers clients list videos, comment and upload photos in turn, each from an address of its own
// (127.0.0.<10+n>, as phones have their own), and -players play round after round against the bot
// (127.0.0.<100+n>), reconnecting when their instance goes away. It prints "ready" once it runs; a
// line "mark" on its standard input starts the second period (the roll); when its standard input
// closes it stops and prints one JSON line: requests sent and failed (with the first failure), the p99
// of each period, game rounds played and interrupted, and the comments the server answered ok.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Summary is what clusterload prints when it stops.
type Summary struct {
	Sent        int64    `json:"sent"`
	Failed      int64    `json:"failed"`
	FirstError  string   `json:"first_error,omitempty"`
	P99Before   float64  `json:"p99_before_ms"`
	P99During   float64  `json:"p99_during_ms"`
	Rounds      int64    `json:"rounds"`
	Interrupted int64    `json:"interrupted"`
	Comments    []string `json:"comments"`
}

type load struct {
	connect, host string // host is the URL's host:port
	tls           *tls.Config
	stop          chan struct{}

	sent, failed, rounds, interrupted atomic.Int64
	firstErr                          atomic.Value
	mu                                sync.Mutex
	lat                               [2][]time.Duration // before and after the mark
	period                            int
	comments                          []string
}

func main() {
	connect := flag.String("connect", "", "host:port of the load balancer's HTTPS listener")
	base := flag.String("url", "", "the deployment's base URL, https://<domain>[:port]")
	roots := flag.String("roots", "", "PEM file of the roots its certificate chains to")
	workers := flag.Int("workers", 4, "HTTP clients")
	players := flag.Int("players", 2, "game players")
	vid := flag.Int("vid", 2, "the video the comments go to")
	flag.Parse()
	pem, err := os.ReadFile(*roots)
	if err != nil {
		fail(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fail(fmt.Errorf("%s: no certificate", *roots))
	}
	u, err := url.Parse(*base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		fail(fmt.Errorf("-url %q: want https://<domain>[:port]", *base))
	}
	l := &load{connect: *connect, host: u.Host, tls: &tls.Config{RootCAs: pool, ServerName: u.Hostname()}, stop: make(chan struct{})}
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func() { defer wg.Done(); l.worker(w, *vid) }()
	}
	for g := range *players {
		wg.Add(1)
		go func() { defer wg.Done(); l.player(g) }()
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if strings.TrimSpace(in.Text()) == "mark" {
			l.mu.Lock()
			l.period = 1
			l.mu.Unlock()
		}
	}
	close(l.stop)
	wg.Wait()
	s := Summary{Sent: l.sent.Load(), Failed: l.failed.Load(), Rounds: l.rounds.Load(), Interrupted: l.interrupted.Load(),
		P99Before: ms(p99(l.lat[0])), P99During: ms(p99(l.lat[1])), Comments: l.comments}
	if e, ok := l.firstErr.Load().(string); ok {
		s.FirstError = e
	}
	json.NewEncoder(os.Stdout).Encode(s)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "clusterload:", err)
	os.Exit(1)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*99/100]
}

func (l *load) note(err error, took time.Duration) {
	l.sent.Add(1)
	if err != nil {
		l.failed.Add(1)
		l.firstErr.CompareAndSwap(nil, err.Error())
	}
	l.mu.Lock()
	l.lat[l.period] = append(l.lat[l.period], took)
	l.mu.Unlock()
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// dialFrom dials the load balancer from a loopback address of the client's own.
func (l *load) dialFrom(from string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, l.connect)
	}
}

func (l *load) worker(w, vid int) {
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: l.dialFrom(fmt.Sprintf("127.0.0.%d", 10+w)), TLSClientConfig: l.tls, MaxIdleConnsPerHost: 4}}
	base := "https://" + l.host
	call := func(method, path, ctype string, body io.Reader) error {
		req, _ := http.NewRequest(method, base+path, body)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || resp.StatusCode != 200 || m["code"] != float64(0) {
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return nil
	}
	for i := 0; !l.stopped(); i++ {
		began := time.Now()
		var err error
		switch i % 4 {
		case 0, 1:
			err = call("GET", fmt.Sprintf("/applet/video/list?pageNo=%d", 1+i%3), "", nil)
		case 2:
			c := fmt.Sprintf("roll-%d-%d", w, i)
			err = call("POST", "/applet/video/comment", "application/json",
				strings.NewReader(fmt.Sprintf(`{"vid":%d,"nick":"load","avatar":"https://a.example/a.png","content":%q}`, vid, c)))
			if err == nil {
				l.mu.Lock()
				l.comments = append(l.comments, c)
				l.mu.Unlock()
			}
		case 3:
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			fw, _ := mw.CreateFormFile("image", "a.jpg")
			jpeg.Encode(fw, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil)
			mw.Close()
			err = call("POST", "/applet/album/upload", mw.FormDataContentType(), &body)
		}
		l.note(err, time.Since(began))
	}
}

// player plays against the bot: a round on an instance whose backends restart ends without its result,
// and is counted apart; the player connects again.
func (l *load) player(g int) {
	wd := websocket.Dialer{NetDialContext: l.dialFrom(fmt.Sprintf("127.0.0.%d", 100+g)), TLSClientConfig: l.tls, HandshakeTimeout: 10 * time.Second}
	for c := 0; !l.stopped(); c++ {
		ws, _, err := wd.Dial("wss://"+l.host+"/applet/websocket/ws", nil)
		if err != nil {
			l.note(err, 0)
			continue
		}
		emit := func(event string, data any) {
			b, _ := json.Marshal(map[string]any{"event": event, "data": data})
			ws.WriteMessage(websocket.TextMessage, b)
		}
		expect := func(event string) bool {
			ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					return false
				}
				var f struct{ Event string }
				json.Unmarshal(msg, &f)
				if f.Event == event {
					return true
				}
			}
		}
		uid := fmt.Sprintf("roller%d-%d", g, c)
		emit("hello", map[string]any{"user": map[string]any{"uid": uid, "uname": uid, "uavatar": "https://a.example/" + uid + ".png"},
			"cordinate": map[string]any{"lat": 1, "lng": 1}})
		if !expect("hi") {
			l.interrupted.Add(1)
			ws.Close()
			continue
		}
		for !l.stopped() {
			emit("join", nil)
			ok := expect("start")
			if ok {
				emit("choice", map[string]any{"choice": 3})
				ok = expect("result")
			}
			if !ok {
				l.interrupted.Add(1)
				break
			}
			l.rounds.Add(1)
		}
		ws.Close()
	}
}
