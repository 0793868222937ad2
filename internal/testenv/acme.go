package testenv

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// ACMEServer is an ACME CA (pebble) running in the test process, validating challenges for real
// against an in-process DNS server that tests (or a DNS stand-in) write records into.
type ACMEServer struct {
	// Directory is the ACME directory URL.
	Directory string
	// Client trusts the ACME server's TLS certificate.
	Client *http.Client
	// DNS is the authoritative DNS for every name; DNSAddr is where it listens (UDP and TCP).
	DNS     *challtestsrv.ChallSrv
	DNSAddr string
	// Roots is the PEM of the root that signs issued certificates.
	Roots func() ([]byte, error)
	// ServerCertPEM is the ACME server's own TLS certificate, for clients outside the test process.
	ServerCertPEM []byte
}

// ACMEOptions point pebble's validation elsewhere.
type ACMEOptions struct {
	// DNSAddr is the DNS server pebble resolves names with (e.g. the Tencent Cloud stand-in's); empty
	// starts challtestsrv.
	DNSAddr string
	// HTTPPort is where pebble connects for HTTP-01 (default 5002).
	HTTPPort int
	// Validity of the certificates issued (default 90 days, as Let's Encrypt's).
	Validity time.Duration
}

// ACME starts pebble and its DNS for the test; both stop when it ends.
func ACME(t testing.TB) *ACMEServer { return ACMEWith(t, ACMEOptions{}) }

// ACMEWith starts pebble validating against the given DNS server and HTTP port.
func ACMEWith(t testing.TB, o ACMEOptions) *ACMEServer {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true")
	quiet := log.New(io.Discard, "", 0)

	var dns *challtestsrv.ChallSrv
	dnsAddr := o.DNSAddr
	if dnsAddr == "" {
		dns, dnsAddr = startDNS(t)
	}
	httpPort := o.HTTPPort
	if httpPort == 0 {
		httpPort = 5002
	}

	store := db.NewMemoryStore()
	validity := uint64(90 * 24 * 3600)
	if o.Validity > 0 {
		validity = uint64(o.Validity / time.Second)
	}
	authority := ca.New(quiet, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: validity}})
	validator := va.New(quiet, httpPort, 5001, false, dnsAddr, store)
	front := wfe.New(quiet, store, validator, authority, nil, false, false, 0, 0)
	acme := httptest.NewTLSServer(front.Handler())
	t.Cleanup(acme.Close)
	mgmt := httptest.NewTLSServer(front.ManagementHandler())
	t.Cleanup(mgmt.Close)

	s := &ACMEServer{Directory: acme.URL + "/dir", Client: acme.Client(), DNS: dns, DNSAddr: dnsAddr,
		ServerCertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: acme.Certificate().Raw})}
	s.Roots = func() ([]byte, error) {
		resp, err := mgmt.Client().Get(mgmt.URL + "/roots/0")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	return s
}

// freeUDPTCPAddr finds a loopback port free for both UDP and TCP.
func freeUDPTCPAddr(t testing.TB) string {
	t.Helper()
	for i := 0; i < 20; i++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no free UDP+TCP loopback port")
	return ""
}

// DNS starts an authoritative DNS server on loopback that answers 127.0.0.1 for every name (tests
// point a resolver setting at its address); it stops when the test ends.
func DNS(t testing.TB) string {
	srv, addr := startDNS(t)
	srv.SetDefaultDNSIPv6("") // IPv4 only: the test servers listen on 127.0.0.1
	return addr
}

func startDNS(t testing.TB) (*challtestsrv.ChallSrv, string) {
	t.Helper()
	addr := freeUDPTCPAddr(t)
	srv, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{addr}, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatalf("starting the test DNS: %v", err)
	}
	srv.SetDefaultDNSIPv4("127.0.0.1")
	go srv.Run()
	t.Cleanup(srv.Shutdown)
	// Run binds in its own goroutine: ask until it answers, so the test's first lookup is not refused.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := r.LookupHost(ctx, "ready.test")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test DNS at %s does not answer: %v", addr, err)
		}
	}
	return srv, addr
}
