package main

import (
	"crypto/tls"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/sqlseed"
)

type doctorResult struct {
	Check, Status, Observed, Fix string
}

// runDoctor runs the built binary's doctor with extra environment and returns its results and exit code.
func runDoctor(t *testing.T, bin string, env []string, dir string, args ...string) (map[string]doctorResult, int, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"doctor", "--json"}, args...)...)
	cmd.Env, cmd.Dir = env, dir
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Results []doctorResult }
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("doctor output: %v\n%s", err, out)
	}
	m := map[string]doctorResult{}
	for _, r := range doc.Results {
		m[r.Check] = r
	}
	return m, code, string(out)
}

// expectFault runs doctor and checks that one check fails (or warns) naming the fault and its fix.
func expectFault(t *testing.T, bin string, env []string, dir, check, status, observed, fix string, args ...string) {
	t.Helper()
	res, code, out := runDoctor(t, bin, env, dir, append([]string{"--only", check}, args...)...)
	r := res[check]
	wantCode := 1
	if status == "warn" || status == "ok" {
		wantCode = 0
	}
	if r.Status != status || !strings.Contains(r.Observed, observed) || !strings.Contains(r.Fix, fix) || code != wantCode {
		t.Errorf("%s: got %s %q (fix %q), exit %d; want %s with %q and fix %q\n%s", check, r.Status, r.Observed, r.Fix, code, status, observed, fix, out)
	}
}

func with(env []string, kv ...string) []string { return append(append([]string{}, env...), kv...) }

// doctorScenarios runs doctor against the healthy full stack, then breaks one thing at a time.
func doctorScenarios(t *testing.T, bin string, env []string, work string, h *hostSim, tc *tcfake.Server, cs *cosfake.Server, p443 int) {
	// Before the first backup: a warning with the fix; after the timer's backup and verify, ok.
	expectFault(t, bin, env, work, "backup.age", "warn", "no backup in cos://prod-backup-1250000000/", "backup timer")
	for _, args := range [][]string{{"backup"}, {"backup", "verify", "latest"}} {
		cmd := exec.Command(filepath.Join(h.root, "usr/local/bin/applet"), append(args, "--config", filepath.Join(h.root, "etc/applet/applet.yaml"))...)
		cmd.Env = h.env()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("applet %s on the host: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	res, code, out := runDoctor(t, bin, env, work)
	t.Logf("doctor on the healthy setup:\n%s", out)
	if code != 0 {
		t.Fatalf("healthy setup: exit %d\n%s", code, out)
	}
	for name, r := range res {
		if r.Status != "ok" && r.Status != "skipped" {
			t.Errorf("healthy setup: %s is %s: %s", name, r.Status, r.Observed)
		}
	}
	for _, name := range []string{"tls.chain", "tls.versions", "nginx.websocket", "nginx.upload-limit", "backends.redis", "backends.mysql", "backends.mongo", "backends.bucket", "serve.limits", "wechat.secret", "credentials.write", "dns.resolve",
		"credentials.role", "host.secrets", "host.album-scope", "backup.age", "backup.verify"} {
		if res[name].Status != "ok" {
			t.Errorf("healthy setup: %s not checked: %+v", name, res[name])
		}
	}
	if !strings.Contains(res["backends.redis"].Observed, "on ins-") {
		t.Errorf("the instance's loopback Redis was not checked on the instance: %+v", res["backends.redis"])
	}

	// A damaged part: verify fails and doctor says so; the next backup stores the part again.
	hostApplet := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(h.root, "usr/local/bin/applet"), append(args, "--config", filepath.Join(h.root, "etc/applet/applet.yaml"))...)
		cmd.Env = h.env()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, k := range cs.Objects("prod-backup-1250000000") {
		if strings.HasPrefix(k, "parts/") && cs.Damage("prod-backup-1250000000", k) {
			break
		}
	}
	if out, err := hostApplet("backup", "verify"); err == nil || !strings.Contains(out, "damaged") {
		t.Fatalf("verify of a damaged backup: %v\n%s", err, out)
	}
	expectFault(t, bin, env, work, "backup.verify", "fail", "damaged", "applet backup")
	for _, args := range [][]string{{"backup"}, {"backup", "verify"}} {
		if out, err := hostApplet(args...); err != nil {
			t.Fatalf("applet %s after the damage: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	expectFault(t, bin, env, work, "backup.verify", "ok", "passed", "")

	// A wrong AppSecret (the WeChat stand-in answers 40125).
	expectFault(t, bin, with(env, "APPLET_WECHAT_APP_SECRET=wrong-secret"), work, "wechat.secret", "fail", "40125", "AppSecret")

	// DNS pointing elsewhere.
	rec := tc.Records("example.com")[0]
	tc.SetRecordValue("example.com", rec.ID, "198.51.100.9")
	expectFault(t, bin, env, work, "dns.resolve", "fail", "resolves to 198.51.100.9, but the instance", "point the A record at 127.0.0.1")
	tc.SetRecordValue("example.com", rec.ID, rec.Value)

	// The bucket made private-read.
	cs.SetACL("album-1250000000", "private")
	expectFault(t, bin, env, work, "backends.bucket", "fail", "is private", "public-read")
	cs.SetACL("album-1250000000", "public-read")

	// The instance's role: a policy widened in the console lets the album write anywhere (a warning);
	// a private key made world-readable on the host (a failure); the role taken off the instance.
	policy := tc.PolicyDocument("applet-prod-host")
	tc.SetPolicyDocument("applet-prod-host", `{"version":"2.0","statement":[{"effect":"allow","action":["name/cos:*"],"resource":["*"]}]}`)
	expectFault(t, bin, env, work, "host.album-scope", "warn", "can write outside photos/", "limit it to the album")
	tc.SetPolicyDocument("applet-prod-host", policy)
	key := filepath.Join(h.root, "etc/applet/tls/privkey.pem")
	os.Chmod(key, 0o644)
	expectFault(t, bin, env, work, "host.secrets", "fail", "/etc/applet/tls/privkey.pem is 0644", "chmod 600")
	os.Chmod(key, 0o600)
	in := tc.Instances()[0]
	tc.SetInstanceRole(in, "")
	expectFault(t, bin, env, work, "credentials.role", "fail", "runs with role none, want applet-prod", "attaches the role")
	tc.SetInstanceRole(in, "applet-prod")

	// Redis down, and a schema one migration behind (checked here, as on the instance).
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	expectFault(t, bin, with(env, "APPLET_REDIS_ADDR="+closed), work, "backends.redis", "fail", "connection refused", "start Redis", "--on-host")
	behind := testenv.MySQLDatabase(t)
	db, _, err := mysql.Open(behind)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := sqlseed.Migrations(sqlseed.MySQL)
	files := fstest.MapFS{}
	for _, name := range []string{"migrations/0001_video.mysql.sql"} {
		if b, err := fs.ReadFile(sqlseed.Files, name); err == nil {
			files[name] = &fstest.MapFile{Data: b}
		}
	}
	if len(files) == 0 || len(first) < 2 {
		t.Fatalf("cannot find the first migration: %v", first)
	}
	if _, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL, FS: files}).Apply(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	expectFault(t, bin, with(env, "APPLET_MYSQL_DSN="+behind), work, "backends.mysql", "fail", "1 migration(s) behind", "applet seed-mysql", "--on-host")

	// nginx without the WebSocket upgrade headers, then with a 1 MB body limit.
	site := filepath.Join(h.root, "etc/nginx/sites-enabled/applet-prod.conf")
	good, _ := os.ReadFile(site)
	edit := func(from, to string) {
		t.Helper()
		if !strings.Contains(string(good), from) {
			t.Fatalf("the site has no %q", from)
		}
		os.WriteFile(site, []byte(strings.Replace(string(good), from, to, 1)), 0o644)
		reloadNginx(t, h)
	}
	edit("proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection $applet_connection;", "")
	expectFault(t, bin, env, work, "nginx.websocket", "fail", "WebSocket", "proxy_set_header Upgrade")
	edit("client_max_body_size 6m;", "client_max_body_size 1m;")
	expectFault(t, bin, env, work, "nginx.upload-limit", "fail", "nginx refuses a 5.5 MiB upload (413)", "client_max_body_size 6m")
	os.WriteFile(site, good, 0o644)
	reloadNginx(t, h)

	// Certificates: expired, for another name, self-signed; and a server that speaks only TLS 1.0.
	ca := testenv.NewCA(t)
	rootsFile := filepath.Join(work, "doctor-roots.pem")
	os.WriteFile(rootsFile, ca.PEM(), 0o644)
	for _, c := range []struct {
		name            string
		names           []string
		notAfter        time.Time
		selfSigned      bool
		maxVersion      uint16
		check, observed string
	}{
		{"expired", []string{"applet.example.com"}, time.Now().Add(-time.Hour), false, 0, "tls.chain", "the certificate expired on"},
		{"other name", []string{"other.example.com"}, time.Now().Add(60 * 24 * time.Hour), false, 0, "tls.chain", "the certificate is for other.example.com, not applet.example.com"},
		{"self-signed", []string{"applet.example.com"}, time.Now().Add(60 * 24 * time.Hour), true, 0, "tls.chain", "self-signed"},
		{"TLS 1.0 only", []string{"applet.example.com"}, time.Now().Add(60 * 24 * time.Hour), false, tls.VersionTLS10, "tls.versions", "offers TLS 1.0: mini programs need TLS 1.2"},
	} {
		port := testenv.TLSServer(t, ca.Leaf(t, c.names, c.notAfter, c.selfSigned), c.maxVersion)
		fix := "applet provision"
		if c.check == "tls.versions" {
			fix = "ssl_protocols TLSv1.2 TLSv1.3"
		}
		expectFault(t, bin, with(env, "APPLET_PROVISION_HTTPS_PORT="+strconv.Itoa(port), "APPLET_PROVISION_ACME_ROOTS="+rootsFile), work, c.check, "fail", c.observed, fix)
	}
	_ = p443
}

func reloadNginx(t *testing.T, h *hostSim) {
	t.Helper()
	f := strings.Fields(h.nginxRelod)
	if out, err := exec.Command(f[0], f[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("nginx reload: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // old workers finish first
}
