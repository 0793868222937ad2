package tencent

import (
	"context"
	"slices"
	"sort"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"

	"github.com/qcloud-applet/applet/provision"
)

// Firewall is provision.Firewall on VPC security groups.
type Firewall struct{ c *Client }

var _ provision.Firewall = (*Firewall)(nil)

// Firewall returns the VPC side of the client.
func (c *Client) Firewall() *Firewall { return &Firewall{c} }

func (f *Firewall) op(action string, write bool) op {
	return op{service: "vpc", action: action, write: write, where: f.c.cfg.Region}
}

// FindGroups returns the groups with the name and the tag, with their ingress rules.
func (f *Firewall) FindGroups(ctx context.Context, name, key, value string) ([]provision.SecurityGroup, error) {
	req := vpc.NewDescribeSecurityGroupsRequest()
	// By name, with the tag checked on each group's own TagSet: the tag index lags behind a create,
	// so a tag filter can miss a group made a moment ago (and a run killed then would make another).
	req.Filters = []*vpc.Filter{{Name: common.StringPtr("security-group-name"), Values: common.StringPtrs([]string{name})}}
	return f.describeTagged(ctx, req, key, value)
}

// GroupByID reads one group by its id, whatever its tags say yet (tag queries lag behind a
// create), or provision.ErrNotFound.
func (f *Firewall) GroupByID(ctx context.Context, id string) (provision.SecurityGroup, error) {
	req := vpc.NewDescribeSecurityGroupsRequest()
	req.SecurityGroupIds = common.StringPtrs([]string{id})
	groups, err := f.describe(ctx, req)
	if isCode(err, "ResourceNotFound") || isCode(err, "InvalidSecurityGroupID.NotFound") || (err == nil && len(groups) == 0) {
		return provision.SecurityGroup{}, provision.ErrNotFound
	}
	if err != nil {
		return provision.SecurityGroup{}, err
	}
	return groups[0], nil
}

// describe lists the groups a request finds, with their accepting ingress rules.
func (f *Firewall) describe(ctx context.Context, req *vpc.DescribeSecurityGroupsRequest) ([]provision.SecurityGroup, error) {
	return f.describeTagged(ctx, req, "", "")
}

// describeTagged is describe keeping only the groups whose own tags hold key=value (key "": all).
func (f *Firewall) describeTagged(ctx context.Context, req *vpc.DescribeSecurityGroupsRequest, key, value string) ([]provision.SecurityGroup, error) {
	var resp *vpc.DescribeSecurityGroupsResponse
	err := f.c.do(ctx, f.op("DescribeSecurityGroups", false), func(ctx context.Context) (err error) {
		resp, err = f.c.vpc.DescribeSecurityGroupsWithContext(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []provision.SecurityGroup
	for _, g := range resp.Response.SecurityGroupSet {
		if key != "" && !slices.ContainsFunc(g.TagSet, func(t *vpc.Tag) bool { return str(t.Key) == key && str(t.Value) == value }) {
			continue
		}
		sg := provision.SecurityGroup{ID: str(g.SecurityGroupId), Name: str(g.SecurityGroupName)}
		preq := vpc.NewDescribeSecurityGroupPoliciesRequest()
		preq.SecurityGroupId = g.SecurityGroupId
		var presp *vpc.DescribeSecurityGroupPoliciesResponse
		err := f.c.do(ctx, f.op("DescribeSecurityGroupPolicies", false), func(ctx context.Context) (err error) {
			presp, err = f.c.vpc.DescribeSecurityGroupPoliciesWithContext(ctx, preq)
			return err
		})
		if err != nil {
			return nil, err
		}
		if ps := presp.Response.SecurityGroupPolicySet; ps != nil {
			for _, p := range ps.Ingress {
				if str(p.Action) != "ACCEPT" {
					continue
				}
				r := provision.Rule{Protocol: str(p.Protocol), Port: str(p.Port), CIDR: str(p.CidrBlock), Group: str(p.SecurityGroupId)}
				if p.PolicyIndex != nil {
					r.Index = int(*p.PolicyIndex)
				}
				sg.Rules = append(sg.Rules, r)
			}
		}
		out = append(out, sg)
	}
	return out, nil
}

// CreateGroup creates an empty, tagged group.
func (f *Firewall) CreateGroup(ctx context.Context, name, desc string, tags map[string]string) (string, error) {
	req := vpc.NewCreateSecurityGroupRequest()
	req.GroupName = common.StringPtr(name)
	req.GroupDescription = common.StringPtr(desc)
	for _, k := range sortedKeys(tags) {
		req.Tags = append(req.Tags, &vpc.Tag{Key: common.StringPtr(k), Value: common.StringPtr(tags[k])})
	}
	var resp *vpc.CreateSecurityGroupResponse
	create := func(ctx context.Context) (err error) {
		resp, err = f.c.vpc.CreateSecurityGroupWithContext(ctx, req)
		return err
	}
	err := f.c.do(ctx, f.op("CreateSecurityGroup", true), create)
	for attempt := 0; err != nil && Ambiguous(err) && attempt < 3; attempt++ {
		// The answer was lost, maybe after the group was made: look before making another.
		if id, ok := f.findCreated(ctx, name); ok {
			return id, nil
		}
		err = f.c.do(ctx, f.op("CreateSecurityGroup", true), create)
	}
	if err != nil {
		return "", err
	}
	return str(resp.Response.SecurityGroup.SecurityGroupId), nil
}

// findCreated finds the one group of the name, if a create went through. By name alone: the tag
// index lags behind a create, and the name is the deployment's own.
func (f *Firewall) findCreated(ctx context.Context, name string) (string, bool) {
	req := vpc.NewDescribeSecurityGroupsRequest()
	req.Filters = []*vpc.Filter{{Name: common.StringPtr("security-group-name"), Values: common.StringPtrs([]string{name})}}
	groups, err := f.describe(ctx, req)
	if err == nil && len(groups) == 1 {
		return groups[0].ID, true
	}
	return "", false
}

// AddRules adds ingress rules that accept.
func (f *Firewall) AddRules(ctx context.Context, id string, rules []provision.Rule) error {
	req := vpc.NewCreateSecurityGroupPoliciesRequest()
	req.SecurityGroupId = common.StringPtr(id)
	req.SecurityGroupPolicySet = &vpc.SecurityGroupPolicySet{}
	for _, r := range rules {
		p := &vpc.SecurityGroupPolicy{Protocol: common.StringPtr(r.Protocol), Port: common.StringPtr(r.Port),
			Action: common.StringPtr("ACCEPT"), PolicyDescription: common.StringPtr("applet")}
		if r.Group != "" { // a rule admits a group's members or an address block, never both
			p.SecurityGroupId = common.StringPtr(r.Group)
		} else {
			p.CidrBlock = common.StringPtr(r.CIDR)
		}
		req.SecurityGroupPolicySet.Ingress = append(req.SecurityGroupPolicySet.Ingress, p)
	}
	add := func(ctx context.Context) error {
		_, err := f.c.vpc.CreateSecurityGroupPoliciesWithContext(ctx, req)
		return err
	}
	err := f.c.do(ctx, f.op("CreateSecurityGroupPolicies", true), add)
	if err != nil && Ambiguous(err) {
		// The answer was lost: the rules may be there already; adding them twice would be refused.
		if present, rerr := f.hasRules(ctx, id, rules); rerr == nil && present {
			return nil
		} else if rerr == nil {
			return f.c.do(ctx, f.op("CreateSecurityGroupPolicies", true), add)
		}
	}
	return err
}

// RemoveRules deletes ingress rules by index.
func (f *Firewall) RemoveRules(ctx context.Context, id string, rules []provision.Rule) error {
	req := vpc.NewDeleteSecurityGroupPoliciesRequest()
	req.SecurityGroupId = common.StringPtr(id)
	req.SecurityGroupPolicySet = &vpc.SecurityGroupPolicySet{}
	idx := make([]int, 0, len(rules))
	for _, r := range rules {
		idx = append(idx, r.Index)
	}
	sort.Ints(idx)
	for _, i := range idx {
		req.SecurityGroupPolicySet.Ingress = append(req.SecurityGroupPolicySet.Ingress, &vpc.SecurityGroupPolicy{PolicyIndex: common.Int64Ptr(int64(i))})
	}
	return f.c.do(ctx, f.op("DeleteSecurityGroupPolicies", true), func(ctx context.Context) error {
		_, err := f.c.vpc.DeleteSecurityGroupPoliciesWithContext(ctx, req)
		return err
	})
}

// DeleteGroup deletes a group; while an instance still uses it the API answers ResourceInUse, which
// is retried.
func (f *Firewall) DeleteGroup(ctx context.Context, id string) error {
	req := vpc.NewDeleteSecurityGroupRequest()
	req.SecurityGroupId = common.StringPtr(id)
	o := f.op("DeleteSecurityGroup", true)
	o.idempotent = true
	err := f.c.do(ctx, o, func(ctx context.Context) error {
		_, err := f.c.vpc.DeleteSecurityGroupWithContext(ctx, req)
		return err
	})
	if isCode(err, "ResourceNotFound") || isCode(err, "InvalidSecurityGroupID.NotFound") {
		return provision.ErrNotFound
	}
	return err
}

// hasRules says whether the group has every rule.
func (f *Firewall) hasRules(ctx context.Context, id string, rules []provision.Rule) (bool, error) {
	req := vpc.NewDescribeSecurityGroupPoliciesRequest()
	req.SecurityGroupId = common.StringPtr(id)
	var resp *vpc.DescribeSecurityGroupPoliciesResponse
	if err := f.c.do(ctx, f.op("DescribeSecurityGroupPolicies", false), func(ctx context.Context) (err error) {
		resp, err = f.c.vpc.DescribeSecurityGroupPoliciesWithContext(ctx, req)
		return err
	}); err != nil {
		return false, err
	}
	for _, r := range rules {
		found := false
		if set := resp.Response.SecurityGroupPolicySet; set != nil {
			for _, p := range set.Ingress {
				found = found || (str(p.Protocol) == r.Protocol && str(p.Port) == r.Port && str(p.CidrBlock) == r.CIDR && str(p.SecurityGroupId) == r.Group && str(p.Action) == "ACCEPT")
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}
