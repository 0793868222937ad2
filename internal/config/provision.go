package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	drv "github.com/go-sql-driver/mysql"
)

// RequireForProvision names the keys provision needs that are empty.
func (l *Loaded) RequireForProvision() error {
	c := l.Config
	var errs Errors
	need := func(key, v, fix string) {
		if v == "" {
			errs = append(errs, &Error{Key: key, Source: l.Source[key], Reason: "required by provision", Fix: fix})
		}
	}
	need("domain", c.Domain, "set the domain the mini programs will call, e.g. applet.example.com")
	need("tencentcloud.region", c.TencentCloud.Region, "set the region, e.g. ap-guangzhou")
	need("tencentcloud.zone", c.TencentCloud.Zone, "set a zone of the region, e.g. ap-guangzhou-3")
	if n := c.Provision.Instances; n > 1 {
		// Every instance must see the same data: nothing may live on one of them.
		shared := func(key, v, what, fix string) {
			reason := ""
			switch {
			case v == "":
				return // provision makes a managed database for it
			case onLoopback(v):
				reason = fmt.Sprintf("on the instance's loopback: %s would live on each of the %d instances", what, n)
			default:
				return
			}
			f, _ := c.Field(key)
			errs = append(errs, &Error{Key: key, Value: mask(f, v), Source: l.Source[key], Reason: reason, Fix: fix})
		}
		shared("mysql.dsn", c.MySQL.DSN, "the videos and comments", "leave it empty to have provision make TencentDB for MySQL in the deployment's VPC, name a MySQL every instance reaches, or set provision.instances to 1")
		shared("redis.addr", c.Redis.Addr, "the login sessions and the game's rooms", "leave it empty to have provision make TencentDB for Redis in the deployment's VPC, name a Redis every instance reaches, or set provision.instances to 1")
		shared("mongo.uri", c.Mongo.URI, "the drawings", "leave it empty to have provision make TencentDB for MongoDB in the deployment's VPC, name a MongoDB every instance reaches, or set provision.instances to 1")
		if c.COS.Bucket == "" {
			errs = append(errs, &Error{Key: "cos.bucket", Source: l.Source["cos.bucket"], Reason: fmt.Sprintf("empty: the album would keep its images on each of the %d instances' disks", n),
				Fix: "set cos.bucket to a bucket as <name>-<appid>, or set provision.instances to 1"})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// HostLayout is how a host differs from the operator's machine.
type HostLayout struct {
	DataDir string
	// Loopback turns a listen address into the host's loopback one (nginx proxies to it).
	Loopback func(listen string) string
	// OwnMySQL: the host runs the video database itself, empty at first.
	OwnMySQL bool
	// BackupKey is where the host keeps the backups' encryption key.
	BackupKey string
}

// ForHost is the config the backends run with on a host: loopback listeners, the host's data
// directory, JSON logs, and no account key: the album reaches COS with the instance role's
// temporary credentials unless cos.secret_id names a key for it. The warnings say what a person
// should change.
func (c *Config) ForHost(h HostLayout) (*Config, []string) {
	hc := *c
	var warnings []string
	hc.DataDir = h.DataDir
	hc.Log.Format = "json"
	hc.Album.Listen, hc.Game.Listen = h.Loopback(c.Album.Listen), h.Loopback(c.Game.Listen)
	hc.Session.Listen, hc.Video.Listen = h.Loopback(c.Session.Listen), h.Loopback(c.Video.Listen)
	if hc.Album.PublicURL == "" && hc.COS.Bucket == "" {
		hc.Album.PublicURL = "https://" + c.Domain
	}
	hc.Session.Dev = false
	if hc.COS.Bucket != "" && hc.Video.MediaOrigin == "" {
		host := hc.COS.Bucket + ".cos." + hc.COS.Region + ".myqcloud.com"
		if hc.COS.PublicDomain != "" {
			host = hc.COS.PublicDomain
		}
		hc.Video.MediaOrigin = "https://" + host // provision puts the sample media there
	}
	if hc.Serve.TrustedProxies == "" {
		hc.Serve.TrustedProxies = "127.0.0.1,::1" // nginx, on the same host, names the client
	}
	// Never the account's key: a compromised host must not become a compromised account.
	if hc.COS.Bucket != "" && (hc.COS.SecretID == "" || hc.COS.SecretKey == "") {
		hc.COS.SecretID, hc.COS.SecretKey, hc.COS.InstanceRole = "", "", true
	}
	if hc.COS.SecretID != "" && hc.COS.SecretID == c.TencentCloud.SecretID {
		warnings = append(warnings, "cos.secret_id is the Tencent Cloud account key, which would be installed on the host: leave cos.secret_id empty (the host uses its CAM role) or set a sub-account key limited to the bucket")
	}
	hc.TencentCloud.SecretID, hc.TencentCloud.SecretKey = "", ""
	// Backups go to the bucket named in full, signed with the role whatever key the album has.
	if to, err := c.Backups(true); err == nil && to.Bucket != "" {
		hc.Backup.To, hc.COS.InstanceRole = to.String(), true
		if c.Backup.EncryptionKeyFile != "" {
			hc.Backup.EncryptionKeyFile = h.BackupKey
		}
	}
	if h.OwnMySQL {
		hc.Video.Migrate, hc.Video.Seed = true, true // the host's own MariaDB starts empty: serve applies the schema and seed
	}
	hc.Provision = Default().Provision
	return &hc, warnings
}

// Where the album's COS credentials come from, in this order.
const (
	COSKeyOwn     = "cos.secret_id"          // a key named for the album (a sub-account's)
	COSKeyRole    = "instance role"          // the instance's CAM role, from the metadata service
	COSKeyAccount = "tencentcloud.secret_id" // the account's key: only on a machine that is not a provisioned host
)

// COSCredentials says which credentials the album signs COS requests with: cos.secret_id when set;
// the instance role when cos.instance_role says so (the metadata service is read only then); the
// tencentcloud key last, which a provisioned host never has (provision does not write it there).
func (c *Config) COSCredentials() string {
	switch {
	case c.COS.SecretID != "" && c.COS.SecretKey != "":
		return COSKeyOwn
	case c.COS.InstanceRole:
		return COSKeyRole
	}
	return COSKeyAccount
}

// COSKey is the long-lived key the album signs with when COSCredentials is not the instance role.
func (c *Config) COSKey() (id, key string) {
	if c.COSCredentials() == COSKeyOwn {
		return c.COS.SecretID, c.COS.SecretKey
	}
	return c.TencentCloud.SecretID, c.TencentCloud.SecretKey
}

// StoreAddr is the host:port a store's setting (host:port, a MySQL DSN or a MongoDB URI) names; a
// MongoDB URI's first host, with 27017 when it names no port.
func StoreAddr(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, "mongodb://"), strings.HasPrefix(v, "mongodb+srv://"):
		u, err := url.Parse(v)
		if err != nil {
			return "", err
		}
		h := strings.Split(u.Host, ",")[0]
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, "27017")
		}
		return h, nil
	case strings.Contains(v, "@") || strings.Contains(v, "("):
		mc, err := drv.ParseDSN(v)
		if err != nil {
			return "", err
		}
		return mc.Addr, nil
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		return "", err
	}
	return v, nil
}

// onLoopback says whether a store's address (host:port, a MySQL DSN or a MongoDB URI) is the
// machine's own loopback.
func onLoopback(v string) bool {
	addr, err := StoreAddr(v)
	if err != nil {
		return false
	}
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
