// Command wsidle opens N WebSocket connections the way the original game client does (EIO 3, no
// pings), says hello on each as the client does when its page opens (with -hello, waiting for the
// server's hi), keeps them open and idle, and prints "ready N" once all are up. It exits when its standard
// input closes. The game's memory benchmark runs it as a separate process, so that the server's
// resident memory counts only the server's side.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	url := flag.String("url", "", "ws:// URL of the socket.io endpoint")
	n := flag.Int("n", 1000, "connections to hold")
	hello := flag.Bool("hello", false, "say hello on each connection and wait for hi, as the game page does")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "wsidle: -url is required")
		os.Exit(2)
	}
	raiseFileLimit()
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 256, WriteBufferSize: 256}
	conns := make([]*websocket.Conn, 0, *n)
	var mu sync.Mutex
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var failed int
	for i := 0; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, _, err := dialer.Dial(*url, nil)
			if err == nil && *hello {
				err = sayHello(c, i)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "wsidle: %d of %d connections failed\n", failed, *n)
		os.Exit(1)
	}
	// Read (and so answer pings) without holding much: one goroutine per connection is the client's
	// cost, not the server's.
	for _, c := range conns {
		go func() {
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	fmt.Printf("ready %d\n", len(conns))
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	for _, c := range conns {
		c.Close()
	}
}

// sayHello waits for the Engine.IO open packet, says hello as a player, and waits for hi.
func sayHello(c *websocket.Conn, i int) error {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return err
		}
		switch s := string(b); {
		case strings.HasPrefix(s, "0{"):
			user := fmt.Sprintf(`{"user":{"uid":"idle-%d","uname":"idle-%d","uavatar":""}}`, i, i)
			if err := c.WriteMessage(websocket.TextMessage, []byte(`42["hello",`+user+`]`)); err != nil {
				return err
			}
		case strings.HasPrefix(s, `42["hi"`):
			return nil
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
