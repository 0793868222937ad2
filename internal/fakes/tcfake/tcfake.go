// Package tcfake is a stand-in for the Tencent Cloud API that the official Go SDK talks to in tests:
// one HTTP server for every product (the product comes from the signature's credential scope, the action
// from X-TC-Action), plus a DNS server on loopback that answers for the records DNSPod holds, so an ACME
// server can validate DNS-01 against it.
//
// It verifies TC3-HMAC-SHA256 signatures with the secret of the calling key and rejects unknown keys,
// skewed clocks and missing headers as the real service does. It keeps state for the CVM, VPC, DNSPod
// and TAT actions applet uses; instances go PENDING → RUNNING over BootDelay. Any action can be made to
// fail, throttle or hang on demand, and every call is logged so tests can count reads and writes.
package tcfake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NoAnswer is the Code logged for a call that was held until its caller gave up.
const NoAnswer = "(no answer)"

// MaxSkew is how far a request's X-TC-Timestamp may be from the server's clock.
const MaxSkew = 5 * time.Minute

// Call is one API call as the stand-in saw it.
type Call struct {
	Service string
	Action  string
	Region  string
	Write   bool // the action changes state (anything but Describe*, Inquiry*, Get*)
	Code    string
	At      time.Time
}

// Server is the stand-in. Its exported fields may be changed while it runs, under Lock/Unlock or
// through the setters.
type Server struct {
	Addr    string // HTTP API, host:port
	DNSAddr string // DNS (UDP and TCP), host:port

	mu          sync.Mutex
	keys        map[string]string
	temp        map[string]tempKey // temporary keys (a role's): their token and expiry
	now         func() time.Time
	bootDelay   time.Duration
	termDelay   time.Duration
	latency     time.Duration
	describeLag time.Duration
	launchFail  bool
	quota       int
	nextIP      func(n int) string
	denied      map[string]bool // "cvm:RunInstances"
	faults      map[string][]fault
	sticky      map[string]*fault
	throttleN   int
	count       int // calls dispatched, for ThrottleEvery
	calls       []Call
	seq         int
	hung        chan struct{}

	cvm cvmState
	vpc vpcState
	dns dnsState
	tat tatState
	cam camState
	clb clbState
	ssl sslState
	db  dbState

	srv  *http.Server
	dsrv []closer
}

type closer interface{ Shutdown() error }

type fault struct {
	code, msg string
	hang      bool // wait without doing anything
	after     bool // do the action, then wait without answering (the caller cannot know it happened)
	// What a gateway in front of the API does: answer status with an HTML page (before the action,
	// or after it with effect), cut the body mid-read, or answer 200 with a body that is not JSON.
	gateway int
	effect  bool
	cut     bool
	nonJSON bool
}

// New starts a stand-in on loopback ports that accepts the given key.
func New(secretID, secretKey string) (*Server, error) {
	s := &Server{
		keys:      map[string]string{secretID: secretKey},
		temp:      map[string]tempKey{},
		now:       time.Now,
		bootDelay: 2 * time.Second,
		termDelay: time.Second,
		quota:     20,
		denied:    map[string]bool{},
		faults:    map[string][]fault{},
		sticky:    map[string]*fault{},
		hung:      make(chan struct{}),
		nextIP:    func(n int) string { return fmt.Sprintf("203.0.113.%d", 10+n) },
	}
	s.cvm.init()
	s.vpc.init()
	s.dns.init()
	s.tat.init()
	s.cam.init()
	s.clb.init()
	s.ssl.init()
	s.db.init()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	if err := s.startDNS(); err != nil {
		s.srv.Close()
		return nil, err
	}
	return s, nil
}

// Close stops both servers and releases hung calls.
func (s *Server) Close() error {
	s.mu.Lock()
	select {
	case <-s.hung:
	default:
		close(s.hung)
	}
	s.mu.Unlock()
	for _, d := range s.dsrv {
		d.Shutdown()
	}
	s.closeLoadBalancers()
	return s.srv.Close()
}

// AddTemporaryKey accepts a role's temporary key: requests carry its token in X-TC-Token until it
// expires.
func (s *Server) AddTemporaryKey(id, key, token string, expires time.Time) {
	s.mu.Lock()
	s.keys[id] = key
	s.temp[id] = tempKey{token, expires}
	s.mu.Unlock()
}

type tempKey struct {
	token   string
	expires time.Time
}

// AddKey accepts another key (a second account, or a key with fewer permissions).
func (s *Server) AddKey(id, key string) { s.mu.Lock(); s.keys[id] = key; s.mu.Unlock() }

// SetClock replaces the server's clock (to test skew).
func (s *Server) SetClock(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// SetBootDelay sets how long a new instance stays PENDING.
func (s *Server) SetBootDelay(d time.Duration) { s.mu.Lock(); s.bootDelay = d; s.mu.Unlock() }

// SetTerminateDelay sets how long a terminated instance stays TERMINATING before it disappears.
func (s *Server) SetTerminateDelay(d time.Duration) { s.mu.Lock(); s.termDelay = d; s.mu.Unlock() }

// SetLatency delays every answer.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// SetDescribeLag hides a new instance from DescribeInstances for d, as the real service may.
func (s *Server) SetDescribeLag(d time.Duration) { s.mu.Lock(); s.describeLag = d; s.mu.Unlock() }

// SetLaunchFail makes new instances end in LAUNCH_FAILED instead of RUNNING.
func (s *Server) SetLaunchFail(v bool) { s.mu.Lock(); s.launchFail = v; s.mu.Unlock() }

// SetInstanceQuota sets how many live instances the account may have.
func (s *Server) SetInstanceQuota(n int) { s.mu.Lock(); s.quota = n; s.mu.Unlock() }

// SetPublicIP chooses the public IP of the n-th instance (from 0).
func (s *Server) SetPublicIP(f func(n int) string) { s.mu.Lock(); s.nextIP = f; s.mu.Unlock() }

// Deny refuses an action ("cvm:RunInstances") to every key, as a missing CAM permission does.
func (s *Server) Deny(permission string) { s.mu.Lock(); s.denied[permission] = true; s.mu.Unlock() }

// Fail makes the next n calls of action (or of every action when action is "*") answer the error code.
// n < 0 fails every call until Heal.
func (s *Server) Fail(action string, n int, code, msg string) {
	s.push(action, n, fault{code: code, msg: msg})
}

// Hang makes the next n calls of action wait, without answering, until the caller gives up.
func (s *Server) Hang(action string, n int) { s.push(action, n, fault{hang: true}) }

// HangAfter makes the next n calls of action take effect and then wait, without answering, until the
// caller gives up: the case where a create went through but its answer was lost.
func (s *Server) HangAfter(action string, n int) { s.push(action, n, fault{after: true}) }

// Gateway makes the next n calls of action answer status with an HTML error page, as Tencent
// Cloud's gateway does when a backend fails; with effect, the action is carried out first.
func (s *Server) Gateway(action string, n, status int, effect bool) {
	s.push(action, n, fault{gateway: status, effect: effect})
}

// CutBody makes the next n calls of action carry out the action and then cut the answer mid-body.
func (s *Server) CutBody(action string, n int) { s.push(action, n, fault{cut: true}) }

// NonJSON makes the next n calls of action answer 200 with a body that is not JSON, before acting.
func (s *Server) NonJSON(action string, n int) { s.push(action, n, fault{nonJSON: true}) }

// ThrottleEvery answers every n-th call with the product's throttling code (0: never).
func (s *Server) ThrottleEvery(n int) { s.mu.Lock(); s.throttleN = n; s.mu.Unlock() }

// Heal removes every injected fault.
func (s *Server) Heal() {
	s.mu.Lock()
	s.faults = map[string][]fault{}
	s.sticky = map[string]*fault{}
	s.throttleN = 0
	s.denied = map[string]bool{}
	s.mu.Unlock()
}

func (s *Server) push(action string, n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 {
		s.sticky[action] = &f // every call, until Heal
		return
	}
	for i := 0; i < n; i++ {
		s.faults[action] = append(s.faults[action], f)
	}
}

// Calls returns the calls made so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ResetCalls forgets the call log.
func (s *Server) ResetCalls() { s.mu.Lock(); s.calls = nil; s.mu.Unlock() }

// Writes returns the successful calls that changed state.
func (s *Server) Writes() []Call {
	var w []Call
	for _, c := range s.Calls() {
		if c.Write && c.Code == "" {
			w = append(w, c)
		}
	}
	return w
}

func isWrite(action string) bool {
	for _, p := range []string{"Describe", "Inquiry", "Get", "List"} {
		if strings.HasPrefix(action, p) {
			return false
		}
	}
	return true
}

// apiError is an error answer; transport, when set, is a fault of the gateway instead.
type apiError struct {
	Code, Message string
	transport     *fault
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

type request struct {
	id                               string // the RequestId it is answered with (CLB's task id)
	service, action, region, version string
	body                             []byte
	ctx                              context.Context
}

// ServeHTTP answers one API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.seq++
	reqID := fmt.Sprintf("%08x-fake-%012d", s.seq, s.seq)
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	req, aerr := s.authenticate(r, body)
	if aerr == nil {
		req.ctx, req.id = r.Context(), reqID
		var out any
		out, aerr = s.dispatch(req)
		if aerr != nil && aerr.transport != nil {
			s.log(req, "(gateway)")
			gatewayAnswer(w, aerr.transport)
			return
		}
		if aerr == nil {
			s.log(req, "")
			m := map[string]any{}
			if out != nil {
				b, _ := json.Marshal(out)
				json.Unmarshal(b, &m)
			}
			m["RequestId"] = reqID
			writeJSON(w, map[string]any{"Response": m})
			return
		}
		if aerr.Code == "" { // a hung call whose caller gave up: logged, never answered
			s.log(req, NoAnswer)
			return
		}
		s.log(req, aerr.Code)
	}
	writeJSON(w, map[string]any{"Response": map[string]any{
		"Error": map[string]string{"Code": aerr.Code, "Message": aerr.Message}, "RequestId": reqID}})
}

// gatewayAnswer answers as a failing gateway does: an HTML page, a cut body or a non-JSON 200.
func gatewayAnswer(w http.ResponseWriter, f *fault) {
	switch {
	case f.cut:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "4096")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"Response":{"RequestId":"cut-`))
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	case f.nonJSON:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("<html><body>Service temporarily unavailable</body></html>"))
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.gateway)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center><hr><center>stgw</center></body></html>",
			f.gateway, http.StatusText(f.gateway), f.gateway, http.StatusText(f.gateway))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) log(req *request, code string) {
	var dry struct{ DryRun bool }
	json.Unmarshal(req.body, &dry) // a dry run changes nothing
	s.mu.Lock()
	s.calls = append(s.calls, Call{Service: req.service, Action: req.action, Region: req.region, Write: isWrite(req.action) && !dry.DryRun, Code: code, At: s.now()})
	s.mu.Unlock()
}

// authenticate checks the TC3-HMAC-SHA256 signature exactly as the real gateway does.
func (s *Server) authenticate(r *http.Request, body []byte) (*request, *apiError) {
	if r.Method != http.MethodPost {
		return nil, errorf("UnsupportedProtocol", "only POST with JSON is supported here")
	}
	auth := r.Header.Get("Authorization")
	action := r.Header.Get("X-TC-Action")
	ts := r.Header.Get("X-TC-Timestamp")
	switch {
	case auth == "":
		return nil, errorf("AuthFailure.SignatureFailure", "The Authorization header is missing.")
	case action == "":
		return nil, errorf("MissingParameter", "The request is missing the X-TC-Action header.")
	case ts == "":
		return nil, errorf("MissingParameter", "The request is missing the X-TC-Timestamp header.")
	}
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != "TC3-HMAC-SHA256" {
		return nil, errorf("AuthFailure.SignatureFailure", "Unsupported signature algorithm %q.", alg)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 4 || cred[3] != "tc3_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return nil, errorf("AuthFailure.SignatureFailure", "The Authorization header is malformed.")
	}
	id, date, service := cred[0], cred[1], cred[2]
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errorf("InvalidParameter", "X-TC-Timestamp is not a Unix time.")
	}
	s.mu.Lock()
	key, known := s.keys[id]
	temp, isTemp := s.temp[id]
	now := s.now()
	s.mu.Unlock()
	if isTemp { // a role's key: its token must come with it, until it expires
		switch tok := r.Header.Get("X-TC-Token"); {
		case tok == "":
			return nil, errorf("AuthFailure.SecretIdNotFound", "A temporary SecretId needs its X-TC-Token.")
		case tok != temp.token:
			return nil, errorf("AuthFailure.TokenFailure", "The token is not valid.")
		case now.After(temp.expires):
			return nil, errorf("AuthFailure.SignatureExpire", "The temporary key expired at %s.", temp.expires.Format(time.RFC3339))
		}
	}
	t := time.Unix(sec, 0).UTC()
	if d := now.Sub(t); d > MaxSkew || d < -MaxSkew {
		return nil, errorf("AuthFailure.SignatureExpire", "The request timestamp is %s away from the server's clock (at most %s).", d.Round(time.Second), MaxSkew)
	}
	if !known {
		return nil, errorf("AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct.")
	}
	if t.Format("2006-01-02") != date {
		return nil, errorf("AuthFailure.SignatureFailure", "The credential scope's date does not match X-TC-Timestamp.")
	}
	// The canonical headers are those the request says it signed, as the gateway reads them.
	var canon strings.Builder
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canon.WriteString(strings.ToLower(h) + ":" + strings.TrimSpace(v) + "\n")
	}
	sum := sha256.Sum256(body)
	creq := strings.Join([]string{r.Method, "/", r.URL.RawQuery, canon.String(), fields["SignedHeaders"], hex.EncodeToString(sum[:])}, "\n")
	csum := sha256.Sum256([]byte(creq))
	scope := date + "/" + service + "/tc3_request"
	sts := "TC3-HMAC-SHA256\n" + ts + "\n" + scope + "\n" + hex.EncodeToString(csum[:])
	k := hmacSHA256([]byte("TC3"+key), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	want := hex.EncodeToString(hmacSHA256(k, sts))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return nil, errorf("AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.")
	}
	return &request{service: service, action: action, region: r.Header.Get("X-TC-Region"), version: r.Header.Get("X-TC-Version"), body: body}, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// dispatch applies faults and permissions, then runs the action.
func (s *Server) dispatch(req *request) (any, *apiError) {
	s.mu.Lock()
	var f *fault
	for _, k := range []string{req.action, "*"} {
		if q := s.faults[k]; len(q) > 0 {
			f = &q[0]
			s.faults[k] = q[1:]
			break
		}
		if st := s.sticky[k]; st != nil {
			f = st
			break
		}
	}
	s.count++
	throttled := s.throttleN > 0 && s.count%s.throttleN == 0
	denied := s.denied[req.service+":"+req.action]
	hung := s.hung
	s.mu.Unlock()
	wait := func() (any, *apiError) {
		select {
		case <-req.ctx.Done():
		case <-hung:
		}
		return nil, &apiError{} // nobody is listening
	}
	if f != nil && f.hang {
		return wait()
	}
	if f != nil && (f.gateway > 0 || f.nonJSON) && !f.effect {
		return nil, &apiError{transport: f}
	}
	if f != nil && !f.after && f.code != "" {
		return nil, &apiError{Code: f.code, Message: f.msg}
	}
	if throttled {
		code := "RequestLimitExceeded"
		if req.service == "dnspod" {
			code = "RequestLimitExceeded.RequestLimitExceeded"
		}
		return nil, errorf(code, "Your current request times exceeds the limit, please try again later.")
	}
	if denied {
		return nil, errorf("AuthFailure.UnauthorizedOperation", "you are not authorized to perform operation (%s:%s)", req.service, req.action)
	}
	out, err := s.act(req)
	if f != nil && f.after {
		return wait()
	}
	if f != nil && (f.cut || f.effect) && err == nil {
		return nil, &apiError{transport: f}
	}
	return out, err
}

func (s *Server) act(req *request) (any, *apiError) {
	if err := checkParams(req); err != nil {
		return nil, err
	}
	switch req.service {
	case "cvm":
		return s.cvmAction(req)
	case "vpc":
		return s.vpcAction(req)
	case "dnspod":
		return s.dnspodAction(req)
	case "tat":
		return s.tatAction(req)
	case "cam":
		return s.camAction(req)
	case "clb":
		return s.clbAction(req)
	case "ssl":
		return s.sslAction(req)
	case "cdb", "redis", "mongodb":
		return s.dbAction(req)
	}
	return nil, errorf("InvalidAction", "The service %q is not served by this stand-in.", req.service)
}

func decode(req *request, v any) *apiError {
	if err := json.Unmarshal(req.body, v); err != nil {
		return errorf("InvalidParameter", "The request body is not valid JSON for %s: %v", req.action, err)
	}
	return nil
}

func unknownAction(req *request) *apiError {
	return errorf("InvalidAction", "The action %s of %s is not served by this stand-in.", req.action, req.service)
}
