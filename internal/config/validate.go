package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

var (
	deploymentRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)
	hostnameRE     = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	bucketRE       = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?-[0-9]{5,}$`)
	regionRE       = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
	appIDRE        = regexp.MustCompile(`^wx[0-9a-f]{16}$`)
	mongoDBRE      = regexp.MustCompile(`^[^/\\. "$*<>:|?]{1,63}$`)
	folderRE       = regexp.MustCompile(`^([a-zA-Z0-9_-]+/)+$`)
	instanceTypeRE = regexp.MustCompile(`^[A-Z0-9]+[a-z]?\.[A-Z0-9]+$`)
	imageRE        = regexp.MustCompile(`^img-[a-z0-9]{8}$`)
	keyIDRE        = regexp.MustCompile(`^skey-[a-z0-9]{8}$`)
)

// Validate checks that every value is well formed and that keys that go together are set together.
// Whether an app has what it needs to run is the app's own check (and `applet doctor`'s).
func (l *Loaded) Validate() error {
	c := l.Config
	var errs Errors
	bad := func(key, reason, fix string) {
		f, _ := c.Field(key)
		errs = append(errs, &Error{Key: key, Value: f.String(), Source: l.Source[key], Reason: reason, Fix: fix})
	}

	if !deploymentRE.MatchString(c.Deployment) {
		bad("deployment", "not a deployment name", "use 1-40 lower-case letters, digits and dashes, e.g. applet or shop-prod")
	}
	if c.Domain != "" && !hostnameRE.MatchString(c.Domain) {
		bad("domain", "not a domain name", "write the bare host name, e.g. applet.example.com (no scheme, no path)")
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must not be empty", "name a writable directory, e.g. data")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "unknown level", "use debug, info, warn or error")
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		bad("log.format", "unknown format", "use auto, text or json")
	}
	if c.Serve.ShutdownTimeout <= 0 {
		bad("serve.shutdown_timeout", "must be positive", "use a duration such as 15s")
	}
	if c.Serve.BodyGrace <= 0 {
		bad("serve.body_grace", "must be positive", "use a duration such as 10s")
	}
	if c.Serve.MinBodyRate <= 0 {
		bad("serve.min_body_rate", "must be a positive number of bytes a second", "use 1024 (a 2G phone meets it)")
	}
	if c.Serve.RequestTimeout <= 0 {
		bad("serve.request_timeout", "must be positive", "use a duration such as 1m")
	}
	if c.Serve.MaxConnections < 0 || c.Serve.FDReserve < 0 || c.Album.MaxUploads < 0 {
		for _, k := range []struct {
			key string
			v   int
		}{{"serve.max_connections", c.Serve.MaxConnections}, {"serve.fd_reserve", c.Serve.FDReserve}, {"album.max_uploads", c.Album.MaxUploads}} {
			if k.v < 0 {
				bad(k.key, "must not be negative", "use 0 to derive it from the open-file limit")
			}
		}
	}
	if c.Backup.KeepDaily < 0 || c.Backup.KeepWeekly < 0 {
		bad("backup.keep_daily", "must not be negative", "use 7 (a week of daily backups); the newest is always kept")
	}
	if c.Backup.MaxAge <= 0 {
		bad("backup.max_age", "must be positive", "use a duration such as 26h (a daily backup and some slack)")
	}
	if _, err := c.Serve.Proxies(); err != nil {
		bad("serve.trusted_proxies", err.Error(), "list addresses or CIDR blocks, e.g. 127.0.0.1,::1")
	}
	if c.Serve.WriteRate < 0 {
		bad("serve.write_rate", "must not be negative", "use 0 for no limit, or writes a minute such as 30")
	}
	if c.Serve.WriteRate > 0 && c.Serve.WriteBurst < 1 {
		bad("serve.write_burst", "must be at least 1 with a write_rate", "use a burst such as 10")
	}
	if c.Album.MaxUploadsPerClient < 1 {
		bad("album.max_uploads_per_client", "must be at least 1", "use a number such as 8")
	}
	if o := c.Video.MediaOrigin; o != "" {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("video.media_origin", "not an origin", "use scheme and host only, e.g. https://album-1250000000.cos.ap-guangzhou.myqcloud.com")
		}
	}
	if c.Game.MaxPerClient < 1 {
		bad("game.max_per_client", "must be at least 1", "use a number such as 64")
	}
	if c.Serve.ReadyTimeout <= 0 {
		bad("serve.ready_timeout", "must be positive", "use a duration such as 2s")
	}
	for _, key := range []string{"album.listen", "game.listen", "session.listen", "video.listen"} {
		f, _ := c.Field(key)
		if err := checkListen(f.raw()); err != "" {
			bad(key, err, `use host:port, e.g. ":9993" or "127.0.0.1:9993"`)
		}
	}

	if !folderRE.MatchString(strings.Trim(c.Album.Folder, "/") + "/") {
		bad("album.folder", "not a folder name", "use letters, digits, - and _, e.g. photos/")
	}
	if c.Album.MaxUploadMB < 1 || c.Album.MaxUploadMB > 1024 {
		bad("album.max_upload_mb", "must be 1 to 1024", "use 5, the original's limit")
	}
	if c.Album.PublicURL != "" {
		if u, err := url.Parse(c.Album.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("album.public_url", "not an origin", "use scheme and host only, e.g. https://applet.example.com")
		}
	}
	if c.COS.Endpoint != "" && checkHostPort(c.COS.Endpoint) != "" {
		bad("cos.endpoint", "not a host:port address", "use host:port of the stand-in, or leave it empty for the real service")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
		fix string
	}{{"game.game_time", c.Game.GameTime, "3s"}, {"game.bot_delay", c.Game.BotDelay, "1s"}, {"game.ready_wait", c.Game.ReadyWait, "10s"}, {"game.idle_timeout", c.Game.IdleTimeout, "10m"}} {
		if d.v <= 0 {
			bad(d.key, "must be positive", "use a duration such as "+d.fix)
		}
	}
	if c.Game.NearbyRadiusKm <= 0 {
		bad("game.nearby_radius_km", "must be positive", "use 5")
	}
	if c.Game.MaxMessageBytes < 256 || c.Game.MaxMessageBytes > 1<<20 {
		bad("game.max_message_bytes", "must be 256 to 1048576", "use 4096")
	}
	if c.Game.RateLimit < 0 {
		bad("game.rate_limit", "must not be negative", "use 20, or 0 for no limit")
	}
	if c.Session.TTL < time.Minute {
		bad("session.ttl", "must be at least 1m", "use 2h, the original's 7200s")
	}
	if c.Session.CacheMaxAge < 0 || c.Session.CacheMaxAge > time.Second {
		bad("session.cache_max_age", "must be 0 to 1s", "use 500ms; 0 reads Redis on every request")
	}
	if c.Session.MaxActionsBytes < 1024 || c.Session.MaxActionsBytes > 64<<20 {
		bad("session.max_actions_bytes", "must be 1024 to 67108864", "use 1048576 (1 MiB)")
	}
	if c.Session.Timeout <= 0 {
		bad("session.timeout", "must be positive", "use a duration such as 2s")
	}
	if c.WeChat.ContentCheck && c.WeChat.AppID == "" && !c.Session.Dev {
		bad("wechat.content_check", "the checks call WeChat with the app's access token, and wechat.app_id is empty", "set wechat.app_id and wechat.app_secret (or run serve with --dev locally)")
	}
	if c.Session.Dev && c.Domain != "" {
		bad("session.dev", "the WeChat stand-in is for local development, and domain is set", "configure wechat.app_id and wechat.app_secret instead")
	}
	if c.Video.PageSize < 1 || c.Video.PageSize > 100 {
		bad("video.page_size", "must be 1 to 100", "use 6, what the original client expects")
	}
	if c.Video.QueryTimeout <= 0 {
		bad("video.query_timeout", "must be positive", "use a duration such as 2s")
	}
	if c.Redis.Addr != "" {
		if err := checkHostPort(c.Redis.Addr); err != "" {
			bad("redis.addr", err, "use host:port, e.g. 127.0.0.1:6379")
		}
	}
	if c.Redis.DB < 0 {
		bad("redis.db", "must not be negative", "use 0 unless you share the server")
	}
	if c.MySQL.DSN != "" {
		if _, err := mysql.ParseDSN(c.MySQL.DSN); err != nil {
			bad("mysql.dsn", "not a MySQL DSN: "+err.Error(), "use user:password@tcp(host:3306)/database")
		}
	}
	if c.Mongo.URI != "" && !strings.HasPrefix(c.Mongo.URI, "mongodb://") && !strings.HasPrefix(c.Mongo.URI, "mongodb+srv://") {
		bad("mongo.uri", "not a MongoDB URI", "start it with mongodb:// or mongodb+srv://")
	}
	if !mongoDBRE.MatchString(c.Mongo.Database) {
		bad("mongo.database", "not a MongoDB database name", "use up to 63 characters without / \\ . space \" $")
	}

	if c.COS.Bucket != "" {
		if !bucketRE.MatchString(c.COS.Bucket) || len(c.COS.Bucket) > 60 {
			bad("cos.bucket", "not a COS bucket name", "use <name>-<appid> in lower-case letters, digits and dashes, e.g. album-1250000000")
		}
		if c.COS.Region == "" {
			bad("cos.region", "required when cos.bucket is set", "set the bucket's region, e.g. ap-guangzhou")
		}
		// Missing credentials are the command's to report: provision also reads ~/.tencentcloud/credentials.
		if (c.COS.SecretID == "") != (c.COS.SecretKey == "") {
			bad("cos.secret_key", "cos.secret_id and cos.secret_key go together", "set both, or neither to use the tencentcloud credentials")
		}
	}
	if c.COS.Region != "" && !regionRE.MatchString(c.COS.Region) {
		bad("cos.region", "not a region", "use a region such as ap-guangzhou")
	}
	if c.COS.PublicDomain != "" && !hostnameRE.MatchString(c.COS.PublicDomain) {
		bad("cos.public_domain", "not a domain name", "write the bare host name, e.g. img.example.com")
	}

	if c.WeChat.AppID != "" && !appIDRE.MatchString(c.WeChat.AppID) {
		bad("wechat.app_id", "not a mini program AppID", "copy it from the mini program console: wx followed by 16 hex digits")
	}
	if (c.WeChat.AppID == "") != (c.WeChat.AppSecret == "") {
		bad("wechat.app_secret", "wechat.app_id and wechat.app_secret go together", "set both, or neither")
	}
	if u, err := url.Parse(c.WeChat.APIBase); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("wechat.api_base", "not an http(s) URL", "use https://api.weixin.qq.com or your stand-in's URL")
	}

	if (c.TencentCloud.SecretID == "") != (c.TencentCloud.SecretKey == "") {
		bad("tencentcloud.secret_key", "tencentcloud.secret_id and tencentcloud.secret_key go together", "set both (TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY), or neither")
	}
	if c.TencentCloud.Region != "" && !regionRE.MatchString(c.TencentCloud.Region) {
		bad("tencentcloud.region", "not a region", "use a region such as ap-guangzhou")
	}
	if c.TencentCloud.Zone != "" && (c.TencentCloud.Region == "" || !strings.HasPrefix(c.TencentCloud.Zone, c.TencentCloud.Region+"-")) {
		bad("tencentcloud.zone", "not a zone of tencentcloud.region", "use <region>-<n>, e.g. ap-guangzhou-3")
	}
	if e := c.TencentCloud.Endpoint; e != "" {
		u, err := url.Parse(e)
		asURL := err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/")
		if !asURL && checkHostPort(e) != "" && !hostnameRE.MatchString(e) {
			bad("tencentcloud.endpoint", "not an address", "write http(s)://host:port, host:port or a host name, or leave it empty")
		}
	}
	p := c.Provision
	if !instanceTypeRE.MatchString(p.InstanceType) {
		bad("provision.instance_type", "not a CVM instance type", "use <family>.<size>, e.g. S5.MEDIUM2")
	}
	if !imageRE.MatchString(p.ImageID) {
		bad("provision.image_id", "not an image id", "copy a public image id (img-...) of the region from the CVM console")
	}
	if p.DiskGB < 20 || p.DiskGB > 1024 {
		bad("provision.disk_gb", "must be 20 to 1024", "use 50")
	}
	if p.BandwidthMbps < 1 || p.BandwidthMbps > 200 {
		bad("provision.bandwidth_mbps", "must be 1 to 200", "use 5")
	}
	if p.SSHCIDR != "" {
		if _, _, err := net.ParseCIDR(p.SSHCIDR); err != nil {
			bad("provision.ssh_cidr", "not a CIDR block", "use address/prefix, e.g. 203.0.113.7/32, or leave it empty to keep port 22 closed")
		}
	}
	for _, k := range strings.Split(p.KeyIDs, ",") {
		if k = strings.TrimSpace(k); k != "" && !keyIDRE.MatchString(k) {
			bad("provision.key_ids", "not a key pair id", "use ids such as skey-abcd1234, separated by commas")
			break
		}
	}
	if p.DNSZone != "" {
		if !hostnameRE.MatchString(p.DNSZone) {
			bad("provision.dns_zone", "not a domain name", "write the domain DNSPod holds, e.g. example.com")
		} else if c.Domain != "" && c.Domain != p.DNSZone && !strings.HasSuffix(c.Domain, "."+p.DNSZone) {
			bad("provision.dns_zone", "domain "+c.Domain+" is not inside it", "set it to the domain DNSPod holds for "+c.Domain)
		}
	}
	if p.SSHUser != "" {
		if p.SSHKeyFile == "" {
			bad("provision.ssh_key_file", "required when provision.ssh_user is set", "name the private key file of "+p.SSHUser+", e.g. ~/.ssh/id_ed25519")
		}
		if p.SSHCIDR == "" {
			bad("provision.ssh_cidr", "port 22 stays closed while it is empty, and provision.ssh_user needs it", "set it to your address, e.g. 203.0.113.7/32")
		}
	}
	if p.SSHPort < 1 || p.SSHPort > 65535 {
		bad("provision.ssh_port", "must be 1 to 65535", "use 22")
	}
	if p.DNSResolver != "" && checkHostPort(p.DNSResolver) != "" {
		bad("provision.dns_resolver", "not a host:port address", "use the resolver's address with its port, e.g. 119.29.29.29:53")
	}
	if u, err := url.Parse(p.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("provision.acme_directory", "not an https URL", "use https://acme-v02.api.letsencrypt.org/directory")
	}
	for _, port := range []struct {
		key string
		v   int
	}{{"provision.http_port", p.HTTPPort}, {"provision.https_port", p.HTTPSPort}} {
		if port.v < 1 || port.v > 65535 {
			bad(port.key, "must be 1 to 65535", "use 80 and 443")
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
		fix string
	}{{"provision.host_timeout", p.HostTimeout, "10m"}, {"provision.call_timeout", p.CallTimeout, "15s"}, {"provision.poll_interval", p.PollInterval, "1s"}, {"provision.boot_timeout", p.BootTimeout, "10m"}} {
		if d.v <= 0 {
			bad(d.key, "must be positive", "use a duration such as "+d.fix)
		}
	}

	if p.Instances < 1 || p.Instances > 20 {
		bad("provision.instances", "must be 1 to 20", "use 1, or 2 and more behind a load balancer")
	}
	for _, r := range strings.Split(p.LBRanges, ",") {
		if _, _, err := net.ParseCIDR(strings.TrimSpace(r)); err != nil {
			bad("provision.lb_ranges", "not a list of CIDR blocks", "use 100.64.0.0/10, where Tencent Cloud's load balancers connect from")
			break
		}
	}
	_, vpcNet, verr := net.ParseCIDR(p.VpcCIDR)
	_, subNet, serr := net.ParseCIDR(p.SubnetCIDR)
	switch {
	case verr != nil || !vpcNet.IP.IsPrivate():
		bad("provision.vpc_cidr", "not a private CIDR block", "use a block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, e.g. 10.110.0.0/16")
	case serr != nil || !vpcNet.Contains(subNet.IP):
		bad("provision.subnet_cidr", "not a CIDR block inside provision.vpc_cidr", "use a block of "+p.VpcCIDR+", e.g. the first /24 of it")
	}
	if (p.VpcID == "") != (p.SubnetID == "") {
		bad("provision.vpc_id", "set without provision.subnet_id, or the other way round", "name both an existing VPC and its subnet in tencentcloud.zone, or neither to have them made")
	} else if p.VpcID != "" && (!strings.HasPrefix(p.VpcID, "vpc-") || !strings.HasPrefix(p.SubnetID, "subnet-")) {
		bad("provision.vpc_id", "not a VPC id and subnet id", "copy them from the VPC console: vpc-... and subnet-...")
	}
	if p.DatabaseTimeout <= 0 {
		bad("provision.database_timeout", "must be positive", "use a duration such as 20m")
	}
	if p.DrainTimeout <= 0 {
		bad("provision.drain_timeout", "must be positive", "use a duration such as 30s")
	}

	if len(errs) > 0 {
		return errs
	}
	return nil
}

func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "not a listen address"
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil && !hostnameRE.MatchString(host) {
		return "not a host"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "port must be 0-65535"
	}
	return ""
}

func checkHostPort(s string) string {
	host, _, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "not a host:port address"
	}
	return checkListen(s)
}

// Proxies reads serve.trusted_proxies: addresses and CIDR blocks, comma-separated.
func (c Serve) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR block", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
