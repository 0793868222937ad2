package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/qcloud-applet/applet/internal/loadtest"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/serve/sqldb"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/sqlseed"
)

const (
	benchVideos   = 100_000
	benchComments = 1_000_000
	benchDB       = "applet_bench_video"
)

// benchDatabase returns a MariaDB database holding 100,000 videos and 1,000,000 comments. It is kept
// between runs (seeding takes a while) and rebuilt when its counts are off.
func benchDatabase(b *testing.B) *sql.DB {
	b.Helper()
	cfg, _ := gomysql.ParseDSN(testenv.MySQLDSN(b))
	cfg.DBName = ""
	admin, _, err := mysql.Open(cfg.FormatDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE IF NOT EXISTS " + benchDB + " CHARACTER SET utf8mb4"); err != nil {
		b.Fatal(err)
	}
	cfg.DBName = benchDB
	db, _, err := mysql.Open(cfg.FormatDSN())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Apply(ctx, false); err != nil {
		b.Fatal(err)
	}
	var nv, nc int
	db.QueryRow("SELECT COUNT(*) FROM video").Scan(&nv)
	db.QueryRow("SELECT COUNT(*) FROM comment").Scan(&nc)
	if nv == benchVideos && nc == benchComments {
		return db
	}
	start := time.Now()
	for _, stmt := range []string{"SET FOREIGN_KEY_CHECKS=0", "TRUNCATE comment", "TRUNCATE video", "SET FOREIGN_KEY_CHECKS=1"} {
		conn, _ := db.Conn(ctx)
		conn.ExecContext(ctx, stmt)
		conn.Close()
	}
	insert := func(table, cols string, n int, row func(i int) []any) {
		const batch = 2000
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				marks := strings.Repeat("(?,?,?,?),", hi-lo)
				args := make([]any, 0, 4*(hi-lo))
				for i := lo; i < hi; i++ {
					args = append(args, row(i)...)
				}
				if _, err := db.Exec("INSERT INTO "+table+" ("+cols+") VALUES "+strings.TrimSuffix(marks, ","), args...); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	insert("video", "id, video_title, video_image, video_url", benchVideos, func(i int) []any {
		return []any{i + 1, fmt.Sprintf("video %d", i+1), fmt.Sprintf("https://m.example/p/%d.jpg", i+1), fmt.Sprintf("https://m.example/v/%d.mp4", i+1)}
	})
	r := rand.New(rand.NewPCG(1, 2))
	vids := make([]int, benchComments)
	for i := range vids {
		vids[i] = 1 + r.IntN(benchVideos)
	}
	insert("comment", "vid, nick, avatar, content", benchComments, func(i int) []any {
		return []any{vids[i], "viewer", "https://a.example/a.png", "a comment of ordinary length, with some words in it 🎬"}
	})
	if b.Failed() {
		b.FailNow()
	}
	db.Exec("ANALYZE TABLE video, comment")
	b.Logf("seeded %d videos and %d comments in %v", benchVideos, benchComments, time.Since(start).Round(time.Second))
	return db
}

// BenchmarkVideoHTTPvsSQL measures list, deep list and commentList over HTTP through the app and the
// same SQL straight through the driver, in one run, and reports the HTTP/SQL throughput ratio.
// Run with: go test ./serve/sqldb -run '^$' -bench VideoHTTPvsSQL -benchtime 1x
func BenchmarkVideoHTTPvsSQL(b *testing.B) {
	db := benchDatabase(b)
	defer db.Close()
	store := sqldb.NewVideoStore(db, sqlseed.MySQL, 5*time.Second)
	app := video.New(video.Options{Store: store})
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app}))
	defer ts.Close()
	const workers = 16
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	get := func(path string) error {
		resp, err := client.Get(ts.URL + path)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	// The SQL the store runs, through the driver with prepared statements: the floor for HTTP.
	count, _ := db.Prepare("SELECT COUNT(*) FROM video")
	page, _ := db.Prepare("SELECT v.id, v.video_title, v.video_image, v.video_url FROM video v JOIN (SELECT id FROM video ORDER BY id LIMIT ? OFFSET ?) p ON p.id = v.id ORDER BY v.id")
	comments, _ := db.Prepare("SELECT id, vid, nick, avatar, content, created_at FROM comment WHERE vid = ? ORDER BY id DESC LIMIT ?")
	drain := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		var id, vid int64
		var a, c, d string
		var e any
		for rows.Next() {
			cols, _ := rows.Columns()
			if len(cols) == 4 {
				err = rows.Scan(&id, &a, &c, &d)
			} else {
				err = rows.Scan(&id, &vid, &a, &c, &d, &e)
			}
			if err != nil {
				return err
			}
		}
		return rows.Err()
	}
	// Per request the store runs the page query; the count is cached (refreshed once a second), so
	// the baseline counts once, as the store does, and then runs only the page query.
	var total int
	if err := count.QueryRow().Scan(&total); err != nil || total != benchVideos {
		b.Fatalf("count = %d, %v", total, err)
	}
	listSQL := func(pageNo int) error {
		return drain(page.Query(6, (pageNo-1)*6))
	}
	cases := []struct {
		name string
		sql  func(r *rand.Rand) error
		http func(r *rand.Rand) error
	}{
		{"list", func(r *rand.Rand) error { return listSQL(1 + r.IntN(100)) },
			func(r *rand.Rand) error { return get(fmt.Sprintf("/applet/video/list?pageNo=%d", 1+r.IntN(100))) }},
		{"list-page-10000", func(r *rand.Rand) error { return listSQL(10000) },
			func(r *rand.Rand) error { return get("/applet/video/list?pageNo=10000") }},
		{"commentList", func(r *rand.Rand) error { return drain(comments.Query(1+r.IntN(benchVideos), 101)) },
			func(r *rand.Rand) error {
				return get(fmt.Sprintf("/applet/video/commentList?vid=%d", 1+r.IntN(benchVideos)))
			}},
	}
	// Latency without queueing: one client at a time, HTTP then SQL, for each case.
	for _, c := range cases {
		b.Run(c.name+"/1-client", func(b *testing.B) {
			for range b.N {
				direct := loadtest.Run(b, 1, 2*time.Second, c.sql)
				over := loadtest.Run(b, 1, 2*time.Second, c.http)
				b.ReportMetric(loadtest.Ms(direct.P99), "sql_p99_ms")
				b.ReportMetric(loadtest.Ms(over.P99), "http_p99_ms")
				b.ReportMetric(loadtest.Ms(over.P50), "http_p50_ms")
			}
		})
	}
	for _, c := range cases {
		b.Run(c.name+"/16-clients", func(b *testing.B) {
			for range b.N {
				direct := loadtest.Run(b, workers, 3*time.Second, c.sql)
				over := loadtest.Run(b, workers, 3*time.Second, c.http)
				b.ReportMetric(direct.PerSec, "sql_req/s")
				b.ReportMetric(over.PerSec, "http_req/s")
				b.ReportMetric(over.PerSec/direct.PerSec, "http/sql")
				b.ReportMetric(loadtest.Ms(direct.P99), "sql_p99_ms")
				b.ReportMetric(loadtest.Ms(over.P99), "http_p99_ms")
				b.ReportMetric(loadtest.Ms(over.P50), "http_p50_ms")
			}
		})
	}
}
