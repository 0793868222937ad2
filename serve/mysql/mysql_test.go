package mysql_test

import (
	"context"
	"testing"

	drv "github.com/go-sql-driver/mysql"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/mysql"
)

// An old DSN's charset=utf8 (utf8mb3) or a utf8 collation never reaches the connection: it speaks
// utf8mb4 and an emoji goes through.
func TestOldCharsetInTheDSNStillSpeaksUTF8MB4(t *testing.T) {
	cfg, _ := drv.ParseDSN(testenv.MySQLDatabase(t))
	for _, params := range []string{"charset=utf8", "charset=utf8&collation=utf8_general_ci", "charset=latin1"} {
		dsn := cfg.FormatDSN() + "?" + params
		db, _, err := mysql.Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		var cs, got string
		if err := db.QueryRowContext(context.Background(), "SELECT @@character_set_connection, CONVERT(? USING utf8mb4)", "🎬").Scan(&cs, &got); err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		if cs != "utf8mb4" || got != "🎬" {
			t.Fatalf("%s: connection charset %s, emoji back as %q", params, cs, got)
		}
		db.Close()
	}
}
