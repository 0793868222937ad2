// Package mysqlschema is provision.Schema on a MySQL reachable from the operator's machine (a cloud
// database): the video schema and seed from sqlseed, exactly as `applet seed-mysql` applies them.
package mysqlschema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"time"

	drv "github.com/go-sql-driver/mysql"

	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/sqlseed"
)

// Schema applies sqlseed to the database of a DSN.
type Schema struct {
	dsn     string
	cfg     *drv.Config
	timeout time.Duration
}

var _ provision.Schema = (*Schema)(nil)

// New parses the DSN; it connects to nothing.
func New(dsn string) (*Schema, error) {
	cfg, err := drv.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql.dsn: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("mysql.dsn names no database: end it with /<database>")
	}
	return &Schema{dsn: dsn, cfg: cfg, timeout: 5 * time.Second}, nil
}

// Describe names the database without the password.
func (s *Schema) Describe() string { return mysql.Describe(s.cfg) }

func (s *Schema) server() (*sql.DB, error) {
	c := s.cfg.Clone()
	c.DBName = ""
	c.Timeout = s.timeout
	db, _, err := mysql.Open(c.FormatDSN())
	return db, err
}

// Pending counts migrations and seeds not applied (all of them when the database does not exist).
func (s *Schema) Pending(ctx context.Context) (int, error) {
	srv, err := s.server()
	if err != nil {
		return 0, err
	}
	defer srv.Close()
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var n int
	err = srv.QueryRowContext(cctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", s.cfg.DBName).Scan(&n)
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return 0, provision.ErrUnreachable
	}
	if err != nil {
		return 0, err
	}
	if n == 0 {
		migs, _ := sqlseed.Migrations(sqlseed.MySQL)
		seeds, _ := sqlseed.Seeds(sqlseed.MySQL)
		return len(migs) + len(seeds), nil
	}
	db, _, err := mysql.Open(s.dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	st, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Status(ctx, true)
	if err != nil {
		return 0, err
	}
	return len(st.Pending), nil
}

// Apply creates the database if needed and applies what is pending.
func (s *Schema) Apply(ctx context.Context) error {
	srv, err := s.server()
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := srv.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+s.cfg.DBName+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("creating database: %w", err)
	}
	db, _, err := mysql.Open(s.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Apply(ctx, true)
	return err
}

// Purge drops the database.
func (s *Schema) Purge(ctx context.Context) error {
	srv, err := s.server()
	if err != nil {
		return err
	}
	defer srv.Close()
	_, err = srv.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+s.cfg.DBName+"`")
	return err
}
