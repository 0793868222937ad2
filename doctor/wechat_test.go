package doctor_test

import (
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

func TestWeChatSecret(t *testing.T) {
	const appID, secret = "wx0123456789abcdef", "the-app-secret"
	wx, err := wechatfake.Start(appID, secret)
	if err != nil {
		t.Fatal(err)
	}
	defer wx.Close()
	flags := map[string]string{"wechat.app_id": appID, "wechat.app_secret": secret, "wechat.api_base": wx.URL}
	expect(t, check(t, load(t, "", flags), "wechat.secret"), doctor.OK, "the AppID and AppSecret are accepted", "")
	r := check(t, load(t, "", withFlag(flags, "wechat.app_secret", "an-old-secret")), "wechat.secret")
	expect(t, r, doctor.Fail, "the AppSecret is invalid (40125)", "copy the AppSecret again")
	wx.FailNext(wechatfake.Fault{HTML: true})
	expect(t, check(t, load(t, "", flags), "wechat.secret"), doctor.Fail, "WeChat API answered 502 without JSON", "check wechat.api_base")
	expect(t, check(t, load(t, "", map[string]string{"session.dev": "true"}), "wechat.secret"), doctor.Skipped, "built-in stand-in", "")
	expect(t, check(t, load(t, "", nil), "wechat.secret"), doctor.Fail, "wechat.app_id is empty", "开发管理 → 开发设置")

	// The secret never shows, even in a network error.
	r = check(t, load(t, "", withFlag(flags, "wechat.api_base", "http://"+closedAddr(t))), "wechat.secret")
	if r.Status != doctor.Fail || strings.Contains(r.Observed, secret) {
		t.Fatalf("unreachable WeChat API: %+v", r)
	}
}

func TestWeChatDomains(t *testing.T) {
	expect(t, check(t, load(t, "", nil), "wechat.domains"), doctor.Skipped, "do not verify domains", "")
	bucket := map[string]string{"domain": domain, "cos.bucket": "album-1250000000", "cos.region": "ap-guangzhou"}
	expect(t, check(t, load(t, "", bucket), "wechat.domains"), doctor.OK,
		"request https://"+domain+"; uploadFile https://"+domain+"; downloadFile https://"+domain+", https://album-1250000000.cos.ap-guangzhou.myqcloud.com; socket wss://"+domain, "")
	elsewhere := map[string]string{"domain": domain, "album.public_url": "https://img.example.com"}
	expect(t, check(t, load(t, "", elsewhere), "wechat.domains"), doctor.Warn, "album.public_url https://img.example.com is not https://"+domain, "set album.public_url to https://"+domain)
}
