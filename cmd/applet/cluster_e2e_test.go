package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/gorilla/websocket"
	goredis "github.com/redis/go-redis/v9"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/fakes/metafake"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

// netns gives each instance of a test a network namespace of its own, as separate machines have:
// its own loopback (the backends' ports), its own port 80 (nginx), and an address the load balancer
// reaches it at. The stores and cloud stand-ins are reached from every namespace at svc, an address
// on this machine's loopback, as the instances reach managed databases in their VPC.
type netns struct {
	t      *testing.T
	prefix string // 10.x.y: the namespaces' /30 links are in prefix.0/24
	svc    string
	names  []string
}

func newNetns(t *testing.T, n int) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		if testenv.CI() {
			t.Fatal("the cluster test needs root for its network namespaces")
		}
		t.Skip("the cluster test needs root for its network namespaces")
	}
	nn := &netns{t: t, prefix: fmt.Sprintf("10.%d.%d", 200+rand.IntN(50), rand.IntN(256))}
	nn.svc = nn.prefix + ".254"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("addr", "add", nn.svc+"/32", "dev", "lo")
	t.Cleanup(func() { exec.Command("ip", "addr", "del", nn.svc+"/32", "dev", "lo").Run() })
	tag := strings.ReplaceAll(nn.prefix[3:], ".", "x")
	for k := range n {
		name := fmt.Sprintf("ap%s-%d", tag, k)
		host, inside := fmt.Sprintf("%s.%d", nn.prefix, 4*k+1), fmt.Sprintf("%s.%d", nn.prefix, 4*k+2)
		run("netns", "add", name)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
				for _, p := range strings.Fields(string(out)) {
					if pid, err := strconv.Atoi(p); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
			exec.Command("ip", "netns", "del", name).Run()
			exec.Command("ip", "link", "del", name+"h").Run()
		})
		run("link", "add", name+"h", "type", "veth", "peer", "name", name+"n")
		run("link", "set", name+"n", "netns", name)
		run("addr", "add", host+"/30", "dev", name+"h")
		run("link", "set", name+"h", "up")
		run("netns", "exec", name, "ip", "addr", "add", inside+"/30", "dev", name+"n")
		run("netns", "exec", name, "ip", "link", "set", name+"n", "up")
		run("netns", "exec", name, "ip", "link", "set", "lo", "up")
		run("netns", "exec", name, "ip", "route", "add", "default", "via", host)
		nn.names = append(nn.names, name)
	}
	return nn
}

// addr is the address of namespace k as the load balancer reaches it.
func (nn *netns) addr(k int) string { return fmt.Sprintf("%s.%d", nn.prefix, 4*k+2) }

// relay forwards svc:<port> to target, so every namespace reaches a server that listens on loopback.
// socat does it in processes of its own: a relay in this (race-instrumented) process would add its
// own stalls to every store call.
func (nn *netns) relay(target string) string {
	ln, err := net.Listen("tcp", nn.svc+":0")
	if err != nil {
		nn.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("socat", "TCP-LISTEN:"+port+",bind="+nn.svc+",fork,reuseaddr", "TCP:"+target)
	if err := cmd.Start(); err != nil {
		nn.t.Fatalf("socat: %v", err)
	}
	nn.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	nn.t.Fatalf("socat did not listen on %s", addr)
	return ""
}

// relayURL is u with its host:port relayed from svc.
func (nn *netns) relayURL(u string) string {
	host := strings.Split(u, "/")[2]
	return strings.Replace(u, host, nn.relay(host), 1)
}

// nsHost plays one instance in its namespace: TAT commands run there with the host's root in a
// directory, nginx runs there, and the backends are (re)started after each converge, as systemd does.
type nsHost struct {
	t         *testing.T
	ns        string
	root, pfx string
	nginx     string
	mu        sync.Mutex
	serve     *exec.Cmd
	serveLog  syncBuffer
	outputs   []string
}

func (h *nsHost) in(args ...string) []string {
	return append([]string{"ip", "netns", "exec", h.ns}, args...)
}

func (h *nsHost) env() []string {
	conf := filepath.Join(h.pfx, "nginx.conf")
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.root, "APPLET_HOST_ROOT=" + h.root, "APPLET_HOST_NO_SYSTEMD=1",
		"APPLET_HOST_NGINX_TEST=" + strings.Join(h.in(h.nginx, "-t", "-q", "-p", h.pfx, "-c", conf), " "),
		"APPLET_HOST_NGINX_RELOAD=" + strings.Join(h.in(h.nginx, "-s", "reload", "-p", h.pfx, "-c", conf), " "),
		"APPLET_DATA_DIR=" + filepath.Join(h.root, "var/lib/applet")}
}

func newNsHost(t *testing.T, ns, nginx, dir string) *nsHost {
	h := &nsHost{t: t, ns: ns, root: filepath.Join(dir, "root"), pfx: filepath.Join(dir, "nginx"), nginx: nginx}
	for _, d := range []string{h.root + "/etc/nginx/sites-enabled", h.pfx + "/logs", h.pfx + "/tmp"} {
		os.MkdirAll(d, 0o755)
	}
	conf := filepath.Join(h.pfx, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`user root;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  include %[2]s/etc/nginx/sites-enabled/*.conf;
}
`, h.pfx, h.root)), 0o644)
	cmd := exec.Command(h.in(nginx, "-p", h.pfx, "-c", conf)[0], h.in(nginx, "-p", h.pfx, "-c", conf)[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("starting nginx in %s: %v\n%s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", h.in(nginx, "-s", "stop", "-p", h.pfx, "-c", conf)[1:]...).Run() })
	return h
}

func (h *nsHost) run(script string) (int, string) {
	args := h.in("bash", "-c", script)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Dir = h.env(), h.root
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
	if strings.Contains(script, "host apply") {
		h.restart()
	}
	return 0, string(out)
}

// restart stops the backends (SIGTERM: they drain) and starts the installed binary with the installed
// config, as systemd restarts applet@ on a converge.
func (h *nsHost) restart() {
	h.stop(syscall.SIGTERM)
	h.mu.Lock()
	defer h.mu.Unlock()
	args := h.in(filepath.Join(h.root, "usr/local/bin/applet"), "serve", "all", "--config", filepath.Join(h.root, "etc/applet/applet.yaml"))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = h.env()
	cmd.Stdout, cmd.Stderr = &h.serveLog, &h.serveLog
	if err := cmd.Start(); err != nil {
		h.t.Errorf("starting serve in %s: %v", h.ns, err)
		return
	}
	h.serve = cmd
	h.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := h.in("curl", "-fs", "-o", "/dev/null", "http://127.0.0.1:9994/applet/video/readyz")
	for range 100 {
		if exec.Command(ready[0], ready[1:]...).Run() == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the backends with sig (SIGKILL: the instance dies).
func (h *nsHost) stop(sig syscall.Signal) {
	h.mu.Lock()
	cmd := h.serve
	h.serve = nil
	h.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(sig)
		cmd.Wait()
	}
}

// clusterRig is the cloud, the stores and three namespaces for instances, with provision's config.
type clusterRig struct {
	t              *testing.T
	bin, work      string
	nn             *netns
	tc             *tcfake.Server
	pebbleRoot     []byte
	p443, p80      int
	env            []string
	hmu            sync.Mutex
	hosts          map[string]*nsHost
	free           []*nsHost
	setEnv         func(kv string)
	provision      func(args ...string) string
	backendTrouble func() string
	release        func(id string)
	// deployment is the deployment's name (unique: its MySQL account and database live on the shared
	// server); redis is the managed Redis as the test reaches it.
	deployment string
	redis      func() *goredis.Client
	mongoRelay string // the MongoDB-wire server, without accounts, as the instances reach it
}

// newClusterRig starts it; certValidity is how long the certificates issued live (0: 90 days).
func newClusterRig(t *testing.T, certValidity time.Duration) *clusterRig {
	r := &clusterRig{t: t, hosts: map[string]*nsHost{}}
	nginxBin := testenv.Nginx(t)
	bin := appletBinary(t)
	nn := newNetns(t, 3)
	r.bin, r.nn = bin, nn

	tc, err := tcfake.New(e2eID, e2eKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	r.tc = tc
	tc.AddDomain("example.com")
	tc.SetBootDelay(200 * time.Millisecond)
	tc.SetHealthCheckEvery(100 * time.Millisecond)
	p443, p80 := freeTCP(t), freeTCP(t)
	r.p443, r.p80 = p443, p80
	// An instance's address is its namespace's: the one-instance layout is reached there directly.
	tc.SetPublicIP(func(n int) string { return nn.addr(n) })
	tc.SetLoadBalancerVIP("127.0.0.1")
	tc.SetListenAt(func(port int) string {
		if port == 443 {
			return "127.0.0.1:" + strconv.Itoa(p443)
		}
		return "127.0.0.1:" + strconv.Itoa(p80)
	})
	cs, err := cosfake.New(e2eID, e2eKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	md, err := metafake.New(metafake.Config{TTL: time.Minute, Issue: cs.AddRoleKey, Policies: tc.RolePolicies, Role: func() string {
		ids := tc.Instances()
		if len(ids) == 0 {
			return ""
		}
		return tc.InstanceRole(ids[0])
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	wx, err := wechatfake.Start(fsAppID, fsSecret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wx.Close() })
	acmeSrv := testenv.ACMEWith(t, testenv.ACMEOptions{DNSAddr: tc.DNSAddr, HTTPPort: freeTCP(t), Validity: certValidity})
	pebbleRoot, err := acmeSrv.Roots()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	r.work, r.pebbleRoot = work, pebbleRoot
	rootsFile := filepath.Join(work, "acme-roots.pem")
	os.WriteFile(rootsFile, append(append([]byte{}, acmeSrv.ServerCertPEM...), pebbleRoot...), 0o644)

	// The instances: one namespace each, given to instances in the order they first run a command.
	hmu, hosts := &r.hmu, r.hosts
	for k, ns := range nn.names {
		r.free = append(r.free, newNsHost(t, ns, nginxBin, filepath.Join(work, fmt.Sprintf("inst%d", k))))
	}
	addrOf := map[*nsHost]string{}
	for k, h := range r.free {
		addrOf[h] = nn.addr(k)
	}
	hostOf := func(id string) *nsHost {
		hmu.Lock()
		defer hmu.Unlock()
		h := hosts[id]
		if h == nil && len(r.free) > 0 {
			h, r.free = r.free[0], r.free[1:]
			hosts[id] = h
			tc.SetTargetAddr(id, 80, addrOf[h]+":80")
		}
		return h
	}
	tc.SetCommandRunner(func(id, _, script string) (int, string) {
		h := hostOf(id)
		if h == nil {
			return 1, "no namespace left for " + id
		}
		return h.run(script)
	})
	// A terminated instance's namespace is free again, empty, as a new machine is.
	r.release = func(id string) {
		hmu.Lock()
		defer hmu.Unlock()
		if h := hosts[id]; h != nil {
			h.stop(syscall.SIGKILL)
			delete(hosts, id)
			r.free = append(r.free, h)
		}
	}

	// The managed databases provision makes are real servers, reached from the instances at svc: the
	// suite's MariaDB, where the API's accounts and databases become real ones, a Redis of this test's
	// own, whose password the API sets, and the suite's MongoDB-wire server behind a front that gives it
	// accounts (SCRAM, as TencentDB for MongoDB's mongouser logs in).
	r.deployment = testenv.Unique("c")
	r.redis = managedBackends(t, tc, nn)
	mongoHost := strings.TrimPrefix(testenv.MongoURI(t), "mongodb://")
	if i := strings.IndexAny(mongoHost, "/?"); i >= 0 {
		mongoHost = mongoHost[:i]
	}
	mongoDB := testenv.Unique("cluster_")
	t.Cleanup(func() { dropMongo(t, mongoDB) })
	mongoAuth := testenv.NewMongoAuth(t, mongoHost)
	tc.SetDatabaseBackend("mongodb", tcfake.DatabaseBackend{Addr: nn.relay(mongoAuth.Addr), Apply: func(_ context.Context, op tcfake.DatabaseOp) error {
		if op.Kind != "password" {
			return fmt.Errorf("no such change %q", op.Kind)
		}
		mongoAuth.SetPassword(op.User, op.Password)
		return nil
	}})
	r.mongoRelay = "mongodb://" + nn.relay(mongoHost)
	// The one-instance layout's site names its certificate by absolute path: the first namespace's
	// root goes in front (the site behind a load balancer has no such path).
	site, err := os.ReadFile("../../templates/files/nginx-site.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tplDir := filepath.Join(work, "templates")
	os.MkdirAll(tplDir, 0o755)
	root0 := r.free[0].root
	os.WriteFile(filepath.Join(tplDir, "nginx-site.conf.tmpl"), []byte(strings.NewReplacer("{{.CertFile}}", root0+"{{.CertFile}}", "{{.KeyFile}}", root0+"{{.KeyFile}}", "{{.Webroot}}", root0+"{{.Webroot}}").Replace(string(site))), 0o644)
	r.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "APPLET_MONGO_DATABASE=" + mongoDB,
		"APPLET_DEPLOYMENT=" + r.deployment, "APPLET_DOMAIN=applet.example.com", "APPLET_DATA_DIR=" + work + "/data",
		"APPLET_TENCENTCLOUD_REGION=ap-hongkong", "APPLET_TENCENTCLOUD_ZONE=ap-hongkong-2",
		"APPLET_TENCENTCLOUD_ENDPOINT=http://" + tc.Addr, "TENCENTCLOUD_SECRET_ID=" + e2eID, "TENCENTCLOUD_SECRET_KEY=" + e2eKey,
		"APPLET_COS_BUCKET=album-1250000000", "APPLET_COS_REGION=ap-hongkong", "APPLET_COS_ENDPOINT=" + nn.relay(cs.Addr),
		"APPLET_COS_METADATA_URL=" + nn.relayURL(md.URL),
		"APPLET_WECHAT_APP_ID=" + fsAppID, "APPLET_WECHAT_APP_SECRET=" + fsSecret, "APPLET_WECHAT_API_BASE=" + nn.relayURL(wx.URL),
		"APPLET_GAME_BOT_DELAY=200ms", "APPLET_GAME_GAME_TIME=300ms", "APPLET_SERVE_WRITE_RATE=0", "APPLET_SERVE_SHUTDOWN_TIMEOUT=5s",
		// The test command runs packages side by side on a small machine under -race: a query may wait
		// on the shared MariaDB's disk longer than the default 2 s, which would be the machine, not the roll.
		"APPLET_VIDEO_QUERY_TIMEOUT=10s", "APPLET_SESSION_TIMEOUT=10s",
		"APPLET_PROVISION_INSTANCES=2", "APPLET_PROVISION_LB_RANGES=" + nn.prefix + ".0/24", "APPLET_PROVISION_DRAIN_TIMEOUT=30s",
		"APPLET_PROVISION_POLL_INTERVAL=50ms", "APPLET_PROVISION_ACME_DIRECTORY=" + acmeSrv.Directory,
		"APPLET_PROVISION_ACME_ROOTS=" + rootsFile, "APPLET_PROVISION_HTTPS_PORT=" + strconv.Itoa(p443),
		"APPLET_PROVISION_DNS_RESOLVER=" + tc.DNSAddr, "APPLET_PROVISION_HOST_TIMEOUT=60s", "LEGO_DISABLE_CNAME_SUPPORT=true",
		"APPLET_PROVISION_TEMPLATES_DIR=" + tplDir,
	}
	r.setEnv = func(kv string) {
		k := kv[:strings.Index(kv, "=")+1]
		for i, e := range r.env {
			if strings.HasPrefix(e, k) {
				r.env[i] = kv
				return
			}
		}
		r.env = append(r.env, kv)
	}
	// backendTrouble is what the instances' backends logged at WARN and above, for a failure's message.
	r.backendTrouble = func() string {
		hmu.Lock()
		defer hmu.Unlock()
		var out []string
		for id, h := range hosts {
			for _, line := range strings.Split(h.serveLog.String(), "\n") {
				if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
					out = append(out, id+": "+line)
				}
			}
		}
		if len(out) > 40 {
			out = out[len(out)-40:]
		}
		return strings.Join(out, "\n")
	}
	r.provision = func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"provision", "--yes"}, args...)...)
		cmd.Env, cmd.Dir = r.env, work
		out, err := cmd.CombinedOutput()
		if err != nil {
			hmu.Lock()
			var logs []string
			for id, h := range hosts {
				h.mu.Lock()
				logs = append(logs, id+":\n"+strings.Join(h.outputs, "\n---\n")+"\nserve:\n"+h.serveLog.String())
				h.mu.Unlock()
			}
			hmu.Unlock()
			t.Fatalf("provision %s: %v\n%s\n%s", strings.Join(args, " "), err, out, strings.Join(logs, "\n====\n"))
		}
		return string(out)
	}
	return r
}

// TestClusterFullStack provisions two instances behind the load balancer (each in its own network
// namespace), plays, uploads and comments through it, rolls an upgrade under load with no failed
// request and no lost comment, loses an instance and repairs it, scales to three and back, and
// destroys everything.
func TestClusterFullStack(t *testing.T) {
	r := newClusterRig(t, 0)
	bin, tc, work, p443, p80, pebbleRoot := r.bin, r.tc, r.work, r.p443, r.p80, r.pebbleRoot
	hmu, hosts := &r.hmu, r.hosts
	setEnv, provision, backendTrouble, release := r.setEnv, r.provision, r.backendTrouble, r.release

	if os.Getenv("APPLET_CLUSTER_LOAD") == "full" {
		// Closer to the cloud's pace for the wall-time figure: instances boot in seconds, CLB tasks take
		// a while.
		tc.SetBootDelay(3 * time.Second)
		tc.SetTaskTime(500 * time.Millisecond)
		tc.SetDatabaseReady(3 * time.Second)
	}
	start := time.Now()
	out := provision()
	wall := time.Since(start)
	t.Logf("provision of 2 instances took %s, %.2f× its critical path (%s):\n%s", wall.Round(time.Millisecond), wall.Seconds()/criticalPath(out).Seconds(), criticalPath(out).Round(time.Millisecond), out)
	tc.SetBootDelay(200 * time.Millisecond)
	tc.SetTaskTime(50 * time.Millisecond)
	for _, want := range []string{"load-balancer   created", "certificate     created", "health          ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("provision output lacks %q", want)
		}
	}
	// No certificate, ACME account or cloud key is on any instance: the load balancer holds the
	// certificate, and provision renews it.
	hmu.Lock()
	for id, h := range hosts {
		filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if strings.Contains(p, "/etc/applet/tls/") {
				t.Errorf("%s has TLS file %s behind the load balancer", id, p)
			}
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(e2eKey)) {
				t.Errorf("the account key is in %s on %s", p, id)
			}
			return nil
		})
	}
	hmu.Unlock()
	lbs := tc.LoadBalancerIDs()
	if len(lbs) != 1 || len(tc.Instances()) != 2 {
		t.Fatalf("%d load balancers, %d instances", len(lbs), len(tc.Instances()))
	}
	lb := lbs[0]
	checkManaged(t, r)
	// The instances run in the deployment's own VPC and subnet.
	if vpcs := tc.VPCs(); len(vpcs) != 1 || !strings.Contains(vpcs[0], "10.110.0.0/16: subnet-") || !strings.Contains(vpcs[0], "10.110.1.0/24 ap-hongkong-2") {
		t.Fatalf("VPCs: %v", vpcs)
	}
	for _, id := range tc.Instances() {
		if vpc, sn := tc.InstanceSubnet(id); !strings.HasPrefix(vpc, "vpc-") || !strings.HasPrefix(sn, "subnet-") {
			t.Fatalf("%s runs in %q %q, not the deployment's VPC", id, vpc, sn)
		}
	}
	tc.ResetCalls()
	if again := provision(); !strings.Contains(again, "Nothing to change.") {
		t.Fatalf("a second run:\n%s", again)
	}
	var reads []string
	for _, c := range tc.Calls() {
		if c.Write {
			t.Fatalf("a run with nothing to change wrote: %s %s", c.Service, c.Action)
		}
		reads = append(reads, c.Service+":"+c.Action)
	}
	t.Logf("a run with nothing to change: %d read calls (%s)", len(reads), strings.Join(reads, ", "))

	// Everything through the load balancer, with the certificate pebble issued.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pebbleRoot)
	// Each load client has an address of its own (127.0.0.<n>), as phones do: nginx limits what one
	// address may hold at once.
	dialFrom := func(from string) func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		return func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(p443))
		}
	}
	dial := dialFrom("127.0.0.1")
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "applet.example.com"}
	base := "https://applet.example.com:" + strconv.Itoa(p443)
	type api struct {
		call    func(method, path, ctype string, body io.Reader) (map[string]any, error)
		upload  func() error
		comment func(content string) error
	}
	apiFrom := func(from string) api {
		client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: dialFrom(from), TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 4}}
		var a api
		a.call = func(method, path, ctype string, body io.Reader) (map[string]any, error) {
			req, _ := http.NewRequest(method, base+path, body)
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil || resp.StatusCode != 200 || m["code"] != float64(0) {
				return m, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
			}
			return m, nil
		}
		a.upload = func() error {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			fw, _ := mw.CreateFormFile("image", "a.jpg")
			jpeg.Encode(fw, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil)
			mw.Close()
			_, err := a.call("POST", "/applet/album/upload", mw.FormDataContentType(), &body)
			return err
		}
		a.comment = func(content string) error {
			_, err := a.call("POST", "/applet/video/comment", "application/json",
				strings.NewReader(`{"vid":2,"nick":"load","avatar":"https://a.example/a.png","content":"`+content+`"}`))
			return err
		}
		return a
	}
	front := apiFrom("127.0.0.1")
	call, upload, comment := front.call, front.upload, front.comment
	if err := upload(); err != nil {
		t.Fatal(err)
	}
	if m, err := call("GET", "/applet/album/list", "", nil); err != nil || !strings.Contains(fmt.Sprint(m["data"]), "album-1250000000") {
		t.Fatalf("album list: %v %v", m, err)
	}
	if err := comment("first"); err != nil {
		t.Fatal(err)
	}
	if _, err := call("GET", "/applet/video/list?pageNo=1", "", nil); err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(p80)+"/applet/video/list", nil)
	req.Host = "applet.example.com"
	if resp, err := plain.Do(req); err != nil || resp.StatusCode != 301 {
		t.Fatalf("HTTP through the load balancer: %v %v", resp, err)
	}

	// One player on each instance, matched into one room across them.
	wd := websocket.Dialer{NetDialContext: dial, TLSClientConfig: tlsCfg}
	onInstance := func() (*wsPlayer, string) {
		before := tc.Served(lb)
		ws, _, err := wd.Dial("wss://applet.example.com:"+strconv.Itoa(p443)+"/applet/websocket/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		for k, v := range tc.Served(lb) {
			if v > before[k] {
				return &wsPlayer{t: t, ws: ws}, k
			}
		}
		t.Fatal("the load balancer served the WebSocket from no target")
		return nil, ""
	}
	a, at := onInstance()
	var b *wsPlayer
	for range 30 {
		p, where := onInstance()
		if where != at {
			b = p
			break
		}
		p.ws.Close()
	}
	if b == nil {
		t.Fatal("30 WebSockets through the load balancer all landed on one instance")
	}
	a.emit("hello", hello("alice", 22.54, 114.05))
	a.expect("hi", 5*time.Second)
	b.emit("hello", hello("bob", 22.541, 114.051))
	b.expect("hi", 5*time.Second)
	a.emit("join", nil)
	time.Sleep(100 * time.Millisecond)
	b.emit("join", nil)
	if s := mustJSONString(b.expect("start", 5*time.Second)["roomUsers"]); !strings.Contains(s, "alice") {
		t.Fatalf("bob, on the other instance, should meet alice: %s", s)
	}
	a.expect("start", 5*time.Second)
	a.emit("choice", map[string]any{"choice": 2})
	b.emit("choice", map[string]any{"choice": 1})
	a.expect("result", 5*time.Second)
	b.expect("result", 5*time.Second)
	a.ws.Close()
	b.ws.Close()

	// A rolling upgrade (the host config changes) while clients list, comment, upload and play, from a
	// process of their own (internal/tools/clusterload).
	setEnv("APPLET_LOG_LEVEL=warn")
	// The short variant runs in the test command; APPLET_CLUSTER_LOAD=full is the load the note's figures
	// come from, which needs more than two cores' worth of -race time.
	workers, players := 4, 2
	if os.Getenv("APPLET_CLUSTER_LOAD") == "full" {
		workers, players = 32, 16
	}
	roots := filepath.Join(work, "pebble-roots.pem")
	os.WriteFile(roots, pebbleRoot, 0o644)
	loadBin := filepath.Join(t.TempDir(), "clusterload")
	if b, err := exec.Command("go", "build", "-o", loadBin, "../../internal/tools/clusterload").CombinedOutput(); err != nil {
		t.Fatalf("building clusterload: %v\n%s", err, b)
	}
	lc := exec.Command(loadBin, "-connect", "127.0.0.1:"+strconv.Itoa(p443), "-url", base, "-roots", roots,
		"-workers", strconv.Itoa(workers), "-players", strconv.Itoa(players))
	lin, _ := lc.StdinPipe()
	lout, _ := lc.StdoutPipe()
	lc.Stderr = os.Stderr
	if err := lc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Process.Kill(); lc.Wait() })
	lines := bufio.NewScanner(lout)
	lines.Buffer(nil, 64<<20)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("clusterload: %q", lines.Text())
	}
	time.Sleep(time.Second)
	io.WriteString(lin, "mark\n")
	rollStart := time.Now()
	out = provision()
	rollTook := time.Since(rollStart)
	lin.Close()
	if !lines.Scan() {
		t.Fatalf("clusterload stopped without its summary: %v", lines.Err())
	}
	var load struct {
		Sent, Failed, Rounds, Interrupted int64
		FirstError                        string   `json:"first_error"`
		P99Before                         float64  `json:"p99_before_ms"`
		P99During                         float64  `json:"p99_during_ms"`
		Comments                          []string `json:"comments"`
	}
	if err := json.Unmarshal(lines.Bytes(), &load); err != nil {
		t.Fatalf("clusterload's summary %q: %v", lines.Text(), err)
	}
	lc.Wait()
	comments := load.Comments
	if !strings.Contains(out, "host            updated") {
		t.Fatalf("the roll:\n%s", out)
	}
	t.Logf("rolling upgrade: %s; %d requests, %d failed; p99 before %.1f ms, during %.1f ms (%.2f×); %d game rounds, %d interrupted; %d comments\n%s",
		rollTook.Round(time.Millisecond), load.Sent, load.Failed, load.P99Before, load.P99During, load.P99During/load.P99Before, load.Rounds, load.Interrupted, len(comments), out)
	// Each instance is drained as soon as its requests are done, not for all of drain_timeout (30s).
	if n := strings.Count(out, "drained: no request in flight after"); n != 2 {
		t.Fatalf("%d of the 2 instances said they were drained of their requests:\n%s", n, out)
	}
	if load.Failed != 0 {
		t.Fatalf("%d of %d requests failed during the roll; the first: %v\nwhat the backends logged:\n%s", load.Failed, load.Sent, load.FirstError, backendTrouble())
	}
	time.Sleep(1100 * time.Millisecond) // comments cached elsewhere show within a second
	seen := map[string]bool{}
	for before := ""; ; {
		q := "/applet/video/commentList?vid=2&limit=100"
		if before != "" {
			q += "&before=" + before
		}
		m, err := call("GET", q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		list, _ := m["data"].([]any)
		for _, c := range list {
			seen[fmt.Sprint(c.(map[string]any)["content"])] = true
		}
		next, _ := m["next"].(string)
		if next == "" {
			break
		}
		before = next
	}
	for _, c := range comments {
		if !seen[c] {
			t.Fatalf("comment %q, answered ok during the roll, is lost", c)
		}
	}
	t.Logf("%d comments posted during the roll, all there", len(comments))

	// Every instance runs the backup timer; one backs up at a time, the others skip while it holds the
	// lease in Redis.
	backupOn := func(h *nsHost) string {
		args := h.in(filepath.Join(h.root, "usr/local/bin/applet"), "backup", "--config", filepath.Join(h.root, "etc/applet/applet.yaml"))
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = h.env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("applet backup on %s: %v\n%s", h.ns, err, out)
		}
		return string(out)
	}
	var first *nsHost
	hmu.Lock()
	for _, h := range hosts {
		first = h
		break
	}
	hmu.Unlock()
	rdb := r.redis()
	defer rdb.Close()
	lease := "applet:" + r.deployment + ":backup"
	if err := rdb.Set(context.Background(), lease, "another-instance", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if out := backupOn(first); !strings.Contains(out, "skipped") {
		t.Fatalf("a backup while another instance holds the lease:\n%s", out)
	}
	rdb.Del(context.Background(), lease)
	if out := backupOn(first); strings.Contains(out, "skipped") {
		t.Fatalf("a backup with the lease free:\n%s", out)
	}

	// doctor reads the cluster as the load balancer sees it.
	res, _, dout := runDoctor(t, bin, r.env, work, "--only", "cluster")
	for _, name := range []string{"cluster.targets", "cluster.certificate", "cluster.versions", "cluster.stores"} {
		if res[name].Status != "ok" {
			t.Errorf("doctor on the healthy cluster: %s is %s: %s", name, res[name].Status, res[name].Observed)
		}
	}
	t.Logf("doctor on the cluster:\n%s", dout)

	// An instance dies: the load balancer finds it dead and the other serves; provision repairs it.
	var victim *nsHost
	hmu.Lock()
	for _, h := range hosts {
		victim = h
		break
	}
	hmu.Unlock()
	victim.stop(syscall.SIGKILL)
	waitFor(t, "the load balancer to find the killed instance dead", func() bool { return strings.Contains(fmt.Sprint(tc.TargetHealth(lb)), "Dead") })
	for i := range 20 {
		if _, err := call("GET", "/applet/video/list?pageNo=1", "", nil); err != nil {
			t.Fatalf("request %d with one instance dead: %v", i, err)
		}
	}
	expectFault(t, bin, r.env, work, "cluster.targets", "fail", "dead", "applet provision")
	if out := provision(); !strings.Contains(out, "finds it dead") {
		t.Fatalf("provision after an instance died:\n%s", out)
	}
	waitFor(t, "both instances alive", func() bool { h := fmt.Sprint(tc.TargetHealth(lb)); return strings.Count(h, "Alive") == 2 })

	// A new binary rolls out one instance at a time, and rolls back the same way.
	next := filepath.Join(work, "applet-next")
	if out, err := exec.Command("go", "build", "-ldflags", "-X github.com/qcloud-applet/applet/internal/buildinfo.Version=v-next", "-o", next, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	versions := func() string {
		hmu.Lock()
		defer hmu.Unlock()
		var vs []string
		for _, h := range hosts {
			out, _ := exec.Command(filepath.Join(h.root, "usr/local/bin/applet"), "version").CombinedOutput()
			vs = append(vs, strings.Fields(string(out) + " ?")[1])
		}
		return strings.Join(vs, " ")
	}
	was := versions()
	if out := provision("--host-binary", next); versions() != "v-next v-next" {
		t.Fatalf("upgrade to v-next: versions %s\n%s", versions(), out)
	}
	if out := provision("rollback"); versions() != was || !strings.Contains(out, "Rolled back") {
		t.Fatalf("rollback: versions %s, want %s\n%s", versions(), was, out)
	}

	// Three, then one behind the same load balancer: the others are drained and removed.
	setEnv("APPLET_PROVISION_INSTANCES=3")
	out = provision()
	if n := len(tc.Instances()); n != 3 || strings.Count(fmt.Sprint(tc.TargetHealth(lb)), "Alive") != 3 {
		t.Fatalf("scaled to 3: %d instances, targets %v\n%s", n, tc.TargetHealth(lb), out)
	}
	setEnv("APPLET_PROVISION_INSTANCES=1")
	setEnv("APPLET_PROVISION_LOAD_BALANCER=true")
	out = provision()
	if !strings.Contains(out, "scale-in        deleted") || len(tc.Instances()) != 1 || len(tc.TargetHealth(lb)) != 1 {
		t.Fatalf("scaled down to 1: %d instances, targets %v\n%s", len(tc.Instances()), tc.TargetHealth(lb), out)
	}
	hmu.Lock()
	var gone []string
	for id := range hosts {
		if !slices.Contains(tc.Instances(), id) {
			gone = append(gone, id)
		}
	}
	hmu.Unlock()
	for _, id := range gone {
		release(id)
	}
	if _, err := call("GET", "/applet/video/list?pageNo=1", "", nil); err != nil {
		t.Fatal(err)
	}

	// Without --purge the managed databases stay with their data, and so do the network and the
	// security groups they need; --purge removes them too.
	out = provision("destroy", "--force")
	if !strings.Contains(out, "Removed.") || len(tc.LoadBalancerIDs()) != 0 || len(tc.Instances()) != 0 || len(tc.ManagedDatabases()) != 3 || len(tc.VPCs()) != 1 ||
		!strings.Contains(out, "managed databases") {
		t.Fatalf("destroy keeping the data: %d load balancers, %d instances, databases %v, VPCs %v\n%s", len(tc.LoadBalancerIDs()), len(tc.Instances()), tc.ManagedDatabases(), tc.VPCs(), out)
	}
	out = provision("destroy", "--force", "--purge")
	if !strings.Contains(out, "Removed.") || len(tc.ManagedDatabases()) != 0 || len(tc.VPCs()) != 0 || len(tc.SecurityGroups()) != 0 {
		t.Fatalf("destroy --purge: databases %v, VPCs %v, groups %v\n%s", tc.ManagedDatabases(), tc.VPCs(), tc.SecurityGroups(), out)
	}
	if _, err := os.Stat(secretsPath(r)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the databases' credentials outlive them: %v", err)
	}
}

// secretsPath is where the deployment's database credentials are kept.
func secretsPath(r *clusterRig) string {
	return provision.SecretsPath(filepath.Join(r.work, "data", "provision"), r.deployment)
}

// checkManaged checks the managed databases a fresh cluster got: TencentDB for MySQL and for Redis in
// the deployment's subnet, in a security group that admits only the instances' group, their
// passwords only in the state directory (0600) and in the hosts' configs, and the backends using them.
func checkManaged(t *testing.T, r *clusterRig) {
	t.Helper()
	dbs := r.tc.ManagedDatabases()
	slices.Sort(dbs)
	if len(dbs) != 3 || !strings.HasPrefix(dbs[0], "cdb:cdb-") || !strings.HasPrefix(dbs[1], "mongodb:cmgo-") || !strings.HasPrefix(dbs[2], "redis:crs-") {
		t.Fatalf("managed databases: %v", dbs)
	}
	var instGroup, dbGroup string
	for _, g := range r.tc.SecurityGroups() {
		if ing := strings.Join(r.tc.Ingress(g), ", "); strings.Contains(ing, "TCP:3306") {
			dbGroup = g
		} else {
			instGroup = g
		}
	}
	// The instances are reached only through the load balancer: port 80 from its ranges, nothing else.
	if ing := r.tc.Ingress(instGroup); !slices.Equal(ing, []string{"TCP:80 " + r.nn.prefix + ".0/24 ACCEPT"}) {
		t.Fatalf("the instances' group %s admits %v", instGroup, ing)
	}
	if want := "TCP:3306 " + instGroup + " ACCEPT, TCP:6379 " + instGroup + " ACCEPT, TCP:27017 " + instGroup + " ACCEPT"; instGroup == "" || strings.Join(r.tc.Ingress(dbGroup), ", ") != want {
		t.Fatalf("the databases' group %s admits %v, want %s", dbGroup, r.tc.Ingress(dbGroup), want)
	}
	for _, d := range dbs {
		id := d[strings.Index(d, ":")+1:]
		if g := r.tc.DatabaseGroups(id); !slices.Equal(g, []string{dbGroup}) {
			t.Fatalf("%s is in groups %v, want only %s", id, g, dbGroup)
		}
	}
	stateDir := filepath.Join(r.work, "data", "provision")
	path := secretsPath(r)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the databases' credentials file: %v %v", st, err)
	}
	sec, err := provision.ReadSecrets(stateDir, r.deployment)
	if err != nil || sec.MySQL == nil || sec.Redis == nil || sec.Mongo == nil || sec.MySQL.Password == "" || sec.Redis.Password == "" || sec.Mongo.Password == "" {
		t.Fatalf("credentials: %+v %v", sec, err)
	}
	// Each password is in the credentials file and the hosts' configs, and nowhere else here.
	filepath.WalkDir(r.work, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || p == path {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, pw := range []string{sec.MySQL.Password, sec.MySQL.RootPassword, sec.Redis.Password, sec.Mongo.Password} {
			if bytes.Contains(b, []byte(pw)) && !strings.HasSuffix(p, "etc/applet/applet.yaml") {
				t.Errorf("a database password is in %s", p)
			}
		}
		return nil
	})
	r.hmu.Lock()
	defer r.hmu.Unlock()
	for id, h := range r.hosts {
		b, err := os.ReadFile(filepath.Join(h.root, "etc/applet/applet.yaml"))
		if err != nil || !bytes.Contains(b, []byte(sec.MySQL.Addr)) || !bytes.Contains(b, []byte(sec.Redis.Password)) || !bytes.Contains(b, []byte(sec.Mongo.Password)) {
			t.Fatalf("%s's config does not name the managed databases (%v)", id, err)
		}
	}
	// The backends' account reaches its database only.
	c := r.redis()
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the managed Redis with its password: %v", err)
	}
	if err := goredis.NewClient(&goredis.Options{Addr: c.Options().Addr}).Ping(context.Background()).Err(); err == nil {
		t.Fatal("the managed Redis answers without its password")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// criticalPath is the longest chain of dependent steps in provision's output, each at the time it took:
// what no ordering of the steps could beat.
func criticalPath(out string) time.Duration {
	took := map[string]time.Duration{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "✓" {
			if d, err := time.ParseDuration(f[3]); err == nil {
				took[f[1]] = d
			}
		}
	}
	needs := map[string][]string{
		"instance": {"security-group", "instance-role", "network"}, "load-balancer": {"certificate", "network"}, "dns-record": {"load-balancer", "host"},
		"host": {"instance", "load-balancer", "bucket", "backup-bucket", "database"}, "scale-in": {"host", "dns-record"},
		"health": {"host", "dns-record", "scale-in"},
	}
	var end func(string) time.Duration
	memo := map[string]time.Duration{}
	end = func(s string) time.Duration {
		if d, ok := memo[s]; ok {
			return d
		}
		var start time.Duration
		for _, n := range needs[s] {
			start = max(start, end(n))
		}
		memo[s] = start + took[s]
		return memo[s]
	}
	return end("health")
}

// TestClusterFromOneInstance grows a one-instance deployment (its stores already shared) to two behind
// a load balancer: the new instances serve in the deployment's VPC before the domain moves to the load
// balancer, the old instance stays while DNS caches may still send clients to it, and the next run
// removes it. The data written through the old instance is there through the load balancer.
// Certificates here live 20 days, so every run renews: the load balancer switches to the new one and
// the one it replaced is deleted.
func TestClusterFromOneInstance(t *testing.T) {
	r := newClusterRig(t, 20*24*time.Hour)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.pebbleRoot)
	// call asks the domain's backends at addr, as a client whose DNS answered addr.
	call := func(addr, method, path, body string) map[string]any {
		t.Helper()
		client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "applet.example.com"},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}}
		req, _ := http.NewRequest(method, "https://applet.example.com"+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s at %s: %v", method, path, addr, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &m); err != nil || m["code"] != float64(0) {
			t.Fatalf("%s %s at %s: %d %s", method, path, addr, resp.StatusCode, b)
		}
		return m
	}
	record := func() string {
		for _, rec := range r.tc.Records("example.com") {
			if rec.Name == "applet" {
				return rec.Type + " " + rec.Value
			}
		}
		return ""
	}

	// The stores are named servers off the instances: provision adopts them by address.
	mc, err := mysqldrv.ParseDSN(ownUserDSN(t, testenv.MySQLFreshDSN(t)))
	if err != nil {
		t.Fatal(err)
	}
	mc.Addr = r.nn.relay(mc.Addr)
	r.setEnv("APPLET_MYSQL_DSN=" + mc.FormatDSN())
	r.setEnv("APPLET_REDIS_ADDR=" + r.nn.relay(testenv.RedisAddr(t)))
	r.setEnv("APPLET_MONGO_URI=" + r.mongoRelay)
	r.setEnv("APPLET_PROVISION_INSTANCES=1")
	out := r.provision()
	old := r.tc.Instances()
	if len(old) != 1 || len(r.tc.LoadBalancerIDs()) != 0 || len(r.tc.VPCs()) != 0 {
		t.Fatalf("one instance: %v, load balancers %v, VPCs %v\n%s", old, r.tc.LoadBalancerIDs(), r.tc.VPCs(), out)
	}
	direct := r.nn.addr(0) + ":" + strconv.Itoa(r.p443)
	if rec := record(); rec != "A "+r.nn.addr(0) {
		t.Fatalf("the one instance's record: %q", rec)
	}
	call(direct, "POST", "/applet/video/comment", `{"vid":3,"nick":"before","avatar":"https://a.example/a.png","content":"written on one instance"}`)

	r.setEnv("APPLET_PROVISION_INSTANCES=2")
	out = r.provision()
	t.Logf("from one instance to two:\n%s", out)
	for _, want := range []string{"network         created", "load-balancer   created", "dns-record      updated", "kept until DNS caches have moved"} {
		if !strings.Contains(out, want) {
			t.Fatalf("growing to two lacks %q:\n%s", want, out)
		}
	}
	front := "127.0.0.1:" + strconv.Itoa(r.p443)
	if rec := record(); rec != "A 127.0.0.1" {
		t.Fatalf("the record after growing: %q", rec)
	}
	if ids := r.tc.Instances(); len(ids) != 3 || !slices.Contains(ids, old[0]) {
		t.Fatalf("the old instance should still run beside the two new ones: %v", ids)
	}
	// A client whose DNS cache still holds the old address is served; so is one through the load balancer.
	call(direct, "GET", "/applet/video/list?pageNo=1", "")
	if m := call(front, "GET", "/applet/video/commentList?vid=3", ""); !strings.Contains(fmt.Sprint(m["data"]), "written on one instance") {
		t.Fatalf("the comment written on the one instance, through the load balancer: %v", m)
	}

	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", front, &tls.Config{RootCAs: pool, ServerName: "applet.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := served()
	out = r.provision()
	if !strings.Contains(out, "scale-in        deleted") || slices.Contains(r.tc.Instances(), old[0]) || len(r.tc.Instances()) != 2 {
		t.Fatalf("the next run should remove the old instance: %v\n%s", r.tc.Instances(), out)
	}
	// It renewed too: the listener serves the new certificate, and only it is left in the SSL service.
	if !strings.Contains(out, "certificate     created") || !strings.Contains(out, "load-balancer   updated") || served() == before || len(r.tc.Certificates()) != 1 {
		t.Fatalf("renewal behind the load balancer: serial %s (was %s), certificates %v\n%s", served(), before, r.tc.Certificates(), out)
	}
	// Once nothing reaches an instance directly, its group admits only the load balancer.
	group := func() string {
		for _, g := range r.tc.SecurityGroups() {
			return strings.Join(r.tc.Ingress(g), ", ")
		}
		return ""
	}
	if g := group(); !strings.Contains(g, "TCP:443 0.0.0.0/0") {
		t.Fatalf("the group closed while the old instance was there: %s", g)
	}
	out = r.provision()
	if g := group(); g != "TCP:80 "+r.nn.prefix+".0/24 ACCEPT" || !strings.Contains(out, "close TCP 80, TCP 443") {
		t.Fatalf("the run after the old instance went: group %s\n%s", g, out)
	}
	// Destroyed from another machine, whose journal knows nothing: the certificate goes too, found on
	// the listener.
	r.setEnv("APPLET_PROVISION_STATE_DIR=" + t.TempDir())
	out = r.provision("destroy", "--force")
	if !strings.Contains(out, "Removed.") || len(r.tc.Instances()) != 0 || len(r.tc.VPCs()) != 0 || len(r.tc.LoadBalancerIDs()) != 0 || len(r.tc.Certificates()) != 0 {
		t.Fatalf("destroy: certificates %v\n%s", r.tc.Certificates(), out)
	}
}

// managedBackends registers the real servers as the stand-in's managed databases: new TencentDB for
// MySQL instances are the suite's MariaDB (their accounts and databases made there, dropped at the end)
// and new TencentDB for Redis instances a redis-server of this test's, whose password the API sets. It
// returns a client of that Redis, with the password the instance was given.
func managedBackends(t *testing.T, tc *tcfake.Server, nn *netns) func() *goredis.Client {
	t.Helper()
	admin, err := mysqldrv.ParseDSN(testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var users, dbs []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range users {
			db.Exec("DROP USER IF EXISTS " + u)
		}
		for _, d := range dbs {
			db.Exec("DROP DATABASE IF EXISTS `" + d + "`")
		}
		db.Close()
	})
	tc.SetDatabaseBackend("cdb", tcfake.DatabaseBackend{Addr: nn.relay(admin.Addr), Apply: func(ctx context.Context, op tcfake.DatabaseOp) error {
		mu.Lock()
		defer mu.Unlock()
		quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
		var q string
		switch op.Kind {
		case "password": // root's: the shared server's root stays as the suite set it
			return nil
		case "database":
			q = "CREATE DATABASE `" + op.Name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
			dbs = append(dbs, op.Name)
		case "account":
			q = "CREATE USER " + quote(op.User) + "@" + quote(op.Host) + " IDENTIFIED BY " + quote(op.Password)
			users = append(users, quote(op.User)+"@"+quote(op.Host))
		case "grant":
			q = "GRANT " + strings.Join(op.Privileges, ", ") + " ON `" + op.Name + "`.* TO " + quote(op.User) + "@" + quote(op.Host)
		default:
			return fmt.Errorf("no such change %q", op.Kind)
		}
		_, err := db.ExecContext(ctx, q)
		return err
	}})

	dir := t.TempDir()
	port := freeTCP(t)
	srv := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := srv.Start(); err != nil {
		if testenv.CI() {
			t.Fatalf("redis-server: %v", err)
		}
		t.Skipf("redis-server: %v", err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var pass string
	var pmu sync.Mutex
	tc.SetDatabaseBackend("redis", tcfake.DatabaseBackend{Addr: nn.relay(addr), Apply: func(ctx context.Context, op tcfake.DatabaseOp) error {
		if op.Kind != "password" {
			return fmt.Errorf("no such change %q", op.Kind)
		}
		pmu.Lock()
		old := pass
		pass = op.Password
		pmu.Unlock()
		c := goredis.NewClient(&goredis.Options{Addr: addr, Password: old})
		defer c.Close()
		return c.ConfigSet(ctx, "requirepass", op.Password).Err()
	}})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() *goredis.Client {
		pmu.Lock()
		defer pmu.Unlock()
		return goredis.NewClient(&goredis.Options{Addr: addr, Password: pass})
	}
}

// clusterSeeds is how many seeds TestClusterChaos runs (each provisions a cluster twice over).
var clusterSeeds = flag.Int("cluster.seeds", 2, "how many seeds the cluster chaos test runs")

// TestClusterChaos kills provision of two instances at a random moment, with the cloud losing answers of
// the load balancer, certificate and database writes after they took effect, then runs it again until
// it succeeds: there is exactly one of everything (and two instances). Destroy --purge, killed and run
// again the same way, leaves nothing.
func TestClusterChaos(t *testing.T) {
	actions := []string{"CreateLoadBalancer", "CreateListener", "CreateRule", "RegisterTargets", "UploadCertificate", "CreateDBInstanceHour",
		"CreateInstances", "CreateAccounts", "CreateDatabase", "ModifyDBInstanceSecurityGroups", "CreateVpc", "CreateSubnet", "RunInstances",
		"DeleteLoadBalancer", "IsolateDBInstance", "OfflineIsolatedInstances", "DestroyPostpaidInstance", "DeleteCertificate", "DeleteSubnet"}
	for seed := range *clusterSeeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(uint64(seed), 23))
			r := newClusterRig(t, 0)
			replay := fmt.Sprintf("replay: go test ./cmd/applet -run 'ClusterChaos/seed=%d$' -cluster.seeds %d", seed, seed+1)
			arm := func() string {
				var what []string
				for range 1 + rnd.IntN(3) {
					a := actions[rnd.IntN(len(actions))]
					r.tc.Gateway(a, 1, 502, true)
					what = append(what, a)
				}
				return "answers lost after " + strings.Join(what, ", ")
			}
			run := func(kill time.Duration, args ...string) string {
				cmd := exec.Command(r.bin, append([]string{"provision", "--yes"}, args...)...)
				var out bytes.Buffer
				cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = r.env, r.work, &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				var err error
				if kill > 0 {
					select {
					case err = <-done:
					case <-time.After(kill):
						cmd.Process.Signal(syscall.SIGKILL)
						err = <-done
					}
				} else {
					err = <-done
				}
				if kill == 0 && err != nil {
					return "failed: " + err.Error() + "\n" + out.String()
				}
				return out.String()
			}
			// until runs again once the faults are healed: that run must finish what the killed one began.
			until := func(args ...string) string {
				out := run(0, args...)
				if strings.HasPrefix(out, "failed: ") {
					t.Fatalf("provision %s after the killed run failed\n%s\n%s", strings.Join(args, " "), out, replay)
				}
				return out
			}

			faults := arm()
			kill := time.Duration(500+rnd.IntN(6000)) * time.Millisecond
			first := run(kill)
			r.tc.Heal()
			out := until()
			census := fmt.Sprintf("instances %v, load balancers %v, certificates %v, VPCs %v, databases %v, groups %v",
				r.tc.Instances(), r.tc.LoadBalancerIDs(), r.tc.Certificates(), r.tc.VPCs(), r.tc.ManagedDatabases(), r.tc.SecurityGroups())
			if len(r.tc.Instances()) != 2 || len(r.tc.LoadBalancerIDs()) != 1 || len(r.tc.Certificates()) != 1 || len(r.tc.VPCs()) != 1 ||
				len(r.tc.ManagedDatabases()) != 3 || len(r.tc.SecurityGroups()) != 2 || !strings.Contains(out, "health          ok") {
				t.Fatalf("after a killed apply (%s; killed after %s) and a re-run: %s\nfirst:\n%s\nthen:\n%s\n%s", faults, kill, census, first, out, replay)
			}
			if again := until(); !strings.Contains(again, "Nothing to change.") {
				t.Fatalf("the run after:\n%s\n%s", again, replay)
			}

			faults = arm()
			kill = time.Duration(200+rnd.IntN(2000)) * time.Millisecond
			first = run(kill, "destroy", "--force", "--purge")
			r.tc.Heal()
			out = until("destroy", "--force", "--purge")
			if len(r.tc.Instances())+len(r.tc.LoadBalancerIDs())+len(r.tc.Certificates())+len(r.tc.VPCs())+len(r.tc.ManagedDatabases())+len(r.tc.SecurityGroups()) != 0 {
				t.Fatalf("after a killed destroy (%s; killed after %s) and a re-run: instances %v, load balancers %v, certificates %v, VPCs %v, databases %v, groups %v\nfirst:\n%s\nthen:\n%s\n%s",
					faults, kill, r.tc.Instances(), r.tc.LoadBalancerIDs(), r.tc.Certificates(), r.tc.VPCs(), r.tc.ManagedDatabases(), r.tc.SecurityGroups(), first, out, replay)
			}
		})
	}
}
