package acme_test

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/acme"
	"github.com/qcloud-applet/applet/provision/tencent"
)

const (
	id  = "AKIDacmetest000000000000000000000000001"
	key = "acme-test-secret-key-000000000000001"
)

func verify(t *testing.T, srv *testenv.ACMEServer, dir, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, acme.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(b)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := srv.Roots()
	if err != nil {
		t.Fatal(err)
	}
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	inter.AppendCertsFromPEM(rest)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, Intermediates: inter}); err != nil {
		t.Fatalf("certificate does not verify: %v", err)
	}
	for _, f := range []string{acme.KeyFile, acme.AccountKeyFile, acme.CertFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, st.Mode())
		}
	}
	return leaf
}

// DNS-01 through the project's DNSPod client against the stand-in's DNS, which pebble really queries;
// then HTTP-01 renewal from a webroot.
func TestObtainDNS01ThenRenewHTTP01(t *testing.T) {
	tc, err := tcfake.New(id, key)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.AddDomain("example.com")

	// The webroot is served on the port pebble validates HTTP-01 on.
	webrootDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.FileServer(http.Dir(webrootDir))}
	go hs.Serve(ln)
	defer hs.Close()
	srv := testenv.ACMEWith(t, testenv.ACMEOptions{DNSAddr: tc.DNSAddr, HTTPPort: ln.Addr().(*net.TCPAddr).Port})

	cfg := tencent.NewDefaultConfig("ap-guangzhou")
	cfg.Credentials = tencent.Credentials{SecretID: id, SecretKey: key}
	cfg.Endpoint = "http://" + tc.Addr
	client, err := tencent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ac, err := acme.New(acme.Config{Directory: srv.Directory, HTTPClient: srv.Client, Dir: dir, Resolvers: []string{tc.DNSAddr}})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"applet.example.com"}
	issued, err := ac.ObtainDNS01(client.DNS(), "example.com", names)
	if err != nil || !issued {
		t.Fatalf("issued %v: %v", issued, err)
	}
	first := verify(t, srv, dir, names[0])
	if recs := tc.Records("example.com"); len(recs) != 0 {
		t.Fatalf("challenge records left: %+v", recs)
	}

	// Valid and not due: nothing is issued.
	issued, err = ac.ObtainDNS01(client.DNS(), "example.com", names)
	if err != nil || issued {
		t.Fatalf("second obtain issued %v: %v", issued, err)
	}
	// HTTP-01 renewal, forced due by a long renewal window, needs the A record → 127.0.0.1.
	tcSetA(t, tc, "applet", "127.0.0.1")
	calls := len(tc.Calls())
	renewer, _ := acme.New(acme.Config{Directory: srv.Directory, HTTPClient: srv.Client, Dir: dir, RenewBefore: 365 * 24 * time.Hour})
	renewed, err := renewer.RenewHTTP01(webrootDir, names)
	if err != nil || !renewed {
		t.Fatalf("renewed %v: %v", renewed, err)
	}
	second := verify(t, srv, dir, names[0])
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("renewal kept the old certificate")
	}
	if len(tc.Calls()) != calls {
		t.Fatal("HTTP-01 renewal called the cloud API")
	}
}

// tcSetA writes an A record through the stand-in's API as an operator would.
func tcSetA(t *testing.T, tc *tcfake.Server, name, ip string) {
	t.Helper()
	cfg := tencent.NewDefaultConfig("ap-guangzhou")
	cfg.Credentials = tencent.Credentials{SecretID: id, SecretKey: key}
	cfg.Endpoint = "http://" + tc.Addr
	c, err := tencent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DNS().CreateRecord(t.Context(), "example.com", recordA(name, ip)); err != nil {
		t.Fatal(err)
	}
}

func recordA(name, ip string) provision.Record {
	return provision.Record{Name: name, Type: "A", Value: ip, TTL: 600}
}
