package doctor_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qcloud-applet/applet/doctor"
)

func TestConfigPermissionsWarnsOfASecretFileOthersCanRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "applet.yaml")
	if err := os.WriteFile(file, []byte("wechat:\n  app_id: wx0123456789abcdef\n  app_secret: s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(file, 0o644) // whatever the umask
	expect(t, check(t, load(t, file, nil), "config.permissions"), doctor.Warn, file+" (0644, holds wechat.app_secret)", "chmod 600")
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, check(t, load(t, file, nil), "config.permissions"), doctor.OK, "1 file(s) with secrets", "")
}

func TestConfigAppsNamesWhatIsMissing(t *testing.T) {
	expect(t, check(t, load(t, "", nil), "config.apps"), doctor.Fail, "wechat.app_id and wechat.app_secret", "applet init --stdout")
	// A local setup with the built-in WeChat stand-in needs no AppID.
	expect(t, check(t, load(t, "", map[string]string{"session.dev": "true"}), "config.apps"), doctor.OK, "every app has what it needs", "")
	// A deployment needs its region and zone; the album's bucket needs a key.
	l := load(t, "", map[string]string{"domain": "applet.example.com", "wechat.app_id": "wx0123456789abcdef", "wechat.app_secret": "x", "cos.bucket": "album-1250000000", "cos.region": "ap-guangzhou"})
	r := check(t, l, "config.apps")
	expect(t, r, doctor.Fail, "cos.secret_id and cos.secret_key", "")
	expect(t, r, doctor.Fail, "tencentcloud.region and tencentcloud.zone", "")
}
