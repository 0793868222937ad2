package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/gorilla/websocket"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/fakes/metafake"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

const (
	fsAppID  = "wx0123456789abcdef"
	fsSecret = "fullstack-app-secret"
)

// hostSim plays the instance: TAT commands run here with the host's root in a directory, and the
// backends are started once the host step has installed them, as systemd would.
type hostSim struct {
	t            *testing.T
	root         string
	nginxConf    string
	nginxPfx     string
	mu           sync.Mutex
	serve        *exec.Cmd
	serveLog     syncBuffer
	outputs      []string
	nginxTest    string
	nginxRelod   string
	mariadbAdmin string // the test server's administrator, standing in for root over the socket
}

func (h *hostSim) env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.root, "APPLET_HOST_ROOT=" + h.root, "APPLET_HOST_NO_SYSTEMD=1",
		"APPLET_HOST_NGINX_TEST=" + h.nginxTest, "APPLET_HOST_NGINX_RELOAD=" + h.nginxRelod, "APPLET_HOST_MARIADB_ADMIN=" + h.mariadbAdmin,
		"APPLET_DATA_DIR=" + filepath.Join(h.root, "var/lib/applet")}
}

func (h *hostSim) run(instanceID, workDir, script string) (int, string) {
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = h.env()
	cmd.Dir = h.root
	out, err := cmd.CombinedOutput()
	h.mu.Lock()
	h.outputs = append(h.outputs, string(out))
	h.mu.Unlock()
	if err != nil {
		code := 1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, string(out)
	}
	h.startServe()
	return 0, string(out)
}

// startServe starts the installed binary with the installed config (systemd's part), once.
func (h *hostSim) startServe() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.serve != nil {
		return
	}
	cmd := exec.Command(filepath.Join(h.root, "usr/local/bin/applet"), "serve", "all", "--config", filepath.Join(h.root, "etc/applet/applet.yaml"))
	cmd.Env = append(h.env(), "APPLET_DATA_DIR="+filepath.Join(h.root, "var/lib/applet"))
	cmd.Stdout, cmd.Stderr = &h.serveLog, &h.serveLog
	if err := cmd.Start(); err != nil {
		h.t.Errorf("starting serve: %v", err)
		return
	}
	h.serve = cmd
	h.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func freeTCP(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestFullStackRoleAndSecrets provisions against the cloud stand-in with pebble validating DNS-01 against the
// stand-in's DNS, runs the host step into a directory, serves through a real nginx with the issued
// certificate, and checks the four apps over HTTPS; then renews over HTTP-01 through that nginx, and
// converges the host again to find nothing to change. The host reaches COS with its CAM role only:
// the account key is on no host file, and no secret is in a command text, the journal or the output.
func TestFullStackRoleAndSecrets(t *testing.T) { fullStack(t, false) }

// TestFullStackOverSSH is the same with the host step delivered over SSH instead of the command service.
func TestFullStackOverSSH(t *testing.T) { fullStack(t, true) }

func fullStack(t *testing.T, viaSSH bool) {
	nginxBin := testenv.Nginx(t)
	bin := appletBinary(t)

	tc, err := tcfake.New(e2eID, e2eKey)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.AddDomain("example.com")
	tc.SetBootDelay(200 * time.Millisecond)
	tc.SetPublicIP(func(int) string { return "127.0.0.1" })
	cs, err := cosfake.New(e2eID, e2eKey)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	// The instance's metadata service: the role provision attached, credentials that rotate every few
	// seconds, checked by COS against the role's policy.
	md, err := metafake.New(metafake.Config{TTL: 6 * time.Second, Issue: cs.AddRoleKey, Policies: tc.RolePolicies, Role: func() string {
		ids := tc.Instances()
		if len(ids) == 0 {
			return ""
		}
		return tc.InstanceRole(ids[len(ids)-1])
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	wx, err := wechatfake.Start(fsAppID, fsSecret)
	if err != nil {
		t.Fatal(err)
	}
	defer wx.Close()

	p80, p443 := freeTCP(t), freeTCP(t)
	acmeSrv := testenv.ACMEWith(t, testenv.ACMEOptions{DNSAddr: tc.DNSAddr, HTTPPort: p80})
	pebbleRoot, err := acmeSrv.Roots()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	rootsFile := filepath.Join(work, "acme-roots.pem")
	os.WriteFile(rootsFile, append(append([]byte{}, acmeSrv.ServerCertPEM...), pebbleRoot...), 0o644)

	// nginx as the instance runs it: the host step's sites are included; reload is a signal.
	h := &hostSim{t: t, root: filepath.Join(work, "root"), nginxPfx: filepath.Join(work, "nginx")}
	for _, d := range []string{h.root, h.nginxPfx + "/logs", h.nginxPfx + "/tmp"} {
		os.MkdirAll(d, 0o755)
	}
	h.nginxConf = filepath.Join(h.nginxPfx, "nginx.conf")
	os.WriteFile(h.nginxConf, []byte(fmt.Sprintf(`user root;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  include %[2]s/etc/nginx/sites-enabled/*.conf;
}
`, h.nginxPfx, h.root)), 0o644)
	h.nginxTest = fmt.Sprintf("%s -t -q -p %s -c %s", nginxBin, h.nginxPfx, h.nginxConf)
	h.nginxRelod = fmt.Sprintf("%s -s reload -p %s -c %s", nginxBin, h.nginxPfx, h.nginxConf)
	if out, err := exec.Command(nginxBin, "-p", h.nginxPfx, "-c", h.nginxConf).CombinedOutput(); err != nil {
		t.Fatalf("starting nginx: %v\n%s", err, out)
	}
	defer exec.Command(nginxBin, "-s", "stop", "-p", h.nginxPfx, "-c", h.nginxConf).Run()
	// Everything hostSim reads is set before the runner is handed over (the stand-in's lock orders them).
	// The stores listen on loopback, as a self-hosted Redis and MariaDB on the instance would.
	mysqlDSN := ownUserDSN(t, testenv.MySQLFreshDSN(t))
	redisAddr := testenv.RedisAddr(t)
	if mc, err := mysqldrv.ParseDSN(testenv.MySQLDSN(t)); err == nil {
		host, port, _ := net.SplitHostPort(mc.Addr)
		h.mariadbAdmin = "mariadb --no-defaults -h " + host + " -P " + port + " -u " + mc.User + " -p" + mc.Passwd
	}
	tc.SetCommandRunner(h.run)

	// The site's absolute paths point into the host's directory: the same template through the
	// override directory, with the root in front of the certificate and webroot paths.
	site, err := os.ReadFile("../../templates/files/nginx-site.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tplDir := filepath.Join(work, "templates")
	os.MkdirAll(tplDir, 0o755)
	rooted := strings.NewReplacer("{{.CertFile}}", h.root+"{{.CertFile}}", "{{.KeyFile}}", h.root+"{{.KeyFile}}", "{{.Webroot}}", h.root+"{{.Webroot}}").Replace(string(site))
	os.WriteFile(filepath.Join(tplDir, "nginx-site.conf.tmpl"), []byte(rooted), 0o644)

	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "APPLET_MYSQL_DSN=" + mysqlDSN, "APPLET_REDIS_ADDR=" + redisAddr,
		"APPLET_MONGO_URI=" + testenv.MongoURI(t), "APPLET_MONGO_DATABASE=" + testenv.Unique("fullstack_"),
		"APPLET_DEPLOYMENT=prod", "APPLET_DOMAIN=applet.example.com", "APPLET_DATA_DIR=" + work + "/data",
		"APPLET_TENCENTCLOUD_REGION=ap-hongkong", "APPLET_TENCENTCLOUD_ZONE=ap-hongkong-2",
		"APPLET_TENCENTCLOUD_ENDPOINT=http://" + tc.Addr, "TENCENTCLOUD_SECRET_ID=" + e2eID, "TENCENTCLOUD_SECRET_KEY=" + e2eKey,
		"APPLET_COS_BUCKET=album-1250000000", "APPLET_COS_REGION=ap-hongkong", "APPLET_COS_ENDPOINT=" + cs.Addr,
		"APPLET_COS_METADATA_URL=" + md.URL,
		"APPLET_WECHAT_APP_ID=" + fsAppID, "APPLET_WECHAT_APP_SECRET=" + fsSecret, "APPLET_WECHAT_API_BASE=" + wx.URL,
		"APPLET_ALBUM_LISTEN=127.0.0.1:" + strconv.Itoa(freeTCP(t)), "APPLET_GAME_LISTEN=127.0.0.1:" + strconv.Itoa(freeTCP(t)),
		"APPLET_SESSION_LISTEN=127.0.0.1:" + strconv.Itoa(freeTCP(t)), "APPLET_VIDEO_LISTEN=127.0.0.1:" + strconv.Itoa(freeTCP(t)),
		"APPLET_GAME_BOT_DELAY=200ms", "APPLET_GAME_GAME_TIME=300ms",
		"APPLET_PROVISION_POLL_INTERVAL=50ms", "APPLET_PROVISION_ACME_DIRECTORY=" + acmeSrv.Directory,
		"APPLET_PROVISION_ACME_ROOTS=" + rootsFile, "APPLET_PROVISION_HTTP_PORT=" + strconv.Itoa(p80),
		"APPLET_PROVISION_HTTPS_PORT=" + strconv.Itoa(p443), "APPLET_PROVISION_DNS_RESOLVER=" + tc.DNSAddr,
		"APPLET_PROVISION_HOST_TIMEOUT=60s", "APPLET_PROVISION_TEMPLATES_DIR=" + tplDir, "LEGO_DISABLE_CNAME_SUPPORT=true",
	}
	if viaSSH {
		sshd := testenv.SSHD(t, func(cmd string, stdin io.Reader, out io.Writer) int {
			var buf bytes.Buffer
			w := io.MultiWriter(out, &buf)
			c := exec.Command("bash", "-c", cmd)
			c.Env, c.Dir, c.Stdin, c.Stdout, c.Stderr = h.env(), h.root, stdin, w, w
			err := c.Run()
			if strings.Contains(cmd, "host apply") {
				if err == nil {
					h.startServe()
				}
				h.mu.Lock()
				h.outputs = append(h.outputs, buf.String())
				h.mu.Unlock()
			}
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			} else if err != nil {
				return 1
			}
			return 0
		})
		_, port, _ := net.SplitHostPort(sshd.Addr)
		env = append(env, "APPLET_PROVISION_SSH_USER=root", "APPLET_PROVISION_SSH_KEY_FILE="+sshd.KeyFile,
			"APPLET_PROVISION_SSH_PORT="+port, "APPLET_PROVISION_SSH_CIDR=127.0.0.1/32")
		tc.SetCommandRunner(func(string, string, string) (int, string) { return 1, "the command service is not used with SSH" })
	}
	var secrets secrets // known after the first run (the certificate's key is made then)
	provision := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"provision", "--yes"}, args...)...)
		cmd.Env, cmd.Dir = env, work
		out, err := cmd.CombinedOutput()
		secrets.check(t, "the output of provision "+strings.Join(args, " "), string(out))
		if err != nil {
			h.mu.Lock()
			t.Fatalf("provision: %v\n%s\nhost outputs:\n%s\nserve:\n%s", err, out, strings.Join(h.outputs, "\n---\n"), h.serveLog.String())
		}
		return string(out)
	}
	start := time.Now()
	out := provision()
	t.Logf("provision took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	for _, want := range []string{"certificate     created", "host            created", "health          ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("provision output lacks %q", want)
		}
	}
	secrets = leakSearch(t, work, mysqlDSN)
	secrets.check(t, "provision's output", out)
	if viaSSH && len(tc.Commands()) != 0 {
		t.Fatalf("the command service was used: %v", tc.Commands())
	}
	for _, c := range tc.Commands() {
		secrets.check(t, "a command text", c)
	}
	secrets.checkFile(t, filepath.Join(work, "data/provision/prod.json"))
	// Every file on the host: the account key is on none (the host's config holds the app's own
	// secrets, as it must, and no cloud key).
	filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(e2eKey)) || bytes.Contains(b, []byte(e2eID)) {
				t.Errorf("the account key is in %s on the host", p)
			}
		}
		return nil
	})
	if !viaSSH {
		if role := tc.InstanceRole(tc.Instances()[0]); role != "applet-prod" {
			t.Fatalf("the instance runs with role %q", role)
		}
		if md.Issued() == 0 {
			t.Fatal("the host never read its role's credentials")
		}
	}
	media := 0
	for _, o := range cs.Objects("album-1250000000") {
		if !strings.HasPrefix(o, "applet/video/media/") {
			t.Fatalf("the bundle was left in the bucket: %s", o)
		}
		media++
	}
	if media != 20 {
		t.Fatalf("%d sample media files in the bucket", media)
	}
	st, err := os.Stat(filepath.Join(h.root, "etc/applet/applet.yaml"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("host config: %v %v", err, st.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(h.root, "etc/applet/applet.yaml")); bytes.Contains(b, []byte("secret_key: "+e2eKey)) && strings.Contains(string(b), "tencentcloud:\n") && strings.Contains(between(string(b), "tencentcloud:", "provision:"), e2eKey) {
		t.Fatal("the account key was installed on the host")
	}

	if !viaSSH {
		doctorScenarios(t, bin, env, work, h, tc, cs, p443)
	}

	// HTTPS through nginx, verified against pebble's root.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pebbleRoot)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(p443))
	}
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "applet.example.com"}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: dial, TLSClientConfig: tlsCfg}}
	base := "https://applet.example.com:" + strconv.Itoa(p443)

	upload := func(size int) (int, map[string]any) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("image", "a.jpg")
		var jpg bytes.Buffer
		jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 16, 16)), nil)
		img := make([]byte, size) // a real JPEG header, then padding up to the size
		copy(img, jpg.Bytes())
		fw.Write(img)
		mw.Close()
		req, _ := http.NewRequest("POST", base+"/applet/album/upload", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("upload %d: %v", size, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("upload %d: status %d, not JSON: %s", size, resp.StatusCode, b)
		}
		return resp.StatusCode, m
	}
	if code, m := upload(5 << 20); code != 200 || m["code"] != float64(0) {
		t.Fatalf("5 MB upload: %d %v", code, m)
	}
	if code, m := upload(6 << 20); code != 413 || m["msg"] != "单个不超过5MB" {
		t.Fatalf("6 MB upload: %d %v", code, m)
	}
	if !viaSSH {
		// Through a rotation: the credentials live 6s and are replaced when half is left.
		issued := md.Issued()
		time.Sleep(4500 * time.Millisecond)
		if code, m := upload(1 << 20); code != 200 || m["code"] != float64(0) {
			t.Fatalf("upload after the role's credentials rotated: %d %v\n%s", code, m, h.serveLog.String())
		}
		if md.Issued() <= issued {
			t.Fatalf("no rotation happened (%d sets issued)", md.Issued())
		}
	}
	getJSON := func(path string, hdr map[string]string) map[string]any {
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return m
	}
	if m := getJSON("/applet/album/list", nil); m["code"] != float64(0) || !strings.Contains(fmt.Sprint(m["data"]), "album-1250000000") {
		t.Fatalf("album list: %v", m)
	}
	// The sample videos' posters and clips come from the bucket, where provision put them.
	if m := getJSON("/applet/video/list?pageNo=1", nil); m["code"] != float64(0) ||
		!strings.Contains(fmt.Sprint(m["data"]), "video_image:https://album-1250000000.cos.ap-hongkong.myqcloud.com/applet/video/media/01-harbor-lights.jpg") {
		t.Fatalf("video list: %v", m)
	}
	if m := getJSON("/applet/session/login", map[string]string{"X-WX-Code": "alice:1"}); m["code"] != float64(0) {
		t.Fatalf("session login: %v", m)
	}
	if resp, err := client.Get(base + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("/metrics through nginx: %v %v", resp, err)
	}
	// HTTP redirects to HTTPS.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get("http://127.0.0.1:" + strconv.Itoa(p80) + "/applet/video/list"); err != nil || resp.StatusCode != 301 ||
		!strings.HasPrefix(resp.Header.Get("Location"), "https://") {
		t.Fatalf("HTTP: %v %v", resp, err)
	}

	// A game round over WebSocket through nginx, against the bot.
	wd := websocket.Dialer{NetDialContext: dial, TLSClientConfig: tlsCfg}
	ws, _, err := wd.Dial("wss://applet.example.com:"+strconv.Itoa(p443)+"/applet/websocket/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket: %v", err)
	}
	defer ws.Close()
	send := func(event string, data any) {
		b, _ := json.Marshal(map[string]any{"event": event, "data": data})
		ws.WriteMessage(websocket.TextMessage, b)
	}
	expect := func(event string) map[string]any {
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v", event, err)
			}
			var f struct {
				Event string
				Data  map[string]any
			}
			json.Unmarshal(msg, &f)
			if f.Event == event {
				return f.Data
			}
		}
	}
	send("hello", map[string]any{"user": map[string]any{"uid": "u1", "uname": "one", "uavatar": "https://a.example/1.png"}})
	expect("hi")
	send("join", nil)
	expect("start")
	send("choice", map[string]any{"choice": 1})
	if r := expect("result"); r == nil {
		t.Fatal("no result")
	}

	// HTTP-01 renewal on the host through this nginx: a new certificate, served after the reload.
	serial := func() string {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p443), tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	renew := exec.Command(filepath.Join(h.root, "usr/local/bin/applet"), "host", "renew", "--renew-before", "2200h")
	renew.Env = h.env()
	if out, err := renew.CombinedOutput(); err != nil || !strings.Contains(string(out), "certificate renewed") {
		t.Fatalf("renew: %v\n%s\nnginx error log:\n%s", err, out, readFile(filepath.Join(h.nginxPfx, "logs/error.log")))
	}
	var after string
	for i := 0; i < 50; i++ { // the reload is asynchronous: old workers finish first
		if after = serial(); after != before {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after == before {
		t.Fatal("nginx still serves the old certificate after renewal")
	}

	if !viaSSH {
		staleBundleIsRemoved(t, bin, env, work, h, tc, cs)
	}

	// Converging again changes nothing: the certificate renewed on the host is kept, nothing reloads.
	// With the operator's copy lost, provision sees the valid one the domain serves and issues none.
	os.Remove(filepath.Join(work, "data/provision/prod-tls/fullchain.pem"))
	h.mu.Lock()
	n := len(h.outputs)
	h.mu.Unlock()
	out = provision("--converge")
	h.mu.Lock()
	last := h.outputs[len(h.outputs)-1]
	h.mu.Unlock()
	if len(h.outputs) != n+1 || !strings.Contains(last, "host: nothing to change") {
		t.Fatalf("second converge:\n%s\nhost said:\n%s", out, last)
	}
	if serial() != after {
		t.Fatal("the second converge replaced the renewed certificate")
	}
	if !strings.Contains(out, "certificate     ok       the host serves one valid until") {
		t.Fatalf("a second certificate was issued while the first is valid:\n%s", out)
	}
	if !viaSSH { // rollback goes through the command service
		upgradeAndRollBack(t, provision, h.root)
		lostInstanceComesBack(t, h, tc, cs, provision, getJSON, client, base, mysqlDSN, env)
	}
	// What the host said and logged, and every command the command service keeps.
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.outputs {
		secrets.check(t, "the host step's output", o)
	}
	secrets.check(t, "the backends' log", h.serveLog.String())
	for _, c := range tc.Commands() {
		secrets.check(t, "a command text", c)
	}
	secrets.checkFile(t, filepath.Join(work, "data/provision/prod.json"))
}

// upgradeAndRollBack installs a newer binary through provision, then rolls back to the previous one.
func upgradeAndRollBack(t *testing.T, provision func(args ...string) string, root string) {
	t.Helper()
	next := filepath.Join(t.TempDir(), "applet-next")
	if out, err := exec.Command("go", "build", "-ldflags", "-X github.com/qcloud-applet/applet/internal/buildinfo.Version=v-next", "-o", next, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	installed := filepath.Join(root, "usr/local/bin/applet")
	version := func() string {
		out, _ := exec.Command(installed, "version").CombinedOutput()
		return string(out)
	}
	before := version()
	out := provision("--host-binary", next)
	if !strings.Contains(out, "host            updated") || !strings.Contains(version(), "v-next") {
		t.Fatalf("upgrade: %s\ninstalled: %s", out, version())
	}
	// The binary it replaced backed the data up first.
	if !strings.Contains(out, "did backup before the upgrade") {
		t.Fatalf("the upgrade did not back up first:\n%s", out)
	}
	out = provision("rollback")
	if version() != before {
		t.Fatalf("rollback: %s\ninstalled: %s, want %s", out, version(), before)
	}
}

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, b); j >= 0 {
		return s[:j]
	}
	return s
}

// secrets are what must never be in a command text, the journal or any output.
type secrets map[string]string

func leakSearch(t *testing.T, work, mysqlDSN string) secrets {
	s := secrets{"the account's SecretKey": e2eKey, "the WeChat app secret": fsSecret}
	if mc, err := mysqldrv.ParseDSN(mysqlDSN); err == nil && mc.Passwd != "" {
		s["the MySQL password"] = mc.Passwd
	}
	key, err := os.ReadFile(filepath.Join(work, "data/provision/prod-tls/privkey.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(key)), "\n"); len(lines) > 2 {
		s["the TLS private key"] = lines[1]
	}
	if acct, err := os.ReadFile(filepath.Join(work, "data/provision/prod-tls/account.key")); err == nil {
		if lines := strings.Split(strings.TrimSpace(string(acct)), "\n"); len(lines) > 2 {
			s["the ACME account key"] = lines[1]
		}
	}
	return s
}

func (s secrets) check(t *testing.T, where, text string) {
	t.Helper()
	for name, v := range s {
		if strings.Contains(text, v) {
			t.Errorf("%s is in %s", name, where)
		}
	}
}

func (s secrets) checkFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s.check(t, path, string(b))
}

// staleBundleIsRemoved kills provision while the instance runs the host step (the bundle is in the
// bucket), then runs it again: the bundle a killed run left is gone.
func staleBundleIsRemoved(t *testing.T, bin string, env []string, work string, h *hostSim, tc *tcfake.Server, cs *cosfake.Server) {
	t.Helper()
	running := make(chan struct{}, 1)
	release := make(chan struct{})
	tc.SetCommandRunner(func(string, string, string) (int, string) {
		running <- struct{}{}
		<-release
		return 1, "killed"
	})
	cmd := exec.Command(bin, "provision", "--yes", "--converge")
	cmd.Env, cmd.Dir = env, work
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-running:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the host step never ran:\n%s", out.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
	close(release)
	var bundles []string
	for _, o := range cs.Objects("album-1250000000") {
		if strings.HasPrefix(o, "applet-deploy/") {
			bundles = append(bundles, o)
		}
	}
	if len(bundles) != 2 {
		t.Fatalf("after the kill the bucket holds %v; want the binary and the secret part", bundles)
	}
	if cs.Object("album-1250000000", bundles[1]).ACL != "private" || cs.Object("album-1250000000", bundles[0]).ACL != "private" {
		t.Fatal("a bundle object is not private")
	}
	if !strings.Contains(string(cs.Lifecycle("album-1250000000")), "applet-deploy/") {
		t.Fatalf("no lifecycle rule expires bundles: %s", cs.Lifecycle("album-1250000000"))
	}
	tc.SetCommandRunner(h.run)
	cmd = exec.Command(bin, "provision", "--yes", "--converge")
	cmd.Env, cmd.Dir = env, work
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("provision after the kill: %v\n%s", err, b)
	}
	for _, o := range cs.Objects("album-1250000000") {
		if strings.HasPrefix(o, "applet-deploy/") {
			t.Fatalf("a bundle is left after the next run: %s", o)
		}
	}
}

// ownUserDSN gives the database a user of its own with a random password, so a search for the
// password finds it only where it really went.
func ownUserDSN(t *testing.T, dsn string) string {
	t.Helper()
	mc, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 12)
	crand.Read(b)
	user, pass := "fs_"+hex.EncodeToString(b[:4]), "pw-"+hex.EncodeToString(b)
	admin := *mc
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + pass + "'", "GRANT ALL ON `" + mc.DBName + "`.* TO '" + user + "'@'%'"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		if db, err := sql.Open("mysql", admin.FormatDSN()); err == nil {
			db.Exec("DROP USER IF EXISTS '" + user + "'@'%'")
			db.Close()
		}
	})
	mc.User, mc.Passwd = user, pass
	return mc.FormatDSN()
}

// lostInstanceComesBack writes data through the public routes, backs up on the host, loses the
// instance with its disk and databases, provisions again with --restore=latest and reads the same
// data back through the public routes.
func lostInstanceComesBack(t *testing.T, h *hostSim, tc *tcfake.Server, cs *cosfake.Server, provision func(args ...string) string,
	getJSON func(string, map[string]string) map[string]any, client *http.Client, base, mysqlDSN string, env []string) {
	t.Helper()
	post := func(path, body string, hdr map[string]string) map[string]any {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &m) != nil || m["code"] != float64(0) {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return m
	}
	login := func(code string) map[string]string {
		m := getJSON("/applet/session/login", map[string]string{"X-WX-Code": code})
		return map[string]string{"X-WX-Skey": fmt.Sprint(m["data"].(map[string]any)["skey"])}
	}
	const comment = "kept through a lost instance 😀"
	post("/applet/video/comment", `{"vid":"1","nick":"备份","avatar":"","content":"`+comment+`"}`, nil)
	post("/applet/session/paints/save", `{"id":"lost-and-found","actions":"[1,2,3]"}`, login("bob:1"))

	// The timer's backup, run by hand on the host with its role.
	backup := exec.Command(filepath.Join(h.root, "usr/local/bin/applet"), "backup", "--config", filepath.Join(h.root, "etc/applet/applet.yaml"))
	backup.Env = h.env()
	out, err := backup.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "backup ") {
		t.Fatalf("backup on the host: %v\n%s", err, out)
	}
	manifests := 0
	for _, o := range cs.Objects("prod-backup-1250000000") {
		if strings.HasPrefix(o, "manifests/") {
			manifests++
		}
	}
	if manifests == 0 || len(cs.Objects("prod-backup-1250000000")) < 3 {
		t.Fatalf("the backup bucket holds %v", cs.Objects("prod-backup-1250000000"))
	}
	if _, acl, _, _ := cs.Bucket("prod-backup-1250000000"); acl != "private" {
		t.Fatalf("the backup bucket is %s", acl)
	}

	// The instance dies with its disk; its MariaDB and MongoDB data go with it.
	ids := tc.Instances()
	tc.LoseInstance(ids[len(ids)-1])
	h.mu.Lock()
	h.serve.Process.Kill()
	h.serve.Wait()
	h.serve = nil
	h.mu.Unlock()
	os.RemoveAll(h.root)
	os.MkdirAll(h.root, 0o755)
	mc, _ := mysqldrv.ParseDSN(mysqlDSN)
	admin, err := sql.Open("mysql", testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("DROP DATABASE `" + mc.DBName + "`"); err != nil {
		t.Fatal(err)
	}
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "APPLET_MONGO_DATABASE="); ok {
			dropMongo(t, v)
		}
	}

	out2 := provision("--restore=latest")
	if !strings.Contains(out2, "gets backup") || !strings.Contains(out2, "restored backup") {
		t.Fatalf("provision after the loss:\n%s", out2)
	}
	if m := getJSON("/applet/video/commentList?vid=1", nil); !strings.Contains(fmt.Sprint(m["data"]), comment) {
		t.Fatalf("the comment did not come back: %v", m)
	}
	if m := getJSON("/applet/session/paints/list", login("bob:2")); !strings.Contains(fmt.Sprint(m["data"]), "lost-and-found") {
		t.Fatalf("the drawing did not come back: %v", m)
	}
}

func dropMongo(t *testing.T, database string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	if err := c.Database(database).Drop(ctx); err != nil {
		t.Fatal(err)
	}
}
