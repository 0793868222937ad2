package testenv_test

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"
	"text/template"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestMariaDBRoundTrip(t *testing.T) {
	db, err := sql.Open("mysql", testenv.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, nick VARCHAR(64) NOT NULL) CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	const nick = "小程序 🎬" // utf8mb4 must survive the round trip
	if _, err := db.ExecContext(ctx, "INSERT INTO t (nick) VALUES (?)", nick); err != nil {
		t.Fatal(err)
	}
	var got, version string
	if err := db.QueryRowContext(ctx, "SELECT nick, VERSION() FROM t").Scan(&got, &version); err != nil {
		t.Fatal(err)
	}
	if got != nick {
		t.Fatalf("read back %q, wrote %q", got, nick)
	}
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		t.Fatalf("server version %q is not MariaDB", version)
	}
	t.Logf("MariaDB %s", version)
}

func TestRedisRoundTrip(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := testenv.Unique("applet-test:")
	if err := rdb.Set(ctx, key, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	defer rdb.Del(context.Background(), key)
	got, err := rdb.Get(ctx, key).Result()
	if err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	ttl, err := rdb.TTL(ctx, key).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL = %v, %v; want (0, 1m]", ttl, err)
	}
}

func TestMongoRoundTrip(t *testing.T) {
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer client.Disconnect(context.Background())
	coll := client.Database(testenv.Unique("applet_test_")).Collection("paints")
	defer coll.Database().Drop(context.Background())
	doc := bson.D{{Key: "openId", Value: "o1"}, {Key: "id", Value: "p1"}, {Key: "actions", Value: `[{"x":1}]`}}
	if _, err := coll.InsertOne(ctx, doc); err != nil {
		t.Fatal(err)
	}
	var got struct {
		OpenID  string `bson:"openId"`
		Actions string `bson:"actions"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "id", Value: "p1"}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.OpenID != "o1" || got.Actions != `[{"x":1}]` {
		t.Fatalf("read back %+v", got)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{{Key: "openId", Value: "nobody"}}); err != nil || n != 0 {
		t.Fatalf("count of a filter that matches nothing = %d, %v", n, err)
	}
}

var site = template.Must(template.New("site").Parse(`
events {}
http {
  server_tokens off;
  server {
    listen 127.0.0.1:{{.Port}};
    location {{.Base}}/ { proxy_pass http://127.0.0.1:{{.Upstream}}; }
  }
}
`))

func TestNginxChecksGeneratedConfig(t *testing.T) {
	var b bytes.Buffer
	if err := site.Execute(&b, map[string]any{"Port": 18080, "Base": "/applet/album", "Upstream": 9993}); err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.NginxTest(t, b.String()); err != nil {
		t.Fatalf("nginx -t rejected the generated config: %v\n%s", err, out)
	}
	// The check must be able to fail: a broken directive is rejected.
	broken := strings.Replace(b.String(), "proxy_pass", "proxy_passs", 1)
	out, err := testenv.NginxTest(t, broken)
	if err == nil || !strings.Contains(out, "proxy_passs") {
		t.Fatalf("nginx -t accepted a broken config: %v\n%s", err, out)
	}
}

// MongoAuth speaks SCRAM as MongoDB does: the driver logs in with either mechanism and then works; a
// wrong password and a connection that never logged in are refused.
func TestMongoAuth(t *testing.T) {
	u := strings.TrimSuffix(strings.TrimPrefix(testenv.MongoURI(t), "mongodb://"), "/")
	m := testenv.NewMongoAuth(t, u)
	m.SetPassword("mongouser", "Secret_123x")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db := testenv.Unique("applet_test_")
	use := func(uri string) error {
		client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(5 * time.Second))
		if err != nil {
			return err
		}
		defer client.Disconnect(context.Background())
		_, err = client.Database(db).Collection("paints").InsertOne(ctx, bson.D{{Key: "id", Value: "p1"}})
		return err
	}
	for _, mech := range []string{"", "&authMechanism=SCRAM-SHA-1", "&authMechanism=SCRAM-SHA-256"} {
		if err := use("mongodb://mongouser:Secret_123x@" + m.Addr + "/?authSource=admin" + mech); err != nil {
			t.Fatalf("logged in%s: %v", mech, err)
		}
	}
	if err := use("mongodb://mongouser:wrong_1234@" + m.Addr + "/?authSource=admin"); err == nil || !strings.Contains(err.Error(), "Authentication failed") {
		t.Fatalf("a wrong password: %v", err)
	}
	if err := use("mongodb://" + m.Addr + "/"); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("without logging in: %v", err)
	}
	client, _ := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)))
	client.Database(db).Drop(context.Background())
	client.Disconnect(context.Background())
}
