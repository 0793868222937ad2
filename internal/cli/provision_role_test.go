package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/provision/tencent"
)

// The instance gets a CAM role made for it, with the one policy the host needs; drift is put back,
// and destroy removes both.
func TestProvisionInstanceRole(t *testing.T) {
	c := newCloud(t)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	code, out, errOut := runCLI(t, env, "", "provision", "--dry-run")
	if code != 0 || !strings.Contains(out, "+ instance-role") || !strings.Contains(out, "applet-prod for CVM, with policy applet-prod-host") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runCLI(t, env, "", "provision", "--yes"); code != 0 {
		t.Fatalf("provision: exit %d\n%s%s", code, out, errOut)
	}
	want := tencent.HostPolicy(testBucket, "ap-guangzhou", "prod", "photos/", tencent.BackupPlace{Bucket: "prod-backup-1250000000"})
	if c.tc.PolicyDocument("applet-prod-host") != want || !slices.Equal(c.tc.AttachedPolicies("applet-prod"), []string{"applet-prod-host"}) {
		t.Fatalf("policy %q attached to %v", c.tc.PolicyDocument("applet-prod-host"), c.tc.AttachedPolicies("applet-prod"))
	}
	id := c.tc.Instances()[0]
	if role := c.tc.InstanceRole(id); role != "applet-prod" {
		t.Fatalf("the instance runs with %q", role)
	}
	for _, w := range c.tc.Writes() {
		if w.Action == "RunInstances" && w.Code != "" {
			t.Fatalf("RunInstances failed: %v", w)
		}
	}

	// The role taken off the instance and the policy widened in the console: both put back.
	c.tc.SetInstanceRole(id, "")
	c.tc.SetPolicyDocument("applet-prod-host", strings.Replace(want, "photos/*", "*", 1))
	code, out, errOut = runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, "attach role applet-prod") || !strings.Contains(out, "differs from what the deployment needs") {
		t.Fatalf("drift: exit %d\n%s%s", code, out, errOut)
	}
	if role := c.tc.InstanceRole(id); role != "applet-prod" || c.tc.PolicyDocument("applet-prod-host") != want {
		t.Fatalf("after the fix: role %q, policy %q", role, c.tc.PolicyDocument("applet-prod-host"))
	}
	if len(c.tc.Instances()) != 1 {
		t.Fatalf("instances %v", c.tc.Instances())
	}

	code, out, errOut = runCLI(t, env, "", "provision", "destroy", "--yes")
	if code != 0 || len(c.tc.Roles()) != 0 || len(c.tc.Policies()) != 0 {
		t.Fatalf("destroy: exit %d, roles %v, policies %v\n%s%s", code, c.tc.Roles(), c.tc.Policies(), out, errOut)
	}
}

// provision.instance_role names the team's own role: it must exist and trust CVM, and provision
// neither changes nor deletes it.
func TestProvisionExistingRole(t *testing.T) {
	c := newCloud(t)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	env["APPLET_PROVISION_INSTANCE_ROLE"] = "team-album"
	code, _, errOut := runCLI(t, env, "", "provision", "--yes")
	if code == 0 || !strings.Contains(errOut, "provision.instance_role names team-album, which does not exist") || len(c.tc.Writes()) != 0 {
		t.Fatalf("a role that is not there: exit %d, %d writes\n%s", code, len(c.tc.Writes()), errOut)
	}
	c.tc.CreateRoleDirectly("team-album", tencent.HostPolicy(testBucket, "ap-guangzhou", "prod", "photos/"))
	code, out, errOut := runCLI(t, env, "", "provision", "--yes")
	if code != 0 || !strings.Contains(out, "team-album (provision.instance_role: yours, not changed)") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if role := c.tc.InstanceRole(c.tc.Instances()[0]); role != "team-album" || len(c.tc.Roles()) != 1 || len(c.tc.Policies()) != 1 {
		t.Fatalf("role %q, roles %v, policies %v", role, c.tc.Roles(), c.tc.Policies())
	}
	if code, out, errOut = runCLI(t, env, "", "provision", "destroy", "--yes"); code != 0 || len(c.tc.Roles()) != 1 {
		t.Fatalf("destroy: exit %d, roles %v\n%s%s", code, c.tc.Roles(), out, errOut)
	}
}

// A key that may not manage CAM, or may not pass the role to CVM, stops with the fix.
func TestProvisionRoleWithoutCAMPermissions(t *testing.T) {
	c := newCloud(t)
	env := c.env(t, t.TempDir(), "prod", "applet", testBucket)
	c.tc.Deny("cam:CreateRole")
	code, _, errOut := runCLI(t, env, "", "provision", "--yes")
	if code == 0 || !strings.Contains(errOut, "may not call cam:CreateRole") || !strings.Contains(errOut, "provision.instance_role") {
		t.Fatalf("a key without CAM: exit %d\n%s", code, errOut)
	}
	if len(c.tc.Instances()) != 0 {
		t.Fatal("an instance was made without its role")
	}
	c.tc.Heal()
	c.tc.CreateRoleDirectly("team-album")
	env["APPLET_PROVISION_INSTANCE_ROLE"] = "team-album"
	c.tc.Deny("cam:PassRole")
	code, _, errOut = runCLI(t, env, "", "provision", "--yes")
	if code == 0 || !strings.Contains(errOut, "cam:PassRole") {
		t.Fatalf("a key that may not pass the role: exit %d\n%s", code, errOut)
	}
}
