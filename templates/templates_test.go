package templates_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
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

// The rendered files match testdata/<name>.golden (go test ./templates -update rewrites them).
func TestGolden(t *testing.T) {
	set := templates.New("")
	for _, name := range templates.Names {
		got, err := set.Render(name, sampleData(name))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", name+".golden")
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
