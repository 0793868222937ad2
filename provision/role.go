package provision

import (
	"context"
	"errors"
	"fmt"
)

// StepRole is the CAM role the instance runs with: the host's only credentials.
const StepRole = "instance-role"

// RoleState is what CAM holds of the deployment's role and its policy.
type RoleState struct {
	Exists    bool
	TrustsCVM bool   // the role may be assumed by CVM instances
	PolicyID  uint64 // 0: no policy of that name
	Policy    string // its document
	Attached  bool   // the policy is attached to the role
}

// Roles manages CAM roles and policies (CAM is global: no region).
type Roles interface {
	// Read looks up the role and the custom policy by name (policy "" reads the role only).
	Read(ctx context.Context, role, policy string) (RoleState, error)
	CreateRole(ctx context.Context, role, description string, tags map[string]string) error
	CreatePolicy(ctx context.Context, policy, document, description string) (uint64, error)
	UpdatePolicy(ctx context.Context, id uint64, document string) error
	Attach(ctx context.Context, role string, policy uint64) error
	DeleteRole(ctx context.Context, role string) error
	DeletePolicy(ctx context.Context, policy uint64) error
}

// RoleName and PolicyName are the role and policy provision makes for a deployment.
func RoleName(deployment string) string   { return "applet-" + deployment }
func PolicyName(deployment string) string { return "applet-" + deployment + "-host" }

// RoleSpec is the role a deployment's instance gets.
type RoleSpec struct {
	// Name is the role; Existing: it is the team's own (provision.instance_role), read, never changed.
	Name     string
	Existing bool
	// PolicyName and Policy are the custom policy provision keeps attached to a role it made.
	PolicyName, Policy string
}

func (p *Provisioner) planRole(ctx context.Context, rd *reads) {
	r := p.cfg.Role
	if p.deps.Roles == nil || r.Name == "" {
		rd.set(Change{StepRole, Skip, "no instance role (the host gets no cloud credentials)"})
		return
	}
	rd.run(func() {
		policy := r.PolicyName
		if r.Existing {
			policy = ""
		}
		st, ok := p.readRole(ctx, rd, policy)
		if !ok {
			return
		}
		switch {
		case r.Existing && !st.Exists:
			rd.fail(StepRole, fmt.Errorf("provision.instance_role names %s, which does not exist: create it in the CAM console for CVM with the policy in the README, or clear provision.instance_role and let provision make one", r.Name))
		case r.Existing && !st.TrustsCVM:
			rd.fail(StepRole, fmt.Errorf("role %s (provision.instance_role) does not trust cvm.qcloud.com: instances cannot take it; give it CVM as its carrier in the CAM console", r.Name))
		case r.Existing:
			rd.set(Change{StepRole, Keep, r.Name + " (provision.instance_role: yours, not changed)"})
		case !st.Exists:
			rd.set(Change{StepRole, Create, fmt.Sprintf("%s for CVM, with policy %s: the album's images, this deployment's bundles and backups only", r.Name, r.PolicyName)})
		case !st.TrustsCVM:
			rd.fail(StepRole, fmt.Errorf("a role named %s exists and does not trust cvm.qcloud.com: it is not applet's; delete or rename it, or set provision.instance_role to a role for CVM", r.Name))
		case st.PolicyID == 0:
			rd.set(Change{StepRole, Update, r.Name + ": create and attach policy " + r.PolicyName})
		case st.Policy != r.Policy:
			rd.set(Change{StepRole, Update, r.Name + ": policy " + r.PolicyName + " differs from what the deployment needs: rewrite it"})
		case !st.Attached:
			rd.set(Change{StepRole, Update, r.Name + ": attach policy " + r.PolicyName})
		default:
			rd.set(Change{StepRole, Keep, r.Name + " with " + r.PolicyName})
		}
	})
}

// readRole reads the role (and the policy, unless "") into the plan; false when the read failed.
func (p *Provisioner) readRole(ctx context.Context, rd *reads, policy string) (RoleState, bool) {
	st, err := p.deps.Roles.Read(ctx, p.cfg.Role.Name, policy)
	if err != nil {
		rd.fail(StepRole, err)
		return st, false
	}
	rd.mu.Lock()
	rd.plan.seen.role = st
	rd.mu.Unlock()
	return st, true
}

func (p *Provisioner) applyRole(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepRole)
	r, st := p.cfg.Role, plan.seen.role
	switch c.Action {
	case Skip:
		return "skipped", c.Detail, nil
	case Keep:
		return "ok", c.Detail, nil
	}
	if !st.Exists {
		err := p.deps.Roles.CreateRole(ctx, r.Name, "applet deployment "+p.cfg.Deployment+": the instance's credentials", p.tags())
		if err != nil && !errors.Is(err, ErrExists) {
			return "", "", fmt.Errorf("creating role %s: %w", r.Name, err)
		}
	}
	id := st.PolicyID
	if id == 0 {
		var err error
		if id, err = p.deps.Roles.CreatePolicy(ctx, r.PolicyName, r.Policy, "applet deployment "+p.cfg.Deployment+": what its instance may do"); errors.Is(err, ErrExists) {
			// A run killed after the create: the policy is there; read it and bring it in line.
			now, rerr := p.deps.Roles.Read(ctx, r.Name, r.PolicyName)
			if rerr != nil {
				return "", "", rerr
			}
			id, st.Policy, st.Attached, err = now.PolicyID, now.Policy, now.Attached, nil
		} else {
			st.Policy = r.Policy
		}
		if err != nil {
			return "", "", fmt.Errorf("creating policy %s: %w", r.PolicyName, err)
		}
	}
	if st.Policy != r.Policy {
		if err := p.deps.Roles.UpdatePolicy(ctx, id, r.Policy); err != nil {
			return "", "", fmt.Errorf("updating policy %s: %w", r.PolicyName, err)
		}
	}
	if !st.Attached {
		if err := p.deps.Roles.Attach(ctx, r.Name, id); err != nil {
			return "", "", fmt.Errorf("attaching policy %s to %s: %w", r.PolicyName, r.Name, err)
		}
	}
	if c.Action == Create {
		return "created", c.Detail, nil
	}
	return "updated", c.Detail, nil
}

// ErrExists is returned by a create whose resource already exists (a retried or replayed call).
var ErrExists = errors.New("already exists")

func (p *Provisioner) planDestroyRole(ctx context.Context, rd *reads) {
	r := p.cfg.Role
	if p.deps.Roles == nil || r.Name == "" {
		return
	}
	if r.Existing {
		rd.set(Change{StepRole, Skip, r.Name + " is yours (provision.instance_role): kept"})
		return
	}
	rd.run(func() {
		st, ok := p.readRole(ctx, rd, r.PolicyName)
		if !ok {
			return
		}
		switch {
		case st.Exists && !st.TrustsCVM:
			rd.set(Change{StepRole, Skip, r.Name + " is not applet's (it does not trust CVM): left alone"})
		case st.Exists || st.PolicyID != 0:
			rd.set(Change{StepRole, Delete, "role " + r.Name + " and policy " + r.PolicyName})
		default:
			rd.set(Change{StepRole, Skip, "none"})
		}
	})
}

func (p *Provisioner) destroyRole(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepRole)
	if c.Action != Delete {
		return "skipped", c.Detail, nil
	}
	st := plan.seen.role
	if st.Exists {
		if err := p.deps.Roles.DeleteRole(ctx, p.cfg.Role.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return "", "", fmt.Errorf("deleting role %s: %w", p.cfg.Role.Name, err)
		}
	}
	if st.PolicyID != 0 {
		if err := p.deps.Roles.DeletePolicy(ctx, st.PolicyID); err != nil && !errors.Is(err, ErrNotFound) {
			return "", "", fmt.Errorf("deleting policy %s: %w", p.cfg.Role.PolicyName, err)
		}
	}
	return "deleted", c.Detail, nil
}

// censusRole names the role and policy a destroy should have removed.
func (p *Provisioner) censusRole(ctx context.Context) ([]string, error) {
	r := p.cfg.Role
	if p.deps.Roles == nil || r.Name == "" || r.Existing {
		return nil, nil
	}
	st, err := p.deps.Roles.Read(ctx, r.Name, r.PolicyName)
	if err != nil {
		return nil, err
	}
	var left []string
	if st.Exists && st.TrustsCVM {
		left = append(left, "CAM role "+r.Name)
	}
	if st.PolicyID != 0 {
		left = append(left, "CAM policy "+r.PolicyName)
	}
	return left, nil
}
