package provision

import (
	"context"
	"errors"
	"fmt"
)

// A deployment of several instances gets a network of its own: a VPC and a subnet in the instances'
// zone (or ones the team names), where the instances run and the load balancer sits, and where the
// managed databases belong.

// StepNetwork is the VPC and subnet step.
const StepNetwork = "network"

// NetworkSettings say which network the instances of a deployment of several run in.
type NetworkSettings struct {
	CIDR, SubnetCIDR string // of the VPC and subnet provision makes
	VpcID, SubnetID  string // adopted instead (both or neither)
}

// NetworkName is the name of the VPC and subnet provision makes.
func (p *Provisioner) NetworkName() string { return "applet-" + p.cfg.Deployment }

type networkSeen struct {
	vpc    *VPC
	subnet *Subnet
}

// readNetwork reads the VPC and subnet and says whether it could.
func (p *Provisioner) readNetwork(ctx context.Context, rd *reads) bool {
	n := p.deps.Network
	s := p.cfg.Network
	zone := p.cfg.Instance.Zone
	var seen networkSeen
	defer func() { rd.mu.Lock(); rd.plan.cluster.net = seen; rd.mu.Unlock() }()
	if s.VpcID != "" {
		v, err := n.VPC(ctx, s.VpcID)
		if errors.Is(err, ErrNotFound) {
			rd.fail(StepNetwork, fmt.Errorf("provision.vpc_id %s: no such VPC in %s; name one of the region's VPCs, or leave provision.vpc_id and provision.subnet_id empty to have one made", s.VpcID, p.cfg.Region))
			return false
		}
		if err != nil {
			rd.fail(StepNetwork, err)
			return false
		}
		sn, err := n.Subnet(ctx, s.SubnetID)
		switch {
		case errors.Is(err, ErrNotFound):
			rd.fail(StepNetwork, fmt.Errorf("provision.subnet_id %s: no such subnet; name a subnet of %s in %s", s.SubnetID, s.VpcID, zone))
			return false
		case err != nil:
			rd.fail(StepNetwork, err)
			return false
		case sn.VpcID != v.ID:
			rd.fail(StepNetwork, fmt.Errorf("provision.subnet_id %s is in %s, not provision.vpc_id %s: name a subnet of %s", sn.ID, sn.VpcID, v.ID, v.ID))
			return false
		case sn.Zone != zone:
			rd.fail(StepNetwork, fmt.Errorf("provision.subnet_id %s is in zone %s, the instances go to %s: name a subnet in %s, or set tencentcloud.zone to %s", sn.ID, sn.Zone, zone, zone, sn.Zone))
			return false
		}
		seen = networkSeen{vpc: &v, subnet: &sn}
		rd.set(Change{StepNetwork, Keep, fmt.Sprintf("%s %s and %s %s in %s (adopted)", v.ID, v.CIDR, sn.ID, sn.CIDR, sn.Zone)})
		return true
	}
	vpcs, err := n.FindVPCs(ctx, p.NetworkName(), TagKey, p.cfg.Deployment)
	if err != nil {
		rd.fail(StepNetwork, err)
		return false
	}
	if len(vpcs) == 0 {
		if id := p.journal.Data().VpcID; id != "" { // made a moment ago: the tag index may lag
			if v, err := n.VPC(ctx, id); err == nil {
				vpcs = []VPC{v}
			}
		}
	}
	switch {
	case len(vpcs) == 0:
		rd.set(Change{StepNetwork, Create, fmt.Sprintf("VPC %s %s, subnet %s in %s", p.NetworkName(), s.CIDR, s.SubnetCIDR, zone)})
		return true
	case len(vpcs) > 1:
		rd.fail(StepNetwork, fmt.Errorf("%d VPCs are named %s with %s=%s: delete the extra ones in the VPC console, then run again", len(vpcs), p.NetworkName(), TagKey, p.cfg.Deployment))
		return false
	}
	v := vpcs[0]
	seen.vpc = &v
	sns, err := n.FindSubnets(ctx, v.ID, p.NetworkName())
	if err != nil {
		rd.fail(StepNetwork, err)
		return false
	}
	for _, sn := range sns {
		if sn.Zone == zone {
			sn := sn
			seen.subnet = &sn
		}
	}
	if seen.subnet == nil {
		rd.set(Change{StepNetwork, Update, fmt.Sprintf("%s: add subnet %s in %s", v.ID, s.SubnetCIDR, zone)})
		return true
	}
	rd.set(Change{StepNetwork, Keep, fmt.Sprintf("%s %s, %s %s in %s", v.ID, v.CIDR, seen.subnet.ID, seen.subnet.CIDR, zone)})
	return true
}

// applyNetwork makes what the VPC and subnet lack.
func (p *Provisioner) applyNetwork(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepNetwork)
	seen := plan.cluster.net
	n := p.deps.Network
	if c.Action == Keep {
		p.setResult(func(r *Result) { r.VpcID, r.SubnetID = seen.vpc.ID, seen.subnet.ID })
		return "ok", c.Detail, nil
	}
	vpcID := ""
	if seen.vpc != nil {
		vpcID = seen.vpc.ID
	} else {
		id, err := n.CreateVPC(ctx, p.NetworkName(), p.cfg.Network.CIDR, p.tags())
		if err != nil {
			return "", "", fmt.Errorf("creating the VPC: %w", err)
		}
		vpcID = id
		p.journal.Update(func(d *JournalData) { d.VpcID = id })
	}
	sn, err := n.CreateSubnet(ctx, vpcID, p.NetworkName(), p.cfg.Network.SubnetCIDR, p.cfg.Instance.Zone, p.tags())
	if err != nil {
		return "", "", fmt.Errorf("creating the subnet in %s: %w", vpcID, err)
	}
	p.journal.Update(func(d *JournalData) { d.SubnetID = sn })
	p.setResult(func(r *Result) { r.VpcID, r.SubnetID = vpcID, sn })
	if c.Action == Create {
		return "created", fmt.Sprintf("%s %s, %s %s in %s", vpcID, p.cfg.Network.CIDR, sn, p.cfg.Network.SubnetCIDR, p.cfg.Instance.Zone), nil
	}
	return "updated", c.Detail, nil
}

// networkToDestroy finds the VPC and subnet provision made (never adopted ones).
func (p *Provisioner) networkToDestroy(ctx context.Context) (*VPC, []Subnet, error) {
	if p.deps.Network == nil {
		return nil, nil, nil
	}
	vpcs, err := p.deps.Network.FindVPCs(ctx, p.NetworkName(), TagKey, p.cfg.Deployment)
	if err != nil {
		return nil, nil, err
	}
	if len(vpcs) == 0 {
		id := p.journal.Data().VpcID
		if id == "" {
			return nil, nil, nil
		}
		v, err := p.deps.Network.VPC(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		vpcs = []VPC{v}
	}
	sns, err := p.deps.Network.FindSubnets(ctx, vpcs[0].ID, p.NetworkName())
	if err != nil {
		return nil, nil, err
	}
	return &vpcs[0], sns, nil
}
