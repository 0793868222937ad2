package game

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller watches idle connections with an epoll set of its own. Go's runtime poller is not
// exposed, and parking a goroutine per connection in Read costs its stack (8 KiB once a read has
// run): here a connection costs a map entry until bytes arrive, and then a worker reads what is
// there without blocking.
type poller struct {
	epfd int
	file *os.File // keeps epfd open and registered with the runtime's poller
	raw  syscall.RawConn
	work chan *conn

	mu    sync.Mutex
	conns map[int32]*conn
	gen   uint32
}

const (
	pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT
	pollQueue  = 1024 // readable connections waiting for a worker
)

// thePoller is the process's one poller (every game App of the process shares it), made on first use.
var thePoller = sync.OnceValues(newPoller)

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// The epoll set is itself a descriptor that turns readable when one of its connections does:
	// given to the runtime's poller, the waiting goroutine parks like any socket reader. Blocking in
	// epoll_wait instead would hold a thread, and the processor with it until the runtime takes it
	// back (up to 10 ms under load), while the workers this goroutine just woke wait for it.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &poller{epfd: epfd, file: f, raw: raw, work: make(chan *conn, pollQueue), conns: map[int32]*conn{}}
	// Readable connections wait for a few workers in the order they turned readable: a goroutine
	// started per event whenever the workers were busy waited far longer to be run (p99 14 ms
	// against 0.5 ms for a worker, two nodes under load). Handlers never wait on the network (the
	// cluster's Redis calls run on goroutines of their own), so two workers a processor keep up;
	// past pollQueue waiting, an event gets a goroutine of its own rather than stall the poller.
	for range 2 * runtime.GOMAXPROCS(0) {
		go func() {
			for c := range p.work {
				c.readable()
			}
		}()
	}
	go p.wait()
	return p, nil
}

// watchable readies c for the poller, before c is shared: false when c is not a socket.
func watchable(c *conn) bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if raw.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return false
	}
	c.raw, c.fd = raw, int32(fd)
	return true
}

// add watches c, under c's lock while it is open (so its descriptor is still its own); false when
// it cannot, and c needs a goroutine.
func (p *poller) add(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	c.gen = p.gen
	if unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &unix.EpollEvent{Events: pollEvents, Fd: c.fd, Pad: int32(c.gen)}) != nil {
		return false
	}
	p.conns[c.fd] = c
	return true
}

// rearm watches c again after a worker has read what was there; bytes that arrived meanwhile fire
// at once. Under the lock, so a closed connection's descriptor, reused by a new one, is not touched.
func (p *poller) rearm(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[c.fd] == c {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &unix.EpollEvent{Events: pollEvents, Fd: c.fd, Pad: int32(c.gen)})
	}
}

// remove stops watching c; called before its socket is closed.
func (p *poller) remove(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[c.fd] == c {
		delete(p.conns, c.fd)
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	}
}

func (p *poller) wait() {
	events := make([]unix.EpollEvent, 256)
	for {
		var n int
		var werr error
		err := p.raw.Read(func(fd uintptr) bool {
			for {
				n, werr = unix.EpollWait(int(fd), events, 0)
				if !errors.Is(werr, unix.EINTR) {
					return n > 0 || werr != nil // nothing yet: park until the set turns readable
				}
			}
		})
		if err != nil || werr != nil {
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c == nil || c.gen != uint32(ev.Pad) {
				continue // closed since
			}
			select {
			case p.work <- c:
			default:
				go c.readable()
			}
		}
	}
}

// readNow reads what has arrived without waiting: 0 and unix.EAGAIN when nothing has.
func (c *conn) readNow(buf []byte) (int, error) {
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), buf)
		return true
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	return n, nil
}

func wouldBlock(err error) bool { return errors.Is(err, unix.EAGAIN) }

// writeNow writes what the socket takes without waiting: unix.EAGAIN when it takes nothing.
func (c *conn) writeNow(b []byte) (int, error) {
	var n int
	var werr error
	if err := c.raw.Write(func(fd uintptr) bool {
		n, werr = unix.Write(int(fd), b)
		return true
	}); err != nil {
		return 0, err
	}
	return n, werr
}
