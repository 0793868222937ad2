package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRenderRoundTrips(t *testing.T) {
	// What `applet init` writes loads back to exactly the defaults.
	p := writeFile(t, "applet.yaml", string(Render(Default())))
	l, err := Load(LoadOptions{Path: p, LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Config, Default()) {
		t.Fatalf("loaded %+v\nwant %+v", l.Config, Default())
	}
	// And every key appears in it, with its environment name.
	out := string(Render(Default()))
	for _, f := range Default().Fields() {
		if f.Help == "" {
			t.Errorf("%s has no help text", f.Key)
		}
		if !strings.Contains(out, "# env: "+f.Env) {
			t.Errorf("rendered file lacks %s", f.Env)
		}
	}
}

func TestRenderedNonDefaultValuesRoundTrip(t *testing.T) {
	c := Default()
	c.Domain = "applet.example.com"
	c.Album.Listen = "127.0.0.1:1"
	c.Serve.ShutdownTimeout = 90 * time.Second
	c.Redis.DB = 3
	c.Mongo.Database = "yes" // a YAML boolean word must come back as a string
	p := writeFile(t, "a.yaml", string(Render(c)))
	l, err := Load(LoadOptions{Path: p, LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Config, c) {
		t.Fatalf("loaded %+v\nwant %+v", l.Config, c)
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	p := writeFile(t, "a.yaml", "album:\n  listen: \":1001\"\ngame:\n  listen: \":1002\"\nvideo:\n  listen: \":1003\"\n")
	l, err := Load(LoadOptions{
		Path:      p,
		LookupEnv: env(map[string]string{"APPLET_GAME_LISTEN": ":2002", "APPLET_VIDEO_LISTEN": ":2003"}),
		Flags:     map[string]string{"video.listen": ":3003"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{l.Album.Listen, l.Game.Listen, l.Video.Listen, l.Session.Listen}
	want := []string{":1001", ":2002", ":3003", ":5757"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("listen = %v, want %v", got, want)
	}
	wantSrc := map[string]string{"album.listen": p + ":2", "game.listen": "env APPLET_GAME_LISTEN", "video.listen": "flag"}
	for k, v := range wantSrc {
		if l.Source[k] != v {
			t.Errorf("Source[%s] = %q, want %q", k, l.Source[k], v)
		}
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	p := writeFile(t, "b.yaml", "deployment: shop\n")
	l, err := Load(LoadOptions{LookupEnv: env(map[string]string{EnvConfig: p})})
	if err != nil {
		t.Fatal(err)
	}
	if l.Deployment != "shop" || l.File != p {
		t.Fatalf("deployment %q from %q", l.Deployment, l.File)
	}
	// A flag path wins over the environment.
	q := writeFile(t, "c.yaml", "deployment: other\n")
	l, err = Load(LoadOptions{Path: q, LookupEnv: env(map[string]string{EnvConfig: p})})
	if err != nil || l.Deployment != "other" {
		t.Fatalf("deployment %v, %v", l, err)
	}
}

func TestMissingDefaultFileIsFine(t *testing.T) {
	t.Chdir(t.TempDir())
	l, err := Load(LoadOptions{LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if l.File != "" || !reflect.DeepEqual(l.Config, Default()) {
		t.Fatalf("got file %q config %+v", l.File, l.Config)
	}
}

func TestSecrets(t *testing.T) {
	secretFile := writeFile(t, "pw", "s3cret\n")
	l, err := Load(LoadOptions{LookupEnv: env(map[string]string{
		"APPLET_REDIS_PASSWORD_FILE": secretFile,
		"TENCENTCLOUD_SECRET_ID":     "AKIDconventional",
		"TENCENTCLOUD_SECRET_KEY":    "key-conventional",
		// The APPLET_ name wins over the conventional one.
		"APPLET_TENCENTCLOUD_SECRET_KEY": "key-applet",
	}), Path: writeFile(t, "e.yaml", "")})
	if err != nil {
		t.Fatal(err)
	}
	if l.Redis.Password != "s3cret" {
		t.Errorf("redis password from _FILE = %q (trailing newline must be trimmed)", l.Redis.Password)
	}
	if l.TencentCloud.SecretID != "AKIDconventional" || l.TencentCloud.SecretKey != "key-applet" {
		t.Errorf("tencentcloud = %+v", l.TencentCloud)
	}
	f, _ := l.Field("tencentcloud.secret_key")
	if f.String() != "<redacted>" {
		t.Errorf("secret prints as %q", f.String())
	}
	// Rendered files never carry secret values.
	if out := string(Render(l.Config)); strings.Contains(out, "s3cret") || strings.Contains(out, "key-applet") {
		t.Error("Render wrote a secret")
	}
	// An unreadable _FILE names the variable.
	_, err = Load(LoadOptions{LookupEnv: env(map[string]string{"APPLET_MYSQL_DSN_FILE": "/nonexistent/dsn"}), Path: writeFile(t, "e.yaml", "")})
	if err == nil || !strings.Contains(err.Error(), "env APPLET_MYSQL_DSN_FILE") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidationErrorsNameKeyValueAndFix(t *testing.T) {
	cases := []struct {
		yaml, key, value, fix string
	}{
		{"deployment: Shop_Prod", "deployment", "Shop_Prod", "lower-case"},
		{"domain: https://x.com", "domain", "https://x.com", "bare host name"},
		{"log: {format: xml}", "log.format", "xml", "auto, text or json"},
		{"serve: {shutdown_timeout: 0s}", "serve.shutdown_timeout", "0s", "15s"},
		{"game: {listen: ':99999'}", "game.listen", ":99999", "host:port"},
		{"redis: {addr: localhost}", "redis.addr", "localhost", "host:port"},
		{"mongo: {uri: 'http://x'}", "mongo.uri", "<redacted>", "mongodb://"},
		{"cos: {bucket: Album}", "cos.bucket", "Album", "<name>-<appid>"},
		{"cos: {bucket: album-1250000000}", "cos.region", "", "ap-guangzhou"},
		{"wechat: {app_id: wx1}", "wechat.app_id", "wx1", "16 hex digits"},
		{"wechat: {api_base: 'ftp://x'}", "wechat.api_base", "ftp://x", "https://api.weixin.qq.com"},
		{"tencentcloud: {region: ap-guangzhou, zone: ap-shanghai-2}", "tencentcloud.zone", "ap-shanghai-2", "ap-guangzhou-3"},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			_, err := Load(LoadOptions{Path: writeFile(t, "v.yaml", c.yaml), LookupEnv: env(nil)})
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
			}
			var found *Error
			for _, e := range errs {
				if e.Key == c.key {
					found = e
				}
			}
			if found == nil {
				t.Fatalf("no error for %s in %v", c.key, err)
			}
			if found.Value != c.value || !strings.Contains(found.Fix, c.fix) {
				t.Fatalf("error %q: want value %q and a fix mentioning %q", found, c.value, c.fix)
			}
		})
	}
}

func TestValidConfigurations(t *testing.T) {
	for _, y := range []string{
		"",
		"# only a comment\n",
		"album:\n",
		"cos: {bucket: album-1250000000, region: ap-guangzhou, secret_id: a, secret_key: b, public_domain: img.example.com}",
		"tencentcloud: {secret_id: a, secret_key: b, region: ap-guangzhou, zone: ap-guangzhou-3}",
		"wechat: {app_id: wx0123456789abcdef, app_secret: s}",
		"mysql: {dsn: 'u:p@tcp(127.0.0.1:3306)/applet'}\nredis: {addr: '127.0.0.1:6379', db: 2}",
	} {
		if _, err := Load(LoadOptions{Path: writeFile(t, "ok.yaml", y), LookupEnv: env(nil)}); err != nil {
			t.Errorf("%q: %v", y, err)
		}
	}
}

func TestFileShapeErrors(t *testing.T) {
	for y, want := range map[string]string{
		"album: 3":             "album",
		"album: {listen: [1]}": "want a string",
		"- a\n- b":             "want a mapping",
		"album:\n  listen:\n":  "",
		"a: [":                 "config file",
	} {
		_, err := Load(LoadOptions{Path: writeFile(t, "s.yaml", y), LookupEnv: env(nil)})
		if y == "album:\n  listen:\n" {
			// An empty value is a legal YAML null: it leaves the default.
			if err != nil {
				t.Errorf("%q: %v", y, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to mention %q", y, err, want)
		}
	}
}

// The host's config never carries the account's key: the album there uses the instance role unless
// cos.secret_id names a key for it, and the order of COS credentials is the documented one.
func TestHostConfigHasNoAccountSecret(t *testing.T) {
	c := Default()
	c.Domain, c.COS.Bucket, c.COS.Region = "applet.example.com", "album-1250000000", "ap-guangzhou"
	c.TencentCloud.SecretID, c.TencentCloud.SecretKey = "AKIDaccount", "account-secret"
	if c.COSCredentials() != COSKeyAccount {
		t.Fatalf("on the operator's machine: %s", c.COSCredentials())
	}
	layout := HostLayout{DataDir: "/var/lib/applet", Loopback: func(s string) string { return s }}
	hc, warnings := c.ForHost(layout)
	if hc.TencentCloud.SecretID != "" || hc.TencentCloud.SecretKey != "" || hc.COS.SecretID != "" || !hc.COS.InstanceRole || len(warnings) != 0 {
		t.Fatalf("host config: %+v %+v %v", hc.TencentCloud, hc.COS, warnings)
	}
	if hc.COSCredentials() != COSKeyRole {
		t.Fatalf("on the host: %s", hc.COSCredentials())
	}
	if strings.Contains(string(RenderWithSecrets(hc, "")), "account-secret") {
		t.Fatal("the rendered host config holds the account key")
	}
	if hc.Backup.To != "cos://applet-backup-1250000000/" {
		t.Fatalf("the host's backups go to %q", hc.Backup.To)
	}
	// A key named for the album is kept, and wins for the album; the backups still use the role.
	// The account key named as one is warned about.
	c.COS.SecretID, c.COS.SecretKey = "AKIDalbum", "album-secret"
	if hc, _ = c.ForHost(layout); hc.COSCredentials() != COSKeyOwn || !hc.COS.InstanceRole {
		t.Fatalf("with cos.secret_id: %s", hc.COSCredentials())
	}
	c.COS.SecretID, c.COS.SecretKey = "AKIDaccount", "account-secret"
	if _, warnings = c.ForHost(layout); len(warnings) != 1 || !strings.Contains(warnings[0], "account key") {
		t.Fatalf("the account key as cos.secret_id: %v", warnings)
	}
}

// backup.to: a directory locally, the deployment's bucket with a domain, a directory refused for
// writing there with a fix that names the key.
func TestBackupTarget(t *testing.T) {
	c := Default()
	if to, err := c.Backups(true); err != nil || to.Dir != "data/backups" {
		t.Fatalf("local: %+v %v", to, err)
	}
	c.Domain = "applet.example.com"
	if _, err := c.Backups(true); err == nil || !strings.Contains(err.Error(), "backup.to") || !strings.Contains(err.Error(), "cos://") {
		t.Fatalf("a domain without cos.bucket: %v", err)
	}
	c.COS.Bucket, c.COS.Region = "album-1250000000", "ap-guangzhou"
	if to, err := c.Backups(true); err != nil || to.Bucket != "applet-backup-1250000000" || to.Region != "ap-guangzhou" {
		t.Fatalf("a deployment: %+v %v", to, err)
	}
	c.Backup.To = "/mnt/backups"
	if _, err := c.Backups(true); err == nil || !strings.Contains(err.Error(), "lost with the instance") || !strings.Contains(err.Error(), "cos://applet-backup-1250000000") {
		t.Fatalf("a directory on a deployment: %v", err)
	}
	if to, err := c.Backups(false); err != nil || to.Dir != "/mnt/backups" {
		t.Fatalf("reading a directory (a drill): %+v %v", to, err)
	}
	c.Backup.To = "cos://team-vault-1250000000/shop"
	if to, err := c.Backups(true); err != nil || to.Bucket != "team-vault-1250000000" || to.Prefix != "shop/" {
		t.Fatalf("a named bucket: %+v %v", to, err)
	}
	c.Backup.To = "cos://Not_A_Bucket"
	if _, err := c.Backups(true); err == nil || !strings.Contains(err.Error(), "not a COS bucket name") {
		t.Fatalf("a bad bucket: %v", err)
	}
}
