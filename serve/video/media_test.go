package video_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/sqldb"
	"github.com/qcloud-applet/applet/serve/video"
)

// The sample videos play on a local setup: their relative URLs come back absolute, and the app serves
// the files (ranges for the player); with a media origin (the bucket) they point there.
func TestSampleMediaPlay(t *testing.T) {
	store, err := sqldb.OpenEmbedded(t.Context(), filepath.Join(t.TempDir(), "video.db"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	list := func(origin string) []map[string]any {
		ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{video.New(video.Options{Store: store, MediaOrigin: origin})}))
		t.Cleanup(ts.Close)
		resp, err := http.Get(ts.URL + "/applet/video/list?pageNo=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				List []map[string]any `json:"list"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		if len(out.Data.List) == 0 {
			t.Fatal("no videos")
		}
		return out.Data.List
	}
	for _, v := range list("") {
		for field, ctype := range map[string]string{"video_image": "image/jpeg", "video_url": "video/mp4"} {
			u := v[field].(string)
			if !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.Contains(u, "/applet/video/media/") {
				t.Fatalf("%s = %q", field, u)
			}
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Range", "bytes=0-99")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Type") != ctype || len(body) != 100 {
				t.Fatalf("%s: %d %s, %d bytes", u, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
			}
		}
	}
	if u := list("https://album-1250000000.cos.ap-guangzhou.myqcloud.com")[0]["video_image"].(string); u != "https://album-1250000000.cos.ap-guangzhou.myqcloud.com/applet/video/media/01-harbor-lights.jpg" {
		t.Fatalf("with a media origin: %q", u)
	}
	if n := len(video.Media()); n != 20 {
		t.Fatalf("%d sample media files", n)
	}
}
