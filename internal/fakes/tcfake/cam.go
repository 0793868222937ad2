package tcfake

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// CAM 2019-01-16: roles, custom policies and their attachments. CAM is global (no region), and
// AttachRolePolicy is limited to a few calls a second per account.

type camRole struct {
	id, name, trust, description string
	tags                         map[string]string
	created                      time.Time
}

type camPolicy struct {
	id                     uint64
	name, doc, description string
	created, updated       time.Time
}

type camState struct {
	roles       map[string]*camRole
	policies    map[uint64]*camPolicy
	attached    map[string][]uint64 // role name → policy ids, in attach order
	nextID      uint64
	attachCalls []time.Time
	// AttachPerSecond is AttachRolePolicy's rate limit (default 2).
	attachPerSecond int
}

func (c *camState) init() {
	c.roles = map[string]*camRole{}
	c.policies = map[uint64]*camPolicy{}
	c.attached = map[string][]uint64{}
	c.nextID = 1_000_000_001
	c.attachPerSecond = 2
}

var roleNameRE = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,128}$`)

// checkCamRole is what CVM says of a role an instance is to run with; it takes s.mu.
func (s *Server) checkCamRole(name string) *apiError {
	if name == "" {
		return nil
	}
	if !roleNameRE.MatchString(name) {
		return errorf("InvalidParameterValue.CamRoleNameMalformed", "CamRoleName %q may hold only letters, digits and +=,.@_-.", name)
	}
	s.mu.Lock()
	r := s.cam.roles[name]
	pass := !s.denied["cam:PassRole"]
	s.mu.Unlock()
	if r == nil || !strings.Contains(r.trust, "cvm.qcloud.com") || !pass {
		return errorf("AuthFailure.CamRoleNameAuthenticateFailed", "The role %s does not exist, does not trust cvm.qcloud.com, or may not be passed by this key (cam:PassRole).", name)
	}
	return nil
}

// rolePolicies are the documents of a role's policies (the caller holds s.mu).
func (s *Server) rolePolicies(role string) []string {
	var docs []string
	for _, id := range s.cam.attached[role] {
		if p := s.cam.policies[id]; p != nil {
			docs = append(docs, p.doc)
		}
	}
	return docs
}

// Roles lists the CAM roles, sorted.
func (s *Server) Roles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.cam.roles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Policies lists the custom policies by name, sorted.
func (s *Server) Policies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.cam.policies {
		out = append(out, p.name)
	}
	sort.Strings(out)
	return out
}

// CreateRoleDirectly makes a role as an administrator would in the console, with policies.
func (s *Server) CreateRoleDirectly(name string, policies ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cam.roles[name] = &camRole{id: fmt.Sprint(4611686018400000000 + len(s.cam.roles)), name: name, trust: `{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["cvm.qcloud.com"]}}]}`, created: s.now()}
	for i, doc := range policies {
		s.cam.nextID++
		id := s.cam.nextID
		s.cam.policies[id] = &camPolicy{id: id, name: fmt.Sprintf("%s-admin-%d", name, i), doc: doc, created: s.now()}
		s.cam.attached[name] = append(s.cam.attached[name], id)
	}
}

// validDoc checks a policy document as CAM does, in outline: JSON, version 2.0, statements with
// an effect and an action; resources in qcs six-part form.
func validDoc(doc string, trust bool) *apiError {
	var d struct {
		Version   string `json:"version"`
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return errorf("InvalidParameter.PolicyDocumentError", "PolicyDocument is not JSON: %v", err)
	}
	if d.Version != "2.0" {
		return errorf("InvalidParameter.VersionError", "The policy's version must be 2.0.")
	}
	if len(d.Statement) == 0 {
		return errorf("InvalidParameter.StatementError", "The policy has no statement.")
	}
	if len(doc) > 6144 {
		return errorf("InvalidParameter.PolicyDocumentLengthOverLimit", "PolicyDocument is longer than 6144 characters.")
	}
	for _, st := range d.Statement {
		if e, _ := st["effect"].(string); e != "allow" && e != "deny" {
			return errorf("InvalidParameter.EffectError", "A statement's effect must be allow or deny.")
		}
		if st["action"] == nil {
			return errorf("InvalidParameter.ActionMiss", "A statement has no action.")
		}
		if trust {
			continue
		}
		var res []string
		switch r := st["resource"].(type) {
		case string:
			res = []string{r}
		case []any:
			for _, x := range r {
				s, _ := x.(string)
				res = append(res, s)
			}
		default:
			return errorf("InvalidParameter.ResourceError", "A statement has no resource.")
		}
		for _, r := range res {
			if r != "*" && (!strings.HasPrefix(r, "qcs:") || strings.Count(r, ":") < 5) {
				return errorf("InvalidParameter.ResourceQcsError", "The resource %q is not a qcs six-part description.", r)
			}
		}
	}
	return nil
}

func (s *Server) camAction(req *request) (any, *apiError) {
	var in struct {
		RoleName, PolicyDocument, Description, PolicyName, Scope, Keyword string
		AttachRoleName, DetachRoleName                                    string
		Page, Rp                                                          uint64
		PolicyId                                                          json.RawMessage
		Tags                                                              []struct{ Key, Value string }
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	policyID := func() uint64 {
		var id uint64
		json.Unmarshal(in.PolicyId, &id)
		return id
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.cam
	now := s.now()
	roleInfo := func(r *camRole) map[string]any {
		return map[string]any{"RoleId": r.id, "RoleName": r.name, "PolicyDocument": r.trust, "Description": r.description,
			"AddTime": r.created.Format(time.DateTime), "UpdateTime": r.created.Format(time.DateTime), "ConsoleLogin": 0, "RoleType": "user"}
	}
	switch req.action {
	case "GetRole":
		r := c.roles[in.RoleName]
		if r == nil {
			return nil, errorf("InvalidParameter.RoleNotExist", "The role %s does not exist.", in.RoleName)
		}
		return map[string]any{"RoleInfo": roleInfo(r)}, nil
	case "CreateRole":
		if !roleNameRE.MatchString(in.RoleName) {
			return nil, errorf("InvalidParameter.RoleNameError", "RoleName %q is not valid.", in.RoleName)
		}
		if c.roles[in.RoleName] != nil {
			return nil, errorf("InvalidParameter.RoleNameInUse", "The role name %s is in use.", in.RoleName)
		}
		if err := validDoc(in.PolicyDocument, true); err != nil {
			return nil, err
		}
		if !strings.Contains(in.PolicyDocument, "principal") {
			return nil, errorf("InvalidParameter.PrincipalError", "A role's policy document names who may assume it (principal).")
		}
		r := &camRole{id: fmt.Sprint(4611686018400000000 + len(c.roles) + 1), name: in.RoleName, trust: in.PolicyDocument, description: in.Description, tags: map[string]string{}, created: now}
		for _, t := range in.Tags {
			r.tags[t.Key] = t.Value
		}
		c.roles[in.RoleName] = r
		return map[string]any{"RoleId": r.id}, nil
	case "DeleteRole":
		if c.roles[in.RoleName] == nil {
			return nil, errorf("InvalidParameter.RoleNotExist", "The role %s does not exist.", in.RoleName)
		}
		delete(c.roles, in.RoleName)
		delete(c.attached, in.RoleName)
		return map[string]any{}, nil
	case "ListPolicies":
		if in.Rp == 0 {
			in.Rp = 20
		}
		if in.Page == 0 {
			in.Page = 1
		}
		if in.Rp > 200 {
			return nil, errorf("InvalidParameter.ParamError", "Rp is at most 200.")
		}
		var ids []uint64
		for id, p := range c.policies {
			if (in.Scope == "" || in.Scope == "All" || in.Scope == "Local") && strings.Contains(p.name, in.Keyword) {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		total := len(ids)
		start := min(int((in.Page-1)*in.Rp), len(ids))
		ids = ids[start:min(start+int(in.Rp), len(ids))]
		list := []map[string]any{}
		for _, id := range ids {
			p := c.policies[id]
			list = append(list, map[string]any{"PolicyId": p.id, "PolicyName": p.name, "AddTime": p.created.Format(time.DateTime), "Type": 1, "Description": p.description, "CreateMode": 1})
		}
		return map[string]any{"List": list, "TotalNum": total}, nil
	case "GetPolicy":
		p := c.policies[policyID()]
		if p == nil {
			return nil, errorf("ResourceNotFound.PolicyIdNotFound", "The policy %d does not exist.", policyID())
		}
		return map[string]any{"PolicyName": p.name, "Description": p.description, "Type": 1, "AddTime": p.created.Format(time.DateTime),
			"UpdateTime": p.updated.Format(time.DateTime), "PolicyDocument": p.doc}, nil
	case "CreatePolicy":
		for _, p := range c.policies {
			if p.name == in.PolicyName {
				return nil, errorf("FailedOperation.PolicyNameInUse", "The policy name %s is in use.", in.PolicyName)
			}
		}
		if err := validDoc(in.PolicyDocument, false); err != nil {
			return nil, err
		}
		c.nextID++
		p := &camPolicy{id: c.nextID, name: in.PolicyName, doc: in.PolicyDocument, description: in.Description, created: now, updated: now}
		c.policies[p.id] = p
		return map[string]any{"PolicyId": p.id}, nil
	case "UpdatePolicy":
		p := c.policies[policyID()]
		if p == nil {
			return nil, errorf("ResourceNotFound.PolicyIdNotFound", "The policy %d does not exist.", policyID())
		}
		if in.PolicyDocument != "" {
			if err := validDoc(in.PolicyDocument, false); err != nil {
				return nil, err
			}
			p.doc = in.PolicyDocument
		}
		p.updated = now
		return map[string]any{"PolicyId": p.id}, nil
	case "DeletePolicy":
		var ids []uint64
		if err := json.Unmarshal(in.PolicyId, &ids); err != nil {
			return nil, errorf("InvalidParameter.PolicyIdError", "PolicyId must be a list of ids.")
		}
		for _, id := range ids {
			if c.policies[id] == nil {
				return nil, errorf("ResourceNotFound.PolicyIdNotFound", "The policy %d does not exist.", id)
			}
		}
		for _, id := range ids {
			delete(c.policies, id)
			for r, list := range c.attached {
				c.attached[r] = without(list, id)
			}
		}
		return map[string]any{}, nil
	case "AttachRolePolicy", "DetachRolePolicy":
		role, id := in.AttachRoleName, policyID()
		if req.action == "DetachRolePolicy" {
			role = in.DetachRoleName
		} else {
			var recent []time.Time
			for _, t := range c.attachCalls {
				if now.Sub(t) < time.Second {
					recent = append(recent, t)
				}
			}
			c.attachCalls = recent
			if len(recent) >= c.attachPerSecond {
				return nil, errorf("RequestLimitExceeded", "AttachRolePolicy is called more often than %d times a second.", c.attachPerSecond)
			}
			c.attachCalls = append(c.attachCalls, now)
		}
		if c.roles[role] == nil {
			return nil, errorf("InvalidParameter.RoleNotExist", "The role %s does not exist.", role)
		}
		if c.policies[id] == nil {
			return nil, errorf("InvalidParameter.PolicyIdNotExist", "The policy %d does not exist.", id)
		}
		list := without(c.attached[role], id)
		if req.action == "AttachRolePolicy" {
			list = append(list, id)
		}
		c.attached[role] = list
		return map[string]any{}, nil
	case "ListAttachedRolePolicies":
		if c.roles[in.RoleName] == nil {
			return nil, errorf("InvalidParameter.ParamError", "The role %s does not exist.", in.RoleName)
		}
		list := []map[string]any{}
		for _, id := range c.attached[in.RoleName] {
			p := c.policies[id]
			list = append(list, map[string]any{"PolicyId": p.id, "PolicyName": p.name, "AddTime": p.created.Format(time.DateTime), "PolicyType": "User", "CreateMode": 1})
		}
		return map[string]any{"List": list, "TotalNum": len(list)}, nil
	}
	return nil, unknownAction(req)
}

func without(list []uint64, id uint64) []uint64 {
	var out []uint64
	for _, x := range list {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// SetInstanceRole changes an instance's role as the console would ("" detaches it).
func (s *Server) SetInstanceRole(id, role string) {
	s.mu.Lock()
	if in := s.cvm.instances[id]; in != nil {
		in.camRole = role
	}
	s.mu.Unlock()
}

// PolicyDocument returns a custom policy's document by name ("" when there is none).
func (s *Server) PolicyDocument(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.cam.policies {
		if p.name == name {
			return p.doc
		}
	}
	return ""
}

// SetPolicyDocument edits a custom policy as someone in the console would.
func (s *Server) SetPolicyDocument(name, doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.cam.policies {
		if p.name == name {
			p.doc = doc
		}
	}
}

// AttachedPolicies names the policies attached to a role.
func (s *Server) AttachedPolicies(role string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range s.cam.attached[role] {
		if p := s.cam.policies[id]; p != nil {
			out = append(out, p.name)
		}
	}
	return out
}
