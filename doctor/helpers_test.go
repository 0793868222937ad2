package doctor_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/testenv"
)

// load is a configuration as applet loads it: the file ("": none), an empty environment and flags.
func load(t *testing.T, file string, flags map[string]string) *config.Loaded {
	t.Helper()
	if _, ok := flags["data_dir"]; !ok {
		flags = withFlag(flags, "data_dir", t.TempDir())
	}
	l, err := config.Load(config.LoadOptions{Path: file, LookupEnv: func(string) (string, bool) { return "", false }, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func withFlag(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// check runs one check on the configuration.
func check(t *testing.T, l *config.Loaded, name string) doctor.Result {
	t.Helper()
	checks, err := doctor.Select(doctor.Checks(doctor.Options{Loaded: l}), []string{name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return doctor.Run(context.Background(), checks, 15*time.Second)[0]
}

// expect fails unless r has the status and its observation and fix hold the fragments given.
func expect(t *testing.T, r doctor.Result, status doctor.Status, observed, fix string) {
	t.Helper()
	if r.Status != status || !strings.Contains(r.Observed, observed) || !strings.Contains(r.Fix, fix) {
		t.Fatalf("%s: got %s %q (fix %q), want %s with %q (fix %q)", r.Check, r.Status, r.Observed, r.Fix, status, observed, fix)
	}
}

// site is a domain that resolves to 127.0.0.1 through a test DNS and whose certificates come from a
// test CA that the configuration trusts.
type site struct {
	ca    *testenv.CA
	flags map[string]string
}

const domain = "applet.example.com"

func newSite(t *testing.T) *site {
	ca := testenv.NewCA(t)
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &site{ca: ca, flags: map[string]string{"domain": domain, "provision.dns_resolver": testenv.DNS(t), "provision.acme_roots": roots}}
}

// with is the site's configuration with the HTTPS (and HTTP) ports set.
func (s *site) with(t *testing.T, httpsPort, httpPort int) *config.Loaded {
	f := withFlag(s.flags, "provision.https_port", strconv.Itoa(httpsPort))
	if httpPort != 0 {
		f = withFlag(f, "provision.http_port", strconv.Itoa(httpPort))
	}
	return load(t, "", f)
}

// https serves h over TLS with a certificate for the domain from the site's CA; it returns the port.
func (s *site) https(t *testing.T, h http.Handler) int {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{s.ca.Leaf(t, []string{domain}, time.Now().Add(60*24*time.Hour), false)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}
