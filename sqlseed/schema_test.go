package sqlseed_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/sqlseed"
)

type row struct {
	name, typ, nullable string
	def                 sql.NullString
	extra               string
}

func null() sql.NullString        { return sql.NullString{} }
func def(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
func table(name, collation string, rows []row, idx []sqlseed.Index, fks []sqlseed.ForeignKey) *sqlseed.Table {
	t := &sqlseed.Table{Name: name, Charset: sqlseed.NormaliseCharset(collation), Indexes: idx, ForeignKeys: fks}
	for _, r := range rows {
		t.Columns = append(t.Columns, sqlseed.ColumnFromRow(r.name, r.typ, r.nullable, r.def, r.extra))
	}
	return t
}

var (
	commentIdx = []sqlseed.Index{{Name: "PRIMARY", Columns: []string{"id"}}, {Name: "comment_vid_id", Columns: []string{"vid", "id"}}}
	commentFK  = []sqlseed.ForeignKey{{Name: "comment_video", Column: "vid", RefTable: "video", RefColumn: "id", OnDelete: "CASCADE"}}
	videoIdx   = []sqlseed.Index{{Name: "PRIMARY", Columns: []string{"id"}}}
)

// information_schema rows as MySQL 8.0 prints them for our tables (only MariaDB runs here): no display
// widths, CURRENT_TIMESTAMP without parentheses, DEFAULT_GENERATED in EXTRA.
func TestMySQL8RowsMatch(t *testing.T) {
	video := table("video", "utf8mb4_unicode_ci", []row{
		{"id", "int unsigned", "NO", null(), "auto_increment"},
		{"video_title", "varchar(255)", "NO", null(), ""},
		{"video_image", "varchar(1024)", "NO", null(), ""},
		{"video_url", "varchar(1024)", "NO", null(), ""},
		{"created_at", "timestamp", "NO", def("CURRENT_TIMESTAMP"), "DEFAULT_GENERATED"},
		{"updated_at", "timestamp", "NO", def("CURRENT_TIMESTAMP"), "DEFAULT_GENERATED on update CURRENT_TIMESTAMP"},
	}, videoIdx, nil)
	comment := table("comment", "utf8mb4_0900_ai_ci", []row{
		{"id", "int unsigned", "NO", null(), "auto_increment"},
		{"vid", "int unsigned", "NO", null(), ""},
		{"nick", "varchar(64)", "NO", null(), ""},
		{"avatar", "varchar(1024)", "NO", null(), ""},
		{"content", "varchar(500)", "NO", null(), ""},
		{"created_at", "timestamp", "NO", def("CURRENT_TIMESTAMP"), "DEFAULT_GENERATED"},
	}, commentIdx, commentFK)
	want := sqlseed.Expected(2)
	if d := append(sqlseed.Compare(want[0], video), sqlseed.Compare(want[1], comment)...); len(d) != 0 {
		t.Fatalf("MySQL 8 rows of the current schema differ: %v", d)
	}
}

// The same tables as MariaDB and MySQL 5.7 print them: display widths, current_timestamp().
func TestMariaDBAndMySQL57RowsMatch(t *testing.T) {
	video := table("video", "utf8mb4_unicode_ci", []row{
		{"id", "int(10) unsigned", "NO", null(), "auto_increment"},
		{"video_title", "varchar(255)", "NO", null(), ""},
		{"video_image", "varchar(1024)", "NO", null(), ""},
		{"video_url", "varchar(1024)", "NO", null(), ""},
		{"created_at", "timestamp", "NO", def("current_timestamp()"), ""},
		{"updated_at", "timestamp", "NO", def("current_timestamp()"), "on update current_timestamp()"},
	}, videoIdx, nil)
	if d := sqlseed.Compare(sqlseed.Expected(1)[0], video); len(d) != 0 {
		t.Fatalf("MariaDB rows differ: %v", d)
	}
}

// The original demo's tables, as MySQL 8 prints them (utf8 is utf8mb3 there; MySQL 5.7 says utf8).
func TestOriginalTablesAreToldApart(t *testing.T) {
	for _, collation := range []string{"utf8mb3_general_ci", "utf8_general_ci"} {
		video := table("video", collation, []row{
			{"id", "int unsigned", "NO", null(), "auto_increment"},
			{"video_title", "longtext", "YES", null(), ""},
			{"video_image", "longtext", "YES", null(), ""},
			{"video_url", "longtext", "YES", null(), ""},
		}, videoIdx, nil)
		comment := table("comment", collation, []row{
			{"id", "int unsigned", "NO", null(), "auto_increment"},
			{"vid", "int unsigned", "YES", def("NULL"), ""},
			{"nick", "varchar(255)", "YES", null(), ""},
			{"avatar", "varchar(255)", "YES", null(), ""},
			{"content", "text", "YES", null(), ""},
		}, videoIdx, nil)
		want := sqlseed.Expected(2)
		got := strings.Join(append(sqlseed.Compare(want[0], video), sqlseed.Compare(want[1], comment)...), "\n")
		for _, diff := range []string{"video: charset is utf8mb3, not utf8mb4", "video: column video_title is NULL", "video: column created_at is missing",
			"comment: column avatar is varchar(255), not varchar(1024)", "comment: no index on (vid, id)", "comment: no foreign key vid → video.id ON DELETE CASCADE"} {
			if !strings.Contains(got, diff) {
				t.Errorf("%s: the differences lack %q:\n%s", collation, diff, got)
			}
		}
		// Wider than ours is compatible: nick 255 for 64, TEXT for content's 500.
		if strings.Contains(got, "column nick is varchar") || strings.Contains(got, "column content is text") {
			t.Errorf("wider columns reported as differences:\n%s", got)
		}
	}
}

// On a real MariaDB: the migrations leave exactly the expected tables.
func TestMigratedDatabaseVerifies(t *testing.T) {
	db, _, err := mysql.Open(testenv.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}
	if _, err := m.Apply(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	diffs, err := m.Verify(context.Background())
	if err != nil || len(diffs) != 0 {
		t.Fatalf("a migrated database: %v %v", diffs, err)
	}
	if _, err := db.Exec("ALTER TABLE comment DROP INDEX comment_vid_id, ADD COLUMN likes INT"); err == nil {
		// MariaDB keeps the foreign key's own index when the named one goes; the column shows.
		diffs, _ = m.Verify(context.Background())
		if !strings.Contains(strings.Join(diffs, ";"), "comment: column likes is not one this applet knows") {
			t.Fatalf("an altered table: %v", diffs)
		}
	}
}
