package tencent

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"

	"github.com/qcloud-applet/applet/provision"
)

// Compute is provision.Compute on CVM.
type Compute struct{ c *Client }

var _ provision.Compute = (*Compute)(nil)

// Compute returns the CVM side of the client.
func (c *Client) Compute() *Compute { return &Compute{c} }

func (c *Compute) op(action string, write bool) op {
	return op{service: "cvm", action: action, write: write, where: c.c.cfg.Region}
}

// Zones lists the region's zones that are available.
func (c *Compute) Zones(ctx context.Context) ([]string, error) {
	var out []string
	err := c.c.do(ctx, c.op("DescribeZones", false), func(ctx context.Context) error {
		resp, err := c.c.cvm.DescribeZonesWithContext(ctx, cvm.NewDescribeZonesRequest())
		if err != nil {
			return err
		}
		out = out[:0]
		for _, z := range resp.Response.ZoneSet {
			if z.Zone != nil && (z.ZoneState == nil || *z.ZoneState == "AVAILABLE") {
				out = append(out, *z.Zone)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func toInstance(in *cvm.Instance) provision.Instance {
	out := provision.Instance{ID: str(in.InstanceId), Name: str(in.InstanceName), State: str(in.InstanceState), Type: str(in.InstanceType), ImageID: str(in.ImageId), Role: str(in.CamRoleName)}
	if in.Placement != nil {
		out.Zone = str(in.Placement.Zone)
	}
	if len(in.PublicIpAddresses) > 0 {
		out.PublicIP = str(in.PublicIpAddresses[0])
	}
	if v := in.VirtualPrivateCloud; v != nil {
		out.VpcID = str(v.VpcId)
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// FindInstances returns the instances carrying the tag, following pages.
func (c *Compute) FindInstances(ctx context.Context, key, value string) ([]provision.Instance, error) {
	var out []provision.Instance
	for offset := int64(0); ; {
		req := cvm.NewDescribeInstancesRequest()
		req.Filters = []*cvm.Filter{{Name: common.StringPtr("tag:" + key), Values: common.StringPtrs([]string{value})}}
		req.Offset = common.Int64Ptr(offset)
		req.Limit = common.Int64Ptr(100)
		var resp *cvm.DescribeInstancesResponse
		err := c.c.do(ctx, c.op("DescribeInstances", false), func(ctx context.Context) (err error) {
			resp, err = c.c.cvm.DescribeInstancesWithContext(ctx, req)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, in := range resp.Response.InstanceSet {
			out = append(out, toInstance(in))
		}
		offset += int64(len(resp.Response.InstanceSet))
		if len(resp.Response.InstanceSet) == 0 || resp.Response.TotalCount == nil || offset >= *resp.Response.TotalCount {
			return out, nil
		}
	}
}

// Instance returns one instance, or provision.ErrNotFound.
func (c *Compute) Instance(ctx context.Context, id string) (provision.Instance, error) {
	req := cvm.NewDescribeInstancesRequest()
	req.InstanceIds = common.StringPtrs([]string{id})
	var resp *cvm.DescribeInstancesResponse
	err := c.c.do(ctx, c.op("DescribeInstances", false), func(ctx context.Context) (err error) {
		resp, err = c.c.cvm.DescribeInstancesWithContext(ctx, req)
		return err
	})
	if isCode(err, "InvalidInstanceId.NotFound") {
		return provision.Instance{}, provision.ErrNotFound
	}
	if err != nil {
		return provision.Instance{}, err
	}
	if len(resp.Response.InstanceSet) == 0 {
		return provision.Instance{}, provision.ErrNotFound
	}
	return toInstance(resp.Response.InstanceSet[0]), nil
}

func isCode(err error, code string) bool {
	ae, ok := err.(*APIError)
	return ok && ae.Code == code
}

// runParams fills the fields RunInstances and InquiryPriceRunInstances share.
func runParams(s provision.InstanceSpec) (*cvm.Placement, *cvm.SystemDisk, *cvm.InternetAccessible) {
	return &cvm.Placement{Zone: common.StringPtr(s.Zone)},
		&cvm.SystemDisk{DiskType: common.StringPtr("CLOUD_BSSD"), DiskSize: common.Int64Ptr(int64(s.DiskGB))},
		&cvm.InternetAccessible{InternetChargeType: common.StringPtr("TRAFFIC_POSTPAID_BY_HOUR"),
			InternetMaxBandwidthOut: common.Int64Ptr(int64(s.BandwidthMbps)), PublicIpAssigned: common.BoolPtr(true)}
}

// Price asks what the instance costs by the hour.
func (c *Compute) Price(ctx context.Context, s provision.InstanceSpec) (provision.Price, error) {
	req := cvm.NewInquiryPriceRunInstancesRequest()
	req.Placement, req.SystemDisk, req.InternetAccessible = runParams(s)
	req.ImageId = common.StringPtr(s.ImageID)
	req.InstanceType = common.StringPtr(s.Type)
	req.InstanceChargeType = common.StringPtr("POSTPAID_BY_HOUR")
	var resp *cvm.InquiryPriceRunInstancesResponse
	o := c.op("InquiryPriceRunInstances", false)
	o.where = s.Zone
	err := c.c.do(ctx, o, func(ctx context.Context) (err error) {
		resp, err = c.c.cvm.InquiryPriceRunInstancesWithContext(ctx, req)
		return err
	})
	if err != nil {
		return provision.Price{}, err
	}
	p := provision.Price{Currency: "CNY"}
	if pr := resp.Response.Price; pr != nil {
		if ip := pr.InstancePrice; ip != nil {
			if ip.UnitPriceDiscount != nil {
				p.PerHour = *ip.UnitPriceDiscount
			} else if ip.UnitPrice != nil {
				p.PerHour = *ip.UnitPrice
			}
		}
		if bp := pr.BandwidthPrice; bp != nil && bp.UnitPrice != nil {
			p.Traffic = *bp.UnitPrice
		}
	}
	return p, nil
}

// RunInstance creates one instance; the spec's ClientToken makes a replay return the same id.
func (c *Compute) RunInstance(ctx context.Context, s provision.InstanceSpec) (string, error) {
	req := cvm.NewRunInstancesRequest()
	req.Placement, req.SystemDisk, req.InternetAccessible = runParams(s)
	req.ImageId = common.StringPtr(s.ImageID)
	req.InstanceType = common.StringPtr(s.Type)
	req.InstanceChargeType = common.StringPtr("POSTPAID_BY_HOUR")
	req.InstanceCount = common.Int64Ptr(1)
	req.InstanceName = common.StringPtr(s.Name)
	req.ClientToken = common.StringPtr(s.ClientToken)
	if s.SecurityGroupID != "" {
		req.SecurityGroupIds = common.StringPtrs([]string{s.SecurityGroupID})
	}
	if len(s.KeyIDs) > 0 {
		req.LoginSettings = &cvm.LoginSettings{KeyIds: common.StringPtrs(s.KeyIDs)}
	}
	if len(s.UserData) > 0 {
		req.UserData = common.StringPtr(base64.StdEncoding.EncodeToString(s.UserData))
	}
	if s.Role != "" {
		req.CamRoleName = common.StringPtr(s.Role)
	}
	if s.VpcID != "" {
		req.VirtualPrivateCloud = &cvm.VirtualPrivateCloud{VpcId: common.StringPtr(s.VpcID), SubnetId: common.StringPtr(s.SubnetID)}
	}
	var tags []*cvm.Tag
	for _, k := range sortedKeys(s.Tags) {
		tags = append(tags, &cvm.Tag{Key: common.StringPtr(k), Value: common.StringPtr(s.Tags[k])})
	}
	req.TagSpecification = []*cvm.TagSpecification{{ResourceType: common.StringPtr("instance"), Tags: tags}}
	var resp *cvm.RunInstancesResponse
	o := c.op("RunInstances", true)
	o.idempotent = s.ClientToken != ""
	o.where = s.Zone
	err := c.c.do(ctx, o, func(ctx context.Context) (err error) {
		resp, err = c.c.cvm.RunInstancesWithContext(ctx, req)
		return err
	})
	if err != nil {
		return "", err
	}
	if len(resp.Response.InstanceIdSet) != 1 {
		return "", fmt.Errorf("cvm RunInstances: expected one instance id, got %d", len(resp.Response.InstanceIdSet))
	}
	return *resp.Response.InstanceIdSet[0], nil
}

// TerminateInstance deletes an instance; one already gone is provision.ErrNotFound.
func (c *Compute) TerminateInstance(ctx context.Context, id string) error {
	req := cvm.NewTerminateInstancesRequest()
	req.InstanceIds = common.StringPtrs([]string{id})
	o := c.op("TerminateInstances", true)
	o.idempotent = true
	err := c.c.do(ctx, o, func(ctx context.Context) error {
		_, err := c.c.cvm.TerminateInstancesWithContext(ctx, req)
		return err
	})
	if isCode(err, "InvalidInstanceId.NotFound") {
		return provision.ErrNotFound
	}
	return err
}

// StartInstance starts a stopped instance; starting one that runs is not an error.
func (c *Compute) StartInstance(ctx context.Context, id string) error {
	req := cvm.NewStartInstancesRequest()
	req.InstanceIds = common.StringPtrs([]string{id})
	o := c.op("StartInstances", true)
	o.idempotent = true // starting twice starts once
	err := c.c.do(ctx, o, func(ctx context.Context) error {
		_, err := c.c.cvm.StartInstancesWithContext(ctx, req)
		return err
	})
	if isCode(err, "UnsupportedOperation.InstanceStateRunning") {
		return nil
	}
	return err
}

// SetRole attaches a CAM role (made with CreateRole, so of type user) to a running instance.
func (c *Compute) SetRole(ctx context.Context, id, role string) error {
	req := cvm.NewModifyInstancesAttributeRequest()
	req.InstanceIds = common.StringPtrs([]string{id})
	req.CamRoleName = common.StringPtr(role)
	if role != "" {
		req.CamRoleType = common.StringPtr("user")
	}
	o := c.op("ModifyInstancesAttribute", true)
	o.idempotent = true // setting the same role twice sets it once
	return c.c.do(ctx, o, func(ctx context.Context) error {
		_, err := c.c.cvm.ModifyInstancesAttributeWithContext(ctx, req)
		return err
	})
}

// DryRunInstance asks whether RunInstances would be allowed, without creating anything.
func (c *Compute) DryRunInstance(ctx context.Context, s provision.InstanceSpec) error {
	req := cvm.NewRunInstancesRequest()
	req.Placement, req.SystemDisk, req.InternetAccessible = runParams(s)
	req.ImageId = common.StringPtr(s.ImageID)
	req.InstanceType = common.StringPtr(s.Type)
	req.DryRun = common.BoolPtr(true)
	err := c.c.do(ctx, c.op("RunInstances", false), func(ctx context.Context) error {
		_, err := c.c.cvm.RunInstancesWithContext(ctx, req)
		return err
	})
	if isCode(err, "DryRunOperation") { // some API versions answer a passing dry run so
		return nil
	}
	return err
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
