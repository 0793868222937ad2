package doctor_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/internal/testenv"
)

func TestTLSChain(t *testing.T) {
	s := newSite(t)
	day := 24 * time.Hour
	for _, c := range []struct {
		name       string
		names      []string
		left       time.Duration
		selfSigned bool
		status     doctor.Status
		observed   string
		fix        string
	}{
		{"trusted", []string{domain}, 60 * day, false, doctor.OK, "trusted, for " + domain, ""},
		{"self-signed", []string{domain}, 60 * day, true, doctor.Fail, "the certificate is self-signed", "public CA"},
		{"another name", []string{"other.example.com"}, 60 * day, false, doctor.Fail, "is for other.example.com, not " + domain, "issue one for " + domain},
		{"expired", []string{domain}, -day, false, doctor.Fail, "the certificate expired", "renew it"},
		{"due soon", []string{domain}, 10 * day, false, doctor.Fail, "expires in 9 days", "renew it now"},
		{"due this month", []string{domain}, 20 * day, false, doctor.Warn, "expires in 19 days", "applet-renew.timer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := testenv.TLSServer(t, s.ca.Leaf(t, c.names, time.Now().Add(c.left), c.selfSigned), 0)
			expect(t, check(t, s.with(t, port, 0), "tls.chain"), c.status, c.observed, c.fix)
		})
	}
	// Nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	expect(t, check(t, s.with(t, port, 0), "tls.chain"), doctor.Fail, "connection refused", "make nginx listen")
}

func TestTLSVersions(t *testing.T) {
	s := newSite(t)
	cert := s.ca.Leaf(t, []string{domain}, time.Now().Add(60*24*time.Hour), false)
	expect(t, check(t, s.with(t, testenv.TLSServer(t, cert, 0), 0), "tls.versions"), doctor.OK, "offers TLS 1.2, 1.3; refuses 1.0, 1.1", "")
	expect(t, check(t, s.with(t, testenv.TLSServer(t, cert, tls.VersionTLS11), 0), "tls.versions"), doctor.Fail, "mini programs need TLS 1.2", "ssl_protocols TLSv1.2 TLSv1.3")
	expect(t, check(t, s.with(t, testenv.TLSServer(t, cert, tls.VersionTLS12), 0), "tls.versions"), doctor.Warn, "1.0 and 1.1 are obsolete", "ssl_protocols")
}

func TestTLSRedirect(t *testing.T) {
	s := newSite(t)
	serveHTTP := func(h http.HandlerFunc) int {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().(*net.TCPAddr).Port
	}
	redirect := serveHTTP(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+r.Host+r.URL.Path, http.StatusMovedPermanently)
	})
	expect(t, check(t, s.with(t, 443, redirect), "tls.redirect"), doctor.OK, "HTTP answers 301 → https://"+domain, "")
	plain := serveHTTP(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	expect(t, check(t, s.with(t, 443, plain), "tls.redirect"), doctor.Fail, "HTTP answers 200 without a redirect", "redirect HTTP to HTTPS")
}
