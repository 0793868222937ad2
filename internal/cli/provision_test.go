package cli

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/provision"
)

const (
	testSecretID  = "AKIDprovisiontest0000000000000000001"
	testSecretKey = "provision-test-secret-key-0000001"
	testBucket    = "album-1250000000"
)

type cloud struct {
	tc  *tcfake.Server
	cos *cosfake.Server
}

func newCloud(t *testing.T) *cloud {
	t.Helper()
	tc, err := tcfake.New(testSecretID, testSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	tc.SetBootDelay(300 * time.Millisecond)
	tc.SetTerminateDelay(200 * time.Millisecond)
	tc.AddDomain("example.com")
	cs, err := cosfake.New(testSecretID, testSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return &cloud{tc: tc, cos: cs}
}

// env is the environment of a provision run for deployment name against the stand-ins.
func (c *cloud) env(t *testing.T, dir, name, sub, bucket string) map[string]string {
	return map[string]string{
		"HOME":                           dir,
		"APPLET_DEPLOYMENT":              name,
		"APPLET_DOMAIN":                  sub + ".example.com",
		"APPLET_DATA_DIR":                dir + "/data",
		"APPLET_TENCENTCLOUD_REGION":     "ap-guangzhou",
		"APPLET_TENCENTCLOUD_ZONE":       "ap-guangzhou-3",
		"APPLET_TENCENTCLOUD_ENDPOINT":   "http://" + c.tc.Addr,
		"TENCENTCLOUD_SECRET_ID":         testSecretID,
		"TENCENTCLOUD_SECRET_KEY":        testSecretKey,
		"APPLET_COS_BUCKET":              bucket,
		"APPLET_COS_REGION":              "ap-guangzhou",
		"APPLET_COS_ENDPOINT":            c.cos.Addr,
		"APPLET_PROVISION_POLL_INTERVAL": "50ms",
		"APPLET_PROVISION_CALL_TIMEOUT":  "2s",
		"APPLET_PROVISION_CLOUD_ONLY":    "true",
	}
}

// tagged counts the stand-in's resources that carry deployment name.
func (c *cloud) tagged(name string) (instances, groups, records int) {
	for _, id := range c.tc.Instances() {
		if c.tc.InstanceTags(id)[provision.TagKey] == name {
			instances++
		}
	}
	for _, r := range c.tc.Records("example.com") {
		if r.Remark == provision.TagKey+"="+name {
			records++
		}
	}
	return instances, len(c.tc.SecurityGroups()), records
}

func TestProvisionEndToEnd(t *testing.T) {
	c := newCloud(t)
	dir := t.TempDir()
	env := c.env(t, dir, "prod", "applet", testBucket)

	// A dry run on a fresh account makes no write call.
	code, out, errOut := runCLI(t, env, "", "provision", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if n := len(c.tc.Writes()); n != 0 || c.cos.Writes() != 0 {
		t.Fatalf("dry run made %d API and %d COS writes: %v", n, c.cos.Writes(), c.tc.Writes())
	}
	for _, want := range []string{"+ security-group", "+ instance", "+ dns-record", "+ bucket", "0.18 CNY an hour", "ICP filing", "Dry run: nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}

	// Without a terminal and without --yes, nothing happens.
	code, _, errOut = runCLI(t, env, "", "provision")
	if code != 1 || !strings.Contains(errOut, "--yes") || len(c.tc.Writes()) != 0 {
		t.Fatalf("unconfirmed run: exit %d, %d writes\n%s", code, len(c.tc.Writes()), errOut)
	}

	code, out, errOut = runCLI(t, env, "", "provision", "--yes")
	if code != 0 {
		t.Fatalf("provision: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("first run:\n%s", out)
	insts := c.tc.Instances()
	if len(insts) != 1 || c.tc.InstanceTags(insts[0])[provision.TagKey] != "prod" {
		t.Fatalf("instances %v", insts)
	}
	if !strings.Contains(c.tc.InstanceUserData(insts[0]), "#cloud-config") {
		t.Errorf("no cloud-init on the instance")
	}
	sgs := c.tc.SecurityGroups()
	if len(sgs) != 1 || strings.Join(c.tc.Ingress(sgs[0]), ",") != "TCP:80 0.0.0.0/0 ACCEPT,TCP:443 0.0.0.0/0 ACCEPT" {
		t.Fatalf("security groups %v, ingress %v", sgs, c.tc.Ingress(sgs[0]))
	}
	recs := c.tc.Records("example.com")
	if len(recs) != 1 || recs[0].Name != "applet" || recs[0].Type != "A" || recs[0].Value != "203.0.113.10" {
		t.Fatalf("records %+v", recs)
	}
	if ok, acl, cors, tagged := c.cos.Bucket(testBucket); !ok || acl != "public-read" || !cors || !tagged {
		t.Fatalf("bucket exists %v acl %q cors %v tagged %v", ok, acl, cors, tagged)
	}
	// The sample videos' posters and clips, where the host's video app points the sample rows.
	if objs := c.cos.Objects(testBucket); len(objs) != 20 || !slices.Contains(objs, "applet/video/media/01-harbor-lights.mp4") {
		t.Fatalf("bucket objects after the first run: %v", objs)
	}
	for _, want := range []string{"security-group  created", "instance        created", "dns-record      created", "bucket          created",
		"request       https://applet.example.com", "downloadFile  https://applet.example.com, https://album-1250000000.cos.ap-guangzhou.myqcloud.com", "socket        wss://applet.example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out+errOut, testSecretKey) {
		t.Fatal("the secret key was printed")
	}

	// A second run reads and changes nothing.
	c.tc.ResetCalls()
	cosWrites := c.cos.Writes()
	code, out, errOut = runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, "Nothing to change.") {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errOut)
	}
	if w := c.tc.Writes(); len(w) != 0 || c.cos.Writes() != cosWrites {
		t.Fatalf("second run wrote: %v, cos %d", w, c.cos.Writes()-cosWrites)
	}
	t.Logf("second run: %d API calls", len(c.tc.Calls()))

	// Another deployment in the same account.
	other := c.env(t, t.TempDir(), "other", "other", "other-1250000000")
	if code, out, errOut := runCLI(t, other, "", "provision", "--yes"); code != 0 {
		t.Fatalf("other: exit %d\n%s%s", code, out, errOut)
	}
	if n := len(c.tc.Instances()); n != 2 {
		t.Fatalf("%d instances after the second deployment", n)
	}

	code, out, errOut = runCLI(t, env, "", "provision", "destroy", "--yes")
	if code != 0 {
		t.Fatalf("destroy: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("destroy:\n%s", out)
	if n, _, recs := c.tagged("prod"); n != 0 || recs != 0 {
		t.Fatalf("after destroy: %d instances, %d records of prod", n, recs)
	}
	if n, _, recs := c.tagged("other"); n != 1 || recs != 1 {
		t.Fatalf("destroy touched the other deployment: %d instances, %d records", n, recs)
	}
	if len(c.tc.SecurityGroups()) != 1 {
		t.Fatalf("security groups left: %v", c.tc.SecurityGroups())
	}
	if ok, _, _, _ := c.cos.Bucket(testBucket); ok {
		t.Fatal("bucket kept")
	}
	if ok, _, _, _ := c.cos.Bucket("other-1250000000"); !ok {
		t.Fatal("the other deployment's bucket was deleted")
	}
	// The backup bucket is kept on purpose, said so with the flag that removes it.
	if ok, acl, _, _ := c.cos.Bucket("prod-backup-1250000000"); !ok || acl != "private" || !strings.Contains(out, "Kept: backup bucket prod-backup-1250000000 and its backups (--purge-backups deletes them).") {
		t.Fatalf("the backup bucket after destroy: exists %v, %s\n%s", ok, acl, out)
	}
	// Nothing left but it: destroy again has nothing to do; --purge-backups removes it.
	if code, out, _ := runCLI(t, env, "", "provision", "destroy", "--yes"); code != 0 || !strings.Contains(out, "Nothing to remove.") {
		t.Fatalf("second destroy: exit %d\n%s", code, out)
	}
	if code, out, errOut := runCLI(t, env, "", "provision", "destroy", "--yes", "--purge-backups"); code != 0 || !strings.Contains(out, "Removed.") {
		t.Fatalf("destroy --purge-backups: exit %d\n%s%s", code, out, errOut)
	}
	if ok, _, _, _ := c.cos.Bucket("prod-backup-1250000000"); ok {
		t.Fatal("--purge-backups kept the backup bucket")
	}
	if ok, _, _, _ := c.cos.Bucket("other-backup-1250000000"); !ok {
		t.Fatal("the other deployment's backup bucket was deleted")
	}
}
