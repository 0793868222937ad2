package tcfake

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// plane is a load balancer's data plane: each listener is a loopback server that proxies HTTP and
// WebSocket traffic to the targets of the rule that matches the host and path, chosen by weight among
// those the health checks find alive, as CLB's layer-7 forwarding does. A target with weight 0 gets
// no new requests; requests under way finish.
type plane struct {
	s    *Server
	lb   string
	lns  map[int]*planeListener // under s.mu
	stop chan struct{}
	done sync.WaitGroup
}

type planeListener struct {
	ln   net.Listener
	srv  *http.Server
	cert atomic.Pointer[tls.Certificate]
}

// newPlane starts a load balancer's health checks; s.mu is held.
func (s *Server) newPlane(lb string) *plane {
	p := &plane{s: s, lb: lb, lns: map[int]*planeListener{}, stop: make(chan struct{})}
	p.done.Add(1)
	go p.check()
	return p
}

func (p *plane) addr(port int) string {
	if l := p.lns[port]; l != nil {
		return l.ln.Addr().String()
	}
	return ""
}

// listen serves a listener's port (TLS with cert when not nil); s.mu is held.
func (p *plane) listen(port int, cert *tls.Certificate) {
	at := "127.0.0.1:0"
	if p.s.clb.listenAt != nil {
		at = p.s.clb.listenAt(port)
	}
	ln, err := net.Listen("tcp", at)
	if err != nil {
		panic(fmt.Sprintf("tcfake: a load balancer's listener: %v", err))
	}
	l := &planeListener{ln: ln}
	if cert != nil {
		l.cert.Store(cert)
		ln = tls.NewListener(ln, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return l.cert.Load(), nil }})
	}
	l.srv = &http.Server{Handler: p.forward(port, cert != nil), ReadHeaderTimeout: 10 * time.Second}
	p.lns[port] = l
	go l.srv.Serve(ln)
}

func (p *plane) setCert(port int, c tls.Certificate) {
	if l := p.lns[port]; l != nil {
		l.cert.Store(&c)
	}
}

// close stops the listeners and the health checks; s.mu is held.
func (p *plane) close() {
	for _, l := range p.lns {
		l.srv.Close()
	}
	close(p.stop)
}

// closeLoadBalancers stops every data plane, when the stand-in closes.
func (s *Server) closeLoadBalancers() {
	s.mu.Lock()
	var planes []*plane
	for _, lb := range s.clb.lbs {
		if lb.plane != nil {
			lb.plane.close()
			planes = append(planes, lb.plane)
			lb.plane = nil
		}
	}
	s.mu.Unlock()
	for _, p := range planes {
		p.done.Wait()
	}
}

// page answers as the load balancer's own front does: an HTML page.
func page(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>stgw</center>\r\n</body>\r\n</html>\r\n",
		status, http.StatusText(status), status, http.StatusText(status))
}

func (p *plane) forward(port int, secure bool) http.Handler {
	s := p.s
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		s.mu.Lock()
		s.clbTick()
		lb := s.clb.lbs[p.lb]
		var l *listener
		if lb != nil && !lb.deleted {
			for _, o := range lb.listeners {
				if o.port == port {
					l = o
				}
			}
		}
		var match *rule
		if l != nil {
			for _, ru := range l.rules {
				if ru.domain == host && strings.HasPrefix(r.URL.Path, ru.url) && (match == nil || len(ru.url) > len(match.url)) {
					match = ru
				}
			}
		}
		if l != nil && l.rewrite != "" && match != nil {
			s.mu.Unlock()
			http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
			return
		}
		if match == nil {
			s.mu.Unlock()
			page(w, http.StatusNotFound)
			return
		}
		var alive []*target
		total := 0
		for _, t := range match.targets {
			if t.weight > 0 && (t.healthy || num(match.health.HealthSwitch, 1) == 0) {
				alive = append(alive, t)
				total += t.weight
			}
		}
		if total == 0 {
			s.mu.Unlock()
			page(w, http.StatusServiceUnavailable)
			return
		}
		n := rand.IntN(total)
		var pick *target
		for _, t := range alive {
			if n -= t.weight; n < 0 {
				pick = t
				break
			}
		}
		key := fmt.Sprintf("%s:%d", pick.instance, pick.port)
		addr := s.clb.addrs[key]
		if s.clb.served[p.lb] == nil {
			s.clb.served[p.lb] = map[string]int{}
		}
		s.clb.served[p.lb][key]++
		s.mu.Unlock()
		if addr == "" {
			page(w, http.StatusBadGateway)
			return
		}
		client, _, _ := net.SplitHostPort(r.RemoteAddr)
		proto := "http"
		if secure {
			proto = "https"
		}
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(&url.URL{Scheme: "http", Host: addr})
				pr.Out.Host = r.Host
				pr.SetXForwarded()
				pr.Out.Header.Set("X-Real-IP", client)
				pr.Out.Header.Set("X-Client-Proto", proto)
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { page(w, http.StatusBadGateway) },
		}
		rp.ServeHTTP(w, r)
	})
}

// check runs the rules' health checks until the load balancer goes: HealthNum passes in a row make a
// target alive, UnHealthNum failures dead; a new target is dead until it passes.
func (p *plane) check() {
	defer p.done.Done()
	s := p.s
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for {
		s.mu.Lock()
		every := s.clb.healthTick
		s.mu.Unlock()
		select {
		case <-p.stop:
			return
		case <-time.After(every):
		}
		type probe struct {
			t            *target
			r            *rule
			addr, domain string
			method, path string
			codes        int64
			timeout      time.Duration
			ok           bool
		}
		var probes []*probe
		s.mu.Lock()
		s.clbTick()
		lb := s.clb.lbs[p.lb]
		if lb == nil || lb.deleted {
			s.mu.Unlock()
			return
		}
		for _, l := range lb.listeners {
			for _, r := range l.rules {
				if num(r.health.HealthSwitch, 1) == 0 {
					continue
				}
				for _, t := range r.targets {
					pr := &probe{t: t, r: r, addr: s.clb.addrs[fmt.Sprintf("%s:%d", t.instance, t.port)], domain: r.domain,
						method: "HEAD", path: "/", codes: num(r.health.HttpCode, 2), timeout: min(time.Duration(num(r.health.TimeOut, 2))*time.Second, every)}
					if d := str(r.health.HttpCheckDomain); d != "" {
						pr.domain = d
					}
					if m := str(r.health.HttpCheckMethod); m != "" {
						pr.method = strings.ToUpper(m)
					}
					if pa := str(r.health.HttpCheckPath); pa != "" {
						pr.path = pa
					}
					probes = append(probes, pr)
				}
			}
		}
		s.mu.Unlock()
		var wg sync.WaitGroup
		for _, pr := range probes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if pr.addr == "" {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), pr.timeout)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, pr.method, "http://"+pr.addr+pr.path, nil)
				req.Host = pr.domain
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				class := int64(1) << (resp.StatusCode/100 - 1) // 1xx → 1, 2xx → 2, 3xx → 4, 4xx → 8, 5xx → 16
				pr.ok = pr.codes&class != 0
			}()
		}
		wg.Wait()
		s.mu.Lock()
		for _, pr := range probes {
			t := pr.t
			t.checked = true
			if pr.ok {
				t.okRun, t.badRun = t.okRun+1, 0
				if !t.healthy && t.okRun >= int(num(pr.r.health.HealthNum, 3)) {
					t.healthy = true
				}
			} else {
				t.okRun, t.badRun = 0, t.badRun+1
				if t.healthy && t.badRun >= int(num(pr.r.health.UnHealthNum, 3)) {
					t.healthy = false
				}
			}
		}
		s.mu.Unlock()
	}
}
