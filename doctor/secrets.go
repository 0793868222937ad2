package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/host"
	"github.com/qcloud-applet/applet/provision/tencent"
)

// wantRole is the CAM role the deployment's instance should run with ("" when it needs none).
func (d *env) wantRole() string {
	switch {
	case d.c.Provision.InstanceRole != "":
		return d.c.Provision.InstanceRole
	case d.c.COS.Bucket != "":
		return provision.RoleName(d.c.Deployment)
	}
	return ""
}

// checkRole: the instance runs with its CAM role, the host's only credentials.
func (d *env) checkRole(ctx context.Context) Result {
	if r, skip := d.skipCloud(); skip {
		return r
	}
	want := d.wantRole()
	if want == "" {
		return Skip("cos.bucket is empty: the host needs no cloud credentials")
	}
	in, err := d.instance(ctx)
	if err != nil {
		return Skip("no instance to check: " + err.Error())
	}
	if in.Role != want {
		now := "none"
		if in.Role != "" {
			now = in.Role
		}
		return Failed(fmt.Sprintf("instance %s runs with role %s, want %s", in.ID, now, want), "run applet provision: it attaches the role (the album and the host step need it)")
	}
	return Ok(fmt.Sprintf("instance %s runs with role %s", in.ID, in.Role))
}

// onHostOnly runs a check of the host's own files and credentials: here on the instance, through the
// command service from elsewhere.
func (d *env) onHostOnly(ctx context.Context, name string, local func(ctx context.Context) Result) Result {
	switch {
	case !d.deployed():
		return Skip(localSkip)
	case d.o.OnHost:
		return local(ctx)
	}
	res, err := d.onHost(ctx)
	if err != nil {
		return Skip("cannot run it on the instance: " + err.Error())
	}
	if r, ok := res[name]; ok {
		return r
	}
	return Warning("the instance's applet does not know this check", "upgrade it: applet provision")
}

// accountKeyEnv are the variables that would put a long-lived cloud key in the host's environment.
var accountKeyEnv = []string{"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "APPLET_TENCENTCLOUD_SECRET_ID", "APPLET_TENCENTCLOUD_SECRET_KEY"}

// checkHostSecrets: no long-lived account key in the host's config or environment, and the files that
// hold secrets are private.
func (d *env) checkHostSecrets(ctx context.Context) Result {
	return d.onHostOnly(ctx, "host.secrets", func(ctx context.Context) Result {
		var bad []string
		if d.c.TencentCloud.SecretID != "" {
			bad = append(bad, "a Tencent Cloud key (tencentcloud.secret_id, from "+d.l.Source["tencentcloud.secret_id"]+")")
		}
		for _, k := range accountKeyEnv {
			if d.env(k) != "" {
				bad = append(bad, "$"+k+" in the environment")
			}
		}
		root := d.env(host.EnvRoot)
		if root == "" {
			root = "/"
		}
		var loose []string
		for _, f := range []string{host.ConfigPath, host.ManifestPath, host.TLSDir + "/privkey.pem", host.TLSDir + "/account.key", host.TLSDir + "/account.json"} {
			st, err := os.Stat(filepath.Join(root, f))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				loose = append(loose, f+": "+err.Error())
				continue
			}
			if st.Mode().Perm()&0o077 != 0 {
				loose = append(loose, fmt.Sprintf("%s is %04o", f, st.Mode().Perm()))
			}
		}
		switch {
		case len(bad) > 0:
			return Failed("the host holds "+strings.Join(bad, "; "), "remove it: the host needs no account key (it uses its CAM role); run applet provision to rewrite its config")
		case len(loose) > 0:
			return Failed(strings.Join(loose, "; "), "chmod 600 them (applet provision --converge puts the modes back)")
		}
		return Ok("no account key in the host's config or environment; its config and keys are private")
	})
}

// checkAlbumScope writes with the album's own credentials inside its folder (must work) and outside
// it (must be refused): a key that can write anywhere is a warning.
func (d *env) checkAlbumScope(ctx context.Context) Result {
	c := d.c
	if c.COS.Bucket == "" {
		return Skip("cos.bucket is empty: the album keeps images on disk")
	}
	return d.onHostOnly(ctx, "host.album-scope", func(ctx context.Context) Result {
		bc := tencent.BucketConfig{Bucket: c.COS.Bucket, Region: c.COS.Region, Endpoint: c.COS.Endpoint, Timeout: 10 * time.Second}
		how := c.COSCredentials()
		switch how {
		case config.COSKeyOwn:
			id, key := c.COSKey()
			bc.Credentials = tencent.Credentials{SecretID: id, SecretKey: key}
		case config.COSKeyRole:
			bc.Source = &rolecred.Provider{Endpoint: c.COS.MetadataURL}
		default:
			return Failed("the album on the host would sign with the account's key", "leave cos.secret_id empty and run applet provision: the host then uses its CAM role")
		}
		b, err := tencent.NewBuckets(bc)
		if err != nil {
			return Failed(err.Error(), "fix cos.bucket and cos.region")
		}
		probe := "applet-doctor-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".txt"
		inside := strings.Trim(c.Album.Folder, "/") + "/" + probe
		if err := b.PutObject(ctx, inside, []byte("applet doctor")); err != nil {
			return Failed("the album cannot write under its folder with the "+how+": "+err.Error(), "run applet provision (it keeps the role's policy), or grant the key cos:PutObject on "+c.Album.Folder+"*")
		}
		b.DeleteObject(context.WithoutCancel(ctx), inside)
		outside := "applet-doctor-scope/" + probe
		if err := b.PutObject(ctx, outside, []byte("applet doctor")); err == nil {
			b.DeleteObject(context.WithoutCancel(ctx), outside)
			return Warning("the album's "+how+" can write outside "+c.Album.Folder+" (a test object under applet-doctor-scope/ was written and deleted)",
				"limit it to the album: the policy in the README's provision section (the instance role provision makes has it)")
		}
		return Ok("the album writes under " + c.Album.Folder + " with the " + how + " and nowhere else")
	})
}
