package tcfake

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"
	dnspod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/dnspod/v20210323"
	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"
)

// documented reads an action's error codes from the SDK module's own doc comments (the API
// reference's list), plus the common codes every action may answer.
func documented(t *testing.T, module, action string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		t.Fatalf("locating %s: %v", module, err)
	}
	dirs, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "v*"))
	if len(dirs) != 1 {
		t.Fatalf("%s: versions %v", module, dirs)
	}
	src, err := os.ReadFile(filepath.Join(dirs[0], "client.go"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)\n// ` + action + `\n.*?\nfunc \(c \*Client\) ` + action + `\(`).Find(src)
	if block == nil {
		t.Fatalf("no documentation of %s in %s", action, module)
	}
	codes := map[string]bool{}
	for _, m := range regexp.MustCompile(`//  [A-Z0-9_]+ = "([^"]+)"`).FindAllSubmatch(block, -1) {
		codes[string(m[1])] = true
	}
	// Common error codes (the API reference's "common error codes" page).
	for _, c := range []string{"AuthFailure.SignatureFailure", "AuthFailure.SecretIdNotFound", "AuthFailure.SignatureExpire", "AuthFailure.UnauthorizedOperation",
		"RequestLimitExceeded", "InternalError", "InvalidAction", "MissingParameter", "UnknownParameter", "UnsupportedProtocol", "UnsupportedRegion"} {
		codes[c] = true
	}
	return codes
}

// Every condition the stand-in answers with an error answers a code the action's documentation
// lists: a code outside it is a stand-in that tells our client something the cloud never says.
func TestErrorCodesAreTheDocumented(t *testing.T) {
	s := start(t)
	s.SetBootDelay(0)
	cc := cvmClient(t, s, id, key)
	vc, _ := vpc.NewClient(common.NewCredential(id, key), "ap-guangzhou", prof(s))
	dc, _ := dnspod.NewClient(common.NewCredential(id, key), "", prof(s))
	s.AddDomain("example.com")
	run := func(mod func(r *cvm.RunInstancesRequest)) error {
		r := cvm.NewRunInstancesRequest()
		r.Placement = &cvm.Placement{Zone: common.StringPtr("ap-guangzhou-3")}
		r.ImageId, r.InstanceType = common.StringPtr("img-487zeit5"), common.StringPtr("S5.MEDIUM2")
		mod(r)
		_, err := cc.RunInstances(r)
		return err
	}
	const (
		cvmMod = "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm"
		vpcMod = "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc"
		dnsMod = "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/dnspod"
	)
	sgr := vpc.NewCreateSecurityGroupRequest()
	sgr.GroupName, sgr.GroupDescription = common.StringPtr("g"), common.StringPtr("d")
	sg, err := vc.CreateSecurityGroup(sgr)
	if err != nil {
		t.Fatal(err)
	}
	gid := sg.Response.SecurityGroup.SecurityGroupId
	policy := func() error {
		r := vpc.NewCreateSecurityGroupPoliciesRequest()
		r.SecurityGroupId = gid
		r.SecurityGroupPolicySet = &vpc.SecurityGroupPolicySet{Ingress: []*vpc.SecurityGroupPolicy{{Protocol: common.StringPtr("TCP"), Port: common.StringPtr("443"), CidrBlock: common.StringPtr("0.0.0.0/0"), Action: common.StringPtr("ACCEPT")}}}
		_, err := vc.CreateSecurityGroupPolicies(r)
		return err
	}
	policy()
	record := func() error {
		r := dnspod.NewCreateRecordRequest()
		r.Domain, r.SubDomain, r.RecordType, r.RecordLine, r.Value = common.StringPtr("example.com"), common.StringPtr("a"), common.StringPtr("A"), common.StringPtr("默认"), common.StringPtr("203.0.113.1")
		_, err := dc.CreateRecord(r)
		return err
	}
	record()
	am, _ := cam.NewClient(common.NewCredential(id, key), "", prof(s))
	const camMod = "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam"
	trust := `{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["cvm.qcloud.com"]}}]}`
	doc := `{"version":"2.0","statement":[{"effect":"allow","action":["name/cos:PutObject"],"resource":["qcs::cos:ap-guangzhou:uid/1250000000:b-1250000000/photos/*"]}]}`
	mkRole := func() error {
		r := cam.NewCreateRoleRequest()
		r.RoleName, r.PolicyDocument = common.StringPtr("applet-x"), common.StringPtr(trust)
		_, err := am.CreateRole(r)
		return err
	}
	mkRole()
	mkPolicy := func(name, d string) error {
		r := cam.NewCreatePolicyRequest()
		r.PolicyName, r.PolicyDocument = common.StringPtr(name), common.StringPtr(d)
		_, err := am.CreatePolicy(r)
		return err
	}
	mkPolicy("applet-x-host", doc)
	attach := func() error {
		r := cam.NewAttachRolePolicyRequest()
		r.AttachRoleName, r.PolicyId = common.StringPtr("applet-x"), common.Uint64Ptr(424242)
		_, err := am.AttachRolePolicy(r)
		return err
	}

	for _, c := range []struct {
		name, module, action, want string
		call                       func() error
	}{
		{"a ClientToken over 64 characters", cvmMod, "RunInstances", "InvalidClientToken.TooLong", func() error {
			return run(func(r *cvm.RunInstancesRequest) { r.ClientToken = common.StringPtr(strings.Repeat("t", 65)) })
		}},
		{"UserData that is not base64", cvmMod, "RunInstances", "InvalidParameterValue.InvalidUserDataFormat", func() error {
			return run(func(r *cvm.RunInstancesRequest) { r.UserData = common.StringPtr("not base64!") })
		}},
		{"UserData over 16 KB", cvmMod, "RunInstances", "InvalidParameterValue.TooLarge", func() error {
			return run(func(r *cvm.RunInstancesRequest) { r.UserData = common.StringPtr(strings.Repeat("QUFB", 6000)) })
		}},
		{"a zone of another region", cvmMod, "RunInstances", "InvalidZone.MismatchRegion", func() error {
			return run(func(r *cvm.RunInstancesRequest) { r.Placement.Zone = common.StringPtr("ap-beijing-1") })
		}},
		{"a malformed image id", cvmMod, "RunInstances", "InvalidImageId.Malformed", func() error {
			return run(func(r *cvm.RunInstancesRequest) { r.ImageId = common.StringPtr("ubuntu") })
		}},
		{"an instance type that is not sold", cvmMod, "RunInstances", "InvalidParameterValue.InstanceTypeNotFound", func() error {
			return run(func(r *cvm.RunInstancesRequest) { r.InstanceType = common.StringPtr("S9.HUGE99") })
		}},
		{"a duplicate rule", vpcMod, "CreateSecurityGroupPolicies", "UnsupportedOperation.DuplicatePolicy", policy},
		{"an unknown filter", vpcMod, "DescribeSecurityGroups", "InvalidParameter.FilterInvalidKey", func() error {
			r := vpc.NewDescribeSecurityGroupsRequest()
			r.Filters = []*vpc.Filter{{Name: common.StringPtr("colour"), Values: common.StringPtrs([]string{"red"})}}
			_, err := vc.DescribeSecurityGroups(r)
			return err
		}},
		{"deleting a group that is gone", vpcMod, "DeleteSecurityGroup", "InvalidSecurityGroupID.NotFound", func() error {
			r := vpc.NewDeleteSecurityGroupRequest()
			r.SecurityGroupId = common.StringPtr("sg-00000000")
			_, err := vc.DeleteSecurityGroup(r)
			return err
		}},
		{"terminating an instance that is gone", cvmMod, "TerminateInstances", "InvalidInstanceId.NotFound", func() error {
			r := cvm.NewTerminateInstancesRequest()
			r.InstanceIds = common.StringPtrs([]string{"ins-00000000"})
			_, err := cc.TerminateInstances(r)
			return err
		}},
		{"a record that exists", dnsMod, "CreateRecord", "InvalidParameter.DomainRecordExist", record},
		{"a role that is not there", camMod, "GetRole", "InvalidParameter.RoleNotExist", func() error {
			r := cam.NewGetRoleRequest()
			r.RoleName = common.StringPtr("nobody")
			_, err := am.GetRole(r)
			return err
		}},
		{"a role name in use", camMod, "CreateRole", "InvalidParameter.RoleNameInUse", mkRole},
		{"a policy name in use", camMod, "CreatePolicy", "FailedOperation.PolicyNameInUse", func() error { return mkPolicy("applet-x-host", doc) }},
		{"a policy that is not JSON", camMod, "CreatePolicy", "InvalidParameter.PolicyDocumentError", func() error { return mkPolicy("other", "{") }},
		{"a resource that is not qcs", camMod, "CreatePolicy", "InvalidParameter.ResourceQcsError", func() error {
			return mkPolicy("other", strings.Replace(doc, "qcs::cos:", "cos:", 1))
		}},
		{"attaching a policy that is not there", camMod, "AttachRolePolicy", "InvalidParameter.PolicyIdNotExist", attach},
		{"deleting a policy that is gone", camMod, "DeletePolicy", "ResourceNotFound.PolicyIdNotFound", func() error {
			r := cam.NewDeletePolicyRequest()
			r.PolicyId = []*uint64{common.Uint64Ptr(424242)}
			_, err := am.DeletePolicy(r)
			return err
		}},
		{"a role that does not exist on RunInstances", cvmMod, "RunInstances", "AuthFailure.CamRoleNameAuthenticateFailed", func() error {
			return run(func(r *cvm.RunInstancesRequest) { r.CamRoleName = common.StringPtr("nobody") })
		}},
		{"a malformed role name", cvmMod, "ModifyInstancesAttribute", "InvalidParameterValue.CamRoleNameMalformed", func() error {
			r := cvm.NewModifyInstancesAttributeRequest()
			r.InstanceIds, r.CamRoleName, r.CamRoleType = common.StringPtrs([]string{"ins-00000000"}), common.StringPtr("no spaces"), common.StringPtr("user")
			_, err := cc.ModifyInstancesAttribute(r)
			return err
		}},
		{"AttachRolePolicy called too often", camMod, "AttachRolePolicy", "RequestLimitExceeded", func() error {
			var err error
			for range 5 {
				if err = attach(); code(err) == "RequestLimitExceeded" {
					break
				}
			}
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if got := code(err); got != c.want {
				t.Fatalf("%s answered %q, want %q", c.action, got, c.want)
			}
			if !documented(t, c.module, c.action)[c.want] {
				t.Fatalf("%s is not among %s's documented codes", c.want, c.action)
			}
		})
	}

	// A dry run that passes answers a RequestId only, and makes nothing.
	before := len(s.Instances())
	if err := run(func(r *cvm.RunInstancesRequest) { r.DryRun = common.BoolPtr(true) }); err != nil {
		t.Fatalf("a dry run that passes: %v", err)
	}
	if len(s.Instances()) != before {
		t.Fatal("a dry run made an instance")
	}
	// DescribeInstances of an id that does not exist answers an empty set.
	dr := cvm.NewDescribeInstancesRequest()
	dr.InstanceIds = common.StringPtrs([]string{"ins-00000000"})
	resp, err := cc.DescribeInstances(dr)
	if err != nil || len(resp.Response.InstanceSet) != 0 {
		t.Fatalf("DescribeInstances of an unknown id: %v", err)
	}
}

// A parameter an action does not have is refused (UnknownParameter), and so is a request without a
// required one (MissingParameter), as the gateway does.
func TestParametersAreChecked(t *testing.T) {
	s := start(t)
	c := common.NewCommonClient(common.NewCredential(id, key), "ap-guangzhou", prof(s))
	send := func(params map[string]any) string {
		req := tchttp.NewCommonRequest("vpc", "2017-03-12", "CreateSecurityGroup")
		req.SetActionParameters(params)
		return code(c.Send(req, tchttp.NewCommonResponse()))
	}
	if got := send(map[string]any{"GroupName": "g", "GroupDescription": "d", "Colour": "red"}); got != "UnknownParameter" {
		t.Fatalf("an unknown parameter: %q", got)
	}
	if got := send(map[string]any{"GroupName": "g"}); got != "MissingParameter" {
		t.Fatalf("a missing parameter: %q", got)
	}
	if got := send(map[string]any{"GroupName": "g", "GroupDescription": "d"}); got != "" {
		t.Fatalf("a complete request: %q", got)
	}
}
