package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	drv "github.com/go-sql-driver/mysql"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/provision/host"
	"github.com/qcloud-applet/applet/provision/tencent"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/mongo"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/sqlseed"
)

func (d *env) checkReadyz(ctx context.Context) Result {
	type target struct{ name, url string }
	var targets []target
	var client *http.Client
	if d.deployed() {
		cl, base, err := d.httpsClient(ctx)
		if err != nil {
			return Failed(err.Error(), "fix DNS first (see dns.resolve)")
		}
		client = cl
		for _, a := range appPaths {
			targets = append(targets, target{a.name, base + a.base + "/readyz"})
		}
	} else {
		client = &http.Client{Timeout: 5 * time.Second}
		for _, a := range []struct{ name, listen, base string }{{"album", d.c.Album.Listen, album.BasePath}, {"game", d.c.Game.Listen, game.BasePath},
			{"session", d.c.Session.Listen, session.BasePath}, {"video", d.c.Video.Listen, video.BasePath}} {
			targets = append(targets, target{a.name, "http://" + host.Upstream(a.listen) + a.base + "/readyz"})
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
		return Failed("not ready: "+strings.Join(bad, "; "), fix)
	}
	return Ok("album, game, session and video are ready")
}

func (d *env) checkRedis(ctx context.Context) Result {
	if d.c.Redis.Addr == "" {
		return Skip("redis.addr is empty: sessions stay in process")
	}
	return d.store(ctx, "backends.redis", d.c.Redis.Addr, func(ctx context.Context) Result {
		return pingRedis(ctx, d.c.Redis.Addr, d.c.Redis.Password, d.c.Redis.DB)
	})
}

func (d *env) checkMySQL(ctx context.Context) Result {
	if d.c.MySQL.DSN == "" {
		return Skip("mysql.dsn is empty: the video list uses the embedded database")
	}
	addr, _ := mysqlAddr(d.c.MySQL.DSN) // a DSN that does not parse is config.values' to report
	return d.store(ctx, "backends.mysql", addr, func(ctx context.Context) Result { return checkSchema(ctx, d.c.MySQL.DSN) })
}

func (d *env) checkMongo(ctx context.Context) Result {
	if d.c.Mongo.URI == "" {
		return Skip("mongo.uri is empty: drawings use the embedded store")
	}
	return d.store(ctx, "backends.mongo", mongoHost(d.c.Mongo.URI), func(ctx context.Context) Result { return pingMongo(ctx, d.c.Mongo.URI) })
}

// mysqlAddr is the host:port of a MySQL DSN.
func mysqlAddr(dsn string) (string, error) {
	mc, err := drv.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	return mc.Addr, nil
}

func pingRedis(ctx context.Context, addr, password string, db int) Result {
	c := redis.NewClient(redis.Config{Addr: addr, Password: password, DB: db, Timeout: 3 * time.Second})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		fix := "start Redis at " + addr + " (systemctl start redis-server), or fix redis.addr"
		if strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "invalid password") {
			fix = "set redis.password to the server's requirepass"
		}
		return Failed("Redis at "+addr+": "+err.Error(), fix)
	}
	return Ok("Redis at " + addr + " answers PING")
}

func checkSchema(ctx context.Context, dsn string) Result {
	db, mc, err := mysql.Open(dsn)
	if err != nil {
		return Failed(err.Error(), "fix mysql.dsn")
	}
	defer db.Close()
	where := mysql.Describe(mc)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m := &sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}
	st, err := m.Status(ctx, false)
	if err != nil {
		return Failed(where+": "+err.Error(), "check that MySQL runs and the user and password in mysql.dsn")
	}
	switch {
	case st.Version < st.Latest:
		return Failf("run applet seed-mysql (or let serve apply it with video.migrate)", "%s: schema version %d, this applet needs %d (%d migration(s) behind)", where, st.Version, st.Latest, st.Latest-st.Version)
	case st.Version > st.Latest:
		return Failf("upgrade applet on this machine to the one the instance runs", "%s: schema version %d is newer than this applet's %d", where, st.Version, st.Latest)
	}
	diffs, err := m.Verify(ctx)
	if err != nil {
		return Failed(where+": "+err.Error(), "check that the user in mysql.dsn may read information_schema")
	}
	if len(diffs) > 0 {
		return Failf("compare the tables with sqlseed/migrations; applet seed-mysql adopts the original demo's tables", "%s: schema version %d, but the tables differ: %s", where, st.Version, strings.Join(diffs, "; "))
	}
	return Ok(fmt.Sprintf("%s: schema version %d, tables as this applet expects", where, st.Version))
}

func pingMongo(ctx context.Context, uri string) Result {
	d, err := mongo.Open(uri, "admin", 3*time.Second)
	if err != nil {
		return Failed(err.Error(), "fix mongo.uri")
	}
	defer d.Close()
	if err := d.Ping(ctx); err != nil {
		return Failed("MongoDB at "+mongoHost(uri)+": "+err.Error(), "start MongoDB, or fix mongo.uri and its credentials")
	}
	return Ok("MongoDB at " + mongoHost(uri) + " answers")
}

// checkBucket writes a test object with the album's key, reads it through the public URL with no
// signature (as the mini program does), and deletes it.
func (d *env) checkBucket(ctx context.Context) Result {
	c := d.c
	if c.COS.Bucket == "" {
		return Skip("cos.bucket is empty: the album keeps images on disk")
	}
	if c.COSCredentials() == config.COSKeyRole {
		return Skip("the album signs with the instance role: host.album-scope checks its writes")
	}
	id, key := c.COSKey()
	if id == "" {
		return Failed("no key for COS", "set cos.secret_id and cos.secret_key")
	}
	b, err := tencent.NewBuckets(tencent.BucketConfig{Credentials: tencent.Credentials{SecretID: id, SecretKey: key},
		Bucket: c.COS.Bucket, Region: c.COS.Region, Endpoint: c.COS.Endpoint, Timeout: 10 * time.Second})
	if err != nil {
		return Failed(err.Error(), "fix cos.bucket and cos.region")
	}
	st, err := b.Bucket(ctx)
	switch {
	case err != nil:
		return Failed("bucket "+c.COS.Bucket+": "+err.Error(), "check the COS key's permissions on the bucket")
	case !st.Exists:
		return Failed("bucket "+c.COS.Bucket+" does not exist", "run applet provision, or create it public-read in the COS console")
	case st.PublicWrite:
		return Failed("bucket "+c.COS.Bucket+" lets anyone write", "set its ACL to public-read (applet provision does)")
	case !st.PublicRead:
		return Failed("bucket "+c.COS.Bucket+" is private: the mini program cannot load the album's images", "set its ACL to public-read (applet provision does)")
	}
	obj := "applet-doctor/" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".txt"
	body := []byte("applet doctor")
	if err := b.PutObject(ctx, obj, body); err != nil {
		return Failed("writing a test object: "+err.Error(), "grant the album's key cos:PutObject on the bucket")
	}
	defer b.DeleteObject(context.WithoutCancel(ctx), obj)
	code, got, err := b.GetAnonymous(ctx, obj)
	if err != nil {
		return Failed("reading the test object anonymously: "+err.Error(), "check the bucket's domain is reachable")
	}
	if code != http.StatusOK || !bytes.Equal(got, body) {
		return Failed(fmt.Sprintf("the test object read anonymously answered %d", code), "set the bucket's ACL to public-read (applet provision does)")
	}
	return Ok("bucket " + c.COS.Bucket + " is public-read and private-write; a test object was written, read anonymously and deleted")
}

// checkLimits asks each backend's root /healthz for its open-file limit and what its budgets need:
// budgets above the limit mean the process can run out of files under load (EMFILE), and every app in
// it stops taking connections.
func (d *env) checkLimits(ctx context.Context) Result {
	addrs := []string{host.Upstream(d.c.Album.Listen), host.Upstream(d.c.Game.Listen), host.Upstream(d.c.Session.Listen), host.Upstream(d.c.Video.Listen)}
	return d.store(ctx, "serve.limits", addrs[0], func(ctx context.Context) Result {
		client := &http.Client{Timeout: 5 * time.Second}
		var seen, low []string
		done := map[string]bool{}
		for _, addr := range addrs {
			if done[addr] {
				continue
			}
			done[addr] = true
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/healthz", nil)
			resp, err := client.Do(req)
			if err != nil {
				return Skip(addr + " does not answer (backends.readyz says why)")
			}
			var out struct {
				Limits *struct {
					OpenFiles   int `json:"open_files"`
					Needed      int `json:"needed"`
					Connections int `json:"connections"`
				} `json:"limits"`
			}
			err = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&out)
			resp.Body.Close()
			if err != nil || out.Limits == nil {
				return Warning(addr+" does not report its limits", "upgrade applet on the host (applet provision)")
			}
			l := out.Limits
			seen = append(seen, fmt.Sprintf("%s: %d open files, budgets need %d (%d connections)", addr, l.OpenFiles, l.Needed, l.Connections))
			if l.Needed > l.OpenFiles {
				low = append(low, fmt.Sprintf("%s: budgets need %d open files, the limit is %d", addr, l.Needed, l.OpenFiles))
			}
		}
		if len(low) > 0 {
			return Failed(strings.Join(low, "; "), "raise the limit (LimitNOFILE= in applet@.service, which applet provision sets to 65536; ulimit -n locally), or lower serve.max_connections and serve.fd_reserve")
		}
		return Ok(strings.Join(seen, "; "))
	})
}
