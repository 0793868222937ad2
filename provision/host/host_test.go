package host_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/provision/host"
)

func cert(t *testing.T, notAfter time.Time) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "applet.example.com"},
		DNSNames: []string{"applet.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type rig struct {
	t       *testing.T
	root    string
	ran     []string
	failing string // a command that fails
}

func (r *rig) options() host.Options {
	return host.Options{Root: r.root, NginxTest: []string{"nginx-test"}, NginxReload: []string{"nginx-reload"},
		Run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			cmd := strings.Join(append([]string{name}, args...), " ")
			r.ran = append(r.ran, cmd)
			if cmd == r.failing {
				return []byte("emerg: broken"), os.ErrInvalid
			}
			return nil, nil
		}}
}

// bundle builds, writes and extracts a bundle: what the instance receives.
func (r *rig) bundle(binary string, site string, fullchain []byte) (string, *host.Manifest) {
	r.t.Helper()
	b := host.NewBuilder(host.Manifest{Deployment: "prod", Domain: "applet.example.com", Names: []string{"applet.example.com"},
		Apps: []string{"album"}, Binary: "/usr/local/bin/applet", TLSDir: "/etc/applet/tls", Webroot: "/var/lib/applet/acme"})
	bin := filepath.Join(r.t.TempDir(), "applet")
	os.WriteFile(bin, []byte(binary), 0o755)
	if err := b.AddFile(host.File{Path: "/usr/local/bin/applet", Mode: 0o755, Trigger: host.TriggerBackend}, bin); err != nil {
		r.t.Fatal(err)
	}
	b.Add(host.File{Path: "/etc/applet/applet.yaml", Mode: 0o600, Trigger: host.TriggerBackend}, []byte("domain: applet.example.com\n"))
	b.Add(host.File{Path: "/etc/applet/tls/fullchain.pem", Mode: 0o644, Trigger: host.TriggerNginx}, fullchain)
	b.Add(host.File{Path: "/etc/applet/tls/privkey.pem", Mode: 0o600, Trigger: host.TriggerNginx}, []byte("key for "+string(fullchain[30:40])))
	b.Add(host.File{Path: "/etc/nginx/sites-enabled/applet-prod.conf", Mode: 0o644, Trigger: host.TriggerNginx}, []byte(site))
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		r.t.Fatal(err)
	}
	dir := r.t.TempDir()
	m, err := host.Extract(&buf, dir)
	if err != nil {
		r.t.Fatal(err)
	}
	return dir, m
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	r := &rig{t: t, root: t.TempDir()}
	c := cert(t, time.Now().Add(90*24*time.Hour))
	dir, m := r.bundle("v1", "server {}\n", c)
	rep, err := host.Apply(context.Background(), dir, m, r.options())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changed) != 5 || strings.Join(rep.Actions, ",") != "nginx-test,nginx-reload" {
		t.Fatalf("first apply: %v", rep)
	}
	if st, _ := os.Stat(filepath.Join(r.root, "etc/applet/applet.yaml")); st.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %v", st.Mode())
	}
	r.ran = nil
	rep, err = host.Apply(context.Background(), dir, m, r.options())
	if err != nil || len(rep.Changed) != 0 || len(rep.Actions) != 0 || len(r.ran) != 0 || rep.String() != "host: nothing to change" {
		t.Fatalf("second apply: %v, ran %v, %v", rep, r.ran, err)
	}
	// A mode changed by hand is put back, and only that.
	os.Chmod(filepath.Join(r.root, "etc/applet/applet.yaml"), 0o644)
	rep, _ = host.Apply(context.Background(), dir, m, r.options())
	if strings.Join(rep.Changed, ",") != "/etc/applet/applet.yaml" || len(rep.Actions) != 0 {
		t.Fatalf("mode repair: %v", rep)
	}
}

func TestRejectedSiteIsRolledBack(t *testing.T) {
	r := &rig{t: t, root: t.TempDir()}
	c := cert(t, time.Now().Add(90*24*time.Hour))
	dir, m := r.bundle("v1", "server { good }\n", c)
	if _, err := host.Apply(context.Background(), dir, m, r.options()); err != nil {
		t.Fatal(err)
	}
	r.failing = "nginx-test"
	r.ran = nil
	dir, m = r.bundle("v1", "server { broken }\n", c)
	_, err := host.Apply(context.Background(), dir, m, r.options())
	if err == nil || !strings.Contains(err.Error(), "the previous one is back") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(r.root, "etc/nginx/sites-enabled/applet-prod.conf")); string(b) != "server { good }\n" {
		t.Fatalf("site now %q", b)
	}
	for _, c := range r.ran {
		if c == "nginx-reload" {
			t.Fatal("reloaded a rejected configuration")
		}
	}
}

func TestUpgradeKeepsPreviousForRollback(t *testing.T) {
	r := &rig{t: t, root: t.TempDir()}
	c := cert(t, time.Now().Add(90*24*time.Hour))
	dir, m := r.bundle("v1", "server {}\n", c)
	host.Apply(context.Background(), dir, m, r.options())
	dir, m = r.bundle("v2", "server {}\n", c)
	rep, err := host.Apply(context.Background(), dir, m, r.options())
	if err != nil || strings.Join(rep.Changed, ",") != "/usr/local/bin/applet" || len(rep.Actions) != 0 {
		t.Fatalf("upgrade: %v %v", rep, err)
	}
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(r.root, p)); return string(b) }
	if read("usr/local/bin/applet") != "v2" || read("usr/local/bin/applet.prev") != "v1" {
		t.Fatal("previous binary not kept")
	}
	if _, err := host.Rollback(context.Background(), r.options()); err != nil {
		t.Fatal(err)
	}
	if read("usr/local/bin/applet") != "v1" || read("usr/local/bin/applet.prev") != "v2" {
		t.Fatal("rollback did not swap the binaries")
	}
}

func TestRenewedCertificateIsKept(t *testing.T) {
	r := &rig{t: t, root: t.TempDir()}
	old := cert(t, time.Now().Add(20*24*time.Hour))
	dir, m := r.bundle("v1", "server {}\n", old)
	host.Apply(context.Background(), dir, m, r.options())
	// The host renews: its certificate now outlives the operator's copy.
	renewed := cert(t, time.Now().Add(90*24*time.Hour))
	os.WriteFile(filepath.Join(r.root, "etc/applet/tls/fullchain.pem"), renewed, 0o644)
	r.ran = nil
	rep, err := host.Apply(context.Background(), dir, m, r.options())
	if err != nil || len(rep.Changed) != 0 || len(r.ran) != 0 {
		t.Fatalf("apply after renewal: %v, ran %v, %v", rep, r.ran, err)
	}
	if b, _ := os.ReadFile(filepath.Join(r.root, "etc/applet/tls/fullchain.pem")); !bytes.Equal(b, renewed) {
		t.Fatal("the renewed certificate was replaced by an older one")
	}
}

// A MariaDB on the host gets its database and user once; the second apply finds the login working.
func TestDatabaseMadeOnce(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	h, p, _ := net.SplitHostPort(cfg.Addr)
	port, _ := strconv.Atoi(p)
	name := testenv.Unique("hostdb_")
	user := testenv.Unique("u")[:12]
	db := &host.Database{Name: name, User: user, Password: "pa'ss\\word", Host: h, Port: port}
	admin := []string{"mariadb", "--no-defaults", "-h", h, "-P", p, "-u", cfg.User, "-p" + cfg.Passwd}
	t.Cleanup(func() {
		exec.Command(admin[0], append(admin[1:], "-e", "DROP DATABASE IF EXISTS `"+name+"`; DROP USER IF EXISTS '"+user+"'@'localhost'; DROP USER IF EXISTS '"+user+"'@'127.0.0.1'")...).Run()
	})
	r := &rig{t: t, root: t.TempDir()}
	c := cert(t, time.Now().Add(90*24*time.Hour))
	dir, m := r.bundle("v1", "server {}\n", c)
	m.Database = db
	o := r.options()
	o.MariaDBAdmin = admin
	o.RunWith = nil // real commands
	rep, err := host.Apply(context.Background(), dir, m, o)
	if err != nil || !strings.Contains(strings.Join(rep.Actions, ","), "mariadb: made database "+name) {
		t.Fatalf("first apply: %v %v", rep, err)
	}
	r.ran = nil
	rep, err = host.Apply(context.Background(), dir, m, o)
	if err != nil || len(rep.Actions) != 0 || len(rep.Changed) != 0 {
		t.Fatalf("second apply: %v %v", rep, err)
	}
	// The backends' DSN works.
	conn, err := sql.Open("mysql", (&mysqldrv.Config{User: user, Passwd: db.Password, Net: "tcp", Addr: cfg.Addr, DBName: name, AllowNativePasswords: true}).FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Ping(); err != nil {
		t.Fatalf("the new user cannot log in: %v", err)
	}
}

// A Redis on the host gets the configured password once, kept in its config file.
func TestRedisPasswordSetOnce(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if testenv.CI() {
			t.Fatal("redis-server is not installed (scripts/test.sh installs it)")
		}
		t.Skip("redis-server is not installed: scripts/test.sh installs it")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "redis.conf")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	os.WriteFile(conf, []byte("port "+port+"\nbind 127.0.0.1\nsave \"\"\ndir "+dir+"\n"), 0o644)
	srv := exec.Command(bin, conf)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := &rig{t: t, root: t.TempDir()}
	bdir, m := r.bundle("v1", "server {}\n", cert(t, time.Now().Add(90*24*time.Hour)))
	m.Redis = &host.Redis{Addr: "127.0.0.1:" + port, Password: `s3cr"et`}
	o := r.options()
	o.RunWith = nil
	rep, err := host.Apply(context.Background(), bdir, m, o)
	if err != nil || !strings.Contains(strings.Join(rep.Actions, ","), "redis: set the password") {
		t.Fatalf("first apply: %v %v", rep, err)
	}
	rep, err = host.Apply(context.Background(), bdir, m, o)
	if err != nil || len(rep.Actions) != 0 {
		t.Fatalf("second apply: %v %v", rep, err)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "requirepass") {
		t.Fatalf("password not kept in %s:\n%s", conf, b)
	}
}

// With systemd, a changed binary restarts the backends one at a time, each ready before the next, after
// the units are reloaded; a second apply runs nothing.
func TestSystemdRestartsOneByOne(t *testing.T) {
	ready := map[string]bool{}
	var order []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app := strings.Trim(r.URL.Path, "/")
		order = append(order, "ready? "+app)
		if !ready[app] {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	r := &rig{t: t, root: t.TempDir()}
	o := r.options()
	o.Systemd = true
	run := o.Run
	o.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
		cmd := strings.Join(append([]string{name}, args...), " ")
		order = append(order, cmd)
		if strings.HasPrefix(cmd, "systemctl restart applet@") {
			ready[strings.TrimPrefix(cmd, "systemctl restart applet@")] = true
		}
		return run(ctx, name, args...)
	}
	dir, m := r.bundle("v1", "server {}\n", cert(t, time.Now().Add(90*24*time.Hour)))
	m.Apps = []string{"album", "game"}
	m.Health = []string{srv.URL + "/album", srv.URL + "/game"}
	m.Files = append(m.Files, host.File{Path: "/etc/systemd/system/applet@.service", Mode: 0o644, Trigger: host.TriggerUnits})
	os.MkdirAll(filepath.Join(dir, "root/etc/systemd/system"), 0o755)
	os.WriteFile(filepath.Join(dir, "root/etc/systemd/system/applet@.service"), []byte("[Service]\n"), 0o644)
	m.Files[len(m.Files)-1].SHA256 = shaHex("[Service]\n")
	if _, err := host.Apply(context.Background(), dir, m, o); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(order, " | ")
	want := "nginx-test | nginx-reload | systemctl daemon-reload | systemctl enable applet@album | systemctl restart applet@album | ready? album | " +
		"systemctl enable applet@game | systemctl restart applet@game | ready? game"
	if got != want {
		t.Fatalf("order:\n got %s\nwant %s", got, want)
	}
	order = nil
	if _, err := host.Apply(context.Background(), dir, m, o); err != nil || len(order) != 0 {
		t.Fatalf("second apply ran %v (%v)", order, err)
	}
}

func shaHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestSecretKeyModeKeptWhenARotationIsRolledBack: a new certificate and key whose site nginx
// rejects puts the old key back as private as it was (0600), never 0644.
func TestSecretKeyModeKeptWhenARotationIsRolledBack(t *testing.T) {
	r := &rig{t: t, root: t.TempDir()}
	dir, m := r.bundle("v1", "server { good }\n", cert(t, time.Now().Add(30*24*time.Hour)))
	if _, err := host.Apply(context.Background(), dir, m, r.options()); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(r.root, "etc/applet/tls/privkey.pem")
	old, _ := os.ReadFile(keyPath)
	r.failing = "nginx-test"
	// A later certificate (the host's is older, so the bundle's pair is installed) and a broken site.
	dir, m = r.bundle("v1", "server { broken }\n", cert(t, time.Now().Add(90*24*time.Hour)))
	if _, err := host.Apply(context.Background(), dir, m, r.options()); err == nil || !strings.Contains(err.Error(), "the previous one is back") {
		t.Fatalf("err = %v", err)
	}
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(keyPath); !bytes.Equal(now, old) {
		t.Fatal("the old key is not back")
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("the restored private key is %v, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Join(r.root, "etc/nginx/sites-enabled/applet-prod.conf")); st.Mode().Perm() != 0o644 {
		t.Fatalf("the restored site is %v, want 0644", st.Mode().Perm())
	}
}
