package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/provision"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// appletBinary builds the command once for the package's tests.
func appletBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "applet-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "applet")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = &buildError{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

const (
	e2eID  = "AKIDe2eprovision000000000000000000001"
	e2eKey = "e2e-provision-secret-key-000000001"
)

type provisionRig struct {
	tc   *tcfake.Server
	cos  *cosfake.Server
	bin  string
	dir  string
	env  []string
	runs int
}

func newProvisionRig(t *testing.T) *provisionRig {
	tc, err := tcfake.New(e2eID, e2eKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	tc.AddDomain("example.com")
	cs, err := cosfake.New(e2eID, e2eKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	dir := t.TempDir()
	return &provisionRig{tc: tc, cos: cs, bin: appletBinary(t), dir: dir, env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"APPLET_DEPLOYMENT=prod", "APPLET_DOMAIN=applet.example.com", "APPLET_DATA_DIR=" + dir + "/data",
		"APPLET_TENCENTCLOUD_REGION=ap-guangzhou", "APPLET_TENCENTCLOUD_ZONE=ap-guangzhou-3",
		"APPLET_TENCENTCLOUD_ENDPOINT=http://" + tc.Addr, "TENCENTCLOUD_SECRET_ID=" + e2eID, "TENCENTCLOUD_SECRET_KEY=" + e2eKey,
		"APPLET_COS_BUCKET=album-1250000000", "APPLET_COS_REGION=ap-guangzhou", "APPLET_COS_ENDPOINT=" + cs.Addr,
		"APPLET_PROVISION_POLL_INTERVAL=50ms", "APPLET_PROVISION_CALL_TIMEOUT=2s", "APPLET_PROVISION_CLOUD_ONLY=true",
	}}
}

func (r *provisionRig) start(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, &out
}

func (r *provisionRig) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish runs provision to the end and checks there is exactly one instance and one record.
func (r *provisionRig) finish(t *testing.T, wants ...string) string {
	t.Helper()
	cmd, out := r.start(t, "provision", "--yes")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	for _, w := range wants {
		if !strings.Contains(out.String(), w) {
			t.Errorf("re-run output lacks %q:\n%s", w, out)
		}
	}
	insts := r.tc.Instances()
	recs := r.tc.Records("example.com")
	if len(insts) != 1 || len(recs) != 1 || len(r.tc.SecurityGroups()) != 1 {
		t.Fatalf("after the re-run: instances %v, records %+v, groups %v", insts, recs, r.tc.SecurityGroups())
	}
	if r.tc.InstanceTags(insts[0])[provision.TagKey] != "prod" || recs[0].Value != "203.0.113.10" {
		t.Fatalf("wrong instance or record: %v %+v", r.tc.InstanceTags(insts[0]), recs[0])
	}
	return out.String()
}

// TestProvisionKilledWhileBooting: kill -9 between RunInstances and the DNS record; the next run waits
// for the same instance and makes the one record.
func TestProvisionKilledWhileBooting(t *testing.T) {
	r := newProvisionRig(t)
	r.tc.SetBootDelay(3 * time.Second)
	cmd, out := r.start(t, "provision", "--yes")
	r.waitFor(t, "the instance", func() bool { return len(r.tc.Instances()) == 1 })
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(r.tc.Records("example.com")) != 0 {
		t.Fatalf("the record was made before the kill; the test proves nothing\n%s", out)
	}
	r.finish(t, "took over a stale lock", "Resuming: the last apply run", "wait until it runs", "dns-record      created")
}

// killDuringRunInstances kills a provision run whose RunInstances took effect but never answered,
// while the new instance is not yet visible by tag.
func (r *provisionRig) killDuringRunInstances(t *testing.T) {
	r.tc.SetBootDelay(200 * time.Millisecond)
	r.tc.SetDescribeLag(2 * time.Second)
	r.tc.HangAfter("RunInstances", 1)
	cmd, _ := r.start(t, "provision", "--yes")
	r.waitFor(t, "the instance", func() bool { return len(r.tc.Instances()) == 1 })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

// TestProvisionKilledDuringRunInstances: the create went through but its answer was lost, and the new
// instance is not yet visible by tag; the next run replays the ClientToken and gets the same instance.
func TestProvisionKilledDuringRunInstances(t *testing.T) {
	r := newProvisionRig(t)
	r.killDuringRunInstances(t)
	r.finish(t, "instance        create", "dns-record      created")
	runs := 0
	for _, c := range r.tc.Calls() {
		if c.Action == "RunInstances" && c.Code == "" {
			runs++
		}
	}
	if runs != 1 { // the first call took effect but never answered
		t.Fatalf("RunInstances answered %d times", runs)
	}
}

// TestProvisionInterrupted: Ctrl-C stops the run, releases the lock and says how to go on.
func TestProvisionInterrupted(t *testing.T) {
	r := newProvisionRig(t)
	r.tc.SetBootDelay(3 * time.Second)
	cmd, out := r.start(t, "provision", "--yes")
	r.waitFor(t, "the instance", func() bool { return len(r.tc.Instances()) == 1 })
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out.String(), "interrupted") {
		t.Fatalf("interrupted run: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "data", "provision", "prod.lock")); !os.IsNotExist(err) {
		t.Fatalf("lock left behind: %v", err)
	}
	o := r.finish(t, "Resuming")
	if strings.Contains(o, "stale lock") {
		t.Fatal("the interrupted run left its lock")
	}
}

// TestDestroyAfterAKillDuringRunInstances: the create went through, its answer was lost and the
// instance is not yet visible by tag when destroy runs: destroy finds it through the journal's
// ClientToken, removes it and the group, and says "Removed." only once nothing is left.
func TestDestroyAfterAKillDuringRunInstances(t *testing.T) {
	r := newProvisionRig(t)
	r.tc.SetTerminateDelay(200 * time.Millisecond)
	r.killDuringRunInstances(t)
	cmd, out := r.start(t, "provision", "destroy", "--yes")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "Removed.") {
		t.Fatalf("destroy output:\n%s", out)
	}
	if len(r.tc.Instances()) != 0 || len(r.tc.SecurityGroups()) != 0 {
		t.Fatalf("left behind: instances %v, groups %v\n%s", r.tc.Instances(), r.tc.SecurityGroups(), out)
	}
	for _, c := range r.tc.Calls() {
		if c.Action == "RunInstances" && c.Code == "" {
			t.Fatal("destroy replayed RunInstances")
		}
	}
}

// TestDestroyThatCannotFinishSaysWhatIsLeft: the security group cannot go (a delete that keeps
// failing): destroy names it, says how to finish, and exits 1.
func TestDestroyThatCannotFinishSaysWhatIsLeft(t *testing.T) {
	r := newProvisionRig(t)
	r.tc.SetBootDelay(0)
	r.tc.SetTerminateDelay(0)
	r.finish(t)
	r.tc.Fail("DeleteSecurityGroup", -1, "UnsupportedOperation.LockedResources", "The resource is locked.")
	cmd, out := r.start(t, "provision", "destroy", "--yes")
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || strings.Contains(out.String(), "Removed.") ||
		!strings.Contains(out.String(), "security group sg-") || !strings.Contains(out.String(), "applet provision destroy") {
		t.Fatalf("destroy that cannot finish: %v\n%s", err, out)
	}
	r.tc.Heal()
	cmd, out = r.start(t, "provision", "destroy", "--yes")
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "Removed.") || len(r.tc.SecurityGroups()) != 0 {
		t.Fatalf("the second destroy: %v\n%s", err, out)
	}
}

// TestProvisionKilledAfterTheGroup: the group was made and the run killed while the tag index has
// not caught up with it: the re-run finds it by the journal's id and makes no second one.
func TestProvisionKilledAfterTheGroup(t *testing.T) {
	r := newProvisionRig(t)
	r.tc.SetBootDelay(2 * time.Second)
	r.tc.SetDescribeLag(3 * time.Second)
	cmd, _ := r.start(t, "provision", "--yes")
	r.waitFor(t, "the group", func() bool { return len(r.tc.SecurityGroups()) == 1 })
	time.Sleep(50 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	r.finish(t)
}
