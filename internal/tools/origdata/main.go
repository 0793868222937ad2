// Command origdata loads the original video demo's tables with a data set (internal/origdata) into
// the database of -dsn, for benchmarks and for trying an adoption.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/qcloud-applet/applet/internal/origdata"
)

func main() {
	dsn := flag.String("dsn", "", "MySQL DSN of an empty database, e.g. root@tcp(127.0.0.1:3306)/wechat_app")
	videos := flag.Int("videos", 100000, "videos")
	comments := flag.Int("comments", 1000000, "comments")
	flag.Parse()
	if *dsn == "" {
		fmt.Fprintln(os.Stderr, "origdata: -dsn is required")
		os.Exit(2)
	}
	db, err := sql.Open("mysql", *dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "origdata:", err)
		os.Exit(1)
	}
	defer db.Close()
	start := time.Now()
	if err := origdata.Load(context.Background(), db, *videos, *comments, 1); err != nil {
		fmt.Fprintln(os.Stderr, "origdata:", err)
		os.Exit(1)
	}
	fmt.Printf("loaded %d videos (one in a hundred deleted since) and %d comments in %s\n", *videos, *comments, time.Since(start).Round(time.Millisecond))
}
