package tcfake

import (
	"fmt"
	"net"
	"time"
)

type policy struct {
	Protocol, Port, CidrBlock, Action, PolicyDescription string
	SecurityGroupId                                      string // the source: members of this group (instead of CidrBlock)
}

type group struct {
	id, name, desc, region string
	tags                   []tag
	ingress                []policy
	created                time.Time
}

type vpcState struct {
	groups  map[string]*group
	order   []string
	n       int
	vpcs    map[string]*network
	subnets map[string]*subnet
	netN    int
}

// network is a VPC; subnet one of its subnets, in one zone.
type network struct {
	id, name, region string
	cidr             *net.IPNet
	tags             []tag
	created          time.Time
}

type subnet struct {
	id, vpc, name, zone string
	cidr                *net.IPNet
	tags                []tag
	created             time.Time
}

func (v *vpcState) init() {
	v.groups, v.vpcs, v.subnets = map[string]*group{}, map[string]*network{}, map[string]*subnet{}
}

type policySet struct {
	Ingress []struct {
		PolicyIndex       *int
		Protocol          string
		Port              string
		CidrBlock         string
		SecurityGroupId   string
		Action            string
		PolicyDescription string
	}
}

func (s *Server) vpcAction(req *request) (any, *apiError) {
	if err := s.checkRegion(req.region); err != nil {
		return nil, err
	}
	switch req.action {
	case "CreateSecurityGroup":
		var in struct {
			GroupName, GroupDescription string
			Tags                        []tag
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		if in.GroupName == "" || len(in.GroupName) > 60 {
			return nil, errorf("InvalidParameterValue.Range", "GroupName must be 1 to 60 characters.")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.vpc.n++
		g := &group{id: fmt.Sprintf("sg-%08x", 0x3c000000+s.vpc.n), name: in.GroupName, desc: in.GroupDescription, region: req.region, tags: in.Tags, created: s.now()}
		s.vpc.groups[g.id] = g
		s.vpc.order = append(s.vpc.order, g.id)
		return map[string]any{"SecurityGroup": s.groupJSON(g)}, nil
	case "DescribeSecurityGroups":
		var in struct {
			SecurityGroupIds []string
			Filters          []filter
			Offset, Limit    string
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var set []map[string]any
		for _, id := range s.vpc.order {
			g := s.vpc.groups[id]
			if g == nil || g.region != req.region || (len(in.SecurityGroupIds) > 0 && !contains(in.SecurityGroupIds, id)) {
				continue
			}
			ok, aerr := s.filtersMatch(in.Filters, g.tags, g.created, map[string]string{"security-group-name": g.name, "security-group-id": g.id})
			if aerr != nil {
				return nil, aerr
			}
			if ok {
				set = append(set, s.groupJSON(g))
			}
		}
		for _, id := range in.SecurityGroupIds {
			if g := s.vpc.groups[id]; g == nil || g.region != req.region {
				return nil, errorf("ResourceNotFound", "The security group %s does not exist.", id)
			}
		}
		return map[string]any{"TotalCount": len(set), "SecurityGroupSet": set}, nil
	case "DescribeSecurityGroupPolicies":
		var in struct{ SecurityGroupId string }
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		g := s.vpc.groups[in.SecurityGroupId]
		if g == nil {
			return nil, errorf("ResourceNotFound", "The security group %s does not exist.", in.SecurityGroupId)
		}
		var ing []map[string]any
		for i, p := range g.ingress {
			ing = append(ing, map[string]any{"PolicyIndex": i, "Protocol": p.Protocol, "Port": p.Port, "CidrBlock": p.CidrBlock, "SecurityGroupId": p.SecurityGroupId, "Action": p.Action, "PolicyDescription": p.PolicyDescription})
		}
		return map[string]any{"SecurityGroupPolicySet": map[string]any{"Version": fmt.Sprint(len(g.ingress)), "Ingress": ing, "Egress": []any{}}}, nil
	case "CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies":
		var in struct {
			SecurityGroupId        string
			SecurityGroupPolicySet policySet
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		g := s.vpc.groups[in.SecurityGroupId]
		if g == nil {
			return nil, errorf("ResourceNotFound", "The security group %s does not exist.", in.SecurityGroupId)
		}
		if req.action == "CreateSecurityGroupPolicies" {
			for _, p := range in.SecurityGroupPolicySet.Ingress {
				switch {
				case p.CidrBlock != "" && p.SecurityGroupId != "":
					return nil, errorf("InvalidParameter.Coexist", "CidrBlock and SecurityGroupId cannot both be set.")
				case p.SecurityGroupId != "" && s.vpc.groups[p.SecurityGroupId] == nil:
					return nil, errorf("ResourceNotFound", "The security group %s does not exist.", p.SecurityGroupId)
				}
				np := policy{p.Protocol, p.Port, p.CidrBlock, p.Action, p.PolicyDescription, p.SecurityGroupId}
				for _, q := range g.ingress {
					if q == np {
						return nil, errorf("UnsupportedOperation.DuplicatePolicy", "The policy %s %s from %s exists.", p.Protocol, p.Port, p.CidrBlock)
					}
				}
				g.ingress = append(g.ingress, np)
			}
			return map[string]any{}, nil
		}
		drop := map[int]bool{}
		for _, p := range in.SecurityGroupPolicySet.Ingress {
			if p.PolicyIndex == nil || *p.PolicyIndex < 0 || *p.PolicyIndex >= len(g.ingress) {
				return nil, errorf("InvalidParameterValue.Range", "PolicyIndex is out of range.")
			}
			drop[*p.PolicyIndex] = true
		}
		var keep []policy
		for i, p := range g.ingress {
			if !drop[i] {
				keep = append(keep, p)
			}
		}
		g.ingress = keep
		return map[string]any{}, nil
	case "DeleteSecurityGroup":
		var in struct{ SecurityGroupId string }
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.vpc.groups[in.SecurityGroupId] == nil {
			return nil, errorf("InvalidSecurityGroupID.NotFound", "The security group %s does not exist.", in.SecurityGroupId)
		}
		now := s.now()
		for _, i := range s.cvm.instances {
			if s.state(i, now) != "" && contains(i.securityGroups, in.SecurityGroupId) {
				return nil, errorf("ResourceInUse", "The security group %s is used by %s.", in.SecurityGroupId, i.id)
			}
		}
		for _, g := range s.vpc.groups {
			for _, p := range g.ingress {
				if p.SecurityGroupId == in.SecurityGroupId && g.id != in.SecurityGroupId {
					return nil, errorf("ResourceInUse", "The security group %s is referenced by a rule of %s.", in.SecurityGroupId, g.id)
				}
			}
		}
		for _, d := range s.db.dbs {
			if contains(d.groups, in.SecurityGroupId) {
				return nil, errorf("ResourceInUse", "The security group %s is used by %s.", in.SecurityGroupId, d.id)
			}
		}
		delete(s.vpc.groups, in.SecurityGroupId)
		return map[string]any{}, nil
	}
	return s.networkAction(req)
}

func (s *Server) groupJSON(g *group) map[string]any {
	return map[string]any{"SecurityGroupId": g.id, "SecurityGroupName": g.name, "SecurityGroupDesc": g.desc,
		"IsDefault": false, "CreatedTime": g.created.UTC().Format("2006-01-02 15:04:05"), "TagSet": tagSet(g.tags)}
}

// SecurityGroups returns the ids of the existing security groups.
func (s *Server) SecurityGroups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, id := range s.vpc.order {
		if s.vpc.groups[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// Ingress returns a security group's ingress rules as "TCP:443 0.0.0.0/0 ACCEPT".
func (s *Server) Ingress(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if g := s.vpc.groups[id]; g != nil {
		for _, p := range g.ingress {
			from := p.CidrBlock
			if p.SecurityGroupId != "" {
				from = p.SecurityGroupId
			}
			out = append(out, fmt.Sprintf("%s:%s %s %s", p.Protocol, p.Port, from, p.Action))
		}
	}
	return out
}
