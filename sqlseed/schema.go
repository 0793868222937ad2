package sqlseed

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Column is a column as information_schema describes it, normalised so that MariaDB and MySQL read
// alike: "int(10) unsigned" is "int unsigned", "current_timestamp()" is "CURRENT_TIMESTAMP".
type Column struct {
	Name     string
	Type     string // lower case, without display widths
	Nullable bool
	Default  string // "" for none
	Extra    string // auto_increment, on update CURRENT_TIMESTAMP
}

// Index is a secondary or primary index.
type Index struct {
	Name    string
	Columns []string
}

// ForeignKey is one single-column foreign key.
type ForeignKey struct {
	Name, Column, RefTable, RefColumn, OnDelete string
}

// Table is what a migration leaves behind: columns in order, indexes, foreign keys and the charset.
type Table struct {
	Name        string
	Charset     string // utf8mb4, utf8mb3, ...
	Columns     []Column
	Indexes     []Index
	ForeignKeys []ForeignKey
}

var videoTable = Table{Name: "video", Charset: "utf8mb4",
	Columns: []Column{
		{Name: "id", Type: "int unsigned", Extra: "auto_increment"},
		{Name: "video_title", Type: "varchar(255)"},
		{Name: "video_image", Type: "varchar(1024)"},
		{Name: "video_url", Type: "varchar(1024)"},
		{Name: "created_at", Type: "timestamp", Default: "CURRENT_TIMESTAMP"},
		{Name: "updated_at", Type: "timestamp", Default: "CURRENT_TIMESTAMP", Extra: "on update CURRENT_TIMESTAMP"},
	},
	Indexes: []Index{{Name: "PRIMARY", Columns: []string{"id"}}}}

var commentTable = Table{Name: "comment", Charset: "utf8mb4",
	Columns: []Column{
		{Name: "id", Type: "int unsigned", Extra: "auto_increment"},
		{Name: "vid", Type: "int unsigned"},
		{Name: "nick", Type: "varchar(64)"},
		{Name: "avatar", Type: "varchar(1024)"},
		{Name: "content", Type: "varchar(500)"},
		{Name: "created_at", Type: "timestamp", Default: "CURRENT_TIMESTAMP"},
	},
	Indexes:     []Index{{Name: "PRIMARY", Columns: []string{"id"}}, {Name: "comment_vid_id", Columns: []string{"vid", "id"}}},
	ForeignKeys: []ForeignKey{{Name: "comment_video", Column: "vid", RefTable: "video", RefColumn: "id", OnDelete: "CASCADE"}}}

// Expected is the MySQL schema the migrations up to version leave behind.
func Expected(version int) []Table {
	switch {
	case version >= 2:
		return []Table{videoTable, commentTable}
	case version == 1:
		return []Table{videoTable}
	}
	return nil
}

var (
	displayWidth = regexp.MustCompile(`\b(tinyint|smallint|mediumint|int|bigint)\(\d+\)`)
	varcharRE    = regexp.MustCompile(`^varchar\((\d+)\)$`)
)

// NormaliseType reads a COLUMN_TYPE the same from MariaDB and MySQL 5.7/8.
func NormaliseType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	return displayWidth.ReplaceAllString(t, "$1")
}

// NormaliseDefault reads a COLUMN_DEFAULT the same from MariaDB (which quotes strings and spells
// current_timestamp() and NULL) and MySQL.
func NormaliseDefault(d sql.NullString) string {
	if !d.Valid {
		return ""
	}
	v := strings.TrimSpace(d.String)
	switch strings.ToLower(v) {
	case "null":
		return ""
	case "current_timestamp()", "current_timestamp":
		return "CURRENT_TIMESTAMP"
	}
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		v = strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	}
	return v
}

// NormaliseExtra drops MySQL 8's DEFAULT_GENERATED and spells the update clause one way.
func NormaliseExtra(e string) string {
	e = strings.TrimSpace(strings.ReplaceAll(e, "DEFAULT_GENERATED", ""))
	e = strings.ReplaceAll(strings.ToLower(e), "current_timestamp()", "current_timestamp")
	e = strings.ReplaceAll(e, "current_timestamp", "CURRENT_TIMESTAMP")
	return strings.Join(strings.Fields(e), " ")
}

// NormaliseCharset is the charset of a collation; utf8 is utf8mb3 whichever server says it.
func NormaliseCharset(collation string) string {
	cs, _, _ := strings.Cut(strings.ToLower(collation), "_")
	if cs == "utf8" {
		return "utf8mb3"
	}
	return cs
}

// ColumnFromRow is a column from information_schema.COLUMNS (COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
// COLUMN_DEFAULT, EXTRA), normalised.
func ColumnFromRow(name, typ, nullable string, def sql.NullString, extra string) Column {
	return Column{Name: name, Type: NormaliseType(typ), Nullable: nullable == "YES", Default: NormaliseDefault(def), Extra: NormaliseExtra(extra)}
}

// ReadTable reads a table of the current database from information_schema; nil when there is none.
func ReadTable(ctx context.Context, q querier, name string) (*Table, error) {
	var collation sql.NullString
	err := q.QueryRowContext(ctx, "SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", name).Scan(&collation)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading table %s: %w", name, err)
	}
	t := &Table{Name: name, Charset: NormaliseCharset(collation.String)}
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, name)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", name, err)
	}
	for rows.Next() {
		var c Column
		var typ, nullable, extra string
		var def sql.NullString
		if err := rows.Scan(&c.Name, &typ, &nullable, &def, &extra); err != nil {
			rows.Close()
			return nil, err
		}
		t.Columns = append(t.Columns, ColumnFromRow(c.Name, typ, nullable, def, extra))
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`, name)
	if err != nil {
		return nil, fmt.Errorf("reading the indexes of %s: %w", name, err)
	}
	for rows.Next() {
		var idx, col string
		if err := rows.Scan(&idx, &col); err != nil {
			rows.Close()
			return nil, err
		}
		if n := len(t.Indexes); n > 0 && t.Indexes[n-1].Name == idx {
			t.Indexes[n-1].Columns = append(t.Indexes[n-1].Columns, col)
		} else {
			t.Indexes = append(t.Indexes, Index{Name: idx, Columns: []string{col}})
		}
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.DELETE_RULE
		FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r
		  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
		WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY k.CONSTRAINT_NAME`, name)
	if err != nil {
		return nil, fmt.Errorf("reading the foreign keys of %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var fk ForeignKey
		if err := rows.Scan(&fk.Name, &fk.Column, &fk.RefTable, &fk.RefColumn, &fk.OnDelete); err != nil {
			return nil, err
		}
		t.ForeignKeys = append(t.ForeignKeys, fk)
	}
	return t, rows.Err()
}

// holds reports whether a column of type got holds every value of type want: the same type, a wider
// VARCHAR, or a TEXT type for a VARCHAR (an adopted database keeps the widths its rows need).
func holds(got, want string) bool {
	if got == want {
		return true
	}
	w := varcharRE.FindStringSubmatch(want)
	if w == nil {
		return false
	}
	if g := varcharRE.FindStringSubmatch(got); g != nil {
		gn, _ := strconv.Atoi(g[1])
		wn, _ := strconv.Atoi(w[1])
		return gn >= wn
	}
	return got == "text" || got == "mediumtext" || got == "longtext"
}

// Compare lists how got differs from want, each difference a sentence; none means compatible.
// Extra columns, indexes and keys are differences too: the code does not know what they are for.
func Compare(want Table, got *Table) []string {
	if got == nil {
		return []string{"table " + want.Name + " is missing"}
	}
	var diffs []string
	add := func(format string, a ...any) { diffs = append(diffs, want.Name+": "+fmt.Sprintf(format, a...)) }
	if got.Charset != want.Charset {
		add("charset is %s, not %s", got.Charset, want.Charset)
	}
	byName := map[string]Column{}
	for _, c := range got.Columns {
		byName[c.Name] = c
	}
	for _, w := range want.Columns {
		g, ok := byName[w.Name]
		switch {
		case !ok:
			add("column %s is missing", w.Name)
		case !holds(g.Type, w.Type):
			add("column %s is %s, not %s", w.Name, g.Type, w.Type)
		case g.Nullable != w.Nullable:
			add("column %s is %s", w.Name, map[bool]string{true: "NULL", false: "NOT NULL"}[g.Nullable])
		case g.Default != w.Default:
			add("column %s defaults to %q, not %q", w.Name, g.Default, w.Default)
		case g.Extra != w.Extra:
			add("column %s has %q, not %q", w.Name, g.Extra, w.Extra)
		}
		delete(byName, w.Name)
	}
	for _, c := range got.Columns {
		if _, extra := byName[c.Name]; extra {
			add("column %s is not one this applet knows", c.Name)
		}
	}
	for _, w := range want.Indexes {
		i := slices.IndexFunc(got.Indexes, func(g Index) bool { return slices.Equal(g.Columns, w.Columns) })
		if i < 0 {
			add("no index on (%s)", strings.Join(w.Columns, ", "))
		}
	}
	for _, w := range want.ForeignKeys {
		i := slices.IndexFunc(got.ForeignKeys, func(g ForeignKey) bool {
			return g.Column == w.Column && g.RefTable == w.RefTable && g.RefColumn == w.RefColumn && g.OnDelete == w.OnDelete
		})
		if i < 0 {
			add("no foreign key %s → %s.%s ON DELETE %s", w.Column, w.RefTable, w.RefColumn, w.OnDelete)
		}
	}
	return diffs
}

// Verify compares the database's tables with want.
func Verify(ctx context.Context, q querier, want []Table) ([]string, error) {
	var diffs []string
	for _, want := range want {
		got, err := ReadTable(ctx, q, want.Name)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, Compare(want, got)...)
	}
	return diffs, nil
}
