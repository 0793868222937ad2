// Package metafake is a stand-in for the CVM instance metadata service's CAM part: it lists the role
// attached to "this instance" and hands out that role's temporary credentials, which expire and are
// replaced before they do, as the real service does. Whoever checks the credentials (cosfake) hears
// of each set through Issue, with a way to read the role's policies as they are at each request (a
// policy changed in CAM applies to credentials already handed out, as it does in the cloud).
package metafake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config says what the instance is and who checks its credentials.
type Config struct {
	// Role returns the role attached to the instance now ("" for none).
	Role func() string
	// Policies returns a role's policy documents now.
	Policies func(role string) []string
	// Issue registers a new set of credentials with the services that check them.
	Issue func(id, key, token string, expires time.Time, policies func() []string)
	// TTL is how long a set lives (default 2h, the real service's order); a new one is handed out
	// once less than half of it is left.
	TTL time.Duration
}

// Server is the stand-in. URL is the metadata base, ending in /latest/meta-data/.
type Server struct {
	URL string

	cfg    Config
	mu     sync.Mutex
	cur    map[string]creds // by role
	issued int
	reads  int
	down   bool
	srv    *http.Server
}

type creds struct {
	id, key, token string
	expires        time.Time
}

// New starts the stand-in on loopback.
func New(cfg Config) (*Server, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 2 * time.Hour
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String() + "/latest/meta-data/", cfg: cfg, cur: map[string]creds{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Issued counts the sets handed out (a rotation adds one).
func (s *Server) Issued() int { s.mu.Lock(); defer s.mu.Unlock(); return s.issued }

// Reads counts the requests served.
func (s *Server) Reads() int { s.mu.Lock(); defer s.mu.Unlock(); return s.reads }

// SetDown makes every request fail with 500 (the service unreachable for a while).
func (s *Server) SetDown(v bool) { s.mu.Lock(); s.down = v; s.mu.Unlock() }

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reads++
	down := s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "<html><body>500 Internal Server Error</body></html>", http.StatusInternalServerError)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/latest/meta-data/cam/security-credentials/")
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	role := s.cfg.Role()
	switch {
	case role == "":
		http.NotFound(w, r)
	case path == "":
		w.Write([]byte(role))
	case path != role:
		http.NotFound(w, r)
	default:
		c := s.credsFor(role)
		json.NewEncoder(w).Encode(map[string]any{
			"TmpSecretId": c.id, "TmpSecretKey": c.key, "Token": c.token,
			"ExpiredTime": c.expires.Unix(), "Expiration": c.expires.UTC().Format(time.RFC3339), "Code": "Success",
		})
	}
}

func (s *Server) credsFor(role string) creds {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	c, ok := s.cur[role]
	if ok && c.expires.Sub(now) > s.cfg.TTL/2 {
		return c
	}
	c = creds{id: "AKIDtmp" + random(8), key: random(16), token: random(24), expires: now.Add(s.cfg.TTL).Truncate(time.Second)}
	s.cur[role] = c
	s.issued++
	if s.cfg.Issue != nil {
		policies := func() []string {
			if s.cfg.Policies == nil {
				return nil
			}
			return s.cfg.Policies(role)
		}
		s.cfg.Issue(c.id, c.key, c.token, c.expires, policies)
	}
	return c
}
