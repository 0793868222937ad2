// Package mysql opens MySQL databases for applet's stores: one pooled handle per process, with
// timeouts so a database that is down fails requests fast instead of hanging them.
package mysql

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Open parses dsn, fills in safe defaults (utf8mb4, dial/read/write timeouts, parseTime) and returns
// a pooled handle. It does not connect: the first query does.
func Open(dsn string) (*sql.DB, *mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing mysql DSN: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	cfg.ParseTime = true
	// Whatever charset an old DSN names (charset=utf8 is common), connections speak utf8mb4: a
	// nickname with an emoji must never be refused or mangled on the way.
	collation := cfg.Collation
	if collation == "" || collation == "utf8mb4_general_ci" || !strings.HasPrefix(collation, "utf8mb4_") {
		collation = "utf8mb4_unicode_ci"
	}
	if err := cfg.Apply(mysql.Charset("utf8mb4", collation)); err != nil {
		return nil, nil, fmt.Errorf("mysql: %w", err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxLifetime(5 * time.Minute) // below MySQL's and proxies' idle cut-offs
	return db, cfg, nil
}

// Describe names the server and database without the password, for logs and errors.
func Describe(cfg *mysql.Config) string {
	return fmt.Sprintf("%s@%s/%s", cfg.User, cfg.Addr, cfg.DBName)
}
