package tencent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/provision"
)

const lbDomain = "applet.example.com"

// selfSigned makes a certificate for lbDomain, as PEM, with a pool that trusts it.
func selfSigned(t *testing.T, serial int64) (certPEM, keyPEM string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: lbDomain}, DNSNames: []string{lbDomain},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})), pool
}

// backend is an instance's web server: it names itself, answers its health check, echoes WebSockets
// and records the forwarding headers it was given.
type backend struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	seen http.Header
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{name: name}
	up := websocket.Upgrader{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			b.mu.Lock()
			b.seen = r.Header.Clone()
			b.mu.Unlock()
		}
		switch r.URL.Path {
		case "/healthz":
			return
		case "/ws":
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				typ, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				c.WriteMessage(typ, append([]byte(name+":"), msg...))
			}
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) header(k string) string { b.mu.Lock(); defer b.mu.Unlock(); return b.seen.Get(k) }

// A load balancer made through the client carries real traffic in the stand-in: HTTPS with the
// uploaded certificate, HTTP redirected, WebSockets passed through, spread by weight among the targets
// the health checks find alive; weight 0 drains a target, a dead one is taken out, and a certificate
// is switched in place.
func TestClusterLoadBalancer(t *testing.T) {
	tc, c := faultClient(t)
	tc.SetHealthCheckEvery(20 * time.Millisecond)
	ctx := context.Background()
	var ids []string
	for range 2 {
		id, err := c.Compute().RunInstance(ctx, provision.InstanceSpec{Zone: "ap-guangzhou-3", ImageID: "img-487zeit5", Type: "S5.MEDIUM2", DiskGB: 20, BandwidthMbps: 1, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	a, b := newBackend(t, "a"), newBackend(t, "b")
	tc.SetTargetAddr(ids[0], 80, a.srv.Listener.Addr().String())
	tc.SetTargetAddr(ids[1], 80, b.srv.Listener.Addr().String())

	certPEM, keyPEM, pool := selfSigned(t, 1)
	cert, err := c.UploadCertificate(ctx, certPEM, keyPEM, "applet-prod", tags)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.UploadCertificate(ctx, certPEM, keyPEM, "applet-prod", tags); err != nil || again != cert {
		t.Fatalf("the same certificate uploaded again: %q %v, want %q", again, err, cert)
	}
	spec := provision.LoadBalancerSpec{Name: "applet-prod", ClientToken: "applet-prod-lb", Tags: tags}
	lb, err := c.CreateLoadBalancer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.CreateLoadBalancer(ctx, spec); err != nil || again != lb {
		t.Fatalf("a replayed create: %q %v, want %q", again, err, lb)
	}
	found, err := c.FindLoadBalancers(ctx, provision.TagKey, "prod")
	if err != nil || len(found) != 1 || found[0].ID != lb || !found[0].Ready || len(found[0].VIPs) != 1 {
		t.Fatalf("found %+v, %v", found, err)
	}
	https, err := c.CreateListener(ctx, lb, "HTTPS", 443, "https", cert)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := c.CreateRule(ctx, lb, https, provision.LBRule{Domain: lbDomain, URL: "/", HealthPath: "/healthz"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RedirectHTTP(ctx, lb, https, []string{lbDomain}); err != nil {
		t.Fatal(err)
	}
	targets := []provision.Target{{InstanceID: ids[0], Port: 80, Weight: 10}, {InstanceID: ids[1], Port: 80, Weight: 10}}
	if err := c.RegisterTargets(ctx, lb, https, rule, targets); err != nil {
		t.Fatal(err)
	}
	ls, err := c.Listeners(ctx, lb)
	if err != nil || len(ls) != 2 {
		t.Fatalf("listeners %+v, %v", ls, err)
	}
	for _, l := range ls {
		switch l.Port {
		case 443:
			if l.CertID != cert || len(l.Rules) != 1 || l.Rules[0].HealthPath != "/healthz" {
				t.Fatalf("the HTTPS listener reads back as %+v", l)
			}
		case 80:
			if l.RedirectsTo != https {
				t.Fatalf("port 80 reads back as %+v", l)
			}
		}
	}
	waitHealth := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			ts, err := c.Targets(ctx, lb, https, rule)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, t := range ts {
				got = append(got, fmt.Sprintf("%s=%s/%d", t.InstanceID, t.Health, t.Weight))
			}
			if strings.Join(got, " ") == strings.Join(want, " ") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("targets %v, want %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHealth(ids[0]+"=Alive/10", ids[1]+"=Alive/10")

	front := tc.LoadBalancerAddr(lb, 443)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: lbDomain},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", front)
		},
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	spread := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			code, body := get("https://" + lbDomain + "/applet/video/list")
			got[fmt.Sprint(code, " ", body[:min(len(body), 40)])]++
		}
		return got
	}
	if got := spread(40); got["200 a"] == 0 || got["200 b"] == 0 || got["200 a"]+got["200 b"] != 40 {
		t.Fatalf("40 requests over two alive targets of weight 10: %v", got)
	}
	if p := a.header("X-Forwarded-Proto"); p != "https" || a.header("X-Forwarded-For") == "" {
		t.Fatalf("forwarding headers: X-Forwarded-Proto %q, X-Forwarded-For %q", p, a.header("X-Forwarded-For"))
	}
	// Port 80 redirects to HTTPS.
	req, _ := http.NewRequest("GET", "http://"+tc.LoadBalancerAddr(lb, 80)+"/applet/video/list?pageNo=2", nil)
	req.Host = lbDomain
	if resp, err := http.DefaultTransport.RoundTrip(req); err != nil || resp.StatusCode != 301 || resp.Header.Get("Location") != "https://"+lbDomain+"/applet/video/list?pageNo=2" {
		t.Fatalf("HTTP on port 80: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A WebSocket goes through, and stays with its target.
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: lbDomain},
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", front)
		}}
	ws, _, err := d.Dial("wss://"+lbDomain+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte("hi"))
	_, msg, err := ws.ReadMessage()
	if err != nil || (string(msg) != "a:hi" && string(msg) != "b:hi") {
		t.Fatalf("a WebSocket through the load balancer: %q %v", msg, err)
	}

	// Weight 0 drains a: new requests go to b only; the WebSocket under way stays.
	if err := c.SetWeight(ctx, lb, https, rule, provision.Target{InstanceID: ids[0], Port: 80, Weight: 0}); err != nil {
		t.Fatal(err)
	}
	if got := spread(20); got["200 b"] != 20 {
		t.Fatalf("with a at weight 0: %v", got)
	}
	ws.WriteMessage(websocket.TextMessage, []byte("still"))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.HasSuffix(string(msg), ":still") {
		t.Fatalf("the WebSocket after a drain began: %q %v", msg, err)
	}
	// b dies: the checks find it dead, and with a drained nothing is left (an HTML 503).
	b.srv.CloseClientConnections()
	b.srv.Close()
	waitHealth(ids[0]+"=Alive/0", ids[1]+"=Dead/10")
	if code, body := get("https://" + lbDomain + "/"); code != 503 || !strings.Contains(body, "<html>") {
		t.Fatalf("no target left: %d %q", code, body)
	}
	if err := c.SetWeight(ctx, lb, https, rule, provision.Target{InstanceID: ids[0], Port: 80, Weight: 10}); err != nil {
		t.Fatal(err)
	}
	if got := spread(10); got["200 a"] != 10 {
		t.Fatalf("a back at weight 10, b dead: %v", got)
	}
	if err := c.DeregisterTargets(ctx, lb, https, rule, targets[1:]); err != nil {
		t.Fatal(err)
	}
	waitHealth(ids[0] + "=Alive/10")

	// A renewed certificate is switched in place; the old one cannot go while a listener serves it.
	cert2PEM, key2PEM, pool2 := selfSigned(t, 2)
	cert2, err := c.UploadCertificate(ctx, cert2PEM, key2PEM, "applet-prod", tags)
	if err != nil || cert2 == cert {
		t.Fatalf("a second certificate: %q %v", cert2, err)
	}
	if err := c.DeleteCertificate(ctx, cert); err == nil {
		t.Fatal("a certificate a listener serves was deleted")
	}
	if err := c.SetListenerCertificate(ctx, lb, https, cert2); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", front, &tls.Config{RootCAs: pool2, ServerName: lbDomain})
	if err != nil {
		t.Fatalf("the listener after the switch: %v", err)
	}
	conn.Close()
	if err := c.DeleteCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Certificate(ctx, cert); err != provision.ErrNotFound {
		t.Fatalf("a deleted certificate reads as %+v, %v", info, err)
	}

	if err := c.DeleteLoadBalancer(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if found, err := c.FindLoadBalancers(ctx, provision.TagKey, "prod"); err != nil || len(found) != 0 {
		t.Fatalf("after the delete: %+v %v", found, err)
	}
	if err := c.DeleteLoadBalancer(ctx, lb); err != nil {
		t.Fatalf("deleting it again: %v", err)
	}
	if err := c.DeleteCertificate(ctx, cert2); err != nil {
		t.Fatal(err)
	}
}

// CLB's tasks: a write refused while another task of the load balancer runs is retried until it
// goes through; a task that fails is an error that says what to do, and its change is not made.
func TestClusterLoadBalancerTasks(t *testing.T) {
	tc, c := faultClient(t)
	tc.SetTaskTime(150 * time.Millisecond)
	ctx := context.Background()
	certPEM, keyPEM, _ := selfSigned(t, 3)
	cert, err := c.UploadCertificate(ctx, certPEM, keyPEM, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := c.CreateLoadBalancer(ctx, provision.LoadBalancerSpec{Name: "applet-prod", ClientToken: "t1", Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	https, err := c.CreateListener(ctx, lb, "HTTPS", 443, "https", cert)
	if err != nil {
		t.Fatal(err)
	}
	_, retriesBefore := c.Calls()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.CreateRule(ctx, lb, https, provision.LBRule{Domain: lbDomain, URL: fmt.Sprintf("/p%d", i)})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rule %d, written while another task ran: %v", i, err)
		}
	}
	if _, retries := c.Calls(); retries == retriesBefore {
		t.Fatal("three writes at once went through without one ResourceInOperating")
	}
	ls, _ := c.Listeners(ctx, lb)
	if len(ls) != 1 || len(ls[0].Rules) != 3 {
		t.Fatalf("listeners after three rules: %+v", ls)
	}
	tc.FailNextTask("CreateListener")
	_, err = c.CreateListener(ctx, lb, "HTTP", 8080, "http", "")
	if err == nil || !strings.Contains(err.Error(), "TaskFailed") || !strings.Contains(fmt.Sprint(err.(interface{ Hint() string }).Hint()), "run applet provision again") {
		t.Fatalf("a failed task: %v", err)
	}
	if ls, _ := c.Listeners(ctx, lb); len(ls) != 1 {
		t.Fatalf("a failed task's listener exists: %+v", ls)
	}
	if _, err := c.CreateListener(ctx, lb, "HTTP", 443, "again", ""); err == nil || !strings.Contains(err.Error(), "PortCheckFailed") {
		t.Fatalf("a second listener on 443: %v", err)
	}
}

// DescribeTaskStatus allows 20 calls a second: many tasks waited for at once are throttled, and every
// wait still ends.
func TestClusterTaskStatusThrottled(t *testing.T) {
	tc, c := faultClient(t)
	tc.SetTaskTime(300 * time.Millisecond)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.CreateLoadBalancer(ctx, provision.LoadBalancerSpec{Name: fmt.Sprintf("lb%d", i), ClientToken: fmt.Sprintf("t%d", i), Tags: tags})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("load balancer %d: %v", i, err)
		}
	}
	throttled := 0
	for _, call := range tc.Calls() {
		if call.Action == "DescribeTaskStatus" && call.Code == "RequestLimitExceeded" {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("12 waits at once were never throttled")
	}
	t.Logf("%d DescribeTaskStatus calls throttled, all waits ended", throttled)
}
