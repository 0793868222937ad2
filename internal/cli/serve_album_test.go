package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/serve"
)

// originalClient does what the original album mini program does: wx.uploadFile with field image,
// wx.request GET /list, wx.downloadFile of the URL, and POST /delete with {filepath: <URL path>}.
func originalClientFlow(t *testing.T, base string, download func(string) (int, []byte)) {
	t.Helper()
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 4, 4)))
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("image", "tmp_abc.png")
	part.Write(img.Bytes())
	w.Close()
	resp, err := http.Post(base+"/upload", w.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		Code int
		Msg  string
		Data struct{ ImgURL string }
	}
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if up.Code != 0 || up.Msg != "ok" || up.Data.ImgURL == "" {
		t.Fatalf("upload: %+v", up)
	}

	resp, _ = http.Get(base + "/list")
	var list struct {
		Code int
		Data []string
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if list.Code != 0 || len(list.Data) != 1 || list.Data[0] != up.Data.ImgURL {
		t.Fatalf("list: %+v, want [%s]", list, up.Data.ImgURL)
	}

	status, got := download(up.Data.ImgURL)
	if status != 200 || !bytes.Equal(got, img.Bytes()) {
		t.Fatalf("download %s: %d, %d bytes", up.Data.ImgURL, status, len(got))
	}

	u, _ := url.Parse(up.Data.ImgURL)
	del, _ := json.Marshal(map[string]string{"filepath": u.Path})
	resp, _ = http.Post(base+"/delete", "application/json", bytes.NewReader(del))
	var dr struct{ Code int }
	json.NewDecoder(resp.Body).Decode(&dr)
	resp.Body.Close()
	if dr.Code != 0 {
		t.Fatalf("delete: %+v", dr)
	}
	if status, _ := download(up.Data.ImgURL); status != 404 && status != 403 {
		t.Fatalf("the image still downloads after delete: %d", status)
	}
}

func albumServer(t *testing.T, cfg *config.Config) *httptest.Server {
	t.Helper()
	app, err := testWiring(t, cfg).App(context.Background(), "album")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app}))
	t.Cleanup(ts.Close)
	return ts
}

func TestAlbumOriginalClientFlowLocalDisk(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	ts := albumServer(t, cfg)
	originalClientFlow(t, ts.URL+"/applet/album", func(u string) (int, []byte) {
		if !strings.HasPrefix(u, ts.URL+"/applet/album/files/photos/") {
			t.Fatalf("local image URL %s is not served by the album", u)
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
		}
		return resp.StatusCode, b
	})
}

func TestAlbumOriginalClientFlowCOS(t *testing.T) {
	srv, err := cosfake.New("AKIDe2e", "e2e-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.CreateBucket("album-1250000000", "public-read")
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.COS = config.COS{Bucket: "album-1250000000", Region: "ap-guangzhou", Endpoint: srv.Addr}
	cfg.TencentCloud.SecretID, cfg.TencentCloud.SecretKey = "AKIDe2e", "e2e-secret" // COS falls back to these
	ts := albumServer(t, cfg)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, n, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, n, srv.Addr)
	}}}
	originalClientFlow(t, ts.URL+"/applet/album", func(u string) (int, []byte) {
		if !strings.HasPrefix(u, "https://album-1250000000.cos.ap-guangzhou.myqcloud.com/photos/") {
			t.Fatalf("COS image URL %s", u)
		}
		resp, err := client.Get(strings.Replace(u, "https://", "http://", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	})
}
