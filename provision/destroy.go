package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// DestroyOptions say how far destroy goes.
type DestroyOptions struct {
	Force bool // delete the bucket's objects; otherwise a bucket with objects is kept
	Purge bool // drop the database; otherwise its data is kept
	// PurgeBackups deletes the backup bucket; otherwise it is kept, backups and all.
	PurgeBackups bool
}

// PlanDestroy reads what carries the deployment's tag and says what Destroy would remove. Read calls only.
func (p *Provisioner) PlanDestroy(ctx context.Context, opts DestroyOptions) (*Plan, error) {
	plan := &Plan{Destroy: true, destroyOpts: opts}
	rd := &reads{plan: plan}
	mu, set, fail, run := &rd.mu, rd.set, rd.fail, rd.run
	p.planDestroyRole(ctx, rd)
	p.planDestroyVault(ctx, rd, opts)
	p.planDestroyManaged(ctx, rd, opts)
	run(func() {
		groups, err := p.groups(ctx)
		if err != nil {
			fail(StepFirewall, err)
			return
		}
		if len(groups) == 0 {
			set(Change{StepFirewall, Skip, "none"})
			return
		}
		mu.Lock()
		plan.seen.group = &groups[0]
		mu.Unlock()
		set(Change{StepFirewall, Delete, groups[0].ID})
	})
	run(func() {
		insts, err := p.instancesToDestroy(ctx)
		if err != nil {
			fail(StepInstance, err)
			return
		}
		if len(insts) == 0 {
			set(Change{StepInstance, Skip, "none"})
			return
		}
		var ids []string
		for _, in := range insts {
			ids = append(ids, in.ID)
		}
		mu.Lock()
		plan.seen.instance = &insts[0]
		plan.seen.extraInst = insts
		mu.Unlock()
		set(Change{StepInstance, Delete, strings.Join(ids, ", ")})
	})
	if p.deps.Network != nil {
		run(func() {
			v, sns, err := p.networkToDestroy(ctx)
			if err != nil {
				fail(StepNetwork, err)
				return
			}
			if v == nil {
				set(Change{StepNetwork, Skip, "none"})
				return
			}
			mu.Lock()
			plan.cluster.net.vpc = v
			plan.cluster.netSubnets = sns
			mu.Unlock()
			what := v.ID
			for _, sn := range sns {
				what += ", " + sn.ID
			}
			set(Change{StepNetwork, Delete, what + " (once the instances and the load balancer are gone)"})
		})
	}
	if p.deps.LoadBalancers != nil {
		run(func() {
			lbs, err := p.findLoadBalancers(ctx)
			if err != nil {
				fail(StepLoadBalancer, err)
				return
			}
			// The certificates: the one the listeners serve (whoever uploaded it: this machine's journal may
			// be empty) and the one the journal names.
			var certs []string
			for _, lb := range lbs {
				ls, err := p.deps.LoadBalancers.Listeners(ctx, lb.ID)
				if err != nil {
					fail(StepLoadBalancer, err)
					return
				}
				for _, l := range ls {
					if l.CertID != "" && !slices.Contains(certs, l.CertID) {
						certs = append(certs, l.CertID)
					}
				}
			}
			if cert := p.journal.Data().CertID; cert != "" && !slices.Contains(certs, cert) {
				if _, err := p.deps.CertStore.Certificate(ctx, cert); err == nil {
					certs = append(certs, cert)
				} else if !errors.Is(err, ErrNotFound) {
					fail(StepLoadBalancer, err)
					return
				}
			}
			var what []string
			for _, lb := range lbs {
				what = append(what, lb.ID)
			}
			for _, c := range certs {
				what = append(what, "certificate "+c)
			}
			mu.Lock()
			plan.cluster.lbsFound, plan.cluster.certs = lbs, certs
			mu.Unlock()
			if len(what) == 0 {
				set(Change{StepLoadBalancer, Skip, "none"})
				return
			}
			set(Change{StepLoadBalancer, Delete, strings.Join(what, ", ")})
		})
	}
	run(func() {
		recs, err := p.ourRecords(ctx)
		if err != nil {
			fail(StepDNS, err)
			return
		}
		ours := recs
		mu.Lock()
		plan.seen.records = ours
		mu.Unlock()
		if len(ours) == 0 {
			set(Change{StepDNS, Skip, "none made by this deployment"})
			return
		}
		set(Change{StepDNS, Delete, fmt.Sprintf("%s %s → %s", ours[0].Type, p.cfg.Domain, ours[0].Value)})
	})
	if p.deps.Buckets != nil {
		run(func() {
			b, err := p.deps.Buckets.Bucket(ctx)
			if err != nil {
				fail(StepBucket, err)
				return
			}
			mu.Lock()
			plan.seen.bucket = b
			mu.Unlock()
			name := p.deps.Buckets.Name()
			switch {
			case !b.Exists:
				set(Change{StepBucket, Skip, "none"})
			case b.Tags[TagKey] != p.cfg.Deployment:
				set(Change{StepBucket, Skip, name + " does not carry " + p.remark() + ": left alone"})
			case b.HasObjects && !opts.Force && b.BundleExpiry:
				set(Change{StepBucket, Update, name + " has objects: kept (--force deletes them and the bucket); its host-bundle lifecycle rule goes"})
				mu.Lock()
				plan.Kept = append(plan.Kept, "bucket "+name+" and its objects (--force deletes them)")
				mu.Unlock()
			case b.HasObjects && !opts.Force:
				set(Change{StepBucket, Skip, name + " has objects: kept (--force deletes them and the bucket)"})
				mu.Lock()
				plan.Kept = append(plan.Kept, "bucket "+name+" and its objects (--force deletes them)")
				mu.Unlock()
			case b.HasObjects:
				set(Change{StepBucket, Delete, name + " and every object in it"})
			default:
				set(Change{StepBucket, Delete, name})
			}
		})
	}
	if p.deps.Schema != nil {
		if opts.Purge {
			set(Change{StepDatabase, Delete, "drop " + p.deps.Schema.Describe()})
		} else {
			set(Change{StepDatabase, Skip, p.deps.Schema.Describe() + ": data kept (--purge drops it)"})
			mu.Lock() // the reads started above may be adding to Kept
			plan.Kept = append(plan.Kept, "database "+p.deps.Schema.Describe()+" (--purge drops it)")
			mu.Unlock()
		}
	}
	if err := rd.wait(); err != nil {
		return nil, err
	}
	if plan.keepManaged {
		// The kept databases sit in the network and admit the instances' group by name.
		for i, c := range plan.Changes {
			if (c.Step == StepFirewall || c.Step == StepNetwork) && c.Action == Delete {
				plan.Changes[i] = Change{c.Step, Skip, c.Detail + ": kept with the managed databases"}
			}
		}
	}
	sortChanges(plan.Changes)
	sort.Strings(plan.Kept) // the reads finish in any order
	return plan, nil
}

// Destroy removes what PlanDestroy found: the record, the instances (waiting until they are gone), then
// the security group, the bucket and, when asked, the database.
func (p *Provisioner) Destroy(ctx context.Context, plan *Plan) error {
	p.journal.Update(func(d *JournalData) { d.Run = "destroy" })
	// Nothing is sent to a load balancer once it is gone: the record goes first.
	needs := map[string][]string{StepFirewall: {StepInstance, StepManaged}, StepRole: {StepInstance}, StepLoadBalancer: {StepDNS},
		StepNetwork: {StepInstance, StepLoadBalancer, StepManaged}}
	do := map[string]func(context.Context) (string, string, error){
		StepNetwork: func(ctx context.Context) (string, string, error) {
			c := plan.change(StepNetwork)
			if c.Action != Delete {
				return "skipped", c.Detail, nil
			}
			for _, sn := range plan.cluster.netSubnets {
				if err := p.deps.Network.DeleteSubnet(ctx, sn.ID); err != nil {
					return "", "", fmt.Errorf("deleting subnet %s: %w", sn.ID, err)
				}
			}
			if err := p.deps.Network.DeleteVPC(ctx, plan.cluster.net.vpc.ID); err != nil {
				return "", "", fmt.Errorf("deleting VPC %s: %w", plan.cluster.net.vpc.ID, err)
			}
			return "deleted", c.Detail, nil
		},
		StepLoadBalancer: func(ctx context.Context) (string, string, error) {
			c := plan.change(StepLoadBalancer)
			if c.Action != Delete {
				return "skipped", c.Detail, nil
			}
			for _, lb := range plan.cluster.lbsFound {
				if err := p.deps.LoadBalancers.DeleteLoadBalancer(ctx, lb.ID); err != nil {
					return "", "", fmt.Errorf("deleting load balancer %s: %w", lb.ID, err)
				}
			}
			for _, cert := range plan.cluster.certs {
				if err := p.deps.CertStore.DeleteCertificate(ctx, cert); err != nil && !errors.Is(err, ErrNotFound) {
					return "", "", fmt.Errorf("deleting certificate %s: %w", cert, err)
				}
			}
			return "deleted", c.Detail, nil
		},
		StepDNS: func(ctx context.Context) (string, string, error) {
			c := plan.change(StepDNS)
			if c.Action != Delete {
				return "skipped", c.Detail, nil
			}
			for _, r := range plan.seen.records {
				if err := p.deps.DNS.DeleteRecord(ctx, p.cfg.DNSZone, r.ID); err != nil {
					return "", "", fmt.Errorf("deleting record %d: %w", r.ID, err)
				}
			}
			return "deleted", c.Detail, nil
		},
		StepInstance: func(ctx context.Context) (string, string, error) {
			c := plan.change(StepInstance)
			if c.Action != Delete {
				return "skipped", c.Detail, nil
			}
			for _, in := range plan.seen.extraInst {
				if in.State == StateTerminating {
					continue
				}
				if err := p.deps.Compute.TerminateInstance(ctx, in.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return "", "", fmt.Errorf("terminating %s: %w", in.ID, err)
				}
			}
			for _, in := range plan.seen.extraInst {
				if err := p.waitGone(ctx, in.ID); err != nil {
					return "", "", err
				}
			}
			return "deleted", c.Detail, nil
		},
		StepFirewall: func(ctx context.Context) (string, string, error) {
			c := plan.change(StepFirewall)
			if c.Action != Delete {
				return "skipped", c.Detail, nil
			}
			if err := p.deps.Firewall.DeleteGroup(ctx, plan.seen.group.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return "", "", fmt.Errorf("deleting %s: %w", plan.seen.group.ID, err)
			}
			return "deleted", c.Detail, nil
		},
		StepBucket: func(ctx context.Context) (string, string, error) {
			c := plan.change(StepBucket)
			if c.Action == Update { // kept, with only applet's lifecycle rule removed
				if err := p.deps.Buckets.RemoveBundleExpiry(ctx); err != nil {
					return "", "", fmt.Errorf("removing the bucket's lifecycle rule: %w", err)
				}
				return "updated", c.Detail, nil
			}
			if c.Action != Delete {
				return "skipped", c.Detail, nil
			}
			if plan.seen.bucket.HasObjects || len(plan.seen.bucket.Media) > 0 {
				if err := p.deps.Buckets.Empty(ctx); err != nil {
					return "", "", fmt.Errorf("emptying the bucket: %w", err)
				}
			}
			if err := p.deps.Buckets.DeleteBucket(ctx); err != nil {
				return "", "", fmt.Errorf("deleting the bucket: %w", err)
			}
			return "deleted", c.Detail, nil
		},
		StepManaged: func(ctx context.Context) (string, string, error) { return p.destroyManaged(ctx, plan) },
		StepRole:    func(ctx context.Context) (string, string, error) { return p.destroyRole(ctx, plan) },
		StepVault:   func(ctx context.Context) (string, string, error) { return p.destroyVault(ctx, plan) },
		StepDatabase: func(ctx context.Context) (string, string, error) {
			c := plan.change(StepDatabase)
			if c.Action != Delete {
				return "skipped", c.Detail, nil
			}
			if err := p.deps.Schema.Purge(ctx); err != nil {
				return "", "", fmt.Errorf("dropping %s: %w", p.deps.Schema.Describe(), err)
			}
			return "deleted", c.Detail, nil
		},
	}
	var order []string
	for _, s := range stepOrder {
		if _, ok := do[s]; ok && (s != StepLoadBalancer || p.deps.LoadBalancers != nil) && (s != StepManaged || p.deps.Databases != nil) && (s != StepNetwork || p.deps.Network != nil) && (s != StepBucket || p.deps.Buckets != nil) && (s != StepDatabase || p.deps.Schema != nil) && (s != StepRole || p.deps.Roles != nil) && (s != StepVault || p.deps.Vault != nil) {
			order = append(order, s)
		}
	}
	stepErr := p.runGraph(ctx, order, needs, do)
	if ctx.Err() != nil {
		return stepErr
	}
	// What is left, whatever the steps said: destroy succeeds only when nothing is.
	left, err := p.census(ctx, plan)
	if err != nil {
		return errors.Join(stepErr, fmt.Errorf("checking what is left: %w", err))
	}
	if len(left) > 0 {
		return &LeftError{Left: left, Cause: stepErr}
	}
	if stepErr != nil {
		return stepErr
	}
	p.journal.Update(func(d *JournalData) {
		*d = JournalData{Deployment: d.Deployment, Steps: map[string]StepEntry{}}
	})
	return nil
}

// LeftError is a destroy that left resources of the deployment behind, and why.
type LeftError struct {
	Left  []string
	Cause error
}

func (e *LeftError) Error() string {
	s := "destroy left " + strings.Join(e.Left, "; ")
	if e.Cause != nil {
		s += " (" + e.Cause.Error() + ")"
	}
	return s
}

func (e *LeftError) Unwrap() error { return e.Cause }

// Hint says how to finish.
func (e *LeftError) Hint() string {
	return "applet provision destroy (again; it picks up what is left), or remove them in the console"
}

// TagLag bounds how long destroy waits for an instance whose create may have taken effect (the
// journal holds its ClientToken, not its id) to show up by tag.
var TagLag = time.Minute

// instancesToDestroy finds the deployment's instances by tag and by the journal: by the id it
// recorded, or, when it holds only the ClientToken of a create whose answer was lost, by tag again
// within TagLag (never by replaying RunInstances).
func (p *Provisioner) instancesToDestroy(ctx context.Context) ([]Instance, error) {
	insts, err := p.deps.Compute.FindInstances(ctx, TagKey, p.cfg.Deployment)
	if err != nil || len(insts) > 0 {
		return insts, err
	}
	d := p.journal.Data()
	switch {
	case d.InstanceID != "":
		in, err := p.deps.Compute.Instance(ctx, d.InstanceID)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []Instance{in}, nil
	case d.ClientToken != "" || len(d.InstanceTokens) > 0:
		deadline := time.Now().Add(min(TagLag, p.cfg.BootTimeout))
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(p.cfg.PollInterval):
			}
			if insts, err = p.deps.Compute.FindInstances(ctx, TagKey, p.cfg.Deployment); err != nil || len(insts) > 0 {
				return insts, err
			}
		}
	}
	return nil, nil
}

// census lists what still carries the deployment's tag, or is named in its journal, apart from what
// the plan keeps on purpose.
func (p *Provisioner) census(ctx context.Context, plan *Plan) ([]string, error) {
	var left []string
	groups, err := p.groups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if !plan.keepManaged {
			left = append(left, "security group "+g.ID)
		}
	}
	insts, err := p.deps.Compute.FindInstances(ctx, TagKey, p.cfg.Deployment)
	if err != nil {
		return nil, err
	}
	if id := p.journal.Data().InstanceID; id != "" && len(insts) == 0 {
		if in, err := p.deps.Compute.Instance(ctx, id); err == nil {
			insts = append(insts, in)
		}
	}
	for _, in := range insts {
		left = append(left, fmt.Sprintf("instance %s (%s)", in.ID, in.State))
	}
	recs, err := p.ourRecords(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		left = append(left, fmt.Sprintf("DNS record %d (%s %s → %s)", r.ID, r.Type, p.cfg.Domain, r.Value))
	}
	if v, sns, err := p.networkToDestroy(ctx); err != nil {
		return nil, err
	} else if v != nil && !plan.keepManaged {
		for _, sn := range sns {
			left = append(left, "subnet "+sn.ID)
		}
		left = append(left, "VPC "+v.ID)
	}
	if p.deps.LoadBalancers != nil {
		lbs, err := p.findLoadBalancers(ctx)
		if err != nil {
			return nil, err
		}
		for _, lb := range lbs {
			left = append(left, "load balancer "+lb.ID)
		}
		certs := slices.Clone(plan.cluster.certs)
		if c := p.journal.Data().CertID; c != "" && !slices.Contains(certs, c) {
			certs = append(certs, c)
		}
		for _, cert := range certs {
			if _, err := p.deps.CertStore.Certificate(ctx, cert); err == nil {
				left = append(left, "certificate "+cert)
			} else if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
	}
	dbs, err := p.censusManaged(ctx, plan)
	if err != nil {
		return nil, err
	}
	left = append(left, dbs...)
	roles, err := p.censusRole(ctx)
	if err != nil {
		return nil, err
	}
	left = append(left, roles...)
	vault, err := p.censusVault(ctx, plan)
	if err != nil {
		return nil, err
	}
	left = append(left, vault...)
	if p.deps.Buckets != nil {
		b, err := p.deps.Buckets.Bucket(ctx)
		if err != nil {
			return nil, err
		}
		kept := b.HasObjects && !plan.destroyOpts.Force
		if b.Exists && b.Tags[TagKey] == p.cfg.Deployment && !kept {
			left = append(left, "bucket "+p.deps.Buckets.Name())
		}
		if b.Exists && b.Tags[TagKey] == p.cfg.Deployment && kept && b.BundleExpiry {
			left = append(left, "the host-bundle lifecycle rule of bucket "+p.deps.Buckets.Name())
		}
	}
	return left, nil
}

func (p *Provisioner) waitGone(ctx context.Context, id string) error {
	deadline := time.Now().Add(p.cfg.BootTimeout)
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	for {
		_, err := p.deps.Compute.Instance(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("waiting for %s to go: %w", id, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("instance %s is still terminating after %s: run destroy again later", id, p.cfg.BootTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ourRecords are the domain's A and CNAME records that this deployment made (CNAME only where a load
// balancer may have been pointed at).
func (p *Provisioner) ourRecords(ctx context.Context) ([]Record, error) {
	types := []string{"A"}
	if p.deps.LoadBalancers != nil {
		types = append(types, "CNAME")
	}
	var ours []Record
	for _, typ := range types {
		recs, err := p.deps.DNS.Records(ctx, p.cfg.DNSZone, p.RecordName(), typ)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Remark == p.remark() {
				if r.Type == "" {
					r.Type = typ
				}
				ours = append(ours, r)
			}
		}
	}
	return ours, nil
}
