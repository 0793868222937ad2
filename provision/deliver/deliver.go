// Package deliver is provision.Host from the operator's machine: it builds the host bundle (the
// binary, the host's config, the certificate, the nginx site and the systemd units) and hands it to
// the instance, through a private COS object and the command service (TAT) or over SSH, where
// `applet host apply` converges the host.
package deliver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	drv "github.com/go-sql-driver/mysql"

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

// Backends are the host's four listeners (loopback addresses, see host.Upstream).
type Backends struct {
	Album, Game, Session, Video string
}

// SSH delivers over SSH instead of COS and TAT when User is set.
type SSH struct {
	User    string
	Port    int
	KeyFile string
	// KnownHosts pins the instance's host key (written on first use).
	KnownHosts string
}

// Options describe what the host gets.
type Options struct {
	Deployment, Domain string
	// Binary is the linux/amd64 applet installed on the host; TLSDir the local certificate directory.
	Binary, TLSDir string
	// HostConfig renders the backends' config file on the host, with its secrets: late, because the
	// managed databases' addresses are known only once provision has made them.
	HostConfig func() ([]byte, error)
	Backends   Backends
	// RedisAddr/RedisPassword and MySQLDSN say which stores the host runs itself (loopback addresses).
	RedisAddr, RedisPassword, MySQLDSN string
	ACMEDirectory, ACMERoots           string
	HTTPPort, HTTPSPort, MaxUploadMB   int
	ShutdownTimeout                    time.Duration
	// BodyGrace is the longest pause in a request body (nginx cuts such a client first);
	// BackendConnections is what the four backends accept in all, to size nginx for.
	BodyGrace          time.Duration
	BackendConnections int
	Templates          *templates.Set
	// Buckets and Client carry the bundle (COS and TAT); SSH replaces both when its User is set.
	Buckets *tencent.Buckets
	Client  *tencent.Client
	SSH     SSH
	Timeout time.Duration
	// Metadata is the instance metadata service's base URL the host reads its role from ("": the real one).
	Metadata string
	// Backup installs the backup timer (and backs up before upgrades); BackupKeyFile is the local
	// encryption key the host gets at host.BackupKeyPath ("": none).
	Backup        bool
	BackupKeyFile string
	// LBRanges, when set, puts the host behind a load balancer that ends TLS: nginx answers plain HTTP
	// from these blocks only, and the certificate is renewed by provision, not on the host.
	LBRanges []string
}

// Delivery is provision.Host.
type Delivery struct{ o Options }

var _ provision.Host = (*Delivery)(nil)

// New checks that the bundle has a way to the host.
func New(o Options) (*Delivery, error) {
	if o.Buckets == nil && o.SSH.User == "" {
		return nil, errors.New("the host step delivers its bundle through a private COS object, and cos.bucket is empty")
	}
	return &Delivery{o: o}, nil
}

// SelfHosted names the packages the host installs for stores on its own loopback.
func SelfHosted(redisAddr, mysqlDSN string) []string {
	loop := func(host string) bool { return host == "127.0.0.1" || host == "localhost" || host == "::1" }
	var pkgs []string
	if redisAddr != "" {
		if h, _, err := net.SplitHostPort(redisAddr); err == nil && loop(h) {
			pkgs = append(pkgs, "redis-server")
		}
	}
	if mysqlDSN != "" {
		if mc, err := drv.ParseDSN(mysqlDSN); err == nil {
			if h, _, err := net.SplitHostPort(mc.Addr); err == nil && loop(h) {
				pkgs = append(pkgs, "mariadb-server")
			}
		}
	}
	return pkgs
}

func (d *Delivery) build() (*host.Builder, error) {
	o := d.o
	var health []string
	for _, a := range []struct{ listen, base string }{{o.Backends.Album, album.BasePath}, {o.Backends.Game, game.BasePath}, {o.Backends.Session, session.BasePath}, {o.Backends.Video, video.BasePath}} {
		health = append(health, "http://"+a.listen+a.base+"/readyz")
	}
	m := host.Manifest{Deployment: o.Deployment, Domain: o.Domain, Names: []string{o.Domain}, Apps: host.Apps, Health: health,
		User: host.User, Binary: host.BinaryPath, TLSDir: host.TLSDir, Webroot: host.Webroot, ACMEDir: o.ACMEDirectory, Packages: SelfHosted(o.RedisAddr, o.MySQLDSN)}
	m.BehindLB = len(o.LBRanges) > 0
	if o.ACMERoots != "" && !m.BehindLB {
		m.ACMERoots = host.TLSDir + "/acme-roots.pem"
	}
	if slices.Contains(m.Packages, "redis-server") {
		m.Redis = &host.Redis{Addr: o.RedisAddr, Password: o.RedisPassword}
	}
	if slices.Contains(m.Packages, "mariadb-server") {
		mc, _ := drv.ParseDSN(o.MySQLDSN)
		h, p, _ := net.SplitHostPort(mc.Addr)
		port, _ := strconv.Atoi(p)
		m.Database = &host.Database{Name: mc.DBName, User: mc.User, Password: mc.Passwd, Host: h, Port: port}
	}
	m.Backup = o.Backup
	b := host.NewBuilder(m)
	if o.BackupKeyFile != "" {
		key, err := os.ReadFile(o.BackupKeyFile)
		if err != nil {
			return nil, fmt.Errorf("backup.encryption_key_file: %w", err)
		}
		b.Add(host.File{Path: host.BackupKeyPath, Mode: 0o600, Owner: host.User}, key)
	}
	if err := b.AddFile(host.File{Path: host.BinaryPath, Mode: 0o755, Trigger: host.TriggerBackend}, o.Binary); err != nil {
		return nil, fmt.Errorf("host binary: %w", err)
	}
	hostConfig, err := o.HostConfig()
	if err != nil {
		return nil, fmt.Errorf("rendering the host's config: %w", err)
	}
	b.Add(host.File{Path: host.ConfigPath, Mode: 0o600, Owner: host.User, Trigger: host.TriggerBackend}, hostConfig)
	// Behind a load balancer the certificate stays with it: the instances get no TLS file and no ACME
	// account (and a renewal does not roll them).
	if !m.BehindLB {
		// The certificate and its key travel together or not at all: half a pair breaks nginx.
		_, certErr := os.Stat(filepath.Join(o.TLSDir, acme.CertFile))
		_, keyErr := os.Stat(filepath.Join(o.TLSDir, acme.KeyFile))
		pair := certErr == nil && keyErr == nil
		for _, f := range []struct {
			name    string
			mode    uint32
			trigger string
		}{{acme.CertFile, 0o644, host.TriggerNginx}, {acme.KeyFile, 0o600, host.TriggerNginx}, {acme.AccountKeyFile, 0o600, ""}, {acme.AccountFile, 0o600, ""}} {
			if (f.name == acme.CertFile || f.name == acme.KeyFile) && !pair {
				continue
			}
			data, err := os.ReadFile(filepath.Join(o.TLSDir, f.name))
			if errors.Is(err, os.ErrNotExist) {
				continue // before the first issuance; the certificate step runs before delivery
			}
			if err != nil {
				return nil, err
			}
			b.Add(host.File{Path: host.TLSDir + "/" + f.name, Mode: f.mode, Trigger: f.trigger}, data)
		}
		if o.ACMERoots != "" {
			data, err := os.ReadFile(o.ACMERoots)
			if err != nil {
				return nil, fmt.Errorf("provision.acme_roots: %w", err)
			}
			b.Add(host.File{Path: m.ACMERoots, Mode: 0o644}, data)
		}
	}

	tooLarge := fmt.Sprintf(`{"code":-1,"msg":"单个不超过%dMB","data":{},"error":{"field":"image","reason":"larger than the limit"}}`, o.MaxUploadMB)
	site := templates.Site{
		Deployment: o.Deployment, Domain: o.Domain, HTTPSPort: o.HTTPSPort,
		HTTPListen:  []string{strconv.Itoa(o.HTTPPort), "[::]:" + strconv.Itoa(o.HTTPPort)},
		HTTPSListen: []string{strconv.Itoa(o.HTTPSPort), "[::]:" + strconv.Itoa(o.HTTPSPort)},
		CertFile:    host.TLSDir + "/" + acme.CertFile, KeyFile: host.TLSDir + "/" + acme.KeyFile, Webroot: host.Webroot,
		Album: o.Backends.Album, Game: o.Backends.Game, Session: o.Backends.Session, Video: o.Backends.Video,
		UploadMaxMB: o.MaxUploadMB + 1, TooLargeJSON: templates.NginxString(tooLarge),
		BodyTimeout: fmt.Sprintf("%ds", max(int(o.BodyGrace/time.Second), 1)), UploadsPerAddr: 8, CommentsPerAddr: 8,
	}
	if len(o.LBRanges) > 0 {
		site.HTTPSListen, site.LBRanges = nil, o.LBRanges
	}
	unit := templates.Unit{Deployment: o.Deployment, User: host.User, Binary: host.BinaryPath, ConfigFile: host.ConfigPath, DataDir: host.DataDir,
		StopTimeout: (o.ShutdownTimeout + 15*time.Second).String(), LimitNOFILE: host.OpenFiles}
	for _, p := range m.Packages {
		unit.After = append(unit.After, map[string]string{"redis-server": "redis-server.service", "mariadb-server": "mariadb.service"}[p])
	}
	type rendered struct {
		name, path, trigger string
		data                any
	}
	extra := []rendered{}
	if o.Backup {
		extra = append(extra, rendered{templates.BackupService, "/etc/systemd/system/applet-backup.service", host.TriggerUnits, unit},
			rendered{templates.BackupTimer, "/etc/systemd/system/applet-backup.timer", host.TriggerTimer, unit})
	}
	files := []rendered{
		{templates.NginxMain, "/etc/nginx/nginx.conf", host.TriggerNginx, templates.NginxMainFor(o.Deployment, o.BackendConnections)},
		{templates.NginxSite, "/etc/nginx/sites-enabled/applet-" + o.Deployment + ".conf", host.TriggerNginx, site},
		{templates.ServiceUnit, "/etc/systemd/system/applet@.service", host.TriggerUnits, unit},
	}
	if !m.BehindLB {
		files = append(files, rendered{templates.RenewService, "/etc/systemd/system/applet-renew.service", host.TriggerUnits, unit},
			rendered{templates.RenewTimer, "/etc/systemd/system/applet-renew.timer", host.TriggerTimer, unit})
	}
	for _, t := range append(files, extra...) {
		data, err := o.Templates.Render(t.name, t.data)
		if err != nil {
			return nil, err
		}
		b.Add(host.File{Path: t.path, Mode: 0o644, Trigger: t.trigger}, data)
	}
	return b, nil
}

// Digest identifies the bundle that would be delivered now.
func (d *Delivery) Digest() (string, error) {
	b, err := d.build()
	if err != nil {
		return "", err
	}
	return b.Digest(), nil
}

// Apply hands the bundle to the instance and converges it there. Over the command service (TAT),
// whose invocation records keep command texts, what travels is split: the binary, which is not
// secret, comes through a presigned URL that lives a few minutes; the rest (config, keys,
// passwords) is a private object that `applet host apply` fetches with the instance role's
// credentials. The command carries only where both are and their digests.
func (d *Delivery) Apply(ctx context.Context, in provision.Instance, restore string) (string, string, error) {
	b, err := d.build()
	if err != nil {
		return "", "", err
	}
	digest := b.Digest()
	f, err := os.CreateTemp("", "applet-bundle-*.tar.gz")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(f.Name())
	write := b.Write
	if d.o.SSH.User == "" {
		write = b.WriteSecret
	}
	h := sha256.New()
	if err := write(io.MultiWriter(f, h)); err != nil {
		f.Close()
		return "", "", fmt.Errorf("writing the bundle: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	if d.o.SSH.User != "" {
		out, err := d.applyOverSSH(ctx, in, f.Name(), restore)
		out = strings.TrimSpace(out)
		if err != nil {
			return "", "", fmt.Errorf("the host step on %s over SSH: %w\n%s", in.ID, err, host.Tail(out, 20))
		}
		lines := strings.Split(out, "\n")
		return digest, lines[len(lines)-1], nil
	}
	bk := d.o.Buckets
	// Each instance's bundle has a place of its own: several instances converge side by side, and each
	// host deletes its bundle once fetched.
	prefix := tencent.BundlePrefix(d.o.Deployment) + in.ID + "/"
	// Bundles a killed run left behind for this instance go first (a lifecycle rule would expire them in
	// a day).
	stale, err := bk.List(ctx, prefix)
	if err != nil {
		return "", "", fmt.Errorf("listing old bundles: %w", err)
	}
	for _, k := range stale {
		if err := deleteObject(ctx, bk, k); err != nil {
			return "", "", fmt.Errorf("removing the old bundle %s: %w", k, err)
		}
	}
	binPath, binSHA := b.Binary()
	binKey := prefix + "applet-" + binSHA[:16]
	secretKey := prefix + "host-" + digest[:16] + ".tar.gz"
	sum := hex.EncodeToString(h.Sum(nil))
	// Both objects go whatever happens next, on a context the caller's cancel does not reach.
	defer func() {
		for _, k := range []string{secretKey, binKey} {
			deleteObject(context.WithoutCancel(ctx), bk, k)
		}
	}()
	if err := bk.PutPrivate(ctx, binKey, binPath); err != nil {
		return "", "", fmt.Errorf("uploading the binary: %w", err)
	}
	if err := bk.PutPrivate(ctx, secretKey, f.Name()); err != nil {
		return "", "", fmt.Errorf("uploading the bundle: %w", err)
	}
	link, err := bk.PresignGet(ctx, binKey, 15*time.Minute)
	if err != nil {
		return "", "", err
	}
	fetch := host.Fetch{Bucket: bk.Name(), Region: bk.Region(), Key: secretKey, SHA256: sum, Endpoint: bk.Endpoint(), Metadata: d.o.Metadata}
	res, err := d.o.Client.RunCommand(ctx, in.ID, hostScript(link, binSHA, fetch, restore), d.o.Timeout)
	if err != nil {
		return "", "", fmt.Errorf("running the host step on %s: %w", in.ID, err)
	}
	out := strings.TrimSpace(res.Output)
	if res.Status != "SUCCESS" || res.ExitCode != 0 {
		return "", "", fmt.Errorf("the host step on %s ended %s (exit %d):\n%s", in.ID, res.Status, res.ExitCode, host.Tail(out, 20))
	}
	lines := strings.Split(out, "\n")
	return digest, lines[len(lines)-1], nil
}

// deleteObject removes a bundle object, trying again on a failure (a missing one is gone already).
func deleteObject(ctx context.Context, bk *tencent.Buckets, key string) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		if err = bk.DeleteObject(ctx, key); err == nil {
			return nil
		}
	}
	return err
}
