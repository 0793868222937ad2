// Package config is applet's configuration model: one YAML file, overridden by environment variables,
// overridden by flags. Every key is described by struct tags so that the loader, the validator and
// `applet init` read the same table and cannot drift apart.
//
// Tags on leaf fields:
//
//	yaml:"key"        the key in the file; the environment name is APPLET_<SECTION>_<KEY> upper-cased
//	help:"..."        what the key is for (written by `applet init`)
//	secret:"true"     never printed; may also come from APPLET_..._FILE
//	env:"NAME"        an extra, conventional environment name read after the APPLET_ one
package config

import "time"

// DefaultFile is read when neither --config nor APPLET_CONFIG names a file.
const DefaultFile = "applet.yaml"

// EnvConfig names the config file when --config is not given.
const EnvConfig = "APPLET_CONFIG"

// Config is the whole configuration.
type Config struct {
	Deployment string `yaml:"deployment" help:"Name of this deployment; every cloud resource provision makes is tagged applet-deployment=<name>."`
	Domain     string `yaml:"domain" help:"Public domain the mini programs call, e.g. applet.example.com (empty: local only)."`
	DataDir    string `yaml:"data_dir" help:"Directory for the embedded defaults' data (local album files, in-process store snapshots)."`

	Log   Log   `yaml:"log"`
	Serve Serve `yaml:"serve"`

	Album   Album   `yaml:"album"`
	Game    Game    `yaml:"game"`
	Session Session `yaml:"session"`
	Video   Video   `yaml:"video"`

	Redis        Redis        `yaml:"redis"`
	MySQL        MySQL        `yaml:"mysql"`
	Mongo        Mongo        `yaml:"mongo"`
	COS          COS          `yaml:"cos"`
	WeChat       WeChat       `yaml:"wechat"`
	TencentCloud TencentCloud `yaml:"tencentcloud"`
	Provision    Provision    `yaml:"provision"`
	Backup       Backup       `yaml:"backup"`
}

// Log configures the servers' structured logs.
type Log struct {
	Level  string `yaml:"level" help:"Log level: debug, info, warn or error."`
	Format string `yaml:"format" help:"Log format: auto (text on a terminal, JSON otherwise), text or json."`
}

// Serve configures the runtime shared by every app.
type Serve struct {
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" help:"How long a SIGTERM/SIGINT waits for in-flight requests and WebSockets before closing them."`
	ReadyTimeout    time.Duration `yaml:"ready_timeout" help:"How long /readyz waits for each dependency check."`
	BodyGrace       time.Duration `yaml:"body_grace" help:"How long a request body may take before min_body_rate counts, and the longest it may stall; a stalled body is cut and its connection closed."`
	MinBodyRate     int           `yaml:"min_body_rate" help:"Slowest request body accepted after body_grace, in bytes a second (1024 is met by a 2G phone)."`
	RequestTimeout  time.Duration `yaml:"request_timeout" help:"Bound on a whole request, from its headers to its answer's last byte (uploads and image downloads get what min_body_rate allows for their size; WebSockets have the game's own timeouts)."`
	MaxConnections  int           `yaml:"max_connections" help:"Open connections per listener, WebSockets included; past it new ones get 503 with Retry-After (0: shared out from the open-file limit)."`
	FDReserve       int           `yaml:"fd_reserve" help:"Open files kept back from connections for health checks, databases, spool files and logs (0: a quarter of the limit, 64 to 4096)."`
	TrustedProxies  string        `yaml:"trusted_proxies" help:"Comma-separated addresses or CIDR blocks of proxies whose X-Forwarded-For names the client, e.g. 127.0.0.1 behind nginx (empty: the peer is the client)."`
	WriteRate       float64       `yaml:"write_rate" help:"Unauthenticated writes (comments, uploads without album.owner_check) a minute per client address, in bursts of write_burst (0: no limit)."`
	WriteBurst      int           `yaml:"write_burst" help:"Burst of unauthenticated writes per client address."`
}

// Album configures `applet serve album`.
type Album struct {
	Listen              string `yaml:"listen" help:"Address the album backend listens on."`
	Folder              string `yaml:"folder" help:"Key prefix of uploaded images (the original's /photos/)."`
	MaxUploadMB         int    `yaml:"max_upload_mb" help:"Size limit of one image in MiB; larger uploads are cut off and answered 单个不超过<N>MB."`
	AllowGIF            bool   `yaml:"allow_gif" help:"Also accept GIF images (JPEG and PNG always are)."`
	AllowWebP           bool   `yaml:"allow_webp" help:"Also accept WebP images."`
	PublicURL           string `yaml:"public_url" help:"Origin clients reach the album at, for the URLs of local-disk images, e.g. https://applet.example.com (empty: from the request)."`
	MaxUploads          int    `yaml:"max_uploads" help:"Uploads received at once; past it an upload gets 503 with Retry-After (0: an eighth of the connections, at most half of serve.fd_reserve: each holds a spool file)."`
	MaxUploadsPerClient int    `yaml:"max_uploads_per_client" help:"Uploads one client address may send at once; past it its next upload gets 503 with Retry-After."`
	OwnerCheck          bool   `yaml:"owner_check" help:"Record who uploads each image (a login is then needed) and let only them delete it. Off for old clients; needs redis.addr unless serving all apps in one process."`
}

// Game configures `applet serve game`.
type Game struct {
	Listen          string        `yaml:"listen" help:"Address the game backend listens on."`
	GameTime        time.Duration `yaml:"game_time" help:"Length of a round, from start to result (the original's 3s)."`
	BotDelay        time.Duration `yaml:"bot_delay" help:"How long a room waits for a second player before a bot joins."`
	ReadyWait       time.Duration `yaml:"ready_wait" help:"Between rounds, how long a ready player waits for the other before being seated anew."`
	NearbyRadiusKm  float64       `yaml:"nearby_radius_km" help:"Radius of hi's nearby count, in kilometres."`
	IdleTimeout     time.Duration `yaml:"idle_timeout" help:"Close a client that sent nothing for this long (the original client never pings)."`
	MaxMessageBytes int           `yaml:"max_message_bytes" help:"Largest WebSocket frame accepted from a client."`
	RateLimit       float64       `yaml:"rate_limit" help:"Frames a second a client may send (bursts of twice that); past it, it is disconnected. 0: no limit."`
	MaxPerClient    int           `yaml:"max_per_client" help:"WebSockets one client address may hold at once (mobile carriers put many phones behind one address); past it a connection is closed with a reason."`
	AllowedOrigins  string        `yaml:"allowed_origins" help:"Comma-separated Origin values accepted (empty: any; mini programs send none)."`
}

// Session configures `applet serve session`.
type Session struct {
	Listen          string        `yaml:"listen" help:"Address the session and drawing backend listens on."`
	TTL             time.Duration `yaml:"ttl" help:"How long a login session lives (the original's 7200s)."`
	CacheMaxAge     time.Duration `yaml:"cache_max_age" help:"How long a session read from Redis is reused in process; a session replaced elsewhere stops working within this (at most 1s)."`
	MaxActionsBytes int           `yaml:"max_actions_bytes" help:"Size limit of one drawing's actions, in bytes."`
	Timeout         time.Duration `yaml:"timeout" help:"Bound on each Redis and MongoDB call; a store that is down fails requests this fast."`
	Dev             bool          `yaml:"dev" help:"Without a wechat.app_id, answer logins from a built-in WeChat stand-in (local development only; refused when domain is set)."`
}

// Video configures `applet serve video`.
type Video struct {
	Listen       string        `yaml:"listen" help:"Address the video backend listens on."`
	PageSize     int           `yaml:"page_size" help:"Videos per page of /list (the original client expects 6)."`
	QueryTimeout time.Duration `yaml:"query_timeout" help:"Bound on each database query; a database that is down fails requests this fast."`
	SQLitePath   string        `yaml:"sqlite_path" help:"File of the embedded video database when mysql.dsn is empty (empty: <data_dir>/video.db)."`
	MediaOrigin  string        `yaml:"media_origin" help:"Origin of the sample videos' posters and clips (relative URLs), e.g. the bucket's https://album-1250000000.cos.ap-guangzhou.myqcloud.com, where provision puts them (empty: this server, which serves them)."`
	Migrate      bool          `yaml:"migrate" help:"Let serve apply pending MySQL migrations itself instead of refusing to start (applet seed-mysql does it otherwise)."`
	Seed         bool          `yaml:"seed" help:"With migrate: also put the sample videos into tables that are empty (provision sets it for a database it made)."`
}

// Redis is shared by the session store and the game across nodes; empty Addr keeps them in process.
type Redis struct {
	Addr     string `yaml:"addr" help:"Redis host:port (empty: sessions and game state stay in process)."`
	Password string `yaml:"password" secret:"true" help:"Redis password (empty: none)."`
	DB       int    `yaml:"db" help:"Redis database number."`
}

// MySQL holds the video list and comments; an empty DSN uses the embedded store.
type MySQL struct {
	DSN string `yaml:"dsn" secret:"true" help:"MySQL DSN, e.g. user:pass@tcp(127.0.0.1:3306)/applet (empty: embedded store)."`
}

// Mongo holds the drawings; an empty URI uses the in-process store.
type Mongo struct {
	URI      string `yaml:"uri" secret:"true" help:"MongoDB URI, e.g. mongodb://127.0.0.1:27017 (empty: in-process store)."`
	Database string `yaml:"database" help:"MongoDB database of the drawing store."`
}

// COS holds the album's images; an empty Bucket keeps them on local disk.
type COS struct {
	Bucket       string `yaml:"bucket" help:"COS bucket as <name>-<appid>, e.g. album-1250000000 (empty: album on local disk)."`
	Region       string `yaml:"region" help:"COS region of the bucket, e.g. ap-guangzhou."`
	SecretID     string `yaml:"secret_id" secret:"true" help:"COS SecretId of a key limited to the bucket, e.g. a sub-account's (empty: the instance role on a host, else the tencentcloud credentials)."`
	SecretKey    string `yaml:"secret_key" secret:"true" help:"COS SecretKey of that key."`
	InstanceRole bool   `yaml:"instance_role" help:"Use the CAM role of the instance this runs on (temporary credentials from the metadata service); provision sets it in the host's config."`
	MetadataURL  string `yaml:"metadata_url" help:"Base URL of the instance metadata service (empty: http://metadata.tencentyun.com/latest/meta-data/)."`
	PublicDomain string `yaml:"public_domain" help:"Domain in the image URLs handed to clients, e.g. a CDN (empty: the bucket's own domain)."`
	Endpoint     string `yaml:"endpoint" help:"host:port to send COS requests to instead of the bucket's domain, e.g. a stand-in (empty: the real service)."`
}

// WeChat is the mini program's identity for login.
type WeChat struct {
	AppID        string `yaml:"app_id" help:"Mini program AppID (wx...), required for session logins."`
	AppSecret    string `yaml:"app_secret" secret:"true" help:"Mini program AppSecret."`
	APIBase      string `yaml:"api_base" help:"WeChat API base URL; point it at a stand-in for local development."`
	ContentCheck bool   `yaml:"content_check" help:"Check comments (msgSecCheck) and uploads (mediaCheckAsync) with WeChat's content security; both then need a login."`
	PushToken    string `yaml:"push_token" secret:"true" help:"Token of the console's message push (消息推送), which brings the verdicts on uploads to /applet/album/wechat/media-check."`
}

// TencentCloud holds the account applet provisions in.
type TencentCloud struct {
	SecretID  string `yaml:"secret_id" secret:"true" env:"TENCENTCLOUD_SECRET_ID" help:"Tencent Cloud SecretId."`
	SecretKey string `yaml:"secret_key" secret:"true" env:"TENCENTCLOUD_SECRET_KEY" help:"Tencent Cloud SecretKey."`
	Region    string `yaml:"region" help:"Region to provision in, e.g. ap-guangzhou."`
	Zone      string `yaml:"zone" help:"Availability zone of the instance, e.g. ap-guangzhou-3."`
	Endpoint  string `yaml:"endpoint" help:"Send every API call to this address instead of <product>.tencentcloudapi.com, e.g. http://127.0.0.1:8080 for a stand-in (empty: the public endpoints)."`
}

// Provision describes the cloud side `applet provision` builds.
type Provision struct {
	InstanceType    string        `yaml:"instance_type" help:"CVM instance type, e.g. S5.MEDIUM2 (2 vCPU, 2 GiB)."`
	ImageID         string        `yaml:"image_id" help:"Image of the instance: a public Ubuntu or Debian image id of the region (img-...)."`
	DiskGB          int           `yaml:"disk_gb" help:"System disk size in GB."`
	BandwidthMbps   int           `yaml:"bandwidth_mbps" help:"Outbound bandwidth cap in Mbps (billed by traffic)."`
	SSHCIDR         string        `yaml:"ssh_cidr" help:"Open port 22 to this CIDR block, e.g. 203.0.113.7/32 (empty: closed; the host step uses the command service)."`
	SSHUser         string        `yaml:"ssh_user" help:"Deliver the host step over SSH as this user (root, or one with passwordless sudo) instead of the command service; needs ssh_cidr and ssh_key_file."`
	SSHKeyFile      string        `yaml:"ssh_key_file" secret:"true" help:"Private key file for ssh_user (no passphrase); the host key is pinned on first use in <state_dir>/<deployment>.known_hosts."`
	SSHPort         int           `yaml:"ssh_port" help:"SSH port of the instance."`
	KeyIDs          string        `yaml:"key_ids" help:"Comma-separated SSH key pair ids to install on the instance (empty: none)."`
	DNSZone         string        `yaml:"dns_zone" help:"The domain DNSPod holds for domain (empty: its last two labels, e.g. example.com)."`
	StateDir        string        `yaml:"state_dir" help:"Directory of the local journal and lock (empty: <data_dir>/provision)."`
	CallTimeout     time.Duration `yaml:"call_timeout" help:"Bound on each cloud API call; slower calls are retried when that is safe."`
	PollInterval    time.Duration `yaml:"poll_interval" help:"How often a booting or terminating instance is looked at."`
	BootTimeout     time.Duration `yaml:"boot_timeout" help:"How long an instance may take to run (or to go, on destroy)."`
	CloudOnly       bool          `yaml:"cloud_only" help:"Make only the cloud resources: no certificate, no host step, no health check."`
	InstanceRole    string        `yaml:"instance_role" help:"An existing CAM role (for CVM) to attach to the instance instead of the one provision makes, for keys that may not manage CAM (empty: applet-<deployment>)."`
	ACMEDirectory   string        `yaml:"acme_directory" help:"ACME directory the certificate comes from."`
	ACMEEmail       string        `yaml:"acme_email" help:"Contact address of the ACME account (expiry notices); empty: none."`
	ACMERoots       string        `yaml:"acme_roots" help:"PEM file of extra roots to trust for a private ACME CA and the certificates it issues (empty: the system's)."`
	HTTPPort        int           `yaml:"http_port" help:"Port nginx answers HTTP (ACME challenges, redirects) on."`
	HTTPSPort       int           `yaml:"https_port" help:"Port nginx answers HTTPS on (mini programs need 443)."`
	HostBinary      string        `yaml:"host_binary" help:"linux/amd64 applet binary to install on the instance (empty: this one, when it is linux/amd64)."`
	HostTimeout     time.Duration `yaml:"host_timeout" help:"How long the host step and the health check may take."`
	TemplatesDir    string        `yaml:"templates_dir" help:"Directory of template overrides (<name>.tmpl, e.g. nginx-site.conf.tmpl); empty: the embedded templates."`
	DNSResolver     string        `yaml:"dns_resolver" help:"DNS server (host:port) to check records with, e.g. 119.29.29.29:53 (empty: the system's)."`
	Instances       int           `yaml:"instances" help:"Instances to run the backends on. With more than one they sit behind a Cloud Load Balancer and every store must be shared: provision makes TencentDB for MySQL, Redis and MongoDB in the deployment's VPC for mysql.dsn, redis.addr and mongo.uri left empty, and adopts the servers they name; the album uses cos.bucket."`
	LBRanges        string        `yaml:"lb_ranges" help:"Comma-separated CIDR blocks the load balancer's requests and health checks come from; nginx trusts their X-Forwarded-For and X-Forwarded-Proto and admits no one else on port 80 (with instances above 1)."`
	LoadBalancer    bool          `yaml:"load_balancer" help:"Put the instances behind a Cloud Load Balancer even when there is one (always with more than one): a deployment scaled down to one keeps its load balancer, certificate and DNS record."`
	VpcCIDR         string        `yaml:"vpc_cidr" help:"With instances above 1: the CIDR block of the VPC provision makes for the deployment (private, /12 to /28)."`
	SubnetCIDR      string        `yaml:"subnet_cidr" help:"With instances above 1: the CIDR block of its subnet in tencentcloud.zone, inside vpc_cidr."`
	VpcID           string        `yaml:"vpc_id" help:"With instances above 1: an existing VPC to use instead of making one (vpc-...; with subnet_id)."`
	SubnetID        string        `yaml:"subnet_id" help:"With instances above 1: an existing subnet of vpc_id in tencentcloud.zone (subnet-...)."`
	DatabaseTimeout time.Duration `yaml:"database_timeout" help:"With instances above 1, how long a new managed database (TencentDB) may take to run."`
	DrainTimeout    time.Duration `yaml:"drain_timeout" help:"With instances above 1, how long an instance taken out of the load balancer is given to finish its requests and game rounds before it is converged or removed."`
}

// Backup configures `applet backup` and `applet restore`.
type Backup struct {
	To                string        `yaml:"to" help:"Where backups go: cos://<name>-<appid>[/prefix] (a private bucket) or a directory (empty: <data_dir>/backups locally; with a domain, the backup bucket provision makes, cos://<deployment>-backup-<appid>)."`
	KeepDaily         int           `yaml:"keep_daily" help:"Keep the newest backup of each of this many last days."`
	KeepWeekly        int           `yaml:"keep_weekly" help:"Also keep the newest backup of each of this many last weeks."`
	MaxAge            time.Duration `yaml:"max_age" help:"applet doctor warns when the last backup is older than this."`
	EncryptionKeyFile string        `yaml:"encryption_key_file" help:"File of the key backups are encrypted with (64 hex digits: openssl rand -hex 32); keep a copy off the instance: without it no backup can be restored (empty: COS server-side encryption only)."`
}

// Default returns the configuration used when nothing is set: every app on its documented port with
// embedded stores.
func Default() *Config {
	return &Config{
		Deployment: "applet",
		DataDir:    "data",
		Log:        Log{Level: "info", Format: "auto"},
		Serve: Serve{ShutdownTimeout: 15 * time.Second, ReadyTimeout: 2 * time.Second, BodyGrace: 10 * time.Second, MinBodyRate: 1024,
			RequestTimeout: time.Minute, WriteRate: 60, WriteBurst: 20},
		Album: Album{Listen: ":9993", Folder: "photos/", MaxUploadMB: 5, MaxUploadsPerClient: 8},
		Game: Game{Listen: ":9595", GameTime: 3 * time.Second, BotDelay: time.Second, ReadyWait: 10 * time.Second, NearbyRadiusKm: 5,
			IdleTimeout: 10 * time.Minute, MaxMessageBytes: 4096, RateLimit: 20, MaxPerClient: 64},
		Session: Session{Listen: ":5757", TTL: 7200 * time.Second, CacheMaxAge: 500 * time.Millisecond, MaxActionsBytes: 1 << 20, Timeout: 2 * time.Second},
		Video:   Video{Listen: ":9994", PageSize: 6, QueryTimeout: 2 * time.Second},
		Mongo:   Mongo{Database: "qcloud-applet-session"},
		WeChat:  WeChat{APIBase: "https://api.weixin.qq.com"},
		Provision: Provision{InstanceType: "S5.MEDIUM2", ImageID: "img-487zeit5", DiskGB: 50, BandwidthMbps: 5,
			CallTimeout: 15 * time.Second, PollInterval: time.Second, BootTimeout: 10 * time.Minute,
			ACMEDirectory: "https://acme-v02.api.letsencrypt.org/directory", HTTPPort: 80, HTTPSPort: 443, SSHPort: 22, HostTimeout: 10 * time.Minute,
			Instances: 1, LBRanges: "100.64.0.0/10", DrainTimeout: 30 * time.Second, DatabaseTimeout: 20 * time.Minute, VpcCIDR: "10.110.0.0/16", SubnetCIDR: "10.110.1.0/24"},
		Backup: Backup{KeepDaily: 7, KeepWeekly: 4, MaxAge: 26 * time.Hour},
	}
}
