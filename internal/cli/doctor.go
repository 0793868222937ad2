package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/tencent"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/video"
)

type doctorOptions struct {
	IO        IOStreams
	Config    func(overrides map[string]string) (*config.Loaded, error)
	LookupEnv func(string) (string, bool)

	JSON    bool
	Only    []string
	Skip    []string
	Timeout time.Duration
	// OnHost: this is the instance; services on loopback are checked here, not through the command service.
	OnHost bool
	// Dev: the backends run with serve --dev (logins from the stand-in).
	Dev bool
}

func newCmdDoctor(f *Factory, runF func(*doctorOptions) error) *cobra.Command {
	opts := &doctorOptions{IO: f.IO, Config: f.Config, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployment end to end and say what is wrong and how to fix it",
		Long: `Check the configuration, the Tencent Cloud key, DNS, the certificate and TLS versions, nginx (paths,
WebSocket upgrade, upload limit), every backend and its stores, the bucket, ICP filing and the mini program
console's domains. Each check prints ok, warn, fail or skipped (with the reason), what it saw, and the fix.

Without a domain it checks a local setup (applet serve --dev) and skips what does not apply.
Exit status: 0 nothing failed, 1 something failed, 2 doctor could not run.`,
		Example: "  applet doctor\n  applet doctor --only tls,dns\n  applet doctor --json --skip credentials",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return doctorRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the results as JSON")
	cmd.Flags().StringSliceVar(&opts.Only, "only", nil, "run only these checks or groups, e.g. tls,dns")
	cmd.Flags().StringSliceVar(&opts.Skip, "skip", nil, "skip these checks or groups")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 20*time.Second, "bound on each check")
	cmd.Flags().BoolVar(&opts.OnHost, "on-host", false, "this machine is the instance: check its loopback services here")
	cmd.Flags().BoolVar(&opts.Dev, "dev", false, "the backends run with serve --dev (logins from the built-in stand-in)")
	return cmd
}

func doctorRun(ctx context.Context, o *doctorOptions) error {
	var overrides map[string]string
	if o.Dev {
		overrides = map[string]string{"session.dev": "true"}
	}
	l, err := o.Config(overrides)
	var ce config.Errors
	var results []doctor.Result
	switch {
	case errors.As(err, &ce):
		var lines []string
		for _, e := range ce {
			lines = append(lines, e.Error())
		}
		results = []doctor.Result{{Check: "config.values", Status: doctor.Fail, Observed: strings.Join(lines, "; "), Fix: "fix the keys named; `applet init --stdout` shows every key"}}
	case err != nil:
		return &CodeError{Code: ExitUsage, Err: fmt.Errorf("doctor could not run: %w", err)}
	default:
		d := &doctorEnv{o: o, l: l, c: l.Config}
		checks, err := doctor.Select(d.checks(), o.Only, o.Skip)
		if err != nil {
			return &CodeError{Code: ExitUsage, Err: err}
		}
		results = doctor.Run(ctx, checks, o.Timeout)
	}
	if o.JSON {
		doctor.WriteJSON(o.IO.Out, results)
	} else {
		doctor.WriteTable(o.IO.Out, results, o.IO.OutIsTerminal)
	}
	if doctor.AnyFailed(results) {
		return &CodeError{Code: ExitError}
	}
	return nil
}

// doctorEnv holds what several checks share, made once.
type doctorEnv struct {
	o *doctorOptions
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
	hostRes   map[string]doctor.Result
	hostErr   error
}

func (d *doctorEnv) env(k string) string {
	if d.o.LookupEnv == nil {
		return ""
	}
	v, _ := d.o.LookupEnv(k)
	return v
}

func (d *doctorEnv) deployed() bool { return d.c.Domain != "" }

const localSkip = "domain is empty: a local setup"

func (d *doctorEnv) checks() []doctor.Check {
	c := func(name string, run func(ctx context.Context) doctor.Result) doctor.Check {
		return doctor.Check{Name: name, Run: run}
	}
	return []doctor.Check{
		c("config.values", func(context.Context) doctor.Result { return doctor.Ok("every key is well formed") }),
		c("config.apps", d.checkApps),
		c("config.permissions", d.checkPermissions),
		c("credentials.read", d.checkCredsRead),
		c("credentials.write", d.checkCredsWrite),
		c("credentials.zone", d.checkZone),
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
		c("icp.filing", d.checkICP),
		c("wechat.secret", d.checkWeChat),
		c("wechat.domains", d.checkDomains),
	}
}

// --- config ---

func (d *doctorEnv) checkApps(ctx context.Context) doctor.Result {
	c := d.c
	var missing []string
	if c.WeChat.AppID == "" && !(c.Session.Dev && !d.deployed()) {
		missing = append(missing, "wechat.app_id and wechat.app_secret (logins fail without them)")
	}
	if c.COS.Bucket != "" && (c.COS.SecretID == "" || c.COS.SecretKey == "") && (c.TencentCloud.SecretID == "" || c.TencentCloud.SecretKey == "") {
		missing = append(missing, "cos.secret_id and cos.secret_key (the album cannot write to "+c.COS.Bucket+")")
	}
	if d.deployed() && (c.TencentCloud.Region == "" || c.TencentCloud.Zone == "") {
		missing = append(missing, "tencentcloud.region and tencentcloud.zone (provision needs them)")
	}
	if len(missing) > 0 {
		return doctor.Failed("missing "+strings.Join(missing, "; "), "set them in the config file or the environment (`applet init --stdout` shows every key)")
	}
	return doctor.Ok("every app has what it needs")
}

func (d *doctorEnv) checkPermissions(ctx context.Context) doctor.Result {
	files := map[string][]string{} // path → secret keys it holds
	for key, src := range d.l.Source {
		f, ok := d.c.Field(key)
		if !ok || !f.Secret {
			continue
		}
		switch {
		case d.l.File != "" && strings.HasPrefix(src, d.l.File+":"):
			files[d.l.File] = append(files[d.l.File], key)
		case strings.HasSuffix(src, "_FILE"):
			if p := d.env(strings.TrimPrefix(src, "env ")); p != "" {
				files[p] = append(files[p], key)
			}
		}
	}
	if len(files) == 0 {
		return doctor.Ok("no secret is read from a file")
	}
	var loose []string
	for p, keys := range files {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.Mode().Perm()&0o077 != 0 {
			loose = append(loose, fmt.Sprintf("%s (%04o, holds %s)", p, st.Mode().Perm(), strings.Join(keys, ", ")))
		}
	}
	if len(loose) > 0 {
		return doctor.Warning("readable by group or others: "+strings.Join(loose, "; "), "chmod 600 each file, owned by the user that runs applet")
	}
	return doctor.Ok(fmt.Sprintf("%d file(s) with secrets, readable by their owner only", len(files)))
}

// --- credentials ---

func (d *doctorEnv) cloud() (*tencent.Client, error) {
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

func apiFail(err error) doctor.Result {
	var ae *tencent.APIError
	if errors.As(err, &ae) && ae.Fix != "" {
		return doctor.Failed(err.Error(), ae.Fix)
	}
	return doctor.Failed(err.Error(), "check the network path to the Tencent Cloud API and the key")
}

func (d *doctorEnv) skipCloud() (doctor.Result, bool) {
	if !d.deployed() {
		return doctor.Skip(localSkip), true
	}
	if _, err := d.cloud(); err != nil {
		return doctor.Skip("no Tencent Cloud key to check with: " + err.Error()), true
	}
	return doctor.Result{}, false
}

// regionZones lists the region's zones once for the checks that need them.
func (d *doctorEnv) regionZones(ctx context.Context, cl *tencent.Client) ([]string, error) {
	d.zoneOnce.Do(func() { d.zones, d.zoneErr = cl.Compute().Zones(ctx) })
	return d.zones, d.zoneErr
}

func (d *doctorEnv) checkCredsRead(ctx context.Context) doctor.Result {
	if r, skip := d.skipCloud(); skip {
		return r
	}
	cl, _ := d.cloud()
	if _, err := d.regionZones(ctx, cl); err != nil {
		return apiFail(err)
	}
	if _, err := cl.Firewall().FindGroups(ctx, "applet-"+d.c.Deployment, provision.TagKey, d.c.Deployment); err != nil {
		return apiFail(err)
	}
	if _, err := cl.DNS().Records(ctx, dnsZone(d.c), "@", "A"); err != nil {
		return apiFail(err)
	}
	return doctor.Ok("the key reads CVM, VPC and DNSPod")
}

func (d *doctorEnv) checkCredsWrite(ctx context.Context) doctor.Result {
	if r, skip := d.skipCloud(); skip {
		return r
	}
	cl, _ := d.cloud()
	p := d.c.Provision
	err := cl.Compute().DryRunInstance(ctx, provision.InstanceSpec{Zone: d.c.TencentCloud.Zone, ImageID: p.ImageID, Type: p.InstanceType, DiskGB: p.DiskGB, BandwidthMbps: p.BandwidthMbps})
	if err != nil {
		return apiFail(err)
	}
	return doctor.Ok("RunInstances with DryRun is allowed")
}

func (d *doctorEnv) checkZone(ctx context.Context) doctor.Result {
	if r, skip := d.skipCloud(); skip {
		return r
	}
	cl, _ := d.cloud()
	zones, err := d.regionZones(ctx, cl)
	if err != nil {
		return apiFail(err)
	}
	for _, z := range zones {
		if z == d.c.TencentCloud.Zone {
			return doctor.Ok(d.c.TencentCloud.Zone + " is a zone of " + d.c.TencentCloud.Region)
		}
	}
	return doctor.Failf("set tencentcloud.zone to one of them", "%s is not among %s's zones (%s)", d.c.TencentCloud.Zone, d.c.TencentCloud.Region, strings.Join(zones, ", "))
}

// --- dns and tls ---

func (d *doctorEnv) instance(ctx context.Context) (*provision.Instance, error) {
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

func (d *doctorEnv) resolve(ctx context.Context) ([]string, error) {
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

func (d *doctorEnv) checkDNS(ctx context.Context) doctor.Result {
	if !d.deployed() {
		return doctor.Skip(localSkip)
	}
	ips, err := d.resolve(ctx)
	if err != nil {
		return doctor.Failed(d.c.Domain+" does not resolve: "+err.Error(), "create its A record (applet provision does), or wait for it to propagate")
	}
	in, err := d.instance(ctx)
	if err != nil {
		return doctor.Ok(d.c.Domain + " resolves to " + strings.Join(ips, ", ") + " (the instance could not be looked up: " + err.Error() + ")")
	}
	for _, ip := range ips {
		if ip == in.PublicIP {
			return doctor.Ok(d.c.Domain + " resolves to " + ip + ", the instance " + in.ID)
		}
	}
	return doctor.Failf("point the A record at "+in.PublicIP+" (applet provision fixes it)", "%s resolves to %s, but the instance %s is at %s", d.c.Domain, strings.Join(ips, ", "), in.ID, in.PublicIP)
}

func (d *doctorEnv) roots() (*x509.CertPool, error) { return rootPool(d.c.Provision.ACMERoots) }

// addr is where the domain's HTTPS (or HTTP) answers: its first address and the configured port.
func (d *doctorEnv) addr(ctx context.Context, port int) (string, error) {
	ips, err := d.resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("%s does not resolve: %w", d.c.Domain, err)
	}
	return net.JoinHostPort(ips[0], strconv.Itoa(port)), nil
}

func (d *doctorEnv) checkChain(ctx context.Context) doctor.Result {
	if !d.deployed() {
		return doctor.Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return doctor.Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	dl := tls.Dialer{Config: &tls.Config{ServerName: d.c.Domain, InsecureSkipVerify: true}} // verified below, to say what is wrong
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return doctor.Failed("TLS to "+addr+": "+err.Error(), "make nginx listen on "+strconv.Itoa(d.c.Provision.HTTPSPort)+" with the certificate (applet provision does)")
	}
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	conn.Close()
	leaf := certs[0]
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return doctor.Failf("renew it: applet provision (or applet host renew on the instance)", "the certificate expired on %s", leaf.NotAfter.Format(time.DateOnly))
	}
	if err := leaf.VerifyHostname(d.c.Domain); err != nil {
		return doctor.Failf("issue one for "+d.c.Domain+" (applet provision does)", "the certificate is for %s, not %s", strings.Join(leaf.DNSNames, ", "), d.c.Domain)
	}
	roots, err := d.roots()
	if err != nil {
		return doctor.Failed(err.Error(), "fix provision.acme_roots")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: d.c.Domain, Roots: roots, Intermediates: inter}); err != nil {
		what := "the chain is not trusted"
		if leaf.Issuer.String() == leaf.Subject.String() {
			what = "the certificate is self-signed"
		}
		return doctor.Failf("serve a certificate from a public CA with its intermediates (fullchain.pem; applet provision issues one)", "%s: %v", what, err)
	}
	left := leaf.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	switch {
	case left < 14*24*time.Hour:
		return doctor.Failf("renew it now: applet provision (or applet host renew on the instance)", "the certificate expires in %d days (%s)", days, leaf.NotAfter.Format(time.DateOnly))
	case left < 30*24*time.Hour:
		return doctor.Warning(fmt.Sprintf("the certificate expires in %d days (%s)", days, leaf.NotAfter.Format(time.DateOnly)), "check that applet-renew.timer runs on the instance (systemctl list-timers)")
	}
	return doctor.Ok(fmt.Sprintf("trusted, for %s, expires in %d days", d.c.Domain, days))
}

func tlsAccepts(ctx context.Context, addr, name string, v uint16) bool {
	dl := tls.Dialer{Config: &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: v, MaxVersion: v}}
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func (d *doctorEnv) checkVersions(ctx context.Context) doctor.Result {
	if !d.deployed() {
		return doctor.Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return doctor.Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	names := map[uint16]string{tls.VersionTLS10: "1.0", tls.VersionTLS11: "1.1", tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3"}
	var on, off []string
	accepted := map[uint16]bool{}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		accepted[v] = tlsAccepts(ctx, addr, d.c.Domain, v)
		if accepted[v] {
			on = append(on, names[v])
		} else {
			off = append(off, names[v])
		}
	}
	seen := "offers TLS " + strings.Join(on, ", ")
	if len(on) == 0 {
		seen = "no TLS version is accepted"
	}
	switch {
	case !accepted[tls.VersionTLS12]:
		return doctor.Failed(seen+": mini programs need TLS 1.2", "set ssl_protocols TLSv1.2 TLSv1.3 in the nginx site (the applet template does)")
	case accepted[tls.VersionTLS10] || accepted[tls.VersionTLS11]:
		return doctor.Warning(seen+": 1.0 and 1.1 are obsolete", "set ssl_protocols TLSv1.2 TLSv1.3 in the nginx site (the applet template does)")
	}
	return doctor.Ok(seen + "; refuses " + strings.Join(off, ", "))
}

func (d *doctorEnv) dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	}
}

func (d *doctorEnv) checkRedirect(ctx context.Context) doctor.Result {
	if !d.deployed() {
		return doctor.Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPPort)
	if err != nil {
		return doctor.Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	client := &http.Client{Transport: &http.Transport{DialContext: d.dialTo(addr)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+d.c.Domain+video.BasePath+"/list", nil)
	resp, err := client.Do(req)
	if err != nil {
		return doctor.Failed("HTTP on "+addr+": "+err.Error(), "let nginx listen on port "+strconv.Itoa(d.c.Provision.HTTPPort)+" (renewal needs it too)")
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasPrefix(loc, "https://") {
		return doctor.Ok(fmt.Sprintf("HTTP answers %d → %s", resp.StatusCode, loc))
	}
	return doctor.Failf("redirect HTTP to HTTPS except /.well-known/acme-challenge/ (the applet site does)", "HTTP answers %d without a redirect to https", resp.StatusCode)
}

// --- nginx, through the domain ---

func (d *doctorEnv) httpsClient(ctx context.Context) (*http.Client, string, error) {
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

func (d *doctorEnv) checkPaths(ctx context.Context) doctor.Result {
	if !d.deployed() {
		return doctor.Skip(localSkip)
	}
	client, base, err := d.httpsClient(ctx)
	if err != nil {
		return doctor.Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	var bad []string
	for _, a := range appPaths {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+a.base+"/healthz", nil)
		resp, err := client.Do(req)
		if err != nil {
			bad = append(bad, a.base+": "+err.Error())
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			bad = append(bad, fmt.Sprintf("%s/healthz answered %d", a.base, resp.StatusCode))
		}
	}
	if len(bad) > 0 {
		return doctor.Failed(strings.Join(bad, "; "), "give each app's path a location that proxies to its port (the applet nginx site does), and check the backend runs (systemctl status applet@<app>)")
	}
	return doctor.Ok("the 4 app paths reach their backends")
}

func (d *doctorEnv) checkWebSocket(ctx context.Context) doctor.Result {
	if !d.deployed() {
		return doctor.Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return doctor.Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	h := &httpsHealth{domain: d.c.Domain, port: d.c.Provision.HTTPSPort}
	ip, _, _ := net.SplitHostPort(addr)
	base := "https://" + d.c.Domain + ":" + strconv.Itoa(d.c.Provision.HTTPSPort)
	err = h.websocket(ctx, ip, &tls.Config{ServerName: d.c.Domain, InsecureSkipVerify: true}, base)
	if err != nil {
		return doctor.Failed(err.Error(), "pass the upgrade in the game's location: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\" (the applet site does)")
	}
	return doctor.Ok("the WebSocket upgrade and the Engine.IO handshake work through nginx")
}

// checkUploadLimit sends the headers of an upload slightly over the album's limit: nginx judges
// Content-Length before reading a byte of the body, so a 413 means its limit is below the album's.
func (d *doctorEnv) checkUploadLimit(ctx context.Context) doctor.Result {
	if !d.deployed() {
		return doctor.Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return doctor.Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	size := int64(d.c.Album.MaxUploadMB)<<20 + 512<<10
	dl := tls.Dialer{Config: &tls.Config{ServerName: d.c.Domain, InsecureSkipVerify: true}}
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return doctor.Failed("TLS to "+addr+": "+err.Error(), "see tls.chain")
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s/upload HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", album.BasePath, d.c.Domain, size)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	mb := float64(size) / (1 << 20)
	if err != nil {
		return doctor.Ok(fmt.Sprintf("a %.1f MiB upload is let through to the album (limit %d MiB)", mb, d.c.Album.MaxUploadMB))
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		return doctor.Failf(fmt.Sprintf("set client_max_body_size %dm in the album's upload location (the applet site does)", d.c.Album.MaxUploadMB+1),
			"nginx refuses a %.1f MiB upload (413): its limit is below the album's %d MiB", mb, d.c.Album.MaxUploadMB)
	}
	return doctor.Ok(fmt.Sprintf("a %.1f MiB upload is let through (answered %d before its body)", mb, resp.StatusCode))
}

// --- backends ---

func (d *doctorEnv) checkReadyz(ctx context.Context) doctor.Result {
	type target struct{ name, url string }
	var targets []target
	var client *http.Client
	if d.deployed() {
		cl, base, err := d.httpsClient(ctx)
		if err != nil {
			return doctor.Failed(err.Error(), "fix DNS first (see dns.resolve)")
		}
		client = cl
		for _, a := range appPaths {
			targets = append(targets, target{a.name, base + a.base + "/readyz"})
		}
	} else {
		client = &http.Client{Timeout: 5 * time.Second}
		for _, a := range []struct{ name, listen, base string }{{"album", d.c.Album.Listen, album.BasePath}, {"game", d.c.Game.Listen, game.BasePath},
			{"session", d.c.Session.Listen, session.BasePath}, {"video", d.c.Video.Listen, video.BasePath}} {
			targets = append(targets, target{a.name, "http://" + upstream(a.listen) + a.base + "/readyz"})
		}
	}
	var bad []string
	for _, t := range targets {
		req, _ := http.NewRequestWithContext(ctx, "GET", t.url, nil)
		resp, err := client.Do(req)
		if err != nil {
			bad = append(bad, t.name+": "+err.Error())
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			bad = append(bad, fmt.Sprintf("%s: %d %s", t.name, resp.StatusCode, strings.TrimSpace(string(body))))
		}
	}
	if len(bad) > 0 {
		fix := "start it (applet serve all) and look at its log"
		if d.deployed() {
			fix = "look at the backend's log (journalctl -u applet@<app>) and the stores below"
		}
		return doctor.Failed("not ready: "+strings.Join(bad, "; "), fix)
	}
	return doctor.Ok("album, game, session and video are ready")
}

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
func (d *doctorEnv) onHost(ctx context.Context) (map[string]doctor.Result, error) {
	d.hostOnce.Do(func() {
		in, err := d.instance(ctx)
		if err != nil {
			d.hostErr = err
			return
		}
		cl, _ := d.cloud()
		script := "set -eu\nroot=\"${" + EnvHostRoot + ":-}\"\n\"$root" + hostBinary + "\" doctor --on-host --json --config \"$root" + hostConfig + "\" --only backends.redis,backends.mysql,backends.mongo || true\n"
		res, err := cl.RunCommand(ctx, in.ID, script, time.Minute)
		if err != nil {
			d.hostErr = err
			return
		}
		var out struct{ Results []doctor.Result }
		i := strings.Index(res.Output, "{")
		if i < 0 {
			d.hostErr = fmt.Errorf("the host answered no results (exit %d): %s", res.ExitCode, tail(res.Output, 5))
			return
		}
		if err := json.Unmarshal([]byte(res.Output[i:]), &out); err != nil {
			d.hostErr = fmt.Errorf("the host answered no results: %s", tail(res.Output, 5))
			return
		}
		d.hostRes = map[string]doctor.Result{}
		for _, r := range out.Results {
			r.Observed = "on " + in.ID + ": " + r.Observed
			d.hostRes[r.Check] = r
		}
	})
	return d.hostRes, d.hostErr
}

// store checks a store here, or on the host when it listens on the host's loopback.
func (d *doctorEnv) store(ctx context.Context, name, addr string, local func(ctx context.Context) doctor.Result) doctor.Result {
	if d.deployed() && !d.o.OnHost && isLoopback(addr) {
		res, err := d.onHost(ctx)
		if err != nil {
			return doctor.Failed(addr+" is the instance's loopback, and checking there failed: "+err.Error(), "run applet doctor --on-host on the instance")
		}
		if r, ok := res[name]; ok {
			return r
		}
		return doctor.Failed("the instance did not report "+name, "run applet doctor --on-host on the instance")
	}
	return local(ctx)
}

func (d *doctorEnv) checkRedis(ctx context.Context) doctor.Result {
	if d.c.Redis.Addr == "" {
		return doctor.Skip("redis.addr is empty: sessions stay in process")
	}
	return d.store(ctx, "backends.redis", d.c.Redis.Addr, func(ctx context.Context) doctor.Result {
		return pingRedis(ctx, d.c.Redis.Addr, d.c.Redis.Password, d.c.Redis.DB)
	})
}

func (d *doctorEnv) checkMySQL(ctx context.Context) doctor.Result {
	if d.c.MySQL.DSN == "" {
		return doctor.Skip("mysql.dsn is empty: the video list uses the embedded database")
	}
	addr, _ := mysqlAddr(d.c.MySQL.DSN) // a DSN that does not parse is config.values' to report
	return d.store(ctx, "backends.mysql", addr, func(ctx context.Context) doctor.Result { return checkSchema(ctx, d.c.MySQL.DSN) })
}

func (d *doctorEnv) checkMongo(ctx context.Context) doctor.Result {
	if d.c.Mongo.URI == "" {
		return doctor.Skip("mongo.uri is empty: drawings use the embedded store")
	}
	return d.store(ctx, "backends.mongo", mongoHost(d.c.Mongo.URI), func(ctx context.Context) doctor.Result { return pingMongo(ctx, d.c.Mongo.URI) })
}

// --- ICP and WeChat ---

func (d *doctorEnv) checkICP(ctx context.Context) doctor.Result {
	region := d.c.TencentCloud.Region
	if region == "" {
		region = d.c.COS.Region
	}
	switch {
	case !d.deployed():
		return doctor.Skip(localSkip)
	case region == "":
		return doctor.Skip("no region configured")
	case mainlandRegion(region):
		return doctor.Warning(region+" is in mainland China: "+d.c.Domain+" answers on 80 and 443 only once its ICP filing (备案) is done; no API can check it", "file the domain for ICP in the Tencent Cloud console, or deploy in ap-hongkong or abroad")
	}
	return doctor.Ok(region + " needs no ICP filing")
}

func (d *doctorEnv) checkWeChat(ctx context.Context) doctor.Result {
	c := d.c
	if c.WeChat.AppID == "" {
		if c.Session.Dev && !d.deployed() {
			return doctor.Skip("session.dev: logins answered by the built-in stand-in")
		}
		return doctor.Failed("wechat.app_id is empty: every login fails", "copy the AppID and AppSecret from the mini program console (开发管理 → 开发设置)")
	}
	// A code WeChat has never issued: a correct secret gets "invalid code" (40029), a wrong one 40125.
	u := strings.TrimRight(c.WeChat.APIBase, "/") + "/sns/jscode2session?appid=" + c.WeChat.AppID + "&secret=" + c.WeChat.AppSecret + "&js_code=applet-doctor-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "&grant_type=authorization_code"
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return doctor.Failed("WeChat API: "+strings.ReplaceAll(err.Error(), c.WeChat.AppSecret, "<redacted>"), "let the machine reach "+c.WeChat.APIBase)
	}
	defer resp.Body.Close()
	var out struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
		OpenID  string `json:"openid"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return doctor.Failed(fmt.Sprintf("WeChat API answered %d without JSON", resp.StatusCode), "check wechat.api_base")
	}
	switch out.ErrCode {
	case 0, 40029, 40163:
		return doctor.Ok("the AppID and AppSecret are accepted")
	case 40125:
		return doctor.Failed("WeChat says the AppSecret is invalid (40125)", "copy the AppSecret again from the mini program console (开发管理 → 开发设置), or reset it there")
	case 40013:
		return doctor.Failed("WeChat says the AppID is invalid (40013)", "copy the AppID from the mini program console")
	}
	return doctor.Warning(fmt.Sprintf("WeChat answered errcode %d (%s)", out.ErrCode, out.ErrMsg), "try again later; see the WeChat error code list")
}

func (d *doctorEnv) checkDomains(ctx context.Context) doctor.Result {
	c := d.c
	if !d.deployed() {
		return doctor.Skip(localSkip + ": the developer tool's \"do not verify domains\" setting is needed")
	}
	base := "https://" + c.Domain
	download := []string{base}
	warn := ""
	if c.COS.Bucket != "" {
		host := c.COS.Bucket + ".cos." + c.COS.Region + ".myqcloud.com"
		if c.COS.PublicDomain != "" {
			host = c.COS.PublicDomain
		}
		download = append(download, "https://"+host)
	} else if c.Album.PublicURL != "" && c.Album.PublicURL != base && strings.TrimSuffix(c.Album.PublicURL, "/") != base {
		warn = "album.public_url " + c.Album.PublicURL + " is not " + base + ": image URLs fall outside downloadFile"
	}
	seen := fmt.Sprintf("request %s; uploadFile %s; downloadFile %s; socket wss://%s", base, base, strings.Join(download, ", "), c.Domain)
	if warn != "" {
		return doctor.Warning(seen+" — "+warn, "set album.public_url to "+base+" (or add its host to downloadFile)")
	}
	return doctor.Ok("enter in the mini program console (开发管理 → 服务器域名): " + seen)
}

// --- helpers ---

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
