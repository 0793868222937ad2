package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/hint"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/deliver"
	"github.com/qcloud-applet/applet/provision/deploy"
	"github.com/qcloud-applet/applet/provision/host"
	"github.com/qcloud-applet/applet/provision/report"
	"github.com/qcloud-applet/applet/provision/tencent"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/video"
)

// openDeployment loads the configuration and opens the deployment for command.
func openDeployment(ctx context.Context, o *provisionOptions, command string) (*deploy.Deployment, *config.Config, error) {
	l, err := o.Config(nil)
	if err != nil {
		return nil, nil, err
	}
	if err := l.RequireForProvision(); err != nil {
		return nil, nil, err
	}
	c, p := l.Config, l.Config.Provision
	home, _ := os.UserHomeDir()
	if h := getenv(o.LookupEnv)("HOME"); h != "" {
		home = h
	}
	stateDir := p.StateDir
	if stateDir == "" {
		stateDir = filepath.Join(c.DataDir, "provision")
	}
	var keyIDs []string
	for _, k := range strings.Split(p.KeyIDs, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keyIDs = append(keyIDs, k)
		}
	}
	managed, err := managedStores(c)
	if err != nil {
		return nil, nil, err
	}
	hc, warnings := c.ForHost(config.HostLayout{DataDir: host.DataDir, Loopback: host.Upstream,
		OwnMySQL: slices.Contains(deliver.SelfHosted(c.Redis.Addr, c.MySQL.DSN), "mariadb-server"), BackupKey: host.BackupKeyPath})
	bin := o.HostBinary
	if bin == "" {
		bin = p.HostBinary
	}
	do := deploy.Options{
		Deployment: c.Deployment, Domain: c.Domain, DNSZone: provision.Zone(c.Domain, p.DNSZone), Region: c.TencentCloud.Region,
		// The environment wins over the credentials file, which wins over the config file; the loader has
		// already folded TENCENTCLOUD_* into the config, so a value from there counts as the environment.
		Getenv: getenv(o.LookupEnv), Home: home, ConfigCredentials: tencent.Credentials{SecretID: c.TencentCloud.SecretID, SecretKey: c.TencentCloud.SecretKey, Source: l.Source["tencentcloud.secret_id"]},
		Endpoint: c.TencentCloud.Endpoint, CallTimeout: p.CallTimeout, MySQLDSN: c.MySQL.DSN, StateDir: stateDir, Command: command,
		Instance:     provision.InstanceSpec{Zone: c.TencentCloud.Zone, ImageID: p.ImageID, Type: p.InstanceType, DiskGB: p.DiskGB, BandwidthMbps: p.BandwidthMbps, KeyIDs: keyIDs},
		InstanceRole: p.InstanceRole, AlbumFolder: c.Album.Folder,
		SSHCIDR: p.SSHCIDR, PollInterval: p.PollInterval, BootTimeout: p.BootTimeout, HTTPSPort: p.HTTPSPort, CloudOnly: p.CloudOnly,
		Instances: p.Instances, LB: provision.LBSettings{Drain: p.DrainTimeout, AliveTimeout: p.HostTimeout, Always: p.LoadBalancer, Ranges: splitList(p.LBRanges)}, LBRanges: splitList(p.LBRanges),
		Network: provision.NetworkSettings{CIDR: p.VpcCIDR, SubnetCIDR: p.SubnetCIDR, VpcID: p.VpcID, SubnetID: p.SubnetID}, Managed: managed,
		Host: deploy.HostSide{ACMEDirectory: p.ACMEDirectory, ACMEEmail: p.ACMEEmail, ACMERoots: p.ACMERoots, DNSResolver: p.DNSResolver,
			Binary: bin, TemplatesDir: p.TemplatesDir, Timeout: p.HostTimeout, Warnings: warnings,
			Deliver: deliver.Options{HostConfig: hostConfig(hc, stateDir, c.Deployment, managed),
				Backends:  deliver.Backends{Album: hc.Album.Listen, Game: hc.Game.Listen, Session: hc.Session.Listen, Video: hc.Video.Listen},
				RedisAddr: c.Redis.Addr, RedisPassword: c.Redis.Password, MySQLDSN: c.MySQL.DSN, ACMEDirectory: p.ACMEDirectory, ACMERoots: p.ACMERoots,
				HTTPPort: p.HTTPPort, HTTPSPort: p.HTTPSPort, MaxUploadMB: c.Album.MaxUploadMB, ShutdownTimeout: c.Serve.ShutdownTimeout,
				BodyGrace: c.Serve.BodyGrace, BackendConnections: len(host.Apps) * serve.Budgets{Reserve: c.Serve.FDReserve, Connections: c.Serve.MaxConnections}.Derive(host.OpenFiles, 1).Connections,
				SSH: deliver.SSH{User: p.SSHUser, Port: p.SSHPort, KeyFile: p.SSHKeyFile}, Metadata: c.COS.MetadataURL}},
		Notes: o.IO.ErrOut, Progress: report.NewProgress(o.IO.Out, o.IO.ErrIsTerminal).Event,
	}
	if c.COS.Bucket != "" {
		do.Bucket = &deploy.Bucket{Name: c.COS.Bucket, Region: c.COS.Region, Endpoint: c.COS.Endpoint}
		if c.COS.SecretID != "" {
			do.Bucket.Credentials = &tencent.Credentials{SecretID: c.COS.SecretID, SecretKey: c.COS.SecretKey, Source: "cos.secret_id"}
		}
	}
	if to, err := c.Backups(true); err == nil && to.Bucket != "" {
		do.Backups = &deploy.Backups{Bucket: to.Bucket, Prefix: to.Prefix, Region: to.Region, Endpoint: c.COS.Endpoint}
		do.Host.Deliver.Backup, do.Host.Deliver.BackupKeyFile = true, c.Backup.EncryptionKeyFile
	}
	for _, m := range video.Media() {
		do.Media = append(do.Media, provision.MediaObject{Key: strings.TrimPrefix(m.Path, "/"), ContentType: m.ContentType, Data: m.Data})
	}
	d, err := deploy.Open(ctx, do)
	return d, c, err
}

// managedStores says which stores of a deployment of several provision makes (those the configuration
// leaves empty) and which it adopts (by address).
func managedStores(c *config.Config) (provision.ManagedSettings, error) {
	m := provision.ManagedSettings{Adopt: map[provision.DBKind]string{}, Ready: c.Provision.DatabaseTimeout}
	if c.Provision.Instances <= 1 && !c.Provision.LoadBalancer {
		return m, nil // one instance keeps its stores on itself, or names them
	}
	for _, s := range []struct {
		kind       provision.DBKind
		key, value string
	}{{provision.KindMySQL, "mysql.dsn", c.MySQL.DSN}, {provision.KindRedis, "redis.addr", c.Redis.Addr}, {provision.KindMongo, "mongo.uri", c.Mongo.URI}} {
		if s.value == "" {
			m.Create = append(m.Create, s.kind)
			continue
		}
		addr, err := config.StoreAddr(s.value)
		if err != nil {
			return m, hint.New(fmt.Errorf("%s: %w", s.key, err), "name the server as host:port, or leave "+s.key+" empty to have provision make a "+s.kind.Product()+" instance")
		}
		m.Adopt[s.kind] = addr
	}
	return m, nil
}

// hostConfig renders the hosts' config when it is delivered: the managed databases' addresses and
// passwords come from the state directory, where provision wrote them.
func hostConfig(hc *config.Config, stateDir, deployment string, m provision.ManagedSettings) func() ([]byte, error) {
	return func() ([]byte, error) {
		c := *hc
		if len(m.Create) > 0 {
			sec, err := provision.ReadSecrets(stateDir, deployment)
			if err != nil {
				return nil, err
			}
			st := sec.Stores()
			if c.MySQL.DSN == "" && st.MySQLDSN != "" {
				c.MySQL.DSN = st.MySQLDSN
				c.Video.Migrate, c.Video.Seed = true, true // a new database in the VPC: the backends apply the schema and seed
			}
			if c.Redis.Addr == "" {
				c.Redis.Addr, c.Redis.Password = st.RedisAddr, st.RedisPassword
			}
			if c.Mongo.URI == "" {
				c.Mongo.URI = st.MongoURI
			}
		}
		return config.RenderWithSecrets(&c, "# applet on the host of deployment "+deployment+": written by applet provision; edits are overwritten.\n"), nil
	}
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
