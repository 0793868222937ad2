package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/acme"
	"github.com/qcloud-applet/applet/provision/host"
	"github.com/qcloud-applet/applet/provision/tencent"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/video"
)

// Options say what doctor checks: a deployment's configuration (a local setup when its domain is
// empty), and where the stores are checked.
type Options struct {
	Loaded    *config.Loaded
	LookupEnv func(string) (string, bool)
	// OnHost: this is the instance; services on loopback are checked here, not through the command service.
	OnHost bool
}

// Checks are every check, each of which says why it is skipped when the configuration does not call
// for it. The cloud client, the instance and the domain's addresses are looked up once and shared.
func Checks(o Options) []Check {
	d := &env{o: o, l: o.Loaded, c: o.Loaded.Config}
	return d.checks()
}

// ConfigInvalid is the one result for a configuration that does not load.
func ConfigInvalid(problems []string) []Result {
	return []Result{{Check: "config.values", Status: Fail, Observed: strings.Join(problems, "; "), Fix: "fix the keys named; `applet init --stdout` shows every key"}}
}

type env struct {
	o Options
	l *config.Loaded
	c *config.Config

	cloudOnce sync.Once
	client    *tencent.Client
	cloudErr  error
	zoneOnce  sync.Once
	zones     []string
	zoneErr   error
	instOnce  sync.Once
	inst      *provision.Instance
	instErr   error
	ipOnce    sync.Once
	ips       []string
	ipErr     error
	hostOnce  sync.Once
	hostRes   map[string]Result
	hostErr   error
	lbOnce    sync.Once
	lb        *lbView
	lbErr     error
}

func (d *env) env(k string) string {
	if d.o.LookupEnv == nil {
		return ""
	}
	v, _ := d.o.LookupEnv(k)
	return v
}

func (d *env) deployed() bool { return d.c.Domain != "" }

const localSkip = "domain is empty: a local setup"

func (d *env) checks() []Check {
	c := func(name string, run func(ctx context.Context) Result) Check {
		return Check{Name: name, Run: run}
	}
	return []Check{
		c("config.values", func(context.Context) Result { return Ok("every key is well formed") }),
		c("config.apps", d.checkApps),
		c("config.permissions", d.checkPermissions),
		c("credentials.read", d.checkCredsRead),
		c("credentials.write", d.checkCredsWrite),
		c("credentials.zone", d.checkZone),
		c("credentials.role", d.checkRole),
		c("dns.resolve", d.checkDNS),
		c("tls.chain", d.checkChain),
		c("tls.versions", d.checkVersions),
		c("tls.redirect", d.checkRedirect),
		c("nginx.paths", d.checkPaths),
		c("nginx.websocket", d.checkWebSocket),
		c("nginx.upload-limit", d.checkUploadLimit),
		c("backends.readyz", d.checkReadyz),
		c("backends.redis", d.checkRedis),
		c("backends.mysql", d.checkMySQL),
		c("backends.mongo", d.checkMongo),
		c("backends.bucket", d.checkBucket),
		c("serve.limits", d.checkLimits),
		c("cluster.targets", d.checkTargets),
		c("cluster.certificate", d.checkLBCertificate),
		c("cluster.versions", d.checkFleetVersions),
		c("cluster.stores", d.checkStoresFromInstance),
		c("backup.age", d.checkBackupAge),
		c("backup.verify", d.checkBackupVerify),
		c("host.secrets", d.checkHostSecrets),
		c("host.album-scope", d.checkAlbumScope),
		c("icp.filing", d.checkICP),
		c("wechat.secret", d.checkWeChat),
		c("wechat.domains", d.checkDomains),
	}
}

func (d *env) cloud() (*tencent.Client, error) {
	d.cloudOnce.Do(func() {
		c := d.c
		if c.TencentCloud.Region == "" {
			d.cloudErr = errors.New("tencentcloud.region is empty")
			return
		}
		home, _ := os.UserHomeDir()
		if h := d.env("HOME"); h != "" {
			home = h
		}
		creds, err := tencent.LoadCredentials(d.env, home, tencent.Credentials{SecretID: c.TencentCloud.SecretID, SecretKey: c.TencentCloud.SecretKey, Source: d.l.Source["tencentcloud.secret_id"]})
		if err != nil {
			d.cloudErr = err
			return
		}
		cfg := tencent.NewDefaultConfig(c.TencentCloud.Region)
		cfg.Credentials, cfg.Endpoint, cfg.CallTimeout, cfg.MaxAttempts = creds, c.TencentCloud.Endpoint, 10*time.Second, 2
		d.client, d.cloudErr = tencent.New(cfg)
	})
	return d.client, d.cloudErr
}

func (d *env) regionZones(ctx context.Context, cl *tencent.Client) ([]string, error) {
	d.zoneOnce.Do(func() { d.zones, d.zoneErr = cl.Compute().Zones(ctx) })
	return d.zones, d.zoneErr
}

func (d *env) instance(ctx context.Context) (*provision.Instance, error) {
	d.instOnce.Do(func() {
		cl, err := d.cloud()
		if err != nil {
			d.instErr = err
			return
		}
		insts, err := cl.Compute().FindInstances(ctx, provision.TagKey, d.c.Deployment)
		switch {
		case err != nil:
			d.instErr = err
		case len(insts) == 0:
			d.instErr = fmt.Errorf("no instance carries %s=%s", provision.TagKey, d.c.Deployment)
		default:
			d.inst = &insts[0]
		}
	})
	return d.inst, d.instErr
}

func (d *env) resolve(ctx context.Context) ([]string, error) {
	d.ipOnce.Do(func() {
		r := net.DefaultResolver
		if res := d.c.Provision.DNSResolver; res != "" {
			r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, res)
			}}
		}
		d.ips, d.ipErr = r.LookupHost(ctx, d.c.Domain)
	})
	return d.ips, d.ipErr
}

func (d *env) roots() (*x509.CertPool, error) { return acme.RootPool(d.c.Provision.ACMERoots) }

// addr is where the domain's HTTPS (or HTTP) answers: its first address and the configured port.
func (d *env) addr(ctx context.Context, port int) (string, error) {
	ips, err := d.resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("%s does not resolve: %w", d.c.Domain, err)
	}
	return net.JoinHostPort(ips[0], strconv.Itoa(port)), nil
}

func (d *env) dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	}
}

func (d *env) httpsClient(ctx context.Context) (*http.Client, string, error) {
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return nil, "", err
	}
	roots, err := d.roots()
	if err != nil {
		return nil, "", err
	}
	base := "https://" + d.c.Domain
	if d.c.Provision.HTTPSPort != 443 {
		base += ":" + strconv.Itoa(d.c.Provision.HTTPSPort)
	}
	// The path is what is checked here, not the certificate (tls.chain says what is wrong with it).
	tr := &http.Transport{DialContext: d.dialTo(addr), TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: d.c.Domain, InsecureSkipVerify: true}}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}, base, nil
}

var appPaths = []struct{ name, base string }{{"album", album.BasePath}, {"game", game.BasePath}, {"session", session.BasePath}, {"video", video.BasePath}}

func isLoopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// onHost runs the store checks on the instance through the command service, once, and returns them by
// name: services on the instance's loopback cannot be reached from here.
func (d *env) onHost(ctx context.Context) (map[string]Result, error) {
	d.hostOnce.Do(func() {
		in, err := d.instance(ctx)
		if err != nil {
			d.hostErr = err
			return
		}
		cl, _ := d.cloud()
		script := host.Script("\"$root" + host.BinaryPath + "\" doctor --on-host --json --config \"$root" + host.ConfigPath + "\" --only backends.redis,backends.mysql,backends.mongo,serve.limits,host.secrets,host.album-scope || true\n")
		res, err := cl.RunCommand(ctx, in.ID, script, time.Minute)
		if err != nil {
			d.hostErr = err
			return
		}
		var out struct{ Results []Result }
		i := strings.Index(res.Output, "{")
		if i < 0 {
			d.hostErr = fmt.Errorf("the host answered no results (exit %d): %s", res.ExitCode, host.Tail(res.Output, 5))
			return
		}
		if err := json.Unmarshal([]byte(res.Output[i:]), &out); err != nil {
			d.hostErr = fmt.Errorf("the host answered no results: %s", host.Tail(res.Output, 5))
			return
		}
		d.hostRes = map[string]Result{}
		for _, r := range out.Results {
			r.Observed = "on " + in.ID + ": " + r.Observed
			d.hostRes[r.Check] = r
		}
	})
	return d.hostRes, d.hostErr
}

// store checks a store here, or on the host when it listens on the host's loopback.
func (d *env) store(ctx context.Context, name, addr string, local func(ctx context.Context) Result) Result {
	if d.deployed() && !d.o.OnHost && isLoopback(addr) {
		res, err := d.onHost(ctx)
		if err != nil {
			return Failed(addr+" is the instance's loopback, and checking there failed: "+err.Error(), "run applet doctor --on-host on the instance")
		}
		if r, ok := res[name]; ok {
			return r
		}
		return Failed("the instance did not report "+name, "run applet doctor --on-host on the instance")
	}
	return local(ctx)
}

func mongoHost(uri string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(uri, "mongodb://"), "mongodb+srv://")
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?,"); i >= 0 {
		rest = rest[:i]
	}
	if _, _, err := net.SplitHostPort(rest); err != nil {
		rest += ":27017"
	}
	return rest
}
