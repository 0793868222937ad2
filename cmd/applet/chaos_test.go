package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/provision"
)

// The chaos suite: for each seed, a cloud that fails the way the real one does (throttling, gateway
// errors with HTML bodies, bodies cut mid-read, answers lost after the effect, tag queries that lag)
// and an applet killed at a random moment of apply and of destroy. After apply and a re-run there is
// exactly one instance, record, group and bucket, all tagged; after destroy and a re-run, nothing.
//
//	go test ./cmd/applet -run Chaos                        # the seeds CI runs
//	go test ./cmd/applet -run Chaos -chaos.seeds 200       # more, outside the test command
//	go test ./cmd/applet -run 'Chaos/seed=17$' -chaos.seeds 18   # replay one seed
var chaosSeeds = flag.Int("chaos.seeds", 4, "how many seeds the chaos suite runs")

var chaosActions = []string{"DescribeSecurityGroups", "DescribeSecurityGroupPolicies", "CreateSecurityGroup", "CreateSecurityGroupPolicies",
	"DescribeInstances", "RunInstances", "DescribeRecordList", "CreateRecord", "DescribeZones", "InquiryPriceRunInstances",
	"TerminateInstances", "DeleteSecurityGroup", "DeleteRecord", "GetRole", "CreateRole", "CreatePolicy", "AttachRolePolicy", "ListPolicies",
	"DeleteRole", "DeletePolicy"}

// chaos arms the stand-ins' faults from r.
func chaos(r *rand.Rand, rig *provisionRig) string {
	var what []string
	if k := []int{0, 0, 3, 5, 7}[r.IntN(5)]; k > 0 {
		rig.tc.ThrottleEvery(k)
		what = append(what, fmt.Sprintf("throttle every %d", k))
	}
	for range r.IntN(4) {
		a := chaosActions[r.IntN(len(chaosActions))]
		switch r.IntN(4) {
		case 0:
			rig.tc.Gateway(a, 1, []int{502, 503, 504}[r.IntN(3)], false)
			what = append(what, "gateway error on "+a)
		case 1:
			rig.tc.Gateway(a, 1, 502, true)
			what = append(what, "gateway error after "+a+" took effect")
		case 2:
			rig.tc.CutBody(a, 1)
			what = append(what, "body cut on "+a)
		case 3:
			rig.tc.NonJSON(a, 1)
			what = append(what, "non-JSON answer on "+a)
		}
	}
	if lag := time.Duration(r.IntN(4)) * 150 * time.Millisecond; lag > 0 {
		rig.tc.SetDescribeLag(lag)
		what = append(what, fmt.Sprintf("tag queries lag %s", lag))
	}
	switch r.IntN(4) {
	case 0:
		rig.cos.FailNext(1, 503)
		what = append(what, "COS 503")
	case 1:
		rig.cos.LoseAnswerNext(1)
		what = append(what, "a COS answer lost after the effect")
	}
	return strings.Join(what, ", ")
}

// census counts what carries the deployment's tag.
func (r *provisionRig) census() (instances, groups, records int, bucket bool) {
	for _, id := range r.tc.Instances() {
		if r.tc.InstanceTags(id)[provision.TagKey] == "prod" {
			instances++
		}
	}
	for _, rec := range r.tc.Records("example.com") {
		if rec.Remark == provision.TagKey+"=prod" {
			records++
		}
	}
	exists, _, _, tagged := r.cos.Bucket("album-1250000000")
	return instances, len(r.tc.SecurityGroups()), records, exists && tagged
}

// camCensus counts the CAM roles and custom policies (the deployment's are the only ones here).
func (r *provisionRig) camCensus() (roles, policies int) {
	return len(r.tc.Roles()), len(r.tc.Policies())
}

// runKilled runs applet with args and kills it after d (if it is still running).
func (r *provisionRig) runKilled(t *testing.T, d time.Duration, args ...string) string {
	cmd, out := r.start(t, args...)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	return out.String()
}

// runUntilDone runs applet with args until it succeeds, a few times at most (faults may still be
// queued for the first re-run).
func (r *provisionRig) runUntilDone(t *testing.T, replay string, args ...string) string {
	var out string
	for range 4 {
		cmd, buf := r.start(t, args...)
		err := cmd.Wait()
		out = buf.String()
		if err == nil {
			return out
		}
	}
	t.Fatalf("%s kept failing\n%s\n%s", strings.Join(args, " "), out, replay)
	return ""
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for seed := range *chaosSeeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 19))
			rig := newProvisionRig(t)
			rig.tc.SetBootDelay(time.Duration(r.IntN(400)) * time.Millisecond)
			rig.tc.SetTerminateDelay(time.Duration(r.IntN(300)) * time.Millisecond)
			replay := fmt.Sprintf("replay: go test ./cmd/applet -run 'Chaos/seed=%d$' -chaos.seeds %d", seed, seed+1)

			faults := chaos(r, rig)
			kill := time.Duration(r.IntN(1500)) * time.Millisecond
			first := rig.runKilled(t, kill, "provision", "--yes")
			if ro, po := rig.camCensus(); ro > 1 || po > 1 {
				t.Fatalf("duplicate role or policy after a killed apply (%s; killed after %s): %d roles, %d policies\n%s\n%s", faults, kill, ro, po, first, replay)
			}
			if i, g, rec, _ := rig.census(); i > 1 || g > 1 || rec > 1 {
				t.Fatalf("duplicates after a killed apply (%s; killed after %s): %d instances, %d groups, %d records\n%s\n%s", faults, kill, i, g, rec, first, replay)
			}
			out := rig.runUntilDone(t, replay, "provision", "--yes")
			if ro, po := rig.camCensus(); ro != 1 || po != 1 {
				t.Fatalf("after apply (%s; killed after %s): %d roles, %d policies\n%s\n%s", faults, kill, ro, po, out, replay)
			}
			if i, g, rec, b := rig.census(); i != 1 || g != 1 || rec != 1 || !b {
				t.Fatalf("after apply (%s; killed after %s): %d instances, %d groups, %d records, bucket %v\n%s\n%s", faults, kill, i, g, rec, b, out, replay)
			}

			faults = chaos(r, rig)
			kill = time.Duration(r.IntN(1000)) * time.Millisecond
			rig.runKilled(t, kill, "provision", "destroy", "--yes")
			out = rig.runUntilDone(t, replay, "provision", "destroy", "--yes")
			if ro, po := rig.camCensus(); ro != 0 || po != 0 {
				t.Fatalf("after destroy (%s; killed after %s): %d roles, %d policies left\n%s\n%s", faults, kill, ro, po, out, replay)
			}
			if i, g, rec, b := rig.census(); i != 0 || g != 0 || rec != 0 || b || !(strings.Contains(out, "Removed.") || strings.Contains(out, "Nothing to remove.")) {
				t.Fatalf("after destroy (%s; killed after %s): %d instances, %d groups, %d records, bucket %v\n%s\n%s", faults, kill, i, g, rec, b, out, replay)
			}
		})
	}
}
