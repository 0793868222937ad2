package doctor_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/sqlseed"
)

func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestBackendsRedis(t *testing.T) {
	expect(t, check(t, load(t, "", nil), "backends.redis"), doctor.Skipped, "redis.addr is empty", "")
	addr := testenv.RedisAddr(t)
	expect(t, check(t, load(t, "", map[string]string{"redis.addr": addr}), "backends.redis"), doctor.OK, "Redis at "+addr+" answers PING", "")
	authAddr, _ := testenv.RedisAuth(t)
	expect(t, check(t, load(t, "", map[string]string{"redis.addr": authAddr, "redis.password": "wrong"}), "backends.redis"), doctor.Fail, "Redis at "+authAddr, "set redis.password to the server's requirepass")
	down := closedAddr(t)
	expect(t, check(t, load(t, "", map[string]string{"redis.addr": down}), "backends.redis"), doctor.Fail, "connection refused", "start Redis at "+down)
}

func TestBackendsMySQLSchema(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	l := load(t, "", map[string]string{"mysql.dsn": dsn})
	expect(t, check(t, l, "backends.mysql"), doctor.Fail, "schema version 0, this applet needs", "run applet seed-mysql")
	db, _, err := mysql.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Apply(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	expect(t, check(t, l, "backends.mysql"), doctor.OK, "as this applet expects", "")
	if strings.Contains(check(t, l, "backends.mysql").Observed, "applet:") {
		t.Fatal("the observation shows the DSN's credentials")
	}
}

func TestBackendsMongo(t *testing.T) {
	expect(t, check(t, load(t, "", map[string]string{"mongo.uri": testenv.MongoURI(t)}), "backends.mongo"), doctor.OK, "answers", "")
	down := closedAddr(t)
	expect(t, check(t, load(t, "", map[string]string{"mongo.uri": "mongodb://" + down}), "backends.mongo"), doctor.Fail, "MongoDB at "+down, "start MongoDB")
}

func TestBackendsReadyzOfALocalSetup(t *testing.T) {
	ready := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/applet/video/") {
			http.Error(w, `{"mysql":"down"}`, http.StatusServiceUnavailable)
			return
		}
		ready[r.URL.Path]++
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	flags := map[string]string{"album.listen": addr, "game.listen": addr, "session.listen": addr, "video.listen": addr}
	expect(t, check(t, load(t, "", flags), "backends.readyz"), doctor.Fail, `not ready: video: 503 {"mysql":"down"}`, "applet serve all")
	if ready["/applet/album/readyz"] != 1 || ready["/applet/websocket/readyz"] != 1 || ready["/applet/session/readyz"] != 1 {
		t.Fatalf("asked: %v", ready)
	}
}

func TestBackendsBucket(t *testing.T) {
	const id, key, bucket = "AKIDdoctortest000000000000000000000", "doctor-test-key", "album-1250000000"
	cs, err := cosfake.New(id, key)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	flags := map[string]string{"cos.bucket": bucket, "cos.region": "ap-guangzhou", "cos.endpoint": cs.Addr, "cos.secret_id": id, "cos.secret_key": key}
	expect(t, check(t, load(t, "", flags), "backends.bucket"), doctor.Fail, "bucket "+bucket+" does not exist", "run applet provision")
	cs.CreateBucket(bucket, "private")
	expect(t, check(t, load(t, "", flags), "backends.bucket"), doctor.Fail, "is private", "public-read")
	cs.SetACL(bucket, "public-read")
	expect(t, check(t, load(t, "", flags), "backends.bucket"), doctor.OK, "a test object was written, read anonymously and deleted", "")
	if objs := cs.Objects(bucket); len(objs) != 0 {
		t.Fatalf("the test object was left behind: %v", objs)
	}
}

func TestServeLimits(t *testing.T) {
	answer := `{"status":"ok","limits":{"open_files":1024,"needed":900,"connections":200}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	flags := map[string]string{"album.listen": addr, "game.listen": addr, "session.listen": addr, "video.listen": addr}
	expect(t, check(t, load(t, "", flags), "serve.limits"), doctor.OK, addr+": 1024 open files, budgets need 900 (200 connections)", "")
	answer = `{"status":"ok","limits":{"open_files":1024,"needed":5000,"connections":1200}}`
	expect(t, check(t, load(t, "", flags), "serve.limits"), doctor.Fail, "budgets need 5000 open files, the limit is 1024", "LimitNOFILE=")
	answer = `{"status":"ok"}`
	expect(t, check(t, load(t, "", flags), "serve.limits"), doctor.Warn, "does not report its limits", "upgrade applet")
	down := closedAddr(t)
	expect(t, check(t, load(t, "", map[string]string{"album.listen": down}), "serve.limits"), doctor.Skipped, "does not answer", "")
}

func TestBackendsMySQLTablesThatDoNotMatch(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	db, _, err := mysql.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Apply(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	// Recorded as current, but someone narrowed a column by hand.
	if _, err := db.Exec("ALTER TABLE comment MODIFY nick VARCHAR(32) NOT NULL"); err != nil {
		t.Fatal(err)
	}
	expect(t, check(t, load(t, "", map[string]string{"mysql.dsn": dsn}), "backends.mysql"), doctor.Fail,
		"schema version 2, but the tables differ: comment: column nick is varchar(32), not varchar(64)", "sqlseed/migrations")
}
