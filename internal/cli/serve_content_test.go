package cli

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

// With wechat.content_check, comments go through msgSecCheck and uploads through mediaCheckAsync,
// on the writer's login: risky text is refused, a risky image is deleted when WeChat's verdict is
// pushed, and an access token WeChat revoked is fetched again.
func TestContentCheckOnCommentsAndUploads(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	wx := wxConfig(t, cfg)
	cfg.WeChat.ContentCheck, cfg.WeChat.PushToken = true, "push-token"
	ts, _ := wiredServer(t, cfg, "album", "session", "video")
	wx.SetPush(ts.URL+album.BasePath+"/wechat/media-check", "push-token")

	comment := func(hdr map[string]string, content string) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"vid": 1, "nick": "n", "content": content})
		req, _ := http.NewRequest("POST", ts.URL+video.BasePath+"/comment", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return doReq(t, req)
	}
	if _, out := comment(nil, "你好"); out["msg"] != "请先登录" {
		t.Fatalf("a comment without a login: %v", out)
	}
	login := map[string]string{session.HeaderCode: "carol:1"}
	if _, out := comment(loginHeaders("carol:1"), "你好"); out["code"] != float64(0) {
		t.Fatalf("a comment with a login: %v", out)
	}
	if _, out := comment(login, "这是"+wechatfake.RiskyWord); out["code"] != float64(-1) || !strings.Contains(out["msg"].(string), "违规") {
		t.Fatalf("a risky comment: %v", out)
	}
	wx.RevokeTokens() // another server fetched a token: ours is no longer valid
	if _, out := comment(login, "再来"); out["code"] != float64(0) {
		t.Fatalf("after the token was revoked: %v", out)
	}
	if wx.Checks() != 3 {
		t.Fatalf("%d checks", wx.Checks())
	}

	upload := func(extra []byte) map[string]any {
		var img bytes.Buffer
		png.Encode(&img, image.NewGray(image.Rect(0, 0, 2, 2)))
		img.Write(extra) // after the image's end: still a valid PNG
		return uploadImage(t, ts.URL+album.BasePath+"/upload", img.Bytes(), map[string]string{session.HeaderCode: "carol:1"})
	}
	clean, risky := upload(nil), upload([]byte(wechatfake.RiskyWord))
	for _, out := range []map[string]any{clean, risky} {
		if out["code"] != float64(0) {
			t.Fatalf("upload: %v", out)
		}
	}
	get := func(u string) int {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	riskyURL := risky["data"].(map[string]any)["imgUrl"].(string)
	cleanURL := clean["data"].(map[string]any)["imgUrl"].(string)
	deadline := time.Now().Add(5 * time.Second)
	for get(riskyURL) == 200 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if get(riskyURL) != 404 || get(cleanURL) != 200 {
		t.Fatalf("after the verdicts: risky %d, clean %d", get(riskyURL), get(cleanURL))
	}
	// A push with a wrong signature is refused.
	q := url.Values{"signature": {"bad"}, "timestamp": {"1"}, "nonce": {"n"}}
	resp, err := http.Post(ts.URL+album.BasePath+"/wechat/media-check?"+q.Encode(), "application/json", strings.NewReader(`{"Event":"wxa_media_check","trace_id":"x","result":{"suggest":"risky"}}`))
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a forged push: %v %v", resp, err)
	}
}

func TestContentCheckNeedsWeChat(t *testing.T) {
	lookup := func(k string) (string, bool) {
		return map[string]string{"APPLET_WECHAT_CONTENT_CHECK": "true"}[k], k == "APPLET_WECHAT_CONTENT_CHECK"
	}
	l, err := config.Load(config.LoadOptions{LookupEnv: lookup})
	if err == nil || !strings.Contains(err.Error(), "wechat.content_check") {
		t.Fatalf("content check without WeChat: %v %v", l, err)
	}
}
