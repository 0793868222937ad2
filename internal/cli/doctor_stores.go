package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	drv "github.com/go-sql-driver/mysql"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/provision/tencent"
	"github.com/qcloud-applet/applet/serve/mongo"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/qcloud-applet/applet/sqlseed"
)

// mysqlAddr is the host:port of a MySQL DSN.
func mysqlAddr(dsn string) (string, error) {
	mc, err := drv.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	return mc.Addr, nil
}

func pingRedis(ctx context.Context, addr, password string, db int) doctor.Result {
	c := redis.NewClient(redis.Config{Addr: addr, Password: password, DB: db, Timeout: 3 * time.Second})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		fix := "start Redis at " + addr + " (systemctl start redis-server), or fix redis.addr"
		if strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "invalid password") {
			fix = "set redis.password to the server's requirepass"
		}
		return doctor.Failed("Redis at "+addr+": "+err.Error(), fix)
	}
	return doctor.Ok("Redis at " + addr + " answers PING")
}

func checkSchema(ctx context.Context, dsn string) doctor.Result {
	db, mc, err := mysql.Open(dsn)
	if err != nil {
		return doctor.Failed(err.Error(), "fix mysql.dsn")
	}
	defer db.Close()
	where := mysql.Describe(mc)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Status(ctx, false)
	if err != nil {
		return doctor.Failed(where+": "+err.Error(), "check that MySQL runs and the user and password in mysql.dsn")
	}
	switch {
	case st.Version < st.Latest:
		return doctor.Failf("run applet seed-mysql (or let serve apply it with video.migrate)", "%s: schema version %d, this applet needs %d (%d migration(s) behind)", where, st.Version, st.Latest, st.Latest-st.Version)
	case st.Version > st.Latest:
		return doctor.Failf("upgrade applet on this machine to the one the instance runs", "%s: schema version %d is newer than this applet's %d", where, st.Version, st.Latest)
	}
	return doctor.Ok(fmt.Sprintf("%s: schema version %d, as this applet expects", where, st.Version))
}

func pingMongo(ctx context.Context, uri string) doctor.Result {
	d, err := mongo.Open(uri, "admin", 3*time.Second)
	if err != nil {
		return doctor.Failed(err.Error(), "fix mongo.uri")
	}
	defer d.Close()
	if err := d.Ping(ctx); err != nil {
		return doctor.Failed("MongoDB at "+mongoHost(uri)+": "+err.Error(), "start MongoDB, or fix mongo.uri and its credentials")
	}
	return doctor.Ok("MongoDB at " + mongoHost(uri) + " answers")
}

// checkBucket writes a test object with the album's key, reads it through the public URL with no
// signature (as the mini program does), and deletes it.
func (d *doctorEnv) checkBucket(ctx context.Context) doctor.Result {
	c := d.c
	if c.COS.Bucket == "" {
		return doctor.Skip("cos.bucket is empty: the album keeps images on disk")
	}
	id, key := c.COS.SecretID, c.COS.SecretKey
	if id == "" || key == "" {
		id, key = c.TencentCloud.SecretID, c.TencentCloud.SecretKey
	}
	if id == "" {
		return doctor.Failed("no key for COS", "set cos.secret_id and cos.secret_key")
	}
	b, err := tencent.NewBuckets(tencent.BucketConfig{Credentials: tencent.Credentials{SecretID: id, SecretKey: key},
		Bucket: c.COS.Bucket, Region: c.COS.Region, Endpoint: c.COS.Endpoint, Timeout: 10 * time.Second})
	if err != nil {
		return doctor.Failed(err.Error(), "fix cos.bucket and cos.region")
	}
	st, err := b.Bucket(ctx)
	switch {
	case err != nil:
		return doctor.Failed("bucket "+c.COS.Bucket+": "+err.Error(), "check the COS key's permissions on the bucket")
	case !st.Exists:
		return doctor.Failed("bucket "+c.COS.Bucket+" does not exist", "run applet provision, or create it public-read in the COS console")
	case st.PublicWrite:
		return doctor.Failed("bucket "+c.COS.Bucket+" lets anyone write", "set its ACL to public-read (applet provision does)")
	case !st.PublicRead:
		return doctor.Failed("bucket "+c.COS.Bucket+" is private: the mini program cannot load the album's images", "set its ACL to public-read (applet provision does)")
	}
	obj := "applet-doctor/" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".txt"
	body := []byte("applet doctor")
	if err := b.PutObject(ctx, obj, body); err != nil {
		return doctor.Failed("writing a test object: "+err.Error(), "grant the album's key cos:PutObject on the bucket")
	}
	defer b.DeleteObject(context.WithoutCancel(ctx), obj)
	code, got, err := b.GetAnonymous(ctx, obj)
	if err != nil {
		return doctor.Failed("reading the test object anonymously: "+err.Error(), "check the bucket's domain is reachable")
	}
	if code != http.StatusOK || !bytes.Equal(got, body) {
		return doctor.Failed(fmt.Sprintf("the test object read anonymously answered %d", code), "set the bucket's ACL to public-read (applet provision does)")
	}
	return doctor.Ok("bucket " + c.COS.Bucket + " is public-read and private-write; a test object was written, read anonymously and deleted")
}
