// Package testenv hands tests the real services that scripts/services.sh started. A test that needs a
// service which is not there fails under CI=true and otherwise skips, saying how to start it.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Environment variables exported by scripts/services.sh.
const (
	EnvMySQLDSN  = "APPLET_TEST_MYSQL_DSN"
	EnvRedisAddr = "APPLET_TEST_REDIS_ADDR"
	EnvMongoURI  = "APPLET_TEST_MONGO_URI"
	EnvNginx     = "APPLET_TEST_NGINX"
	// A second Redis that requires a password.
	EnvRedisAuthAddr     = "APPLET_TEST_REDIS_AUTH_ADDR"
	EnvRedisAuthPassword = "APPLET_TEST_REDIS_PASSWORD"
)

const howTo = `run the whole suite with scripts/test.sh, or start the services with: eval "$(scripts/services.sh start)"`

// CI reports whether missing services are failures.
func CI() bool { return os.Getenv("CI") == "true" }

func missing(t testing.TB, service, env string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s is required under CI=true but %s is not set: %s", service, env, howTo)
	}
	t.Skipf("%s not available (%s unset): %s", service, env, howTo)
}

// unreachable fails whether or not CI is set: the harness said the service was there.
func unreachable(t testing.TB, service, addr string, err error) {
	t.Helper()
	t.Fatalf("%s at %s does not answer: %v (%s)", service, addr, err, howTo)
}

func dial(t testing.TB, service, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		unreachable(t, service, addr, err)
	}
	c.Close()
}

// MySQLDSN returns the DSN of the server (no database selected).
func MySQLDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvMySQLDSN)
	if dsn == "" {
		missing(t, "MariaDB", EnvMySQLDSN)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQLDSN, err)
	}
	dial(t, "MariaDB", cfg.Addr)
	return dsn
}

// MySQLFreshDSN returns a DSN naming a database that does not exist yet; it is dropped after the test.
func MySQLFreshDSN(t testing.TB) string {
	t.Helper()
	dsn := MySQLDSN(t)
	name := "applet_test_" + randomHex(6)
	t.Cleanup(func() {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
	})
	cfg, _ := mysql.ParseDSN(dsn)
	cfg.DBName = name
	return cfg.FormatDSN()
}

// MySQLDatabase creates a fresh database for the test, drops it afterwards and returns its DSN.
func MySQLDatabase(t testing.TB) string {
	t.Helper()
	fresh := MySQLFreshDSN(t)
	cfg, _ := mysql.ParseDSN(fresh)
	name := cfg.DBName
	cfg.DBName = ""
	dsn := cfg.FormatDSN()
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		unreachable(t, "MariaDB", dsn, err)
	}
	return fresh
}

// RedisAddr returns host:port of the Redis server.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(EnvRedisAddr)
	if addr == "" {
		missing(t, "Redis", EnvRedisAddr)
	}
	dial(t, "Redis", addr)
	return addr
}

// RedisAuth returns host:port and password of the Redis server that requires one.
func RedisAuth(t testing.TB) (string, string) {
	t.Helper()
	addr, pw := os.Getenv(EnvRedisAuthAddr), os.Getenv(EnvRedisAuthPassword)
	if addr == "" || pw == "" {
		missing(t, "Redis with a password", EnvRedisAuthAddr)
	}
	dial(t, "Redis with a password", addr)
	return addr, pw
}

// MongoURI returns the URI of the MongoDB-wire server.
func MongoURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(EnvMongoURI)
	if uri == "" {
		missing(t, "the MongoDB-wire server", EnvMongoURI)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	if i := strings.IndexAny(host, "/?"); i >= 0 {
		host = host[:i]
	}
	dial(t, "the MongoDB-wire server", host)
	return uri
}

// Nginx returns the path of the nginx binary.
func Nginx(t testing.TB) string {
	t.Helper()
	p := os.Getenv(EnvNginx)
	if p == "" {
		if found, err := exec.LookPath("nginx"); err == nil {
			return found
		}
		missing(t, "nginx", EnvNginx)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v", EnvNginx, p, err)
	}
	return p
}

// NginxTest runs `nginx -t` on a configuration with its own prefix directory and returns the output.
func NginxTest(t testing.TB, conf string) (string, error) {
	t.Helper()
	bin := Nginx(t)
	dir := t.TempDir()
	for _, sub := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(dir+"/"+sub, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := dir + "/nginx.conf"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir, "-c", path, "-e", dir+"/logs/error.log").CombinedOutput()
	return string(out), err
}

// Unique returns a name no other test run uses.
func Unique(prefix string) string { return fmt.Sprintf("%s%s", prefix, randomHex(6)) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
