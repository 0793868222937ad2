// Package mysql backs up a MySQL or MariaDB database with a logical dump through the Go driver.
//
// Why the driver and not mariadb-dump: the host's packages do not include the client tools, managed
// databases (TencentDB) may not match the client's version, and the driver gives the same consistency
// (one REPEATABLE READ transaction WITH CONSISTENT SNAPSHOT) while the dump streams into the backup
// without a temporary file. The dump is plain SQL that `mariadb < dump.sql` also loads.
package mysql

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/qcloud-applet/applet/backup"
)

// DumpFile is the dump's name in a backup.
const DumpFile = "dump.sql"

// Staging prefixes: a restore loads into tables named with restorePrefix and swaps them in at the
// end; a verify loads into verifyPrefix and drops them.
const (
	restorePrefix = "__restore_"
	verifyPrefix  = "__verify_"
)

// Store implements backup.Store and backup.Checker on one database.
type Store struct {
	name string
	db   *sql.DB
}

var (
	_ backup.Store   = (*Store)(nil)
	_ backup.Checker = (*Store)(nil)
)

// New opens the database of dsn for backups under the given store name. Times are read and written
// as they are stored (UTC, no parsing), whatever the DSN says.
func New(name, dsn string) (*Store, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql.dsn: %w", err)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("mysql.dsn names no database: add /<database> after the address")
	}
	cfg.ParseTime = false
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(2)
	return &Store{name: name, db: db}, nil
}

func (s *Store) Name() string { return s.name }
func (s *Store) Kind() string { return "mysql" }
func (s *Store) Close() error { return s.db.Close() }

type table struct {
	name   string
	autoID string // the AUTO_INCREMENT column, if any
}

// querier is the pool, or the one connection that holds the dump's snapshot.
type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// markKey names the table's newest id in a Mark.
func (t table) markKey() string { return t.name + "." + t.autoID }

// newestID is the table's largest AUTO_INCREMENT value (not Valid when it is empty).
func (t table) newestID(ctx context.Context, q querier) (sql.NullInt64, error) {
	var id sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT MAX("+quoteIdent(t.autoID)+") FROM "+quoteIdent(t.name)).Scan(&id)
	return id, err
}

func (s *Store) tables(ctx context.Context, q querier) ([]table, error) {
	rows, err := q.QueryContext(ctx, `SELECT t.TABLE_NAME, COALESCE(MAX(CASE WHEN c.EXTRA LIKE '%auto_increment%' THEN c.COLUMN_NAME END), '')
FROM information_schema.TABLES t JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' GROUP BY t.TABLE_NAME ORDER BY t.TABLE_NAME`)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	defer rows.Close()
	var out []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.name, &t.autoID); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(t.name, restorePrefix) && !strings.HasPrefix(t.name, verifyPrefix) {
			out = append(out, t)
		}
	}
	return out, rows.Err()
}

// Dump writes every table of the database as of one consistent snapshot.
func (s *Store) Dump(ctx context.Context, w backup.Writer) (backup.Mark, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("starting the snapshot: %w", err)
		}
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	tables, err := s.tables(ctx, conn)
	if err != nil {
		return nil, err
	}
	mark := backup.Mark{}
	err = backup.Stream(w, DumpFile, 0o600, func(bw *bufio.Writer) error { return s.dump(ctx, conn, tables, bw, mark) })
	if err != nil {
		return nil, err
	}
	return mark, nil
}

func (s *Store) dump(ctx context.Context, conn *sql.Conn, tables []table, w *bufio.Writer, mark backup.Mark) error {
	fmt.Fprintf(w, "-- applet backup: a consistent snapshot, loadable with `mariadb <database> < %s`\n", DumpFile)
	w.WriteString("SET NAMES utf8mb4;\nSET time_zone='+00:00';\nSET FOREIGN_KEY_CHECKS=0;\nSET UNIQUE_CHECKS=0;\nSET sql_mode='NO_AUTO_VALUE_ON_ZERO';\n")
	for _, t := range tables {
		var name, create string
		if err := conn.QueryRowContext(ctx, "SHOW CREATE TABLE "+quoteIdent(t.name)).Scan(&name, &create); err != nil {
			return fmt.Errorf("reading %s's definition: %w", t.name, err)
		}
		fmt.Fprintf(w, "DROP TABLE IF EXISTS %s;\n%s;\n", quoteIdent(t.name), create)
		order := ""
		if t.autoID != "" {
			maxID, err := t.newestID(ctx, conn)
			if err != nil {
				return fmt.Errorf("reading %s's newest id: %w", t.name, err)
			}
			mark[t.markKey()] = maxID.Int64
			order = " ORDER BY " + quoteIdent(t.autoID)
		}
		if err := dumpRows(ctx, conn, t.name, order, w); err != nil {
			return fmt.Errorf("dumping %s: %w", t.name, err)
		}
	}
	return nil
}

// maxStatement bounds one INSERT, well under the server's max_allowed_packet.
const maxStatement = 1 << 20

func dumpRows(ctx context.Context, conn *sql.Conn, name, order string, w *bufio.Writer) error {
	rows, err := conn.QueryContext(ctx, "SELECT * FROM "+quoteIdent(name)+order)
	if err != nil {
		return err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	kinds := make([]byte, len(types))
	for i, t := range types {
		kinds[i] = kindOf(t.DatabaseTypeName())
	}
	vals := make([]sql.RawBytes, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	head := "INSERT INTO " + quoteIdent(name) + " VALUES "
	var stmt []byte
	flush := func() {
		if len(stmt) > 0 {
			w.Write(stmt)
			w.WriteString(";\n")
			stmt = stmt[:0]
		}
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if len(stmt) == 0 {
			stmt = append(stmt, head...)
		} else {
			stmt = append(stmt, ',')
		}
		stmt = append(stmt, '(')
		for i, v := range vals {
			if i > 0 {
				stmt = append(stmt, ',')
			}
			stmt = appendValue(stmt, v, kinds[i])
		}
		stmt = append(stmt, ')')
		if len(stmt) >= maxStatement {
			flush()
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	flush()
	return nil
}

const (
	kindNumber = 'n'
	kindBinary = 'b'
	kindText   = 't'
)

func kindOf(t string) byte {
	t = strings.TrimPrefix(t, "UNSIGNED ")
	switch {
	case strings.HasSuffix(t, "INT"), t == "DECIMAL", t == "FLOAT", t == "DOUBLE", t == "YEAR":
		return kindNumber
	case strings.HasSuffix(t, "BLOB"), strings.HasSuffix(t, "BINARY"), t == "BIT", t == "GEOMETRY":
		return kindBinary
	}
	return kindText
}

func appendValue(b []byte, v sql.RawBytes, kind byte) []byte {
	switch {
	case v == nil:
		return append(b, "NULL"...)
	case kind == kindNumber:
		return append(b, v...)
	case kind == kindBinary:
		if len(v) == 0 {
			return append(b, "''"...)
		}
		b = append(b, "0x"...)
		return hex.AppendEncode(b, v)
	}
	b = append(b, '\'')
	for _, c := range v {
		switch c {
		case 0:
			b = append(b, '\\', '0')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0x1a:
			b = append(b, '\\', 'Z')
		case '\'', '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '\'')
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// Newer reports a table whose newest id is past the backup's.
func (s *Store) Newer(ctx context.Context, was *backup.StoreEntry) (string, error) {
	mark := was.Mark
	tables, err := s.tables(ctx, s.db)
	if err != nil {
		return "", err
	}
	var out []string
	for _, t := range tables {
		if t.autoID == "" {
			continue
		}
		maxID, err := t.newestID(ctx, s.db)
		if err != nil {
			return "", err
		}
		was, ok := mark[t.markKey()]
		if maxID.Int64 > was || (!ok && maxID.Valid) {
			out = append(out, fmt.Sprintf("table %s has %s %d, the backup's newest is %d", t.name, t.autoID, maxID.Int64, was))
		}
	}
	return strings.Join(out, "; "), nil
}

// Restore loads the dump into staging tables, and only once all of it loaded (and its digest
// matched) swaps them in for the live ones.
func (s *Store) Restore(ctx context.Context, r backup.Reader) error {
	conn, err := s.load(ctx, r, restorePrefix)
	if conn != nil {
		defer conn.Close()
	}
	if err != nil {
		return err
	}
	loaded, fks := conn.loaded, conn.fks
	var drop, rename []string
	for _, t := range loaded {
		drop = append(drop, quoteIdent(t))
		rename = append(rename, quoteIdent(restorePrefix+t)+" TO "+quoteIdent(t))
	}
	stmts := []string{}
	if len(loaded) > 0 {
		stmts = append(stmts, "DROP TABLE IF EXISTS "+strings.Join(drop, ", "), "RENAME TABLE "+strings.Join(rename, ", "))
	}
	stmts = append(stmts, fks...)
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("swapping the restored tables in: %w", err)
		}
	}
	return nil
}

// Check loads the dump into scratch tables and drops them.
func (s *Store) Check(ctx context.Context, r backup.Reader) error {
	conn, err := s.load(ctx, r, verifyPrefix)
	if conn != nil {
		conn.dropStaging(context.Background(), verifyPrefix)
		conn.Close()
	}
	return err
}

type loadConn struct {
	*sql.Conn
	loaded []string
	fks    []string // ALTER TABLE ... ADD CONSTRAINT, run once the tables have their real names
}

var (
	createRE = regexp.MustCompile("^CREATE TABLE `((?:[^`]|``)+)`")
	insertRE = regexp.MustCompile("^INSERT INTO `((?:[^`]|``)+)`")
	fkRE     = regexp.MustCompile("^\\s*(CONSTRAINT `(?:[^`]|``)+` FOREIGN KEY .*?),?$")
)

func (c *loadConn) dropStaging(ctx context.Context, prefix string) error {
	rows, err := c.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?", strings.ReplaceAll(prefix, "_", `\_`)+"%")
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, quoteIdent(n))
	}
	rows.Close()
	if len(names) == 0 {
		return nil
	}
	_, err = c.ExecContext(ctx, "DROP TABLE IF EXISTS "+strings.Join(names, ", "))
	return err
}

// load runs the dump's statements into tables named prefix+name, with their foreign keys set aside.
func (s *Store) load(ctx context.Context, r backup.Reader, prefix string) (*loadConn, error) {
	rc, err := r.Open(ctx, DumpFile)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	c := &loadConn{Conn: raw}
	for _, q := range []string{"SET NAMES utf8mb4", "SET time_zone='+00:00'", "SET FOREIGN_KEY_CHECKS=0", "SET UNIQUE_CHECKS=0", "SET sql_mode='NO_AUTO_VALUE_ON_ZERO'"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return c, err
		}
	}
	// A restore killed midway left its staging tables: start again from nothing.
	if err := c.dropStaging(ctx, prefix); err != nil {
		return c, fmt.Errorf("dropping staging tables: %w", err)
	}
	br := bufio.NewReaderSize(rc, 1<<20)
	var stmt []byte
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return c, err
		}
		stmt = append(stmt, line...)
		if !bytes.HasSuffix(stmt, []byte(";\n")) {
			if err == io.EOF {
				return c, fmt.Errorf("%s: ends inside a statement", DumpFile)
			}
			continue
		}
		q := string(stmt[:len(stmt)-2])
		stmt = stmt[:0]
		switch {
		case createRE.MatchString(q):
			name := unquote(createRE.FindStringSubmatch(q)[1])
			q, fks := splitForeignKeys(q)
			for _, fk := range fks {
				c.fks = append(c.fks, "ALTER TABLE "+quoteIdent(name)+" ADD "+fk)
			}
			q = "CREATE TABLE " + quoteIdent(prefix+name) + q[len(createRE.FindString(q)):]
			c.loaded = append(c.loaded, name)
			if _, err := c.ExecContext(ctx, q); err != nil {
				return c, fmt.Errorf("creating %s: %w", name, err)
			}
		case insertRE.MatchString(q):
			name := unquote(insertRE.FindStringSubmatch(q)[1])
			q = "INSERT INTO " + quoteIdent(prefix+name) + q[len(insertRE.FindString(q)):]
			if _, err := c.ExecContext(ctx, q); err != nil {
				return c, fmt.Errorf("loading %s (statement %d): %w", name, n, err)
			}
		}
		// The rest (SET, DROP, comments) is for `mariadb < dump.sql`; this session set its own.
	}
	// The reader's last read checked the dump's digest; reaching here means it matched.
	return c, nil
}

// splitForeignKeys takes the FOREIGN KEY clauses out of a CREATE TABLE: constraint names are unique
// in a database, so a staging table cannot carry them while the live table does.
func splitForeignKeys(q string) (string, []string) {
	lines := strings.Split(q, "\n")
	var keep, fks []string
	for _, l := range lines {
		if m := fkRE.FindStringSubmatch(l); m != nil {
			fks = append(fks, m[1])
			continue
		}
		keep = append(keep, l)
	}
	if len(fks) > 0 {
		// The line before the closing parenthesis must lose its comma.
		for i := len(keep) - 1; i > 0; i-- {
			if strings.HasPrefix(keep[i], ")") {
				keep[i-1] = strings.TrimSuffix(keep[i-1], ",")
				break
			}
		}
	}
	return strings.Join(keep, "\n"), fks
}

func unquote(s string) string { return strings.ReplaceAll(s, "``", "`") }

// Describe names the database without its password.
func Describe(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "mysql"
	}
	return "mysql " + cfg.Addr + "/" + cfg.DBName
}
