package tcfake

import (
	"bytes"
	"encoding/json"

	"strings"

	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"
	dnspod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/dnspod/v20210323"
	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"
)

// sdkRequests are the SDK's request types of the actions with a typed module (cvm, vpc, dnspod):
// a request is decoded into its type, so a parameter the action does not have is refused as the
// real gateway refuses it (UnknownParameter). CAM's typed module is cam v1.0.1200. TAT has no typed module here; its requests are
// decoded into the types written from its API reference in tat.go.
var sdkRequests = map[string]func() any{
	"cvm.DescribeZones":                 func() any { return cvm.NewDescribeZonesRequest() },
	"cvm.DescribeInstances":             func() any { return cvm.NewDescribeInstancesRequest() },
	"cvm.RunInstances":                  func() any { return cvm.NewRunInstancesRequest() },
	"cvm.InquiryPriceRunInstances":      func() any { return cvm.NewInquiryPriceRunInstancesRequest() },
	"cvm.TerminateInstances":            func() any { return cvm.NewTerminateInstancesRequest() },
	"cvm.StartInstances":                func() any { return cvm.NewStartInstancesRequest() },
	"vpc.DescribeSecurityGroups":        func() any { return vpc.NewDescribeSecurityGroupsRequest() },
	"vpc.DescribeSecurityGroupPolicies": func() any { return vpc.NewDescribeSecurityGroupPoliciesRequest() },
	"vpc.CreateSecurityGroup":           func() any { return vpc.NewCreateSecurityGroupRequest() },
	"vpc.CreateSecurityGroupPolicies":   func() any { return vpc.NewCreateSecurityGroupPoliciesRequest() },
	"vpc.DeleteSecurityGroupPolicies":   func() any { return vpc.NewDeleteSecurityGroupPoliciesRequest() },
	"vpc.DeleteSecurityGroup":           func() any { return vpc.NewDeleteSecurityGroupRequest() },
	"dnspod.DescribeRecordList":         func() any { return dnspod.NewDescribeRecordListRequest() },
	"dnspod.CreateRecord":               func() any { return dnspod.NewCreateRecordRequest() },
	"dnspod.ModifyRecord":               func() any { return dnspod.NewModifyRecordRequest() },
	"dnspod.DeleteRecord":               func() any { return dnspod.NewDeleteRecordRequest() },
	"cvm.ModifyInstancesAttribute":      func() any { return cvm.NewModifyInstancesAttributeRequest() },
	"vpc.CreateVpc":                     func() any { return vpc.NewCreateVpcRequest() },
	"vpc.DescribeVpcs":                  func() any { return vpc.NewDescribeVpcsRequest() },
	"vpc.DeleteVpc":                     func() any { return vpc.NewDeleteVpcRequest() },
	"vpc.CreateSubnet":                  func() any { return vpc.NewCreateSubnetRequest() },
	"vpc.DescribeSubnets":               func() any { return vpc.NewDescribeSubnetsRequest() },
	"vpc.DeleteSubnet":                  func() any { return vpc.NewDeleteSubnetRequest() },
	"cam.GetRole":                       func() any { return cam.NewGetRoleRequest() },
	"cam.CreateRole":                    func() any { return cam.NewCreateRoleRequest() },
	"cam.DeleteRole":                    func() any { return cam.NewDeleteRoleRequest() },
	"cam.ListPolicies":                  func() any { return cam.NewListPoliciesRequest() },
	"cam.GetPolicy":                     func() any { return cam.NewGetPolicyRequest() },
	"cam.CreatePolicy":                  func() any { return cam.NewCreatePolicyRequest() },
	"cam.UpdatePolicy":                  func() any { return cam.NewUpdatePolicyRequest() },
	"cam.DeletePolicy":                  func() any { return cam.NewDeletePolicyRequest() },
	"cam.AttachRolePolicy":              func() any { return cam.NewAttachRolePolicyRequest() },
	"cam.DetachRolePolicy":              func() any { return cam.NewDetachRolePolicyRequest() },
	"cam.ListAttachedRolePolicies":      func() any { return cam.NewListAttachedRolePoliciesRequest() },
}

// required are the parameters the API reference marks required, by action.
var required = map[string][]string{
	"cvm.RunInstances":                  {"Placement"},
	"cvm.InquiryPriceRunInstances":      {"Placement", "ImageId"},
	"cvm.TerminateInstances":            {"InstanceIds"},
	"cvm.StartInstances":                {"InstanceIds"},
	"vpc.DescribeSecurityGroupPolicies": {"SecurityGroupId"},
	"vpc.CreateSecurityGroup":           {"GroupName", "GroupDescription"},
	"vpc.CreateSecurityGroupPolicies":   {"SecurityGroupId", "SecurityGroupPolicySet"},
	"vpc.DeleteSecurityGroupPolicies":   {"SecurityGroupId", "SecurityGroupPolicySet"},
	"vpc.DeleteSecurityGroup":           {"SecurityGroupId"},
	"dnspod.DescribeRecordList":         {"Domain"},
	"dnspod.CreateRecord":               {"Domain", "RecordType", "RecordLine", "Value"},
	"dnspod.ModifyRecord":               {"Domain", "RecordType", "RecordLine", "Value", "RecordId"},
	"dnspod.DeleteRecord":               {"Domain", "RecordId"},
	"cvm.ModifyInstancesAttribute":      {"InstanceIds"},
	"vpc.CreateVpc":                     {"VpcName", "CidrBlock"},
	"vpc.DeleteVpc":                     {"VpcId"},
	"vpc.CreateSubnet":                  {"VpcId", "SubnetName", "CidrBlock", "Zone"},
	"vpc.DeleteSubnet":                  {"SubnetId"},
	"cam.CreateRole":                    {"RoleName", "PolicyDocument"},
	"cam.GetPolicy":                     {"PolicyId"},
	"cam.CreatePolicy":                  {"PolicyName", "PolicyDocument"},
	"cam.UpdatePolicy":                  {"PolicyId"},
	"cam.DeletePolicy":                  {"PolicyId"},
}

// checkParams refuses a parameter the action does not have and a required one that is missing.
func checkParams(req *request) *apiError {
	key := req.service + "." + req.action
	mk, ok := sdkRequests[key]
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(req.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(mk()); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return errorf("UnknownParameter", "The parameter `%s` is not recognized.", strings.Trim(name, `"`))
		}
		return errorf("InvalidParameter", "The request body is not valid for %s: %v", req.action, err)
	}
	var fields map[string]json.RawMessage
	json.Unmarshal(req.body, &fields)
	for _, f := range required[key] {
		if v, ok := fields[f]; !ok || string(v) == "null" {
			return errorf("MissingParameter", "The request is missing a required parameter `%s`.", f)
		}
	}
	return nil
}
