package tencent

import (
	"context"
	"strconv"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"

	"github.com/qcloud-applet/applet/provision"
)

// Network is provision.Network on VPC.
type Network struct{ c *Client }

var _ provision.Network = (*Network)(nil)

// Network returns the VPC and subnet side of the client.
func (c *Client) Network() *Network { return &Network{c} }

func (n *Network) op(action string, write bool) op {
	return op{service: "vpc", action: action, write: write, where: n.c.cfg.Region}
}

func tagMap(ts []*vpc.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[str(t.Key)] = str(t.Value)
	}
	return m
}

func vpcTags(tags map[string]string) []*vpc.Tag {
	var out []*vpc.Tag
	for k, v := range tags {
		out = append(out, &vpc.Tag{Key: common.StringPtr(k), Value: common.StringPtr(v)})
	}
	return out
}

func (n *Network) vpcs(ctx context.Context, req *vpc.DescribeVpcsRequest) ([]provision.VPC, error) {
	var out []provision.VPC
	for offset := 0; ; offset += 100 {
		req.Offset, req.Limit = common.StringPtr(strconv.Itoa(offset)), common.StringPtr("100")
		var resp *vpc.DescribeVpcsResponse
		err := n.c.do(ctx, n.op("DescribeVpcs", false), func(ctx context.Context) (err error) {
			resp, err = n.c.vpc.DescribeVpcsWithContext(ctx, req)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, v := range resp.Response.VpcSet {
			out = append(out, provision.VPC{ID: str(v.VpcId), Name: str(v.VpcName), CIDR: str(v.CidrBlock), Tags: tagMap(v.TagSet)})
		}
		if len(resp.Response.VpcSet) < 100 {
			return out, nil
		}
	}
}

// FindVPCs returns the VPCs with the name whose own tags hold key=value.
func (n *Network) FindVPCs(ctx context.Context, name, key, value string) ([]provision.VPC, error) {
	req := vpc.NewDescribeVpcsRequest()
	req.Filters = []*vpc.Filter{{Name: common.StringPtr("vpc-name"), Values: common.StringPtrs([]string{name})}}
	all, err := n.vpcs(ctx, req)
	var out []provision.VPC
	for _, v := range all {
		if v.Tags[key] == value {
			out = append(out, v)
		}
	}
	return out, err
}

// VPC reads one VPC, or provision.ErrNotFound.
func (n *Network) VPC(ctx context.Context, id string) (provision.VPC, error) {
	req := vpc.NewDescribeVpcsRequest()
	req.VpcIds = common.StringPtrs([]string{id})
	vs, err := n.vpcs(ctx, req)
	if isCode(err, "ResourceNotFound") || (err == nil && len(vs) == 0) {
		return provision.VPC{}, provision.ErrNotFound
	}
	if err != nil {
		return provision.VPC{}, err
	}
	return vs[0], nil
}

// CreateVPC creates a VPC carrying the tags. It has no ClientToken: a create whose answer was lost is
// found by name and tag before another is made (callers read first).
func (n *Network) CreateVPC(ctx context.Context, name, cidr string, tags map[string]string) (string, error) {
	req := vpc.NewCreateVpcRequest()
	req.VpcName, req.CidrBlock, req.Tags = common.StringPtr(name), common.StringPtr(cidr), vpcTags(tags)
	var resp *vpc.CreateVpcResponse
	err := n.c.do(ctx, n.op("CreateVpc", true), func(ctx context.Context) (err error) {
		resp, err = n.c.vpc.CreateVpcWithContext(ctx, req)
		return err
	})
	if err != nil {
		return "", err
	}
	return str(resp.Response.Vpc.VpcId), nil
}

// DeleteVPC deletes a VPC; one already gone is not an error, one still in use is (ResourceInUse).
func (n *Network) DeleteVPC(ctx context.Context, id string) error {
	req := vpc.NewDeleteVpcRequest()
	req.VpcId = common.StringPtr(id)
	err := n.c.do(ctx, op{service: "vpc", action: "DeleteVpc", write: true, idempotent: true, where: n.c.cfg.Region}, func(ctx context.Context) error {
		_, err := n.c.vpc.DeleteVpcWithContext(ctx, req)
		return err
	})
	if isCode(err, "ResourceNotFound") {
		return nil
	}
	return err
}

func (n *Network) subnets(ctx context.Context, req *vpc.DescribeSubnetsRequest) ([]provision.Subnet, error) {
	var out []provision.Subnet
	for offset := 0; ; offset += 100 {
		req.Offset, req.Limit = common.StringPtr(strconv.Itoa(offset)), common.StringPtr("100")
		var resp *vpc.DescribeSubnetsResponse
		err := n.c.do(ctx, n.op("DescribeSubnets", false), func(ctx context.Context) (err error) {
			resp, err = n.c.vpc.DescribeSubnetsWithContext(ctx, req)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range resp.Response.SubnetSet {
			out = append(out, provision.Subnet{ID: str(s.SubnetId), VpcID: str(s.VpcId), Name: str(s.SubnetName), CIDR: str(s.CidrBlock), Zone: str(s.Zone), Tags: tagMap(s.TagSet)})
		}
		if len(resp.Response.SubnetSet) < 100 {
			return out, nil
		}
	}
}

// FindSubnets returns the VPC's subnets with the name.
func (n *Network) FindSubnets(ctx context.Context, vpcID, name string) ([]provision.Subnet, error) {
	req := vpc.NewDescribeSubnetsRequest()
	req.Filters = []*vpc.Filter{{Name: common.StringPtr("vpc-id"), Values: common.StringPtrs([]string{vpcID})},
		{Name: common.StringPtr("subnet-name"), Values: common.StringPtrs([]string{name})}}
	return n.subnets(ctx, req)
}

// Subnet reads one subnet, or provision.ErrNotFound.
func (n *Network) Subnet(ctx context.Context, id string) (provision.Subnet, error) {
	req := vpc.NewDescribeSubnetsRequest()
	req.SubnetIds = common.StringPtrs([]string{id})
	ss, err := n.subnets(ctx, req)
	if isCode(err, "ResourceNotFound") || (err == nil && len(ss) == 0) {
		return provision.Subnet{}, provision.ErrNotFound
	}
	if err != nil {
		return provision.Subnet{}, err
	}
	return ss[0], nil
}

// CreateSubnet creates a subnet of the VPC in zone (no ClientToken either: read first).
func (n *Network) CreateSubnet(ctx context.Context, vpcID, name, cidr, zone string, tags map[string]string) (string, error) {
	req := vpc.NewCreateSubnetRequest()
	req.VpcId, req.SubnetName, req.CidrBlock, req.Zone, req.Tags = common.StringPtr(vpcID), common.StringPtr(name), common.StringPtr(cidr), common.StringPtr(zone), vpcTags(tags)
	var resp *vpc.CreateSubnetResponse
	err := n.c.do(ctx, n.op("CreateSubnet", true), func(ctx context.Context) (err error) {
		resp, err = n.c.vpc.CreateSubnetWithContext(ctx, req)
		return err
	})
	if err != nil {
		return "", err
	}
	return str(resp.Response.Subnet.SubnetId), nil
}

// DeleteSubnet deletes a subnet; one already gone is not an error, one with instances is (ResourceInUse).
func (n *Network) DeleteSubnet(ctx context.Context, id string) error {
	req := vpc.NewDeleteSubnetRequest()
	req.SubnetId = common.StringPtr(id)
	err := n.c.do(ctx, op{service: "vpc", action: "DeleteSubnet", write: true, idempotent: true, where: n.c.cfg.Region}, func(ctx context.Context) error {
		_, err := n.c.vpc.DeleteSubnetWithContext(ctx, req)
		return err
	})
	if isCode(err, "ResourceNotFound") {
		return nil
	}
	return err
}
