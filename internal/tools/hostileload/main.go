// Command hostileload is a crowd of hostile clients in a process of its own: it keeps -stalled
// uploads hanging (each announces 5 MB, sends its first KiB and nothing more; one that is cut is
// opened again at once, one that is refused waits for its Retry-After) and holds -idle WebSockets
// that said hello and then stay silent. Clients come from -addrs addresses, named in
// X-Forwarded-For (the server trusts its loopback proxy): -addrs for the uploads, -ws-addrs for the
// WebSockets. It prints "ready" with what it holds once
// the WebSockets are up, a line a second of what the server did to it, and stops when its standard
// input closes.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

var (
	open, cut, refused atomic.Int64
	stop               = make(chan struct{})
)

func main() {
	album := flag.String("album", "", "host:port of the album backend")
	game := flag.String("game", "", "ws:// URL of the game's plain WebSocket endpoint")
	stalled := flag.Int("stalled", 2000, "stalled uploads to keep hanging")
	idle := flag.Int("idle", 5000, "idle WebSockets to hold")
	addrs := flag.Int("addrs", 50, "client addresses the stalled uploads come from")
	wsAddrs := flag.Int("ws-addrs", 100, "client addresses the WebSockets come from")
	flag.Parse()
	if *album == "" || *game == "" {
		fmt.Fprintln(os.Stderr, "hostileload: -album and -game are required")
		os.Exit(2)
	}
	raiseFileLimit()
	from := func(i, n int) string { return fmt.Sprintf("10.66.%d.%d", (i%n)/250, (i%n)%250+1) }

	// The WebSockets first: all of them up, or say how many were refused.
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 256, WriteBufferSize: 256}
	var held atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var conns sync.Map
	for i := range *idle {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, _, err := dialer.Dial(*game, http.Header{"X-Forwarded-For": {from(i, *wsAddrs)}})
			if err != nil {
				failed.Add(1)
				return
			}
			c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"event":"hello","data":{"uid":"idle-%d"}}`, i)))
			held.Add(1)
			conns.Store(c, true)
			go func() { // answers pings; nothing else
				for {
					if _, _, err := c.NextReader(); err != nil {
						held.Add(-1)
						return
					}
				}
			}()
		}()
	}
	wg.Wait()

	for i := range *stalled {
		go hang(*album, from(i, *addrs))
	}
	time.Sleep(2 * time.Second)
	fmt.Printf("ready websockets=%d refused=%d stalled-open=%d\n", held.Load(), failed.Load(), open.Load())
	go func() {
		for range time.Tick(time.Second) {
			fmt.Printf("websockets=%d stalled-open=%d cut=%d refused=%d\n", held.Load(), open.Load(), cut.Load(), refused.Load())
		}
	}()
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	close(stop)
	conns.Range(func(k, _ any) bool { k.(*websocket.Conn).Close(); return true })
}

var png, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")

// hang keeps one stalled upload open for as long as the crowd runs.
func hang(addr, from string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="image"; filename="a.png"`)
	h.Set("Content-Type", "image/png")
	p, _ := mw.CreatePart(h)
	p.Write(append(append([]byte{}, png...), make([]byte, 1024)...))
	head := fmt.Sprintf("POST /applet/album/upload HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nContent-Type: %s\r\nContent-Length: 5000000\r\n\r\n", from, mw.FormDataContentType())
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		open.Add(1)
		c.Write([]byte(head))
		c.Write(b.Bytes())
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		open.Add(-1)
		wait := time.Duration(0)
		switch {
		case err != nil:
		case resp.StatusCode == http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "":
			refused.Add(1)
			wait = 5 * time.Second // as told
		default:
			body, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(body), `"field":"rate"`) {
				refused.Add(1)
				wait = 5 * time.Second
			} else {
				cut.Add(1)
			}
		}
		c.Close()
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
	}
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
