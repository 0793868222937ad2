package album_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/loadtest"

	"github.com/qcloud-applet/applet/serve/album"
)

// rssKB reads the resident set size of this process.

// BenchmarkUpload64x5MB uploads 64 images of 5 MB at once to local disk through the app, and writes
// the same bytes straight to files (write, fsync, close: the same durability) in the same run.
// Run with: go test ./serve/album -run '^$' -bench Upload64x5MB -benchtime 3x
func BenchmarkUpload64x5MB(b *testing.B) {
	const uploads, size = 64, 5_000_000
	t := &testing.T{}
	img := append(jpegBytes(t), bytes.Repeat([]byte{0x5A}, size)...)[:size]
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("image", "big.jpg")
	part.Write(img)
	w.Close()
	payload, ctype := body.Bytes(), w.FormDataContentType()

	var directTotal, httpTotal time.Duration
	var peakGrowth int64
	for range b.N {
		dir := b.TempDir()
		start := time.Now()
		var wg sync.WaitGroup
		for i := 0; i < uploads; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
				if err != nil {
					b.Error(err)
					return
				}
				f.Write(img)
				f.Sync()
				f.Close()
			}()
		}
		wg.Wait()
		directTotal += time.Since(start)

		e := diskEnvB(b)
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: uploads, MaxIdleConnsPerHost: uploads}}
		before := loadtest.RSSKB()
		var peak atomic.Int64
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
					if r := loadtest.RSSKB(); r > peak.Load() {
						peak.Store(r)
					}
				}
			}
		}()
		start = time.Now()
		for i := 0; i < uploads; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Post(e.ts.URL+album.BasePath+"/upload", ctype, bytes.NewReader(payload))
				if err != nil {
					b.Error(err)
					return
				}
				var r reply
				jsonDecode(resp, &r)
				if r.Code != 0 {
					b.Errorf("upload: %+v", r)
				}
			}()
		}
		wg.Wait()
		httpTotal += time.Since(start)
		close(stop)
		if g := peak.Load() - before; g > peakGrowth {
			peakGrowth = g
		}
	}
	mb := float64(uploads*size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/directTotal.Seconds(), "direct_MB/s")
	b.ReportMetric(mb/httpTotal.Seconds(), "upload_MB/s")
	b.ReportMetric(directTotal.Seconds()/httpTotal.Seconds(), "upload/direct")
	b.ReportMetric(float64(peakGrowth)/1024, "peak_rss_growth_MB")
}
