package cli

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/qcloud-applet/applet/internal/testenv"
)

func counts(t *testing.T, dsn string) map[string]int {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]int{}
	for _, table := range []string{"video", "comment", "applet_schema_migrations", "applet_seeds"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

func dbExists(t *testing.T, dsn string) bool {
	t.Helper()
	cfg, _ := mysql.ParseDSN(dsn)
	name := cfg.DBName
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestSeedMySQLTwiceChangesNothing(t *testing.T) {
	dsn := testenv.MySQLFreshDSN(t)
	env := map[string]string{"APPLET_MYSQL_DSN": dsn}

	code, out, errOut := runCLI(t, env, "", "seed-mysql", "--dry-run")
	if code != 0 || !strings.Contains(out, "CREATE DATABASE IF NOT EXISTS") || !strings.Contains(out, "CREATE TABLE IF NOT EXISTS video") || !strings.Contains(out, "INSERT INTO video") {
		t.Fatalf("dry run: %d\n%s%s", code, out, errOut)
	}
	if dbExists(t, dsn) {
		t.Fatal("--dry-run created the database")
	}

	code, out, errOut = runCLI(t, env, "", "seed-mysql")
	if code != 0 {
		t.Fatalf("first run: %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"created database", "applied migration 0001_video", "applied migration 0002_comment", "applied seed 0001_sample_videos", "applied seed 0002_sample_media", "schema version 2", "10 videos"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run output lacks %q:\n%s", want, out)
		}
	}
	first := counts(t, dsn)
	if first["video"] != 10 || first["applet_schema_migrations"] != 2 || first["applet_seeds"] != 2 {
		t.Fatalf("after first run: %v", first)
	}

	code, out, errOut = runCLI(t, env, "", "seed-mysql")
	if code != 0 || !strings.HasPrefix(out, "nothing to do") || strings.Contains(out, "applied") {
		t.Fatalf("second run: %d\n%s%s", code, out, errOut)
	}
	if second := counts(t, dsn); second["video"] != first["video"] || second["applet_seeds"] != 2 || second["applet_schema_migrations"] != 2 {
		t.Fatalf("second run changed rows: %v then %v", first, second)
	}
	code, out, _ = runCLI(t, env, "", "seed-mysql", "--dry-run")
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("dry run on a current database: %s", out)
	}
}

func TestSeedMySQLReset(t *testing.T) {
	dsn := testenv.MySQLFreshDSN(t)
	env := map[string]string{"APPLET_MYSQL_DSN": dsn}
	if code, out, errOut := runCLI(t, env, "", "seed-mysql"); code != 0 {
		t.Fatal(out, errOut)
	}
	db, _ := sql.Open("mysql", dsn)
	defer db.Close()
	if _, err := db.Exec("INSERT INTO comment (vid, nick, avatar, content) VALUES (1, 'n', 'https://a.example/a.png', 'kept?')"); err != nil {
		t.Fatal(err)
	}
	// Without a terminal and without --yes nothing is dropped.
	code, _, errOut := runCLI(t, env, "", "seed-mysql", "--reset")
	if code != ExitError || !strings.Contains(errOut, "needs confirmation") || !strings.Contains(errOut, "--yes") {
		t.Fatalf("reset without --yes: %d %s", code, errOut)
	}
	if counts(t, dsn)["comment"] != 1 {
		t.Fatal("unconfirmed reset dropped data")
	}
	// --dry-run --reset prints the DROP and changes nothing.
	code, out, _ := runCLI(t, env, "", "seed-mysql", "--reset", "--dry-run")
	if code != 0 || !strings.Contains(out, "DROP DATABASE") || counts(t, dsn)["comment"] != 1 {
		t.Fatalf("dry-run reset: %d %s", code, out)
	}
	code, out, errOut = runCLI(t, env, "", "seed-mysql", "--reset", "--yes")
	if code != 0 || !strings.Contains(out, "dropped database") || !strings.Contains(out, "created database") {
		t.Fatalf("reset --yes: %d\n%s%s", code, out, errOut)
	}
	if c := counts(t, dsn); c["comment"] != 0 || c["video"] != 10 {
		t.Fatalf("after reset: %v", c)
	}
}

func TestSeedMySQLErrorsNeverShowThePassword(t *testing.T) {
	cfg, _ := mysql.ParseDSN(testenv.MySQLFreshDSN(t))
	cfg.Passwd = "Sup3rSecretPw"
	code, out, errOut := runCLI(t, map[string]string{"APPLET_MYSQL_DSN": cfg.FormatDSN()}, "", "seed-mysql")
	if code == 0 || strings.Contains(out+errOut, "Sup3rSecretPw") {
		t.Fatalf("code %d, output:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, cfg.Addr) || !strings.Contains(errOut, cfg.DBName) || !strings.Contains(errOut, "Access denied") {
		t.Fatalf("error should name host, database and cause:\n%s", errOut)
	}

	code, _, errOut = runCLI(t, map[string]string{}, "", "seed-mysql")
	if code != ExitError || !strings.Contains(errOut, "mysql.dsn is empty") || !strings.Contains(errOut, "APPLET_MYSQL_DSN") {
		t.Fatalf("no DSN: %d %s", code, errOut)
	}
}

// The original demo's tables are adopted only once the plan was confirmed: without a terminal that
// needs --yes, and --dry-run shows the plan.
func TestSeedMySQLAdoptsTheOriginalTablesOnConfirmation(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	db, _ := sql.Open("mysql", dsn)
	defer db.Close()
	for _, stmt := range []string{
		"CREATE TABLE video (id INT UNSIGNED NOT NULL AUTO_INCREMENT, video_title LONGTEXT, video_image LONGTEXT, video_url LONGTEXT, PRIMARY KEY (id)) DEFAULT CHARSET=utf8",
		"CREATE TABLE comment (id INT UNSIGNED NOT NULL AUTO_INCREMENT, vid INT UNSIGNED, nick VARCHAR(255), avatar VARCHAR(255), content TEXT, PRIMARY KEY (id)) DEFAULT CHARSET=utf8",
		"INSERT INTO video (video_title, video_image, video_url) VALUES ('Ours', 'https://i.example/1.jpg', 'https://v.example/1.mp4')",
		"INSERT INTO comment (vid, nick, avatar, content) VALUES (NULL, 'n', 'https://a.example/a.png', 'no video')",
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"APPLET_MYSQL_DSN": dsn + "?charset=utf8"}
	code, out, errOut := runCLI(t, env, "", "seed-mysql")
	if code != ExitError || !strings.Contains(errOut, "needs confirmation") || !strings.Contains(errOut, "--yes") || !strings.Contains(out, "-- video: 1 rows copied once") {
		t.Fatalf("without --yes: %d\n%s%s", code, out, errOut)
	}
	var tables int
	db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&tables)
	if tables != 2 {
		t.Fatalf("%d tables after an unconfirmed run", tables)
	}
	code, out, _ = runCLI(t, env, "", "seed-mysql", "--dry-run")
	if code != 0 || !strings.Contains(out, "ALTER TABLE comment") || !strings.Contains(out, "1 rows with an empty (NULL) video id") {
		t.Fatalf("--dry-run: %d\n%s", code, out)
	}
	code, out, errOut = runCLI(t, env, "", "seed-mysql", "--yes")
	if code != 0 || !strings.Contains(out, "adopted:") || !strings.Contains(out, "skipped seed 0001_sample_videos") {
		t.Fatalf("--yes: %d\n%s%s", code, out, errOut)
	}
	if c := counts(t, dsn); c["video"] != 1 || c["comment"] != 1 || c["applet_schema_migrations"] != 2 {
		t.Fatalf("after adoption: %v", c)
	}
}
