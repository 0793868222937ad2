package cli

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/cos"
	"github.com/qcloud-applet/applet/serve/mysql"
)

func TestProvisionThrottledEveryThirdCall(t *testing.T) {
	c := newCloud(t)
	c.tc.ThrottleEvery(3)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	throttled := 0
	for _, call := range c.tc.Calls() {
		if strings.HasPrefix(call.Code, "RequestLimitExceeded") {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no call was throttled: the test proves nothing")
	}
	if n, _, recs := c.tagged("prod"); n != 1 || recs != 1 {
		t.Fatalf("%d instances, %d records", n, recs)
	}
	t.Logf("%d of %d calls throttled and retried", throttled, len(c.tc.Calls()))
}

func TestProvisionHungCallIsBounded(t *testing.T) {
	c := newCloud(t)
	c.tc.Hang("DescribeInstances", 1)
	c.tc.Hang("RunInstances", 1) // a write made safe to replay by its ClientToken
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	env["APPLET_PROVISION_CALL_TIMEOUT"] = "1s"
	start := time.Now()
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if took < 2*time.Second || took > 10*time.Second {
		t.Fatalf("took %s; want two 1s timeouts and then success", took)
	}
	if n, _, recs := c.tagged("prod"); n != 1 || recs != 1 {
		t.Fatalf("%d instances, %d records", n, recs)
	}
}

func TestProvisionLaunchFailed(t *testing.T) {
	c := newCloud(t)
	c.tc.SetLaunchFail(true)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 1 || !strings.Contains(errOut, "LAUNCH_FAILED") || !strings.Contains(out, "dns-record      skipped") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if len(c.tc.Records("example.com")) != 0 {
		t.Fatal("a record was made for a failed instance")
	}
	// The next run replaces the failed instance.
	c.tc.SetLaunchFail(false)
	code, out, errOut = runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, "instance        replaced") {
		t.Fatalf("re-run: exit %d\n%s%s", code, out, errOut)
	}
	if n, _, recs := c.tagged("prod"); n != 1 || recs != 1 {
		t.Fatalf("%d instances, %d records", n, recs)
	}
}

func TestProvisionWrongSecretKey(t *testing.T) {
	c := newCloud(t)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	env["TENCENTCLOUD_SECRET_KEY"] = "wrong-secret-key-0123456789"
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "AuthFailure.SignatureFailure") || !strings.Contains(errOut, "Try: the SecretKey does not match the SecretId") {
		t.Fatalf("unclear error:\n%s", errOut)
	}
	if strings.Contains(out+errOut, "wrong-secret-key") || strings.Contains(out+errOut, testSecretKey) {
		t.Fatal("a secret key was printed")
	}
	if len(c.tc.Writes()) != 0 {
		t.Fatal("writes with a wrong key")
	}
}

func TestProvisionQuotaAndPermission(t *testing.T) {
	c := newCloud(t)
	c.tc.SetInstanceQuota(0)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	code, _, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 1 || !strings.Contains(errOut, "instance quota reached in ap-guangzhou-3") {
		t.Fatalf("quota: exit %d\n%s", code, errOut)
	}
	c.tc.SetInstanceQuota(20)
	c.tc.Deny("cvm:RunInstances")
	code, _, errOut = runCLI(t, env, "", "provision", "--yes")
	if code != 1 || !strings.Contains(errOut, "the SecretId lacks permission cvm:RunInstances") {
		t.Fatalf("permission: exit %d\n%s", code, errOut)
	}
	// Quota and permission errors are not retried.
	n := 0
	for _, call := range c.tc.Calls() {
		if call.Action == "RunInstances" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("RunInstances called %d times; want once per run", n)
	}
}

func TestProvisionFixesDrift(t *testing.T) {
	c := newCloud(t)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	if code, out, errOut := runCLI(t, env, "", "provision", "--yes"); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// Someone points the record elsewhere and opens SSH by hand.
	env2 := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	env2["APPLET_PROVISION_SSH_CIDR"] = "198.51.100.0/24"
	if code, out, errOut := runCLI(t, env2, "", "provision", "--yes"); code != 0 || !strings.Contains(out, "allow TCP 22 from 198.51.100.0/24") {
		t.Fatalf("open ssh: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, "close TCP 22 from 198.51.100.0/24") {
		t.Fatalf("close ssh: exit %d\n%s%s", code, out, errOut)
	}
	sg := c.tc.SecurityGroups()[0]
	if got := strings.Join(c.tc.Ingress(sg), ","); got != "TCP:80 0.0.0.0/0 ACCEPT,TCP:443 0.0.0.0/0 ACCEPT" {
		t.Fatalf("ingress %s", got)
	}
}

func TestProvisionLockHeld(t *testing.T) {
	c := newCloud(t)
	dir := t.TempDir()
	env := c.env(t, dir, "prod", "applet", testBucket)
	c.tc.SetBootDelay(2 * time.Second)
	done := make(chan string)
	go func() {
		_, out, errOut := runCLI(t, env, "", "provision", "--yes")
		done <- out + errOut
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.tc.Instances()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	code, _, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 1 || !strings.Contains(errOut, "another provision run holds the lock") {
		t.Fatalf("second run: exit %d\n%s", code, errOut)
	}
	if out := <-done; !strings.Contains(out, "Done in") {
		t.Fatalf("first run:\n%s", out)
	}
}

func TestProvisionFixesRecordAndKeepsFullBucket(t *testing.T) {
	c := newCloud(t)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	env["APPLET_TENCENTCLOUD_REGION"], env["APPLET_TENCENTCLOUD_ZONE"] = "ap-hongkong", "ap-hongkong-2"
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "ICP") {
		t.Error("ICP warning for Hong Kong")
	}
	rec := c.tc.Records("example.com")[0]
	c.tc.SetRecordValue("example.com", rec.ID, "198.51.100.77")
	code, out, errOut = runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, "~ dns-record      update   A applet.example.com → 203.0.113.10 (was 198.51.100.77)") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if recs := c.tc.Records("example.com"); len(recs) != 1 || recs[0].Value != "203.0.113.10" || recs[0].ID != rec.ID {
		t.Fatalf("records %+v", recs)
	}

	// A bucket with images is kept by destroy, and deleted with --force.
	c.cos.CreateBucket("unused-1250000000", "private") // another bucket in the account stays
	putObject(t, c, testBucket, "photos/a.jpg")
	code, out, errOut = runCLI(t, env, "", "provision", "destroy", "--yes")
	if code != 0 || !strings.Contains(out, "has objects: kept (--force deletes them and the bucket)") {
		t.Fatalf("destroy: exit %d\n%s%s", code, out, errOut)
	}
	if ok, _, _, _ := c.cos.Bucket(testBucket); !ok {
		t.Fatal("bucket with objects deleted without --force")
	}
	code, out, errOut = runCLI(t, env, "", "provision", "destroy", "--yes", "--force")
	if code != 0 {
		t.Fatalf("destroy --force: exit %d\n%s%s", code, out, errOut)
	}
	if ok, _, _, _ := c.cos.Bucket(testBucket); ok {
		t.Fatal("bucket kept with --force")
	}
	if ok, _, _, _ := c.cos.Bucket("unused-1250000000"); !ok {
		t.Fatal("an unrelated bucket was deleted")
	}
}

// putObject stores an object as the album would.
func putObject(t *testing.T, c *cloud, bucket, key string) {
	t.Helper()
	s, err := cos.New(cos.Config{Bucket: bucket, Region: "ap-guangzhou", SecretID: testSecretID, SecretKey: testSecretKey, Endpoint: c.cos.Addr})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "img")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\xff\xd8\xff image")
	if err := s.Put(context.Background(), key, album.Spool{File: f, Size: 9}); err != nil {
		t.Fatal(err)
	}
}

func TestProvisionDatabase(t *testing.T) {
	dsn := testenv.MySQLFreshDSN(t)
	c := newCloud(t)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	env["APPLET_MYSQL_DSN"] = dsn
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, "database        updated") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "applet:applet@") {
		t.Fatal("the DSN's password was printed")
	}
	code, out, _ = runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, "= database        ok") || !strings.Contains(out, "Nothing to change.") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "", "provision", "destroy", "--yes")
	if code != 0 || !strings.Contains(out, "data kept (--purge drops it)") {
		t.Fatalf("destroy: exit %d\n%s", code, out)
	}
	if n := videoCount(t, dsn); n != 10 {
		t.Fatalf("%d videos after destroy without --purge", n)
	}
	code, out, _ = runCLI(t, env, "", "provision", "destroy", "--yes", "--purge")
	if code != 0 || !strings.Contains(out, "database        deleted") {
		t.Fatalf("destroy --purge: exit %d\n%s", code, out)
	}
	if n := videoCount(t, dsn); n != -1 {
		t.Fatalf("database still there after --purge (%d videos)", n)
	}
}

// videoCount counts the videos, or -1 when the database is gone.
func videoCount(t *testing.T, dsn string) int {
	t.Helper()
	db, _, err := mysql.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM video").Scan(&n); err != nil {
		if strings.Contains(err.Error(), "Unknown database") {
			return -1
		}
		t.Fatal(err)
	}
	return n
}

// A stopped instance is started (not waited on for the boot timeout); one shut down for arrears is
// said to be so, with what to do.
func TestProvisionStartsAStoppedInstance(t *testing.T) {
	c := newCloud(t)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	if code, out, errOut := runCLI(t, env, "", "provision", "--yes"); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	id := c.tc.Instances()[0]
	c.tc.StopInstance(id, "STOPPED")
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, id+" is STOPPED: start it") || !strings.Contains(out, "(started)") {
		t.Fatalf("a stopped instance: exit %d\n%s%s", code, out, errOut)
	}
	if len(c.tc.Instances()) != 1 {
		t.Fatalf("instances %v", c.tc.Instances())
	}
	c.tc.StopInstance(id, "SHUTDOWN")
	code, _, errOut = runCLI(t, env, "", "provision", "--yes")
	if code != 1 || !strings.Contains(errOut, "SHUTDOWN") || !strings.Contains(errOut, "top up the account") {
		t.Fatalf("an instance shut down for arrears: exit %d\n%s", code, errOut)
	}
}
