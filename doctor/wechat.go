package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (d *env) checkWeChat(ctx context.Context) Result {
	c := d.c
	if c.WeChat.AppID == "" {
		if c.Session.Dev && !d.deployed() {
			return Skip("session.dev: logins answered by the built-in stand-in")
		}
		return Failed("wechat.app_id is empty: every login fails", "copy the AppID and AppSecret from the mini program console (开发管理 → 开发设置)")
	}
	// A code WeChat has never issued: a correct secret gets "invalid code" (40029), a wrong one 40125.
	u := strings.TrimRight(c.WeChat.APIBase, "/") + "/sns/jscode2session?appid=" + c.WeChat.AppID + "&secret=" + c.WeChat.AppSecret + "&js_code=applet-doctor-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "&grant_type=authorization_code"
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return Failed("WeChat API: "+strings.ReplaceAll(err.Error(), c.WeChat.AppSecret, "<redacted>"), "let the machine reach "+c.WeChat.APIBase)
	}
	defer resp.Body.Close()
	var out struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
		OpenID  string `json:"openid"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return Failed(fmt.Sprintf("WeChat API answered %d without JSON", resp.StatusCode), "check wechat.api_base")
	}
	switch out.ErrCode {
	case 0, 40029, 40163:
		return Ok("the AppID and AppSecret are accepted")
	case 40125:
		return Failed("WeChat says the AppSecret is invalid (40125)", "copy the AppSecret again from the mini program console (开发管理 → 开发设置), or reset it there")
	case 40013:
		return Failed("WeChat says the AppID is invalid (40013)", "copy the AppID from the mini program console")
	}
	return Warning(fmt.Sprintf("WeChat answered errcode %d (%s)", out.ErrCode, out.ErrMsg), "try again later; see the WeChat error code list")
}

func (d *env) checkDomains(ctx context.Context) Result {
	c := d.c
	if !d.deployed() {
		return Skip(localSkip + ": the developer tool's \"do not verify domains\" setting is needed")
	}
	base := "https://" + c.Domain
	download := []string{base}
	warn := ""
	if c.COS.Bucket != "" {
		host := c.COS.Bucket + ".cos." + c.COS.Region + ".myqcloud.com"
		if c.COS.PublicDomain != "" {
			host = c.COS.PublicDomain
		}
		download = append(download, "https://"+host)
	} else if c.Album.PublicURL != "" && c.Album.PublicURL != base && strings.TrimSuffix(c.Album.PublicURL, "/") != base {
		warn = "album.public_url " + c.Album.PublicURL + " is not " + base + ": image URLs fall outside downloadFile"
	}
	seen := fmt.Sprintf("request %s; uploadFile %s; downloadFile %s; socket wss://%s", base, base, strings.Join(download, ", "), c.Domain)
	if warn != "" {
		return Warning(seen+" — "+warn, "set album.public_url to "+base+" (or add its host to downloadFile)")
	}
	return Ok("enter in the mini program console (开发管理 → 服务器域名): " + seen)
}
