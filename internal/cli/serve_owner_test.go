package cli

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

func TestAlbumOwnerChecks(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Album.OwnerCheck = true
	wxConfig(t, cfg)
	ts, _ := wiredServer(t, cfg, "album", "session")
	base := ts.URL + album.BasePath

	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 2, 2)))
	upload := func(hdr map[string]string) map[string]any { return uploadImage(t, base+"/upload", img.Bytes(), hdr) }
	del := func(path string, hdr map[string]string) map[string]any {
		b, _ := json.Marshal(map[string]string{"filepath": path})
		req, _ := http.NewRequest("POST", base+"/delete", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		_, out := doReq(t, req)
		return out
	}

	if out := upload(nil); out["code"] != float64(-1) || out["msg"] != "请先登录" {
		t.Fatalf("anonymous upload: %v", out)
	}
	// The original client logs in on the upload request itself.
	out := upload(loginHeaders("alice:1"))
	if out["code"] != float64(0) {
		t.Fatalf("alice's upload: %v", out)
	}
	u, _ := url.Parse(out["data"].(map[string]any)["imgUrl"].(string))
	if !strings.Contains(u.Path, "-"+album.OwnerTag(wechatfake.OpenID(cfg.WeChat.AppID, "alice:1"))+"-") {
		t.Fatalf("the key does not record alice: %s", u.Path)
	}
	// The list says owner checks are on, and which images are the signed-in user's.
	list := func(hdr map[string]string) map[string]any {
		req, _ := http.NewRequest("GET", base+"/list", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		_, out := doReq(t, req)
		return out
	}
	if out := list(map[string]string{session.HeaderCode: "alice:1"}); out["ownerCheck"] != true || len(out["owned"].([]any)) != 1 || len(out["data"].([]any)) != 1 {
		t.Fatalf("alice's list: %v", out)
	}
	if out := list(loginHeaders("mallory:9")); out["ownerCheck"] != true || len(out["owned"].([]any)) != 0 {
		t.Fatalf("mallory's list: %v", out)
	}
	if out := list(nil); out["code"] != float64(0) || len(out["owned"].([]any)) != 0 {
		t.Fatalf("anonymous list: %v", out)
	}
	// Mallory, signed in, cannot delete it; nor can an anonymous client.
	if out := del(u.Path, loginHeaders("mallory:1")); out["code"] != float64(-1) || !strings.Contains(string(mustJSON(out["data"])), "operation forbidden") {
		t.Fatalf("mallory's delete: %v", out)
	}
	if out := del(u.Path, nil); out["msg"] != "请先登录" {
		t.Fatalf("anonymous delete: %v", out)
	}
	// Alice can, with her code alone.
	if out := del(u.Path, map[string]string{session.HeaderCode: "alice:1"}); out["code"] != float64(0) {
		t.Fatalf("alice's delete: %v", out)
	}
}

func TestAlbumOwnerCheckAloneNeedsRedis(t *testing.T) {
	code, _, errOut := runCLI(t, map[string]string{"APPLET_ALBUM_OWNER_CHECK": "true", "APPLET_DATA_DIR": t.TempDir()}, "", "serve", "album")
	if code != ExitError || !strings.Contains(errOut, "album.owner_check") || !strings.Contains(errOut, "redis.addr") {
		t.Fatalf("%d %s", code, errOut)
	}
}

func doReq(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// uploadImage posts data as the album's image field with the headers and returns the reply.
func uploadImage(t *testing.T, url string, data []byte, hdr map[string]string) map[string]any {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("image", "a.png")
	part.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	_, out := doReq(t, req)
	return out
}
