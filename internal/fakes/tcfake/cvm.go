package tcfake

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Zones lists the regions and zones the stand-in knows.
var Zones = map[string][]string{
	"ap-guangzhou": {"ap-guangzhou-3", "ap-guangzhou-4", "ap-guangzhou-6"},
	"ap-shanghai":  {"ap-shanghai-2", "ap-shanghai-4", "ap-shanghai-5"},
	"ap-beijing":   {"ap-beijing-3", "ap-beijing-5", "ap-beijing-6"},
	"ap-hongkong":  {"ap-hongkong-2", "ap-hongkong-3"},
	"ap-singapore": {"ap-singapore-1", "ap-singapore-3"},
}

// HourlyPrice is the stand-in's price list (CNY per hour) by instance type.
var HourlyPrice = map[string]float64{
	"S5.SMALL2": 0.11, "S5.MEDIUM2": 0.18, "S5.MEDIUM4": 0.26, "S5.LARGE8": 0.52,
	"SA2.MEDIUM2": 0.15, "SA2.MEDIUM4": 0.22, "SA2.LARGE8": 0.44,
}

type tag struct{ Key, Value string }

type instance struct {
	id, zone, region, instanceType, imageID, name, token string
	tags                                                 []tag
	securityGroups                                       []string
	userData                                             string
	publicIP                                             string
	created, terminated                                  time.Time
	launchFail                                           bool
	camRole                                              string    // the CAM role attached, "" for none
	vpc, subnet                                          string    // "": the account's default network
	stopped                                              string    // STOPPED or SHUTDOWN, until started
	started                                              time.Time // when StartInstances was accepted
}

type cvmState struct {
	instances map[string]*instance
	order     []string
	tokens    map[string][]string // ClientToken → the ids it created
	n         int
}

func (c *cvmState) init() {
	c.instances = map[string]*instance{}
	c.tokens = map[string][]string{}
}

// state is the instance's state at now; "" once a terminated instance is gone.
func (s *Server) state(in *instance, now time.Time) string {
	switch {
	case !in.terminated.IsZero() && now.Sub(in.terminated) >= s.termDelay:
		return ""
	case !in.terminated.IsZero():
		return "TERMINATING"
	case now.Sub(in.created) < s.bootDelay:
		return "PENDING"
	case in.launchFail:
		return "LAUNCH_FAILED"
	case in.stopped != "":
		return in.stopped
	case !in.started.IsZero() && now.Sub(in.started) < s.bootDelay:
		return "STARTING"
	}
	return "RUNNING"
}

type runInstancesReq struct {
	Placement struct {
		Zone string
	}
	ImageId            string
	InstanceType       string
	InstanceChargeType string
	InstanceCount      *int
	InstanceName       string
	SystemDisk         *struct {
		DiskType string
		DiskSize int
	}
	InternetAccessible *struct {
		InternetChargeType      string
		InternetMaxBandwidthOut int
		PublicIpAssigned        *bool
	}
	LoginSettings *struct {
		Password       string
		KeyIds         []string
		KeepImageLogin string
	}
	SecurityGroupIds    []string
	VirtualPrivateCloud *struct {
		VpcId, SubnetId string
	}
	ClientToken      string
	TagSpecification []struct {
		ResourceType string
		Tags         []tag
	}
	UserData    string
	DryRun      bool
	CamRoleName string
}

type filter struct {
	Name   string
	Values []string
}

func (s *Server) checkRegion(region string) *apiError {
	if _, ok := Zones[region]; !ok {
		return errorf("UnsupportedRegion", "The region %q is not supported.", region)
	}
	return nil
}

func (s *Server) cvmAction(req *request) (any, *apiError) {
	if err := s.checkRegion(req.region); err != nil {
		return nil, err
	}
	switch req.action {
	case "DescribeZones":
		var set []map[string]any
		for i, z := range Zones[req.region] {
			set = append(set, map[string]any{"Zone": z, "ZoneName": z, "ZoneId": fmt.Sprint(100000 + i), "ZoneState": "AVAILABLE"})
		}
		return map[string]any{"TotalCount": len(set), "ZoneSet": set}, nil
	case "InquiryPriceRunInstances":
		var in runInstancesReq
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		if err := s.validateRun(req.region, &in); err != nil {
			return nil, err
		}
		p := HourlyPrice[in.InstanceType]
		bw := 0.8
		return map[string]any{"Price": map[string]any{
			"InstancePrice":  map[string]any{"UnitPrice": p, "ChargeUnit": "HOUR", "UnitPriceDiscount": p},
			"BandwidthPrice": map[string]any{"UnitPrice": bw, "ChargeUnit": "GB", "UnitPriceDiscount": bw},
		}}, nil
	case "RunInstances":
		var in runInstancesReq
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		return s.runInstances(req.region, &in)
	case "DescribeInstances":
		var in struct {
			InstanceIds []string
			Filters     []filter
			Offset      int
			Limit       int
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		return s.describeInstances(req.region, in.InstanceIds, in.Filters, in.Offset, in.Limit)
	case "StartInstances":
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		insts, err := s.named(req, now)
		if err != nil {
			return nil, err
		}
		for _, i := range insts {
			switch s.state(i, now) {
			case "RUNNING":
				return nil, errorf("UnsupportedOperation.InstanceStateRunning", "The instance %s is running.", i.id)
			case "SHUTDOWN":
				return nil, errorf("UnsupportedOperation.InstanceStateShutdown", "The instance %s is shut down for arrears.", i.id)
			}
		}
		for _, i := range insts {
			i.stopped, i.started = "", now
		}
		return map[string]any{}, nil
	case "ModifyInstancesAttribute":
		var in struct {
			InstanceIds              []string
			CamRoleName, CamRoleType *string
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		if in.CamRoleName != nil && *in.CamRoleName != "" {
			if err := s.checkCamRole(*in.CamRoleName); err != nil {
				return nil, err
			}
			if in.CamRoleType == nil || *in.CamRoleType != "user" {
				return nil, errorf("InvalidParameterValue", "CamRoleType must be user, system or service_linked, and match the role (a role made with CreateRole is user).")
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		insts, err := s.named(req, now)
		if err != nil {
			return nil, err
		}
		for _, i := range insts {
			if st := s.state(i, now); st == "PENDING" || st == "TERMINATING" || st == "STARTING" {
				return nil, errorf("UnsupportedOperation.InstanceState"+map[string]string{"PENDING": "Pending", "TERMINATING": "Terminating", "STARTING": "Starting"}[st], "The instance %s is %s.", i.id, st)
			}
		}
		for _, i := range insts {
			if in.CamRoleName != nil {
				i.camRole = *in.CamRoleName
			}
		}
		return map[string]any{}, nil
	case "TerminateInstances":
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		insts, err := s.named(req, now)
		if err != nil {
			return nil, err
		}
		for _, i := range insts {
			if i.terminated.IsZero() {
				i.terminated = now
			}
		}
		return map[string]any{}, nil
	}
	return nil, unknownAction(req)
}

func (s *Server) validateRun(region string, in *runInstancesReq) *apiError {
	zoneOK := false
	for _, z := range Zones[region] {
		zoneOK = zoneOK || z == in.Placement.Zone
	}
	switch {
	case in.Placement.Zone == "":
		return errorf("MissingParameter", "Placement.Zone is required.")
	case !zoneOK:
		return errorf("InvalidZone.MismatchRegion", "The zone %q is not in region %q.", in.Placement.Zone, region)
	case !strings.HasPrefix(in.ImageId, "img-"):
		return errorf("InvalidImageId.Malformed", "The image id %q is malformed.", in.ImageId)
	case HourlyPrice[in.InstanceType] == 0:
		return errorf("InvalidParameterValue.InstanceTypeNotFound", "The instance type %q does not exist.", in.InstanceType)
	case len(in.ClientToken) > 64:
		return errorf("InvalidClientToken.TooLong", "ClientToken is longer than 64 characters.")
	}
	if err := s.checkCamRole(in.CamRoleName); err != nil {
		return err
	}
	if in.UserData != "" {
		b, err := base64.StdEncoding.DecodeString(in.UserData)
		if err != nil {
			return errorf("InvalidParameterValue.InvalidUserDataFormat", "UserData is not base64.")
		}
		if len(b) > 16<<10 {
			return errorf("InvalidParameterValue.TooLarge", "UserData is larger than 16 KB.")
		}
	}
	if v := in.VirtualPrivateCloud; v != nil {
		s.mu.Lock()
		net, sn := s.vpc.vpcs[v.VpcId], s.vpc.subnets[v.SubnetId]
		s.mu.Unlock()
		switch {
		case !strings.HasPrefix(v.VpcId, "vpc-"):
			return errorf("InvalidParameterValue.VpcIdMalformed", "The VPC id %q is malformed.", v.VpcId)
		case !strings.HasPrefix(v.SubnetId, "subnet-"):
			return errorf("InvalidParameterValue.SubnetIdMalformed", "The subnet id %q is malformed.", v.SubnetId)
		case net == nil:
			return errorf("InvalidParameterValue.VpcIdNotExist", "The VPC %s does not exist.", v.VpcId)
		case sn == nil:
			return errorf("InvalidParameterValue.SubnetNotExist", "The subnet %s does not exist.", v.SubnetId)
		case sn.vpc != v.VpcId:
			return errorf("InvalidParameterValue.VpcIdSubnetIdNotMatch", "The subnet %s is not in VPC %s.", v.SubnetId, v.VpcId)
		case sn.zone != in.Placement.Zone:
			return errorf("InvalidParameterValue.SubnetIdZoneIdNotMatch", "The subnet %s is in %s, not %s.", v.SubnetId, sn.zone, in.Placement.Zone)
		}
	}
	for _, sg := range in.SecurityGroupIds {
		s.mu.Lock()
		_, ok := s.vpc.groups[sg]
		s.mu.Unlock()
		if !ok {
			return errorf("InvalidSecurityGroupId.NotFound", "The security group %s does not exist.", sg)
		}
	}
	return nil
}

func (s *Server) runInstances(region string, in *runInstancesReq) (any, *apiError) {
	if err := s.validateRun(region, in); err != nil {
		return nil, err
	}
	count := 1
	if in.InstanceCount != nil {
		count = *in.InstanceCount
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if in.ClientToken != "" {
		if ids, ok := s.cvm.tokens[in.ClientToken]; ok {
			return map[string]any{"InstanceIdSet": ids}, nil // a replay: same answer, nothing new
		}
	}
	live := 0
	for _, i := range s.cvm.instances {
		if st := s.state(i, now); st != "" && st != "TERMINATING" {
			live++
		}
	}
	if live+count > s.quota {
		return nil, errorf("LimitExceeded.InstanceQuota", "The instance quota of %d in this region is reached.", s.quota)
	}
	if in.DryRun {
		return map[string]any{}, nil // a dry run that passes answers its RequestId only
	}
	var tags []tag
	for _, ts := range in.TagSpecification {
		if ts.ResourceType == "instance" {
			tags = append(tags, ts.Tags...)
		}
	}
	var ids []string
	for k := 0; k < count; k++ {
		s.cvm.n++
		id := fmt.Sprintf("ins-%08x", 0x5a000000+s.cvm.n)
		s.cvm.instances[id] = &instance{
			id: id, zone: in.Placement.Zone, region: region, instanceType: in.InstanceType, imageID: in.ImageId,
			name: in.InstanceName, token: in.ClientToken, tags: tags, securityGroups: in.SecurityGroupIds,
			userData: in.UserData, publicIP: s.nextIP(s.cvm.n - 1), created: now, launchFail: s.launchFail,
			camRole: in.CamRoleName,
		}
		if v := in.VirtualPrivateCloud; v != nil {
			s.cvm.instances[id].vpc, s.cvm.instances[id].subnet = v.VpcId, v.SubnetId
		}
		s.cvm.order = append(s.cvm.order, id)
		ids = append(ids, id)
	}
	if in.ClientToken != "" {
		s.cvm.tokens[in.ClientToken] = ids
	}
	return map[string]any{"InstanceIdSet": ids}, nil
}

func matchTags(tags []tag, f filter) (bool, bool) {
	if key, ok := strings.CutPrefix(f.Name, "tag:"); ok {
		for _, t := range tags {
			if t.Key == key && contains(f.Values, t.Value) {
				return true, true
			}
		}
		return false, true
	}
	if f.Name == "tag-key" {
		for _, t := range tags {
			if contains(f.Values, t.Key) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) describeInstances(region string, ids []string, filters []filter, offset, limit int) (any, *apiError) {
	if len(ids) > 0 && len(filters) > 0 {
		return nil, errorf("InvalidParameter", "InstanceIds and Filters cannot be given together.")
	}
	if limit <= 0 {
		limit = 20
	}
	if limit > 100 {
		return nil, errorf("InvalidParameterValue.LimitExceeded", "Limit is at most 100.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var set []map[string]any
	for _, id := range s.cvm.order {
		in := s.cvm.instances[id]
		st := s.state(in, now)
		if st == "" || in.region != region || now.Sub(in.created) < s.describeLag {
			continue
		}
		if len(ids) > 0 && !contains(ids, id) {
			continue
		}
		ok := true
		for _, f := range filters {
			if m, isTag := matchTags(in.tags, f); isTag {
				ok = ok && m
				continue
			}
			switch f.Name {
			case "zone":
				ok = ok && contains(f.Values, in.zone)
			case "instance-name":
				ok = ok && contains(f.Values, in.name)
			case "instance-state":
				ok = ok && contains(f.Values, st)
			default:
				return nil, errorf("InvalidFilter", "The filter %q is not supported.", f.Name)
			}
		}
		if !ok {
			continue
		}
		var ips []string
		if st == "RUNNING" {
			ips = []string{in.publicIP}
		}
		var tags []map[string]string
		for _, t := range in.tags {
			tags = append(tags, map[string]string{"Key": t.Key, "Value": t.Value})
		}
		op := "SUCCESS"
		if st == "PENDING" {
			op = "OPERATING"
		} else if st == "LAUNCH_FAILED" {
			op = "FAILED"
		}
		set = append(set, map[string]any{
			"InstanceId": id, "InstanceName": in.name, "InstanceType": in.instanceType, "ImageId": in.imageID,
			"InstanceState": st, "Placement": map[string]any{"Zone": in.zone}, "PublicIpAddresses": ips,
			"SecurityGroupIds": in.securityGroups, "Tags": tags, "LatestOperation": "RunInstances",
			"LatestOperationState": op, "CreatedTime": in.created.UTC().Format(time.RFC3339), "CamRoleName": in.camRole,
			"VirtualPrivateCloud": map[string]any{"VpcId": in.vpc, "SubnetId": in.subnet},
		})
	}
	// An id that does not exist is simply not in the set: DescribeInstances has no NotFound code.
	total := len(set)
	if offset > len(set) {
		offset = len(set)
	}
	set = set[offset:]
	if len(set) > limit {
		set = set[:limit]
	}
	return map[string]any{"TotalCount": total, "InstanceSet": set}, nil
}

// named are the instances a request's InstanceIds name, all of which must exist in its region (the
// caller holds s.mu).
func (s *Server) named(req *request, now time.Time) ([]*instance, *apiError) {
	var in struct{ InstanceIds []string }
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	var out []*instance
	for _, id := range in.InstanceIds {
		i := s.cvm.instances[id]
		if i == nil || i.region != req.region || s.state(i, now) == "" {
			return nil, errorf("InvalidInstanceId.NotFound", "The instance %s does not exist.", id)
		}
		out = append(out, i)
	}
	return out, nil
}

// StopInstance stops an instance as the console would (state STOPPED), or as arrears do (SHUTDOWN).
func (s *Server) StopInstance(id, state string) {
	s.mu.Lock()
	if i := s.cvm.instances[id]; i != nil {
		i.stopped = state
	}
	s.mu.Unlock()
}

// LoseInstance ends an instance as a dead machine that was released would: it goes the way a
// terminated one does, its disk with it.
func (s *Server) LoseInstance(id string) {
	s.mu.Lock()
	if i := s.cvm.instances[id]; i != nil && i.terminated.IsZero() {
		i.terminated = s.now()
	}
	s.mu.Unlock()
}

// Instances returns the ids of the instances that still exist (any state but gone).
func (s *Server) Instances() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var ids []string
	for _, id := range s.cvm.order {
		if st := s.state(s.cvm.instances[id], now); st != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// InstanceTags returns an instance's tags as a map.
func (s *Server) InstanceTags(id string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]string{}
	if in := s.cvm.instances[id]; in != nil {
		for _, t := range in.tags {
			m[t.Key] = t.Value
		}
	}
	return m
}

// InstanceRole returns the CAM role attached to an instance ("" for none): what its metadata service
// hands credentials for.
func (s *Server) InstanceRole(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.cvm.instances[id]
	if in == nil || s.state(in, s.now()) == "" {
		return ""
	}
	return in.camRole
}

// RolePolicies returns the documents of the policies attached to a role now.
func (s *Server) RolePolicies(role string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rolePolicies(role)
}

// InstanceUserData returns the decoded cloud-init of an instance.
func (s *Server) InstanceUserData(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.cvm.instances[id]; in != nil {
		b, _ := base64.StdEncoding.DecodeString(in.userData)
		return string(b)
	}
	return ""
}
