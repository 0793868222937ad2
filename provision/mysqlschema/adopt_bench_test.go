package mysqlschema

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/origdata"
	"github.com/qcloud-applet/applet/internal/testenv"
)

// BenchmarkAdoptOriginal adopts the original demo's tables filled with ORIGDATA_VIDEOS videos and
// ORIGDATA_COMMENTS comments (100,000 and 1,000,000 by default) while the original server's list query
// runs in a loop against the database, and reports the adoption's wall time and the longest the list
// query went unanswered.
//
//	go test ./provision/mysqlschema -run '^$' -bench AdoptOriginal -benchtime 1x
func BenchmarkAdoptOriginal(b *testing.B) {
	n := func(k string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
			return v
		}
		return def
	}
	videos, comments := n("ORIGDATA_VIDEOS", 100000), n("ORIGDATA_COMMENTS", 1000000)
	for range b.N {
		b.StopTimer()
		dsn := testenv.MySQLDatabase(b)
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := origdata.Load(context.Background(), db, videos, comments, 1); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d videos and %d comments in %s", videos, comments, time.Since(start).Round(time.Millisecond))

		// The original server's list query, page after page, from its own connection pool.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var longest time.Duration
		var answered, failed int
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := time.Now()
			for page := 0; ; page = (page + 1) % 1000 {
				select {
				case <-stop:
					return
				default:
				}
				rows, err := db.Query(origdata.ListQuery, page*6)
				if err != nil {
					failed++
					continue
				}
				for rows.Next() {
				}
				rows.Close()
				now := time.Now()
				longest = max(longest, now.Sub(last))
				last = now
				answered++
			}
		}()
		time.Sleep(200 * time.Millisecond)
		b.StartTimer()
		start = time.Now()
		var out bytes.Buffer
		err = Seed(context.Background(), dsn, SeedOptions{Out: &out})
		took := time.Since(start)
		b.StopTimer()
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatalf("adoption: %v\n%s", err, out.String())
		}
		b.Logf("adoption:\n%s", out.String())
		b.ReportMetric(took.Seconds(), "adopt-s")
		b.ReportMetric(float64(longest.Milliseconds()), "longest-list-gap-ms")
		b.ReportMetric(float64(answered), "list-queries")
		b.ReportMetric(float64(failed), "list-failures")
		db.Close()
	}
}
