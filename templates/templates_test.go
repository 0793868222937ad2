package templates_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sampleSite() templates.Site {
	return templates.Site{
		Deployment: "prod", Domain: "applet.example.com",
		HTTPListen: []string{"80", "[::]:80"}, HTTPSListen: []string{"443", "[::]:443"}, HTTPSPort: 443,
		CertFile: "/etc/applet/tls/fullchain.pem", KeyFile: "/etc/applet/tls/privkey.pem", Webroot: "/var/lib/applet/acme",
		Album: "127.0.0.1:9993", Game: "127.0.0.1:9595", Session: "127.0.0.1:5757", Video: "127.0.0.1:9994",
		UploadMaxMB: 6, BodyTimeout: "10s", UploadsPerAddr: 8, CommentsPerAddr: 8,
		TooLargeJSON: templates.NginxString(`{"code":-1,"msg":"单个不超过5MB","data":{},"error":{"field":"image","reason":"larger than the limit"}}`),
	}
}

func sampleData(name string) any {
	unit := templates.Unit{Deployment: "prod", User: "applet", Binary: "/usr/local/bin/applet", ConfigFile: "/etc/applet/applet.yaml",
		DataDir: "/var/lib/applet", After: []string{"redis-server.service"}, StopTimeout: "30s", LimitNOFILE: 65536}
	switch name {
	case templates.NginxMain:
		return templates.NginxMainFor("prod", 64000)
	case templates.NginxSite:
		return sampleSite()
	case templates.CloudInit:
		return templates.Init{Deployment: "prod", User: "applet", DataDir: "/var/lib/applet"}
	}
	return unit
}

func lbSite() templates.Site {
	s := sampleSite()
	s.HTTPListen, s.HTTPSListen, s.LBRanges = []string{"80"}, nil, []string{"100.64.0.0/10", "10.0.0.0/16"}
	return s
}

// The rendered files match testdata/<name>.golden (go test ./templates -update rewrites them); the
// site behind a load balancer is nginx-site.lb.conf.golden.
func TestGolden(t *testing.T) {
	set := templates.New("")
	type file struct {
		name, golden string
		data         any
	}
	var all []file
	for _, name := range templates.Names {
		all = append(all, file{name, name, sampleData(name)})
	}
	all = append(all, file{templates.NginxSite, "nginx-site.lb.conf", lbSite()})
	for _, f := range all {
		name := f.name
		got, err := set.Render(name, f.data)
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", f.golden+".golden")
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s:\n%s", name, golden, got)
		}
	}
}

func TestMissingFieldIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, templates.ServiceUnit+".tmpl"), []byte("ExecStart={{.Nope}}\n"), 0o644)
	if _, err := templates.New(dir).Render(templates.ServiceUnit, sampleData(templates.ServiceUnit)); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, templates.ServiceUnit+".tmpl")) {
		t.Fatalf("err = %v", err)
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, templates.RenewTimer+".tmpl"), []byte("# mine {{.Deployment}}\n"), 0o644)
	set := templates.New(dir)
	got, err := set.Render(templates.RenewTimer, sampleData(templates.RenewTimer))
	if err != nil || string(got) != "# mine prod\n" {
		t.Fatalf("override: %q %v", got, err)
	}
	if got, _ := set.Render(templates.ServiceUnit, sampleData(templates.ServiceUnit)); !strings.Contains(string(got), "ExecStart=/usr/local/bin/applet serve %i") {
		t.Fatal("templates not overridden should stay embedded")
	}
}

// nginx -t accepts the rendered site (with a certificate on disk), and rejects a broken one.
func TestNginxAcceptsSite(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	s := sampleSite()
	s.HTTPListen, s.HTTPSListen = []string{"127.0.0.1:18080"}, []string{"127.0.0.1:18443"}
	s.HTTPSPort = 18443
	s.CertFile, s.KeyFile, s.Webroot = cert, key, dir
	site, err := templates.New("").Render(templates.NginxSite, s)
	if err != nil {
		t.Fatal(err)
	}
	conf := "pid nginx.pid;\nevents {}\nhttp {\n" + string(site) + "\n}\n"
	if out, err := testenv.NginxTest(t, conf); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	// The main file, with the site in place of sites-enabled and its paths on this machine.
	siteFile := filepath.Join(dir, "site.conf")
	os.WriteFile(siteFile, site, 0o644)
	main, err := templates.New("").Render(templates.NginxMain, templates.NginxMainFor("prod", 64000))
	if err != nil {
		t.Fatal(err)
	}
	mainConf := strings.NewReplacer("/etc/nginx/sites-enabled/*", siteFile, "include /etc/nginx/modules-enabled/*.conf;", "", "include /etc/nginx/conf.d/*.conf;", "",
		"/run/nginx.pid", filepath.Join(dir, "nginx.pid"), "/var/log/nginx/", dir+"/", "user www-data;", "").Replace(string(main))
	if out, err := testenv.NginxTest(t, mainConf); err != nil {
		t.Fatalf("nginx -t of nginx.conf: %v\n%s", err, out)
	}
	lb := lbSite()
	lb.HTTPListen, lb.Webroot = []string{"127.0.0.1:18080"}, dir
	lbConf, err := templates.New("").Render(templates.NginxSite, lb)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.NginxTest(t, "pid nginx.pid;\nevents {}\nhttp {\n"+string(lbConf)+"\n}\n"); err != nil {
		t.Fatalf("nginx -t of the site behind a load balancer: %v\n%s", err, out)
	}
	bad := strings.Replace(conf, "proxy_request_buffering off;", "proxy_request_buffering maybe;", 1)
	if out, err := testenv.NginxTest(t, bad); err == nil {
		t.Fatalf("nginx -t accepted a broken site:\n%s", out)
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "applet.example.com"}, DNSNames: []string{"applet.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return cert, key
}

// Behind a load balancer, a real nginx believes the load balancer's forwarding headers, answers its
// health check from the video backend's liveness, and refuses anyone else on the plain port.
func TestClusterNginxBehindLoadBalancer(t *testing.T) {
	bin := testenv.Nginx(t)
	var mu sync.Mutex
	var seen http.Header
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		fmt.Fprint(w, r.URL.Path)
	}))
	defer backend.Close()
	dir := t.TempDir()
	for _, sub := range []string{"logs", "tmp"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	port := freePort(t)
	s := lbSite()
	s.HTTPListen, s.Webroot, s.LBRanges = []string{fmt.Sprintf("127.0.0.1:%d", port)}, dir, []string{"127.0.0.1/32"}
	up := backend.Listener.Addr().String()
	s.Album, s.Game, s.Session, s.Video = up, up, up, up
	site, err := templates.New("").Render(templates.NginxSite, s)
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("daemon off;\nmaster_process off;\nuser root;\npid %s/nginx.pid;\nerror_log %s/logs/error.log;\nevents {}\nhttp {\naccess_log off;\n%s\n}\n", dir, dir, site)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	get := func(from, path string, h map[string]string) (int, string) {
		t.Helper()
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}
		defer tr.CloseIdleConnections()
		var lastErr error
		for range 50 { // nginx is starting
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
			req.Host = "applet.example.com"
			for k, v := range h {
				req.Header.Set(k, v)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				lastErr = err
				time.Sleep(50 * time.Millisecond)
				continue
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		t.Fatalf("nginx never answered: %v", lastErr)
		return 0, ""
	}
	header := func(k string) string { mu.Lock(); defer mu.Unlock(); return seen.Get(k) }

	if code, body := get("127.0.0.1", "/applet/video/list", map[string]string{"X-Forwarded-For": "198.51.100.7", "X-Client-Proto": "https"}); code != 200 || body != "/applet/video/list" {
		t.Fatalf("through the load balancer: %d %q", code, body)
	}
	if header("X-Real-IP") != "198.51.100.7" || header("X-Forwarded-Proto") != "https" {
		t.Fatalf("the backend was told X-Real-IP %q, X-Forwarded-Proto %q", header("X-Real-IP"), header("X-Forwarded-Proto"))
	}
	get("127.0.0.1", "/applet/album/list", map[string]string{"X-Forwarded-For": "198.51.100.8", "X-Forwarded-Proto": "https"})
	if header("X-Forwarded-Proto") != "https" || header("X-Real-IP") != "198.51.100.8" {
		t.Fatalf("with X-Forwarded-Proto: %q %q", header("X-Forwarded-Proto"), header("X-Real-IP"))
	}
	get("127.0.0.1", "/applet/session/user", nil)
	if header("X-Forwarded-Proto") != "http" {
		t.Fatalf("without a forwarded scheme: %q", header("X-Forwarded-Proto"))
	}
	if code, body := get("127.0.0.1", "/healthz", nil); code != 200 || body != "/applet/video/healthz" {
		t.Fatalf("the health check: %d %q", code, body)
	}
	// Another address on the plain port, with forged headers: refused.
	if code, _ := get("127.0.0.2", "/applet/video/list", map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"}); code != 403 {
		t.Fatalf("a client that is not the load balancer got %d", code)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
