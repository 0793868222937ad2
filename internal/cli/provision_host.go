package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	drv "github.com/go-sql-driver/mysql"
	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/acme"
	"github.com/qcloud-applet/applet/provision/host"
	"github.com/qcloud-applet/applet/provision/tencent"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/templates"
)

// Where things live on the host.
const (
	hostBinary  = "/usr/local/bin/applet"
	hostConfig  = "/etc/applet/applet.yaml"
	hostTLS     = "/etc/applet/tls"
	hostData    = "/var/lib/applet"
	hostWebroot = "/var/lib/applet/acme"
	hostUser    = "applet"
)

var hostApps = []string{"album", "game", "session", "video"}

// rootPool returns the system roots plus the PEM file (a private ACME CA), or nil for the system's.
func rootPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("provision.acme_roots: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("provision.acme_roots: %s holds no PEM certificate", file)
	}
	return pool, nil
}

// acmeCerts is provision.Certs on the acme package and the project's DNSPod client.
type acmeCerts struct {
	client *acme.Client
	dns    provision.DNS
	zone   string
	names  []string
	// live reads the certificate the domain serves now (renewed on the host, maybe), or an error.
	live func(ctx context.Context) (*acme.Cert, error)
}

func (a *acmeCerts) Status() (bool, string) {
	cur, err := a.client.Current()
	if err == nil && !acme.Due(cur, a.names, time.Now(), acme.RenewBefore) {
		return true, "valid until " + cur.NotAfter.Local().Format(time.DateOnly)
	}
	if ok, detail := a.liveGood(context.Background()); ok {
		return true, detail
	}
	if err != nil {
		return false, "issue for " + strings.Join(a.names, ", ") + " over DNS-01"
	}
	return false, fmt.Sprintf("renew (the one on hand expires %s or does not cover %s)", cur.NotAfter.Local().Format(time.DateOnly), strings.Join(a.names, ", "))
}

// liveGood reports whether the domain already serves a trusted certificate for the names that is not
// due: then nothing is issued, whatever the local copy says (never two valid certificates).
func (a *acmeCerts) liveGood(ctx context.Context) (bool, string) {
	if a.live == nil {
		return false, ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := a.live(ctx)
	if err != nil || acme.Due(c, a.names, time.Now(), acme.RenewBefore) {
		return false, ""
	}
	return true, "the host serves one valid until " + c.NotAfter.Local().Format(time.DateOnly) + " (renewed there)"
}

func (a *acmeCerts) Obtain(ctx context.Context) (bool, string, error) {
	if cur, err := a.client.Current(); (err != nil || acme.Due(cur, a.names, time.Now(), acme.RenewBefore)) && a.live != nil {
		if ok, detail := a.liveGood(ctx); ok {
			return false, detail, nil
		}
	}
	issued, err := a.client.ObtainDNS01(a.dns, a.zone, a.names)
	if err != nil {
		return false, "", err
	}
	cur, err := a.client.Current()
	if err != nil {
		return false, "", err
	}
	return issued, "valid until " + cur.NotAfter.Local().Format(time.DateOnly), nil
}

// hostDelivery is provision.Host: a bundle through a private COS object and TAT.
type hostDelivery struct {
	cfg     *config.Config
	binary  string
	tlsDir  string
	tpl     *templates.Set
	buckets *tencent.Buckets
	client  *tencent.Client
	timeout time.Duration
	// knownHosts pins the instance's SSH host key (SSH delivery only).
	knownHosts string
}

func upstream(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	return "127.0.0.1:" + port
}

// hostConfigFor is the config the backends run with on the host: loopback listeners, the host's data
// directory, JSON logs, and no account key (renewal needs none).
func hostConfigFor(c *config.Config) (*config.Config, []string) {
	h := *c
	var warnings []string
	h.DataDir = hostData
	h.Log.Format = "json"
	h.Album.Listen, h.Game.Listen = upstream(c.Album.Listen), upstream(c.Game.Listen)
	h.Session.Listen, h.Video.Listen = upstream(c.Session.Listen), upstream(c.Video.Listen)
	if h.Album.PublicURL == "" && h.COS.Bucket == "" {
		h.Album.PublicURL = "https://" + c.Domain
	}
	h.Session.Dev = false
	if h.COS.Bucket != "" && (h.COS.SecretID == "" || h.COS.SecretKey == "") {
		h.COS.SecretID, h.COS.SecretKey = c.TencentCloud.SecretID, c.TencentCloud.SecretKey
		warnings = append(warnings, "the album on the host uses the Tencent Cloud key for COS: set cos.secret_id and cos.secret_key to a key limited to the bucket")
	}
	h.TencentCloud.SecretID, h.TencentCloud.SecretKey = "", ""
	if slices.Contains(selfHosted(c), "mariadb-server") {
		h.Video.Migrate = true // the host's own MariaDB starts empty: serve applies the schema and seed
	}
	h.Provision = config.Default().Provision
	return &h, warnings
}

func selfHosted(c *config.Config) []string {
	loop := func(host string) bool { return host == "127.0.0.1" || host == "localhost" || host == "::1" }
	var pkgs []string
	if c.Redis.Addr != "" {
		if h, _, err := net.SplitHostPort(c.Redis.Addr); err == nil && loop(h) {
			pkgs = append(pkgs, "redis-server")
		}
	}
	if c.MySQL.DSN != "" {
		if mc, err := drv.ParseDSN(c.MySQL.DSN); err == nil {
			if h, _, err := net.SplitHostPort(mc.Addr); err == nil && loop(h) {
				pkgs = append(pkgs, "mariadb-server")
			}
		}
	}
	return pkgs
}

func (h *hostDelivery) build() (*host.Builder, error) {
	c := h.cfg
	hc, _ := hostConfigFor(c)
	var health []string
	for _, a := range []struct{ listen, base string }{{hc.Album.Listen, album.BasePath}, {hc.Game.Listen, game.BasePath}, {hc.Session.Listen, session.BasePath}, {hc.Video.Listen, video.BasePath}} {
		health = append(health, "http://"+a.listen+a.base+"/readyz")
	}
	m := host.Manifest{Deployment: c.Deployment, Domain: c.Domain, Names: []string{c.Domain}, Apps: hostApps, Health: health,
		User: hostUser, Binary: hostBinary, TLSDir: hostTLS, Webroot: hostWebroot, ACMEDir: c.Provision.ACMEDirectory, Packages: selfHosted(c)}
	if c.Provision.ACMERoots != "" {
		m.ACMERoots = hostTLS + "/acme-roots.pem"
	}
	if slices.Contains(m.Packages, "redis-server") {
		m.Redis = &host.Redis{Addr: c.Redis.Addr, Password: c.Redis.Password}
	}
	if slices.Contains(m.Packages, "mariadb-server") {
		mc, _ := drv.ParseDSN(c.MySQL.DSN)
		h, p, _ := net.SplitHostPort(mc.Addr)
		port, _ := strconv.Atoi(p)
		m.Database = &host.Database{Name: mc.DBName, User: mc.User, Password: mc.Passwd, Host: h, Port: port}
	}
	b := host.NewBuilder(m)
	if err := b.AddFile(host.File{Path: hostBinary, Mode: 0o755, Trigger: host.TriggerBackend}, h.binary); err != nil {
		return nil, fmt.Errorf("host binary: %w", err)
	}
	b.Add(host.File{Path: hostConfig, Mode: 0o600, Owner: hostUser, Trigger: host.TriggerBackend},
		config.RenderWithSecrets(hc, "# applet on the host of deployment "+c.Deployment+": written by applet provision; edits are overwritten.\n"))
	// The certificate and its key travel together or not at all: half a pair breaks nginx.
	_, certErr := os.Stat(filepath.Join(h.tlsDir, acme.CertFile))
	_, keyErr := os.Stat(filepath.Join(h.tlsDir, acme.KeyFile))
	pair := certErr == nil && keyErr == nil
	for _, f := range []struct {
		name    string
		mode    uint32
		trigger string
	}{{acme.CertFile, 0o644, host.TriggerNginx}, {acme.KeyFile, 0o600, host.TriggerNginx}, {acme.AccountKeyFile, 0o600, ""}, {acme.AccountFile, 0o600, ""}} {
		if (f.name == acme.CertFile || f.name == acme.KeyFile) && !pair {
			continue
		}
		data, err := os.ReadFile(filepath.Join(h.tlsDir, f.name))
		if errors.Is(err, os.ErrNotExist) {
			continue // before the first issuance; the certificate step runs before delivery
		}
		if err != nil {
			return nil, err
		}
		b.Add(host.File{Path: hostTLS + "/" + f.name, Mode: f.mode, Trigger: f.trigger}, data)
	}
	if c.Provision.ACMERoots != "" {
		data, err := os.ReadFile(c.Provision.ACMERoots)
		if err != nil {
			return nil, fmt.Errorf("provision.acme_roots: %w", err)
		}
		b.Add(host.File{Path: m.ACMERoots, Mode: 0o644}, data)
	}
	tooLarge := fmt.Sprintf(`{"code":-1,"msg":"单个不超过%dMB","data":{},"error":{"field":"image","reason":"larger than the limit"}}`, c.Album.MaxUploadMB)
	site := templates.Site{
		Deployment: c.Deployment, Domain: c.Domain, HTTPSPort: c.Provision.HTTPSPort,
		HTTPListen:  []string{strconv.Itoa(c.Provision.HTTPPort), "[::]:" + strconv.Itoa(c.Provision.HTTPPort)},
		HTTPSListen: []string{strconv.Itoa(c.Provision.HTTPSPort), "[::]:" + strconv.Itoa(c.Provision.HTTPSPort)},
		CertFile:    hostTLS + "/" + acme.CertFile, KeyFile: hostTLS + "/" + acme.KeyFile, Webroot: hostWebroot,
		Album: hc.Album.Listen, Game: hc.Game.Listen, Session: hc.Session.Listen, Video: hc.Video.Listen,
		UploadMaxMB: c.Album.MaxUploadMB + 1, TooLargeJSON: templates.NginxString(tooLarge),
	}
	unit := templates.Unit{Deployment: c.Deployment, User: hostUser, Binary: hostBinary, ConfigFile: hostConfig, DataDir: hostData,
		StopTimeout: (c.Serve.ShutdownTimeout + 15*time.Second).String()}
	for _, p := range m.Packages {
		unit.After = append(unit.After, map[string]string{"redis-server": "redis-server.service", "mariadb-server": "mariadb.service"}[p])
	}
	for _, t := range []struct {
		name, path, trigger string
		data                any
	}{
		{templates.NginxSite, "/etc/nginx/sites-enabled/applet-" + c.Deployment + ".conf", host.TriggerNginx, site},
		{templates.ServiceUnit, "/etc/systemd/system/applet@.service", host.TriggerUnits, unit},
		{templates.RenewService, "/etc/systemd/system/applet-renew.service", host.TriggerUnits, unit},
		{templates.RenewTimer, "/etc/systemd/system/applet-renew.timer", host.TriggerTimer, unit},
	} {
		data, err := h.tpl.Render(t.name, t.data)
		if err != nil {
			return nil, err
		}
		b.Add(host.File{Path: t.path, Mode: 0o644, Trigger: t.trigger}, data)
	}
	return b, nil
}

func (h *hostDelivery) Digest() (string, error) {
	b, err := h.build()
	if err != nil {
		return "", err
	}
	return b.Digest(), nil
}

// Apply uploads the bundle as a private object, has the instance fetch it through a presigned URL
// that lives a few minutes (the command service records commands, so no secret goes into one), and
// runs `applet host apply` there.
func (h *hostDelivery) Apply(ctx context.Context, in provision.Instance) (string, string, error) {
	b, err := h.build()
	if err != nil {
		return "", "", err
	}
	digest := b.Digest()
	f, err := os.CreateTemp("", "applet-bundle-*.tar.gz")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(f.Name())
	if err := b.Write(f); err != nil {
		f.Close()
		return "", "", fmt.Errorf("writing the bundle: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	if h.cfg.Provision.SSHUser != "" {
		out, err := h.applyOverSSH(ctx, in, f.Name())
		out = strings.TrimSpace(out)
		if err != nil {
			return "", "", fmt.Errorf("the host step on %s over SSH: %w\n%s", in.ID, err, tail(out, 20))
		}
		lines := strings.Split(out, "\n")
		return digest, lines[len(lines)-1], nil
	}
	key := "applet-deploy/" + h.cfg.Deployment + "/" + digest[:16] + ".tar.gz"
	if err := h.buckets.PutPrivate(ctx, key, f.Name()); err != nil {
		return "", "", fmt.Errorf("uploading the bundle: %w", err)
	}
	defer h.buckets.DeleteObject(context.WithoutCancel(ctx), key)
	link, err := h.buckets.PresignGet(ctx, key, 15*time.Minute)
	if err != nil {
		return "", "", err
	}
	res, err := h.client.RunCommand(ctx, in.ID, hostScript(link, h.buckets.Endpoint()), h.timeout)
	if err != nil {
		return "", "", fmt.Errorf("running the host step on %s: %w", in.ID, err)
	}
	out := strings.TrimSpace(res.Output)
	if res.Status != "SUCCESS" || res.ExitCode != 0 {
		return "", "", fmt.Errorf("the host step on %s ended %s (exit %d):\n%s", in.ID, res.Status, res.ExitCode, tail(out, 20))
	}
	lines := strings.Split(out, "\n")
	return digest, lines[len(lines)-1], nil
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

const scriptHead = `set -eu
root="${` + EnvHostRoot + `:-}"
dir="$root/var/lib/applet/deploy"
umask 077
mkdir -p "$dir"
`

// scriptApply unpacks the bundle's binary and lets it converge the host.
const scriptApply = `tar -xzf "$dir/bundle.tar.gz" -C "$dir" root` + hostBinary + `
"$dir/root` + hostBinary + `" host apply --bundle "$dir/bundle.tar.gz"
rm -rf "$dir/bundle.tar.gz" "$dir/root"
`

// hostScript fetches and applies the bundle. It holds no secret: only a presigned URL that expires.
func hostScript(link, cosEndpoint string) string {
	connect := ""
	if cosEndpoint != "" { // a stand-in: dial it for the bucket's host name, as the SDK does
		connect = " --connect-to ::" + cosEndpoint
	}
	return scriptHead + `curl -fsS --retry 3 --max-time 600` + connect + ` -o "$dir/bundle.tar.gz" '` + strings.ReplaceAll(link, "'", "%27") + `'
` + scriptApply
}

// applyOverSSH sends the bundle on the SSH session's standard input, then applies it.
func (h *hostDelivery) applyOverSSH(ctx context.Context, in provision.Instance, bundle string) (string, error) {
	sudo := ""
	if h.cfg.Provision.SSHUser != "root" {
		sudo = "sudo -n "
	}
	s := &host.SSH{Addr: net.JoinHostPort(in.PublicIP, strconv.Itoa(h.cfg.Provision.SSHPort)), User: h.cfg.Provision.SSHUser,
		KeyFile: h.cfg.Provision.SSHKeyFile, KnownHosts: h.knownHosts}
	defer s.Close()
	// The instance may still be starting sshd right after it runs.
	var err error
	for deadline := time.Now().Add(h.timeout); ; {
		if _, err = s.Run(ctx, "true", nil); err == nil || time.Now().After(deadline) || strings.Contains(err.Error(), "host key") {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		return "", err
	}
	f, err := os.Open(bundle)
	if err != nil {
		return "", err
	}
	defer f.Close()
	quote := func(script string) string { return sudo + "sh -c '" + strings.ReplaceAll(script, "'", `'\''`) + "'" }
	if out, err := s.Run(ctx, quote(scriptHead+`cat > "$dir/bundle.tar.gz"`), f); err != nil {
		return out, fmt.Errorf("sending the bundle: %w", err)
	}
	return s.Run(ctx, quote(scriptHead+scriptApply), nil)
}

// hostBinaryPath is the binary installed on the instance: the configured one, or this one when it
// runs on linux/amd64.
func hostBinaryPath(c *config.Config, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if c.Provision.HostBinary != "" {
		return c.Provision.HostBinary, nil
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		return os.Executable()
	}
	return "", &HintError{Err: fmt.Errorf("this applet is %s/%s; the instance needs linux/amd64", runtime.GOOS, runtime.GOARCH),
		Hint: "build one (GOOS=linux GOARCH=amd64 go build ./cmd/applet) and pass --host-binary PATH"}
}

// httpsHealth is provision.Health: each backend's readyz through nginx and the domain's certificate,
// and a WebSocket upgrade with the Engine.IO handshake.
type httpsHealth struct {
	domain  string
	port    int
	roots   *x509.CertPool
	timeout time.Duration
}

func (h *httpsHealth) dialer(ip string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	target := net.JoinHostPort(ip, strconv.Itoa(h.port))
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, target)
	}
}

func (h *httpsHealth) Check(ctx context.Context, ip string) (string, error) {
	tlsCfg := &tls.Config{RootCAs: h.roots, ServerName: h.domain, MinVersion: tls.VersionTLS12}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: h.dialer(ip), TLSClientConfig: tlsCfg}}
	base := "https://" + h.domain
	if h.port != 443 {
		base += ":" + strconv.Itoa(h.port)
	}
	deadline := time.Now().Add(h.timeout)
	var last error
	for {
		last = nil
		for _, p := range []string{album.BasePath, game.BasePath, session.BasePath, video.BasePath} {
			resp, err := client.Get(base + p + "/readyz")
			if err != nil {
				last = err
				break
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				last = fmt.Errorf("GET %s%s/readyz answered %d", base, p, resp.StatusCode)
				break
			}
		}
		if last == nil {
			last = h.websocket(ctx, ip, tlsCfg, base)
		}
		if last == nil {
			return "4 backends ready through " + base + ", WebSocket handshake done", nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the backends are not healthy through %s after %s: %w (applet doctor tells more)", base, h.timeout, last)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (h *httpsHealth) websocket(ctx context.Context, ip string, tlsCfg *tls.Config, base string) error {
	d := websocket.Dialer{NetDialContext: h.dialer(ip), TLSClientConfig: tlsCfg, HandshakeTimeout: 10 * time.Second}
	u, _ := url.Parse(base)
	u.Scheme = "wss"
	u.Path = game.BasePath + "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	conn, _, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		return fmt.Errorf("WebSocket %s: %w", u, err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(msg), "0{") {
		return fmt.Errorf("WebSocket %s: no Engine.IO open packet (%q, %v)", u, msg, err)
	}
	return nil
}

// liveCert dials the domain (resolved through resolver when set) on port and returns the leaf it
// serves, verified against roots.
func liveCert(domain string, port int, resolver string, roots *x509.CertPool) func(ctx context.Context) (*acme.Cert, error) {
	return func(ctx context.Context) (*acme.Cert, error) {
		r := net.DefaultResolver
		if resolver != "" {
			r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, resolver)
			}}
		}
		ips, err := r.LookupHost(ctx, domain)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("resolving %s: %v", domain, err)
		}
		d := tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: domain, MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ips[0], strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
		return &acme.Cert{Names: leaf.DNSNames, NotAfter: leaf.NotAfter, Serial: leaf.SerialNumber.Text(16)}, nil
	}
}
