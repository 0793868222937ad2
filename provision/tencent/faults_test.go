package tencent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/tencent"
)

const (
	faultID  = "AKIDfault00000000000000000000000000001"
	faultKey = "fault-secret-key-0000000000000001"
)

func faultClient(t *testing.T) (*tcfake.Server, *tencent.Client) {
	t.Helper()
	tc, err := tcfake.New(faultID, faultKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	tc.SetBootDelay(0)
	tc.AddDomain("example.com")
	cfg := tencent.NewDefaultConfig("ap-guangzhou")
	cfg.Credentials = tencent.Credentials{SecretID: faultID, SecretKey: faultKey}
	cfg.Endpoint, cfg.BaseDelay, cfg.MaxDelay, cfg.CallTimeout = "http://"+tc.Addr, 10*time.Millisecond, 50*time.Millisecond, 2*time.Second
	c, err := tencent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tc, c
}

var tags = map[string]string{provision.TagKey: "prod"}

// What a gateway in front of the API does to reads: an HTML 502, a 200 that is not JSON, a body cut
// mid-read, and DNSPod's frequency limit. Each is retried, and the read answers.
func TestReadsSurviveTheGateway(t *testing.T) {
	tc, c := faultClient(t)
	ctx := context.Background()
	if _, err := c.Firewall().CreateGroup(ctx, "applet-prod", "d", tags); err != nil {
		t.Fatal(err)
	}
	tc.Gateway("DescribeSecurityGroups", 2, 502, false)
	tc.NonJSON("DescribeSecurityGroupPolicies", 1)
	if groups, err := c.Firewall().FindGroups(ctx, "applet-prod", provision.TagKey, "prod"); err != nil || len(groups) != 1 {
		t.Fatalf("groups through a failing gateway: %v %v", groups, err)
	}
	tc.CutBody("DescribeInstances", 1)
	if _, err := c.Compute().FindInstances(ctx, provision.TagKey, "prod"); err != nil {
		t.Fatalf("instances through a cut body: %v", err)
	}
	tc.Fail("DescribeRecordList", 1, "FailedOperation.FrequencyLimit", "Too many requests.")
	tc.Gateway("DescribeRecordList", 1, 504, false)
	if _, err := c.DNS().Records(ctx, "example.com", "applet", "A"); err != nil {
		t.Fatalf("records past a frequency limit and a 504: %v", err)
	}
	if _, retries := c.Calls(); retries < 6 {
		t.Fatalf("%d retries for 7 faults", retries)
	}
}

// A create whose answer was lost after it took effect is found by reading, never made twice; one
// lost before the effect is made once.
func TestLostAnswersOfWritesAreReconciled(t *testing.T) {
	tc, c := faultClient(t)
	ctx := context.Background()
	tc.Gateway("CreateSecurityGroup", 1, 502, true) // made, then the gateway failed
	id, err := c.Firewall().CreateGroup(ctx, "applet-prod", "d", tags)
	if err != nil || len(tc.SecurityGroups()) != 1 || tc.SecurityGroups()[0] != id {
		t.Fatalf("a group whose answer was lost: %q %v, groups %v", id, err, tc.SecurityGroups())
	}
	tc.CutBody("CreateSecurityGroupPolicies", 1) // added, then the body was cut
	rules := []provision.Rule{{Protocol: "TCP", Port: "443", CIDR: "0.0.0.0/0"}}
	if err := c.Firewall().AddRules(ctx, id, rules); err != nil || len(tc.Ingress(id)) != 1 {
		t.Fatalf("rules whose answer was lost: %v, ingress %v", err, tc.Ingress(id))
	}
	tc.Gateway("CreateSecurityGroupPolicies", 1, 502, false) // refused before any effect
	more := []provision.Rule{{Protocol: "TCP", Port: "80", CIDR: "0.0.0.0/0"}}
	if err := c.Firewall().AddRules(ctx, id, more); err != nil || len(tc.Ingress(id)) != 2 {
		t.Fatalf("rules refused by the gateway: %v, ingress %v", err, tc.Ingress(id))
	}
	tc.CutBody("CreateRecord", 1)
	if rid, err := c.DNS().CreateRecord(ctx, "example.com", provision.Record{Name: "applet", Type: "A", Value: "203.0.113.10", Remark: "x"}); err != nil || rid == 0 || len(tc.Records("example.com")) != 1 {
		t.Fatalf("a record whose answer was lost: %d %v, records %v", rid, err, tc.Records("example.com"))
	}
}

func runningInstance(t *testing.T, tc *tcfake.Server, c *tencent.Client) string {
	id, err := c.Compute().RunInstance(context.Background(), provision.InstanceSpec{Zone: "ap-guangzhou-3", ImageID: "img-487zeit5", Type: "S5.MEDIUM2", DiskGB: 20, BandwidthMbps: 1, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The output comes back (HideOutput defaults to true on the real service), an agent that comes
// online late is waited for, and a task that cannot end well ends the wait at once.
func TestCommandsAsTheCommandServiceRunsThem(t *testing.T) {
	tc, c := faultClient(t)
	ctx := context.Background()
	tc.SetCommandRunner(func(instanceID, workDir, script string) (int, string) { return 3, "host: nginx -t failed\n" })
	tc.SetAgentDelay(time.Second)
	id := runningInstance(t, tc, c)

	res, err := c.RunCommand(ctx, id, "true", time.Minute)
	if err != nil || res.Status != "FAILED" || res.ExitCode != 3 || res.Output != "host: nginx -t failed\n" {
		t.Fatalf("a command on a fresh instance: %+v %v", res, err)
	}

	tc.EndNextTask("DELIVER_FAILED")
	_, err = c.RunCommand(ctx, id, "true", time.Hour)
	var ae *tencent.APIError
	if !errors.As(err, &ae) || ae.Code != "DELIVER_FAILED" || !strings.Contains(ae.Message, "could not be delivered") || !strings.Contains(ae.Fix, "TAT agent is online") {
		t.Fatalf("DELIVER_FAILED: %v", err)
	}
	tc.EndNextTask("TASK_TIMEOUT")
	if _, err := c.RunCommand(ctx, id, "true", time.Hour); !errors.As(err, &ae) || ae.Code != "TASK_TIMEOUT" {
		t.Fatalf("TASK_TIMEOUT: %v", err)
	}

	// An agent that never comes online within the bound: said, with the fix.
	tc.SetAgentDelay(time.Hour)
	other := runningInstance(t, tc, c)
	old := tencent.AgentWait
	tencent.AgentWait = 500 * time.Millisecond
	defer func() { tencent.AgentWait = old }()
	if _, err := c.RunCommand(ctx, other, "true", time.Minute); !errors.As(err, &ae) || ae.Code != "ResourceUnavailable.AgentStatusNotOnline" || !strings.Contains(ae.Fix, "did not come online") {
		t.Fatalf("an agent that stays offline: %v", err)
	}
}

// A group made a moment ago is found at once although the tag index has not caught up (a run killed
// right after the create must not make another).
func TestGroupsAreFoundBeforeTheTagIndexCatchesUp(t *testing.T) {
	tc, c := faultClient(t)
	tc.SetDescribeLag(time.Hour)
	ctx := context.Background()
	id, err := c.Firewall().CreateGroup(ctx, "applet-prod", "d", tags)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := c.Firewall().FindGroups(ctx, "applet-prod", provision.TagKey, "prod")
	if err != nil || len(groups) != 1 || groups[0].ID != id {
		t.Fatalf("a new group by name and tag: %v %v", groups, err)
	}
	if groups, _ := c.Firewall().FindGroups(ctx, "applet-prod", provision.TagKey, "other"); len(groups) != 0 {
		t.Fatalf("another deployment's query found %v", groups)
	}
}
