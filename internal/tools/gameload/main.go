// Command gameload plays rock-paper-scissors against `applet serve game` from many connections at
// once and reports rounds per second and the latency from one player's choice to the other's
// movement. With -echo it measures a bare WebSocket echo server the same way (a frame's round trip),
// as the floor to compare with.
//
//	gameload -url ws://127.0.0.1:9595/applet/websocket/socket.io/ -rooms 5000 -duration 20s
//	gameload -echo -url ws://127.0.0.1:9000/echo -rooms 5000 -duration 20s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

type stats struct {
	mu      sync.Mutex
	lat     []time.Duration
	rounds  atomic.Int64
	started time.Time
}

func (s *stats) add(d time.Duration) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
}

func main() {
	url := flag.String("url", "", "ws:// URL: the game's socket.io endpoint, or an echo server with -echo")
	url2 := flag.String("url2", "", "a second node's endpoint: every other player connects there (nodes sharing Redis)")
	eio := flag.Int("eio", 3, "Engine.IO version the clients speak: 3 or 4")
	rooms := flag.Int("rooms", 100, "two-player rooms (twice as many connections)")
	duration := flag.Duration("duration", 10*time.Second, "how long to measure, after every room has started")
	echo := flag.Bool("echo", false, "measure a bare echo server instead of the game")
	interval := flag.Duration("interval", 300*time.Millisecond, "with -echo: time between one connection's frames")
	spread := flag.Duration("spread", 0, "players arrive over this long (a random wait before the first join), so rooms' rounds do not all start at once")
	flag.Parse()
	if *url == "" || (*eio != 3 && *eio != 4) {
		fmt.Fprintln(os.Stderr, "gameload: -url is required; -eio is 3 or 4")
		os.Exit(2)
	}
	raiseFileLimit()
	st := &stats{}
	var err error
	if *echo {
		err = runEcho(*url, 2**rooms, *interval, *duration, st)
	} else {
		err = runGame(*url, *url2, *eio, *rooms, *duration, *spread, st)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gameload:", err)
		os.Exit(1)
	}
	report(st, *duration)
}

func report(st *stats, d time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sort.Slice(st.lat, func(i, j int) bool { return st.lat[i] < st.lat[j] })
	pct := func(p float64) float64 {
		if len(st.lat) == 0 {
			return 0
		}
		return float64(st.lat[int(float64(len(st.lat)-1)*p)].Microseconds()) / 1000
	}
	fmt.Printf("rounds_per_s %.1f samples %d p50_ms %.3f p99_ms %.3f\n", float64(st.rounds.Load())/d.Seconds(), len(st.lat), pct(0.50), pct(0.99))
}

// dialAll opens n connections, 128 handshakes at a time.
func dialAll(url string, n int) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, n)
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	var dialErr atomic.Value
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := dial(url)
			if err != nil {
				dialErr.Store(err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if err, ok := dialErr.Load().(error); ok {
		return nil, fmt.Errorf("dialling %d connections: %w", n, err)
	}
	return conns, nil
}

func dial(url string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	c, _, err := d.Dial(url, nil)
	return c, err
}

// player is one game connection; its opponent's movement timestamps the choice it waits for.
type player struct {
	uid      string
	opponent string // the opponent's uid, from its uname in start (strangers see a pseudonym as uid)
	conn     *websocket.Conn
	wmu      sync.Mutex
}

func (p *player) send(s string) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.conn.WriteMessage(websocket.TextMessage, []byte(s))
}

func runGame(url, url2 string, eio, rooms int, d, spread time.Duration, st *stats) error {
	full := func(u string) string {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		return fmt.Sprintf("%s%sEIO=%d&transport=websocket", u, sep, eio)
	}
	n := 2 * rooms
	var conns []*websocket.Conn
	if url2 == "" {
		var err error
		if conns, err = dialAll(full(url), n); err != nil {
			return err
		}
	} else {
		a, err := dialAll(full(url), n/2)
		if err != nil {
			return err
		}
		b, err := dialAll(full(url2), n-n/2)
		if err != nil {
			return err
		}
		for i := range a {
			conns = append(conns, a[i], b[i])
		}
		conns = append(conns, b[len(a):]...)
	}
	players := make([]*player, n)
	for i, c := range conns {
		players[i] = &player{uid: fmt.Sprintf("load-%d", i), conn: c}
	}
	// sentAt[uid] is when uid last sent its choice; the opponent's movement closes the sample.
	var sentAt sync.Map
	measuring := atomic.Bool{}
	var ready sync.WaitGroup
	ready.Add(n)
	stop := make(chan struct{})
	for _, p := range players {
		go func() {
			startedOnce := false
			r := rand.New(rand.NewPCG(uint64(len(p.uid)), uint64(time.Now().UnixNano())))
			for {
				_, b, err := p.conn.ReadMessage()
				if err != nil {
					return
				}
				s := string(b)
				switch {
				case s == "2": // EIO 4 ping
					p.send("3")
				case strings.HasPrefix(s, `0{`):
					if eio == 4 {
						p.send("40")
					}
					p.send(`42["hello",{"user":{"uid":"` + p.uid + `","uname":"` + p.uid + `"}}]`)
				case strings.HasPrefix(s, `42["hi"`):
					if spread > 0 {
						go func() {
							time.Sleep(time.Duration(r.Int64N(int64(spread))))
							p.send(`42["join"]`)
						}()
					} else {
						p.send(`42["join"]`)
					}
				case strings.HasPrefix(s, `42["start"`):
					p.opponent = opponentOf(b, p.uid)
					if !startedOnce {
						startedOnce = true
						ready.Done()
					}
					// Choose after a short random think, as people do.
					go func() {
						time.Sleep(time.Duration(20+r.IntN(60)) * time.Millisecond)
						sentAt.Store(p.uid, time.Now())
						p.send(fmt.Sprintf(`42["choice",{"choice":%d}]`, 1+r.IntN(3)))
					}()
				case strings.HasPrefix(s, `42["movement"`):
					var args []json.RawMessage
					var m struct {
						UID      string `json:"uid"`
						Movement string `json:"movement"`
					}
					if json.Unmarshal(b[2:], &args) == nil && len(args) > 1 && json.Unmarshal(args[1], &m) == nil && m.Movement == "choice" {
						if t, ok := sentAt.LoadAndDelete(p.opponent); ok && measuring.Load() {
							st.add(time.Since(t.(time.Time)))
						}
					}
				case strings.HasPrefix(s, `42["result"`):
					if measuring.Load() && p.uid < p.opponent { // each room's result counts once
						st.rounds.Add(1)
					}
					select {
					case <-stop:
					default:
						p.send(`42["join"]`) // ready again
					}
				}
			}
		}()
	}
	waited := make(chan struct{})
	go func() { ready.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("not every room started within 60s")
	}
	measuring.Store(true)
	time.Sleep(d)
	measuring.Store(false)
	close(stop)
	for _, p := range players {
		p.conn.Close()
	}
	return nil
}

// opponentOf reads a start frame for the other player's uname, which the tool sets to its uid.
func opponentOf(frame []byte, uid string) string {
	var args []json.RawMessage
	var st struct {
		RoomUsers []struct {
			Uname string `json:"uname"`
		} `json:"roomUsers"`
	}
	if json.Unmarshal(frame[2:], &args) != nil || len(args) < 2 || json.Unmarshal(args[1], &st) != nil {
		return ""
	}
	for _, u := range st.RoomUsers {
		if u.Uname != uid {
			return u.Uname
		}
	}
	return ""
}

func runEcho(url string, conns int, interval, d time.Duration, st *stats) error {
	cs, err := dialAll(url, conns)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(int(interval))))
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if c.WriteMessage(websocket.TextMessage, []byte(`42["choice",{"choice":2}]`)) != nil {
					return
				}
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
				st.add(time.Since(t0))
				st.rounds.Add(1)
				time.Sleep(interval)
			}
		}()
	}
	wg.Wait()
	for _, c := range cs {
		c.Close()
	}
	return nil
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
