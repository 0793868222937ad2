package tencent

import (
	"context"
	"encoding/json"
	"strings"

	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/qcloud-applet/applet/provision"
)

// Roles is provision.Roles on CAM 2019-01-16.
type Roles struct{ c *Client }

var _ provision.Roles = (*Roles)(nil)

// Roles returns the CAM side of the client.
func (c *Client) Roles() *Roles { return &Roles{c} }

func (r *Roles) op(action string, write bool) op {
	return op{service: "cam", action: action, write: write, where: "CAM"}
}

// TrustCVM is the role's trust policy: CVM instances may take it.
const TrustCVM = `{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["cvm.qcloud.com"]}}]}`

// Read implements provision.Roles.
func (r *Roles) Read(ctx context.Context, role, policy string) (provision.RoleState, error) {
	var st provision.RoleState
	req := cam.NewGetRoleRequest()
	req.RoleName = common.StringPtr(role)
	var resp *cam.GetRoleResponse
	err := r.c.do(ctx, r.op("GetRole", false), func(ctx context.Context) (err error) {
		resp, err = r.c.cam.GetRoleWithContext(ctx, req)
		return err
	})
	switch {
	case isCode(err, "InvalidParameter.RoleNotExist"):
	case err != nil:
		return st, err
	default:
		st.Exists = true
		if resp.Response.RoleInfo != nil {
			st.TrustsCVM = strings.Contains(str(resp.Response.RoleInfo.PolicyDocument), "cvm.qcloud.com")
		}
	}
	if policy == "" {
		return st, nil
	}
	id, err := r.findPolicy(ctx, policy)
	if err != nil || id == 0 {
		return st, err
	}
	st.PolicyID = id
	g := cam.NewGetPolicyRequest()
	g.PolicyId = common.Uint64Ptr(id)
	var gr *cam.GetPolicyResponse
	if err := r.c.do(ctx, r.op("GetPolicy", false), func(ctx context.Context) (err error) {
		gr, err = r.c.cam.GetPolicyWithContext(ctx, g)
		return err
	}); err != nil {
		return st, err
	}
	st.Policy = str(gr.Response.PolicyDocument)
	if !st.Exists {
		return st, nil
	}
	l := cam.NewListAttachedRolePoliciesRequest()
	l.RoleName = common.StringPtr(role)
	l.Page, l.Rp = common.Uint64Ptr(1), common.Uint64Ptr(200)
	var lr *cam.ListAttachedRolePoliciesResponse
	if err := r.c.do(ctx, r.op("ListAttachedRolePolicies", false), func(ctx context.Context) (err error) {
		lr, err = r.c.cam.ListAttachedRolePoliciesWithContext(ctx, l)
		return err
	}); err != nil {
		return st, err
	}
	for _, a := range lr.Response.List {
		if a.PolicyId != nil && *a.PolicyId == id {
			st.Attached = true
		}
	}
	return st, nil
}

// findPolicy returns the id of the custom policy with exactly this name (0: none), following pages.
func (r *Roles) findPolicy(ctx context.Context, name string) (uint64, error) {
	for page := uint64(1); ; page++ {
		req := cam.NewListPoliciesRequest()
		req.Scope, req.Keyword = common.StringPtr("Local"), common.StringPtr(name)
		req.Page, req.Rp = common.Uint64Ptr(page), common.Uint64Ptr(200)
		var resp *cam.ListPoliciesResponse
		if err := r.c.do(ctx, r.op("ListPolicies", false), func(ctx context.Context) (err error) {
			resp, err = r.c.cam.ListPoliciesWithContext(ctx, req)
			return err
		}); err != nil {
			return 0, err
		}
		for _, p := range resp.Response.List {
			if str(p.PolicyName) == name && p.PolicyId != nil {
				return *p.PolicyId, nil
			}
		}
		if len(resp.Response.List) < 200 {
			return 0, nil
		}
	}
}

// CreateRole implements provision.Roles; a role of that name is provision.ErrExists.
func (r *Roles) CreateRole(ctx context.Context, role, description string, tags map[string]string) error {
	req := cam.NewCreateRoleRequest()
	req.RoleName, req.PolicyDocument, req.Description = common.StringPtr(role), common.StringPtr(TrustCVM), common.StringPtr(description)
	req.ConsoleLogin = common.Uint64Ptr(0)
	for _, k := range sortedKeys(tags) {
		req.Tags = append(req.Tags, &cam.RoleTags{Key: common.StringPtr(k), Value: common.StringPtr(tags[k])})
	}
	o := r.op("CreateRole", true)
	o.idempotent = true // a replay answers RoleNameInUse, which is taken as done
	err := r.c.do(ctx, o, func(ctx context.Context) error {
		_, err := r.c.cam.CreateRoleWithContext(ctx, req)
		return err
	})
	if isCode(err, "InvalidParameter.RoleNameInUse") {
		return provision.ErrExists
	}
	return err
}

// CreatePolicy implements provision.Roles; a policy of that name is provision.ErrExists.
func (r *Roles) CreatePolicy(ctx context.Context, policy, document, description string) (uint64, error) {
	req := cam.NewCreatePolicyRequest()
	req.PolicyName, req.PolicyDocument, req.Description = common.StringPtr(policy), common.StringPtr(document), common.StringPtr(description)
	var resp *cam.CreatePolicyResponse
	o := r.op("CreatePolicy", true)
	o.idempotent = true // a replay answers PolicyNameInUse, which is taken as done
	err := r.c.do(ctx, o, func(ctx context.Context) (err error) {
		resp, err = r.c.cam.CreatePolicyWithContext(ctx, req)
		return err
	})
	if isCode(err, "FailedOperation.PolicyNameInUse") {
		return 0, provision.ErrExists
	}
	if err != nil {
		return 0, err
	}
	if resp.Response.PolicyId == nil {
		return 0, &APIError{Service: "cam", Action: "CreatePolicy", Code: "InternalError", Message: "no PolicyId in the answer"}
	}
	return *resp.Response.PolicyId, nil
}

// UpdatePolicy implements provision.Roles.
func (r *Roles) UpdatePolicy(ctx context.Context, id uint64, document string) error {
	req := cam.NewUpdatePolicyRequest()
	req.PolicyId, req.PolicyDocument = common.Uint64Ptr(id), common.StringPtr(document)
	o := r.op("UpdatePolicy", true)
	o.idempotent = true
	return r.c.do(ctx, o, func(ctx context.Context) error {
		_, err := r.c.cam.UpdatePolicyWithContext(ctx, req)
		return err
	})
}

// Attach implements provision.Roles. CAM limits AttachRolePolicy to a few calls a second: the
// retry policy's backoff covers RequestLimitExceeded.
func (r *Roles) Attach(ctx context.Context, role string, policy uint64) error {
	req := cam.NewAttachRolePolicyRequest()
	req.AttachRoleName, req.PolicyId = common.StringPtr(role), common.Uint64Ptr(policy)
	o := r.op("AttachRolePolicy", true)
	o.idempotent = true // attaching twice attaches once
	return r.c.do(ctx, o, func(ctx context.Context) error {
		_, err := r.c.cam.AttachRolePolicyWithContext(ctx, req)
		return err
	})
}

// DeleteRole implements provision.Roles; one already gone is provision.ErrNotFound.
func (r *Roles) DeleteRole(ctx context.Context, role string) error {
	req := cam.NewDeleteRoleRequest()
	req.RoleName = common.StringPtr(role)
	o := r.op("DeleteRole", true)
	o.idempotent = true
	err := r.c.do(ctx, o, func(ctx context.Context) error {
		_, err := r.c.cam.DeleteRoleWithContext(ctx, req)
		return err
	})
	if isCode(err, "InvalidParameter.RoleNotExist") {
		return provision.ErrNotFound
	}
	return err
}

// DeletePolicy implements provision.Roles; one already gone is provision.ErrNotFound.
func (r *Roles) DeletePolicy(ctx context.Context, policy uint64) error {
	req := cam.NewDeletePolicyRequest()
	req.PolicyId = []*uint64{common.Uint64Ptr(policy)}
	o := r.op("DeletePolicy", true)
	o.idempotent = true
	err := r.c.do(ctx, o, func(ctx context.Context) error {
		_, err := r.c.cam.DeletePolicyWithContext(ctx, req)
		return err
	})
	if isCode(err, "ResourceNotFound.PolicyIdNotFound") || isCode(err, "InvalidParameter.PolicyIdNotExist") {
		return provision.ErrNotFound
	}
	return err
}

// HostPolicy is the one policy document of a deployment's instance: what the host may do, and no
// more. The album writes and deletes under its folder (and lists and heads the bucket); the host
// reads and deletes its own bundles. Later features add their statements here.
func HostPolicy(bucket, region, deployment, albumFolder string, backups ...BackupPlace) string {
	if albumFolder = strings.Trim(albumFolder, "/"); albumFolder != "" {
		albumFolder += "/"
	}
	in := func(bucket, path string) string {
		appid := bucket[strings.LastIndex(bucket, "-")+1:]
		return "qcs::cos:" + region + ":uid/" + appid + ":" + bucket + "/" + path
	}
	res := func(path string) string { return in(bucket, path) }
	type statement struct {
		Effect   string   `json:"effect"`
		Action   []string `json:"action"`
		Resource []string `json:"resource"`
	}
	doc := struct {
		Version   string      `json:"version"`
		Statement []statement `json:"statement"`
	}{Version: "2.0"}
	if bucket != "" {
		doc.Statement = []statement{
			{"allow", []string{"name/cos:PutObject", "name/cos:DeleteObject", "name/cos:HeadObject", "name/cos:GetObject"}, []string{res(albumFolder + "*")}},
			{"allow", []string{"name/cos:GetBucket", "name/cos:HeadBucket"}, []string{res("*")}},
			{"allow", []string{"name/cos:GetObject", "name/cos:DeleteObject"}, []string{res(BundlePrefix(deployment) + "*")}},
		}
	}
	for _, v := range backups {
		// The backups: written, listed, read back and pruned from the host, nothing else.
		doc.Statement = append(doc.Statement,
			statement{"allow", []string{"name/cos:PutObject", "name/cos:GetObject", "name/cos:HeadObject", "name/cos:DeleteObject"}, []string{in(v.Bucket, v.Prefix+"*")}},
			statement{"allow", []string{"name/cos:GetBucket", "name/cos:HeadBucket"}, []string{in(v.Bucket, "*")}})
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return string(b)
}

// BackupPlace is where in which bucket a deployment's backups are.
type BackupPlace struct{ Bucket, Prefix string }

// BundlePrefix is where in the bucket a deployment's host bundles wait for their instance.
func BundlePrefix(deployment string) string { return "applet-deploy/" + deployment + "/" }
