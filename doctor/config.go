package doctor

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/qcloud-applet/applet/internal/config"
)

func (d *env) checkApps(ctx context.Context) Result {
	c := d.c
	var missing []string
	if c.WeChat.AppID == "" && !(c.Session.Dev && !d.deployed()) {
		missing = append(missing, "wechat.app_id and wechat.app_secret (logins fail without them)")
	}
	if c.COS.Bucket != "" && c.COSCredentials() == config.COSKeyAccount && (c.TencentCloud.SecretID == "" || c.TencentCloud.SecretKey == "") {
		missing = append(missing, "cos.secret_id and cos.secret_key, or cos.instance_role on an instance (the album cannot write to "+c.COS.Bucket+")")
	}
	if d.deployed() && (c.TencentCloud.Region == "" || c.TencentCloud.Zone == "") {
		missing = append(missing, "tencentcloud.region and tencentcloud.zone (provision needs them)")
	}
	if len(missing) > 0 {
		return Failed("missing "+strings.Join(missing, "; "), "set them in the config file or the environment (`applet init --stdout` shows every key)")
	}
	return Ok("every app has what it needs")
}

func (d *env) checkPermissions(ctx context.Context) Result {
	files := map[string][]string{} // path → secret keys it holds
	for key, src := range d.l.Source {
		f, ok := d.c.Field(key)
		if !ok || !f.Secret {
			continue
		}
		switch {
		case d.l.File != "" && strings.HasPrefix(src, d.l.File+":"):
			files[d.l.File] = append(files[d.l.File], key)
		case strings.HasSuffix(src, "_FILE"):
			if p := d.env(strings.TrimPrefix(src, "env ")); p != "" {
				files[p] = append(files[p], key)
			}
		}
	}
	if len(files) == 0 {
		return Ok("no secret is read from a file")
	}
	var loose []string
	for p, keys := range files {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.Mode().Perm()&0o077 != 0 {
			loose = append(loose, fmt.Sprintf("%s (%04o, holds %s)", p, st.Mode().Perm(), strings.Join(keys, ", ")))
		}
	}
	if len(loose) > 0 {
		return Warning("readable by group or others: "+strings.Join(loose, "; "), "chmod 600 each file, owned by the user that runs applet")
	}
	return Ok(fmt.Sprintf("%d file(s) with secrets, readable by their owner only", len(files)))
}
