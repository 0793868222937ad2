// Package sqlseed holds the video schema as embedded, numbered migrations and a sample seed, and applies
// them to MySQL or SQLite. One numbered sequence serves both: a version is either one shared file
// (NNNN_name.sql) or one file per dialect (NNNN_name.mysql.sql and NNNN_name.sqlite.sql). Applied
// migrations and seeds are recorded in tables, so applying twice changes nothing, a newer binary applies
// only what is new, and a seed is applied once: sample rows a team deleted are not brought back.
package sqlseed

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql seed/*.sql
var files embed.FS

// Dialect is the SQL flavour of a database.
type Dialect string

// The supported dialects.
const (
	MySQL  Dialect = "mysql"
	SQLite Dialect = "sqlite"
)

// Step kinds.
const (
	KindMigration = "migration"
	KindSeed      = "seed"
)

// Step is one migration or seed and the statements it runs.
type Step struct {
	Kind       string
	Version    int // migrations only
	Name       string
	Statements []string
	// OnlyIntoEmpty names a table the step fills only while it is empty (a seed's
	// "-- applet:only-into-empty <table>" line): sample rows never go beside a team's own.
	OnlyIntoEmpty string
	// Skipped says why an applied step ran no statement.
	Skipped string
}

func (s Step) String() string { return s.Kind + " " + s.Name }

// Files are the embedded migrations/ and seed/ directories.
var Files fs.FS = files

// Migrations returns the dialect's migrations in version order.
func Migrations(d Dialect) ([]Step, error) { return load(Files, d, "migrations", KindMigration) }

// Seeds returns the dialect's seeds in order.
func Seeds(d Dialect) ([]Step, error) { return load(Files, d, "seed", KindSeed) }

// Latest is the schema version this binary brings.
func Latest(d Dialect) int { return latest(Files, d) }

func latest(fsys fs.FS, d Dialect) int {
	ms, err := load(fsys, d, "migrations", KindMigration)
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

func load(fsys fs.FS, d Dialect, dir, kind string) ([]Step, error) {
	if d != MySQL && d != SQLite {
		return nil, fmt.Errorf("unknown SQL dialect %q", d)
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	byName := map[string]Step{}
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".sql")
		name, dialect := base, ""
		if i := strings.LastIndex(base, "."); i >= 0 {
			name, dialect = base[:i], base[i+1:]
		}
		if dialect != "" && dialect != string(MySQL) && dialect != string(SQLite) {
			return nil, fmt.Errorf("%s/%s: unknown dialect %q", dir, e.Name(), dialect)
		}
		if dialect != "" && dialect != string(d) {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%s/%s: name must start with a positive number and an underscore", dir, e.Name())
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("%s/%s: both a shared and a %s file", dir, name, d)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		st := Step{Kind: kind, Version: v, Name: name, Statements: Split(string(body))}
		for _, line := range strings.Split(string(body), "\n") {
			if t, ok := strings.CutPrefix(strings.TrimSpace(line), "-- applet:only-into-empty "); ok {
				st.OnlyIntoEmpty = strings.TrimSpace(t)
			}
		}
		byName[name] = st
	}
	out := make([]Step, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("%s: %s and %s share version %d", dir, out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// Split cuts a file into statements: they end with a semicolon at the end of a line, and lines that
// start with -- are comments. (Our files keep semicolons out of string literals' line ends.)
func Split(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Bookkeeping tables.
const (
	migrationsTable = "applet_schema_migrations"
	seedsTable      = "applet_seeds"
)

// BookkeepingSQL creates the tables that record what was applied.
func BookkeepingSQL(d Dialect) []string {
	if d == MySQL {
		return []string{
			"CREATE TABLE IF NOT EXISTS " + migrationsTable + " (\n  version INT UNSIGNED NOT NULL PRIMARY KEY,\n  name VARCHAR(255) NOT NULL,\n  applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE IF NOT EXISTS " + seedsTable + " (\n  name VARCHAR(255) NOT NULL PRIMARY KEY,\n  applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
		}
	}
	return []string{
		"CREATE TABLE IF NOT EXISTS " + migrationsTable + " (\n  version INTEGER NOT NULL PRIMARY KEY,\n  name TEXT NOT NULL,\n  applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP\n)",
		"CREATE TABLE IF NOT EXISTS " + seedsTable + " (\n  name TEXT NOT NULL PRIMARY KEY,\n  applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP\n)",
	}
}

// ErrNewerSchema means the database was migrated by a newer applet than this one.
var ErrNewerSchema = errors.New("database schema is newer than this applet")

// Migrator applies migrations and seeds to one database.
type Migrator struct {
	DB      *sql.DB
	Dialect Dialect
	// Progress, if set, is told each step as it finishes.
	Progress func(s Step, took time.Duration)
	// FS holds migrations/ and seed/; nil means the embedded Files.
	FS fs.FS
}

func (m *Migrator) fsys() fs.FS {
	if m.FS != nil {
		return m.FS
	}
	return Files
}

// Status is what a database has and lacks.
type Status struct {
	Version int    // highest applied migration; 0 for a database never migrated
	Latest  int    // highest migration this binary has
	Pending []Step // migrations, then seeds (when asked for), not yet applied
}

// Status reads what is applied. withSeeds includes pending seeds in Pending.
func (m *Migrator) Status(ctx context.Context, withSeeds bool) (Status, error) {
	return m.status(ctx, m.DB, withSeeds)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (m *Migrator) status(ctx context.Context, q querier, withSeeds bool) (Status, error) {
	migs, err := load(m.fsys(), m.Dialect, "migrations", KindMigration)
	if err != nil {
		return Status{}, err
	}
	st := Status{Latest: latest(m.fsys(), m.Dialect)}
	applied, err := m.appliedSet(ctx, q, migrationsTable, "version")
	if err != nil {
		return Status{}, err
	}
	for k := range applied {
		if v, _ := strconv.Atoi(k); v > st.Version {
			st.Version = v
		}
	}
	if st.Version > st.Latest {
		return st, fmt.Errorf("%w: it is at version %d, this applet knows up to %d: upgrade applet", ErrNewerSchema, st.Version, st.Latest)
	}
	for _, s := range migs {
		if !applied[strconv.Itoa(s.Version)] {
			st.Pending = append(st.Pending, s)
		}
	}
	if withSeeds {
		seeds, err := load(m.fsys(), m.Dialect, "seed", KindSeed)
		if err != nil {
			return Status{}, err
		}
		done, err := m.appliedSet(ctx, q, seedsTable, "name")
		if err != nil {
			return Status{}, err
		}
		for _, s := range seeds {
			if !done[s.Name] {
				st.Pending = append(st.Pending, s)
			}
		}
	}
	return st, nil
}

func (m *Migrator) appliedSet(ctx context.Context, q querier, table, col string) (map[string]bool, error) {
	exists := "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	if m.Dialect == SQLite {
		exists = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	}
	var n int
	if err := q.QueryRowContext(ctx, exists, table).Scan(&n); err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	out := map[string]bool{}
	if n == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+col+" FROM "+table)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out[s] = true
	}
	return out, rows.Err()
}

// Apply brings the database to the latest version and, with withSeeds, applies the seeds not yet
// applied. It holds a lock while it works so two processes never migrate at once, and returns the
// steps it applied (none when everything was already there).
func (m *Migrator) Apply(ctx context.Context, withSeeds bool) ([]Step, error) {
	conn, err := m.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	if m.Dialect == MySQL {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('applet_sqlseed', 60)").Scan(&got); err != nil {
			return nil, fmt.Errorf("taking the migration lock: %w", err)
		}
		if got.Int64 != 1 {
			return nil, errors.New("taking the migration lock: another applet has been migrating this database for 60s")
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('applet_sqlseed')")
	}
	for i, stmt := range BookkeepingSQL(m.Dialect) {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return nil, stmtError("creating bookkeeping tables", i, stmt, err)
		}
	}
	// Read the status under the lock: another process may have just migrated.
	st, err := m.status(ctx, conn, withSeeds)
	if err != nil {
		return nil, err
	}
	var done []Step
	for _, s := range st.Pending {
		start := time.Now()
		if s.OnlyIntoEmpty != "" {
			var n int64
			if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.OnlyIntoEmpty).Scan(&n); err != nil {
				return done, fmt.Errorf("applying %s: counting %s: %w", s, s.OnlyIntoEmpty, err)
			}
			if n > 0 {
				s.Skipped = fmt.Sprintf("%s already holds %d rows", s.OnlyIntoEmpty, n)
				s.Statements = nil // recorded, so it is not tried again
			}
		}
		if err := m.applyStep(ctx, conn, s); err != nil {
			return done, err
		}
		done = append(done, s)
		if m.Progress != nil {
			m.Progress(s, time.Since(start))
		}
	}
	return done, nil
}

// applyStep runs one step. Seeds, and SQLite migrations, run in one transaction with their record.
// MySQL commits DDL implicitly, so its migrations are written to be re-runnable (IF NOT EXISTS) and
// are recorded once they have all run.
func (m *Migrator) applyStep(ctx context.Context, conn *sql.Conn, s Step) error {
	record := "INSERT INTO " + migrationsTable + " (version, name) VALUES (?, ?)"
	args := []any{s.Version, s.Name}
	if s.Kind == KindSeed {
		record = "INSERT INTO " + seedsTable + " (name) VALUES (?)"
		args = []any{s.Name}
	}
	transactional := s.Kind == KindSeed || m.Dialect == SQLite
	if !transactional {
		for i, stmt := range s.Statements {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return stmtError("applying "+s.String(), i, stmt, err)
			}
		}
		// Verify, not assume: CREATE TABLE IF NOT EXISTS skips a table that exists in another shape.
		diffs, err := Verify(ctx, conn, m.expected(s.Version))
		if err != nil {
			return fmt.Errorf("applying %s: checking the schema: %w", s, err)
		}
		if len(diffs) > 0 {
			return &MismatchError{Step: s, Diffs: diffs}
		}
		if _, err := conn.ExecContext(ctx, record, args...); err != nil {
			return fmt.Errorf("recording %s: %w", s, err)
		}
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("applying %s: %w", s, err)
	}
	defer tx.Rollback()
	for i, stmt := range s.Statements {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return stmtError("applying "+s.String(), i, stmt, err)
		}
	}
	if _, err := tx.ExecContext(ctx, record, args...); err != nil {
		return fmt.Errorf("recording %s: %w", s, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("applying %s: %w", s, err)
	}
	return nil
}

// StatementError names the failing statement.
type StatementError struct {
	What      string
	Index     int // 1-based
	Statement string
	Err       error
}

func (e *StatementError) Error() string {
	return fmt.Sprintf("%s: statement %d (%s): %v", e.What, e.Index, Abbrev(e.Statement), e.Err)
}

func (e *StatementError) Unwrap() error { return e.Err }

func stmtError(what string, i int, stmt string, err error) error {
	return &StatementError{What: what, Index: i + 1, Statement: stmt, Err: err}
}

// Abbrev shortens a statement to its first line, for messages.
func Abbrev(stmt string) string {
	first, _, more := strings.Cut(strings.TrimSpace(stmt), "\n")
	if len(first) > 100 {
		first, more = first[:100], true
	}
	if more {
		first += " ..."
	}
	return first
}

// MismatchError is a migration whose statements ran but whose tables are not what it should leave:
// it is not recorded as applied.
type MismatchError struct {
	Step  Step
	Diffs []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("applying %s: the tables are not what it should leave, so it was not recorded: %s", e.Step, strings.Join(e.Diffs, "; "))
}

// Verify compares the tables with what the applied migrations should have left (MySQL only).
func (m *Migrator) Verify(ctx context.Context) ([]string, error) {
	st, err := m.Status(ctx, false)
	if err != nil {
		return nil, err
	}
	return Verify(ctx, m.DB, m.expected(st.Version))
}

// expected is what the embedded migrations up to version leave; other migrations (FS) bring no
// expectations of their own.
func (m *Migrator) expected(version int) []Table {
	if m.FS != nil {
		return nil
	}
	return Expected(version)
}

// Record creates the bookkeeping tables and records every migration this binary has as applied,
// for tables that were brought to the latest schema another way (adopted); callers verify first.
func Record(ctx context.Context, conn *sql.Conn, d Dialect) error {
	for i, stmt := range BookkeepingSQL(d) {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return stmtError("creating bookkeeping tables", i, stmt, err)
		}
	}
	migs, err := Migrations(d)
	if err != nil {
		return err
	}
	insert := "INSERT IGNORE INTO " + migrationsTable + " (version, name) VALUES (?, ?)"
	if d == SQLite {
		insert = "INSERT OR IGNORE INTO " + migrationsTable + " (version, name) VALUES (?, ?)"
	}
	for _, s := range migs {
		if _, err := conn.ExecContext(ctx, insert, s.Version, s.Name); err != nil {
			return fmt.Errorf("recording %s: %w", s, err)
		}
	}
	return nil
}
