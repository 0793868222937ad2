package tcfake

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VPCs and their subnets (VPC 2017-03-12): private CIDR blocks, subnets inside their VPC and apart from
// one another, one zone each; a VPC with subnets, or a subnet with instances, is in use.

var privateBlocks = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

func inside(inner, outer *net.IPNet) bool {
	io, _ := inner.Mask.Size()
	oo, _ := outer.Mask.Size()
	return io >= oo && outer.Contains(inner.IP)
}

func overlap(a, b *net.IPNet) bool { return a.Contains(b.IP) || b.Contains(a.IP) }

func (s *Server) networkAction(req *request) (any, *apiError) {
	switch req.action {
	case "CreateVpc":
		var in struct {
			VpcName, CidrBlock string
			Tags               []tag
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		_, cidr, err := net.ParseCIDR(in.CidrBlock)
		if err != nil || cidr.IP.To4() == nil {
			return nil, errorf("InvalidParameterValue.Malformed", "CidrBlock %q is not an IPv4 CIDR block.", in.CidrBlock)
		}
		ones, _ := cidr.Mask.Size()
		private := false
		for _, b := range privateBlocks {
			_, p, _ := net.ParseCIDR(b)
			private = private || inside(cidr, p)
		}
		switch {
		case !private || ones < 12 || ones > 28:
			return nil, errorf("InvalidParameterValue", "CidrBlock %s must be inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, with a mask of 12 to 28.", in.CidrBlock)
		case in.VpcName == "" || len(in.VpcName) > 60:
			return nil, errorf("InvalidParameterValue.TooLong", "VpcName must be 1 to 60 characters.")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, v := range s.vpc.vpcs {
			if v.region == req.region {
				n++
			}
		}
		if n >= 20 {
			return nil, errorf("LimitExceeded", "The VPC quota of 20 in this region is reached.")
		}
		s.vpc.netN++
		v := &network{id: fmt.Sprintf("vpc-%08x", 0x7e000000+s.vpc.netN), name: in.VpcName, region: req.region, cidr: cidr, tags: in.Tags, created: s.now()}
		s.vpc.vpcs[v.id] = v
		return map[string]any{"Vpc": s.vpcJSON(v)}, nil
	case "DescribeVpcs":
		var in struct {
			VpcIds        []string
			Filters       []filter
			Offset, Limit string
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var set []map[string]any
		for _, v := range s.sortedVPCs() {
			if v.region != req.region || (len(in.VpcIds) > 0 && !contains(in.VpcIds, v.id)) {
				continue
			}
			ok, aerr := s.filtersMatch(in.Filters, v.tags, v.created, map[string]string{"vpc-id": v.id, "vpc-name": v.name})
			if aerr != nil {
				return nil, aerr
			}
			if ok {
				set = append(set, s.vpcJSON(v))
			}
		}
		return pageOf(set, in.Offset, in.Limit, "VpcSet")
	case "DeleteVpc":
		var in struct{ VpcId string }
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.vpc.vpcs[in.VpcId] == nil {
			return nil, errorf("ResourceNotFound", "The VPC %s does not exist.", in.VpcId)
		}
		for _, sn := range s.vpc.subnets {
			if sn.vpc == in.VpcId {
				return nil, errorf("ResourceInUse", "The VPC %s still has subnet %s.", in.VpcId, sn.id)
			}
		}
		for _, lb := range s.clb.lbs {
			if !lb.deleted && lb.vpc == in.VpcId {
				return nil, errorf("ResourceInUse", "The VPC %s still has load balancer %s.", in.VpcId, lb.id)
			}
		}
		delete(s.vpc.vpcs, in.VpcId)
		return map[string]any{}, nil
	case "CreateSubnet":
		var in struct {
			VpcId, SubnetName, CidrBlock, Zone string
			Tags                               []tag
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		_, cidr, err := net.ParseCIDR(in.CidrBlock)
		if err != nil || cidr.IP.To4() == nil {
			return nil, errorf("InvalidParameterValue.Malformed", "CidrBlock %q is not an IPv4 CIDR block.", in.CidrBlock)
		}
		if !contains(Zones[req.region], in.Zone) {
			return nil, errorf("InvalidParameterValue.ZoneConflict", "The zone %q is not in region %q.", in.Zone, req.region)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		v := s.vpc.vpcs[in.VpcId]
		if v == nil {
			return nil, errorf("ResourceNotFound", "The VPC %s does not exist.", in.VpcId)
		}
		if ones, _ := cidr.Mask.Size(); !inside(cidr, v.cidr) || ones > 28 {
			return nil, errorf("InvalidParameterValue.SubnetRange", "The subnet %s is not inside the VPC's %s (mask at most 28).", in.CidrBlock, v.cidr)
		}
		for _, sn := range s.vpc.subnets {
			if sn.vpc == v.id && overlap(sn.cidr, cidr) {
				return nil, errorf("InvalidParameterValue.SubnetConflict", "The subnet %s overlaps %s (%s).", in.CidrBlock, sn.id, sn.cidr)
			}
		}
		s.vpc.netN++
		sn := &subnet{id: fmt.Sprintf("subnet-%08x", 0x6b000000+s.vpc.netN), vpc: v.id, name: in.SubnetName, zone: in.Zone, cidr: cidr, tags: in.Tags, created: s.now()}
		s.vpc.subnets[sn.id] = sn
		return map[string]any{"Subnet": s.subnetJSON(sn)}, nil
	case "DescribeSubnets":
		var in struct {
			SubnetIds     []string
			Filters       []filter
			Offset, Limit string
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var set []map[string]any
		for _, sn := range s.sortedSubnets() {
			if len(in.SubnetIds) > 0 && !contains(in.SubnetIds, sn.id) {
				continue
			}
			ok, aerr := s.filtersMatch(in.Filters, sn.tags, sn.created, map[string]string{"subnet-id": sn.id, "vpc-id": sn.vpc, "subnet-name": sn.name, "zone": sn.zone})
			if aerr != nil {
				return nil, aerr
			}
			if ok {
				set = append(set, s.subnetJSON(sn))
			}
		}
		return pageOf(set, in.Offset, in.Limit, "SubnetSet")
	case "DeleteSubnet":
		var in struct{ SubnetId string }
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.vpc.subnets[in.SubnetId] == nil {
			return nil, errorf("ResourceNotFound", "The subnet %s does not exist.", in.SubnetId)
		}
		now := s.now()
		for _, i := range s.cvm.instances {
			if i.subnet == in.SubnetId && s.state(i, now) != "" {
				return nil, errorf("ResourceInUse", "The subnet %s is used by %s.", in.SubnetId, i.id)
			}
		}
		for _, d := range s.db.dbs {
			if d.subnet == in.SubnetId {
				return nil, errorf("ResourceInUse", "The subnet %s is used by %s.", in.SubnetId, d.id)
			}
		}
		delete(s.vpc.subnets, in.SubnetId)
		return map[string]any{}, nil
	}
	return nil, unknownAction(req)
}

// filtersMatch applies Describe filters (security groups, VPCs, subnets): the named fields, tag:<key>
// and tag-key (which lag behind a create, as the tag index does).
func (s *Server) filtersMatch(fs []filter, tags []tag, created time.Time, fields map[string]string) (bool, *apiError) {
	for _, f := range fs {
		if ok, isTag := matchTags(tags, f); isTag {
			if !ok || s.now().Sub(created) < s.describeLag {
				return false, nil
			}
			continue
		}
		v, known := fields[f.Name]
		if !known {
			return false, errorf("InvalidParameter.FilterInvalidKey", "The filter %s is not supported.", f.Name)
		}
		if !contains(f.Values, v) {
			return false, nil
		}
	}
	return true, nil
}

// pageOf cuts a Describe answer by the string Offset and Limit VPC's describes take.
func pageOf(set []map[string]any, offset, limit, key string) (any, *apiError) {
	off, lim := 0, 20
	var err error
	if offset != "" {
		if off, err = strconv.Atoi(offset); err != nil || off < 0 {
			return nil, errorf("InvalidParameterValue.Malformed", "Offset %q is not a number.", offset)
		}
	}
	if limit != "" {
		if lim, err = strconv.Atoi(limit); err != nil || lim < 0 || lim > 100 {
			return nil, errorf("InvalidParameterValue.Range", "Limit %q must be 0 to 100.", limit)
		}
	}
	total := len(set)
	set = set[min(off, len(set)):]
	set = set[:min(lim, len(set))]
	if set == nil {
		set = []map[string]any{}
	}
	return map[string]any{"TotalCount": total, key: set}, nil
}

func tagSet(tags []tag) []map[string]string {
	out := []map[string]string{}
	for _, t := range tags {
		out = append(out, map[string]string{"Key": t.Key, "Value": t.Value})
	}
	return out
}

func (s *Server) vpcJSON(v *network) map[string]any {
	return map[string]any{"VpcId": v.id, "VpcName": v.name, "CidrBlock": v.cidr.String(), "IsDefault": false,
		"CreatedTime": v.created.In(chinaTime).Format(time.DateTime), "TagSet": tagSet(v.tags)}
}

func (s *Server) subnetJSON(sn *subnet) map[string]any {
	return map[string]any{"SubnetId": sn.id, "VpcId": sn.vpc, "SubnetName": sn.name, "CidrBlock": sn.cidr.String(), "Zone": sn.zone,
		"IsDefault": false, "CreatedTime": sn.created.In(chinaTime).Format(time.DateTime), "TagSet": tagSet(sn.tags)}
}

func (s *Server) sortedVPCs() []*network {
	var out []*network
	for _, v := range s.vpc.vpcs {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *network) int { return strings.Compare(a.id, b.id) })
	return out
}

func (s *Server) sortedSubnets() []*subnet {
	var out []*subnet
	for _, sn := range s.vpc.subnets {
		out = append(out, sn)
	}
	slices.SortFunc(out, func(a, b *subnet) int { return strings.Compare(a.id, b.id) })
	return out
}

// VPCs lists the VPCs that exist, with their subnets, as "vpc-… 10.0.0.0/16: subnet-… 10.0.1.0/24 zone".
func (s *Server) VPCs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, v := range s.sortedVPCs() {
		line := v.id + " " + v.cidr.String() + ":"
		for _, sn := range s.sortedSubnets() {
			if sn.vpc == v.id {
				line += " " + sn.id + " " + sn.cidr.String() + " " + sn.zone
			}
		}
		out = append(out, line)
	}
	return out
}

// InstanceSubnet is the VPC and subnet an instance was launched into ("": the default network).
func (s *Server) InstanceSubnet(id string) (vpc, subnet string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.cvm.instances[id]; i != nil {
		return i.vpc, i.subnet
	}
	return "", ""
}
