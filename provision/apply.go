package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrDependency marks a step not run because one it needs failed.
var ErrDependency = errors.New("not run: a step it needs failed")

// runGraph runs steps as soon as the steps they need are done, each in its own goroutine, and reports
// each one's progress. A failed step stops only the steps that need it.
func (p *Provisioner) runGraph(ctx context.Context, order []string, needs map[string][]string, do map[string]func(context.Context) (string, string, error)) error {
	done := map[string]chan struct{}{}
	failed := map[string]bool{}
	var mu sync.Mutex
	var errs []error
	for _, s := range order {
		done[s] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for _, s := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[s])
			for _, n := range needs[s] {
				if ch, ok := done[n]; ok {
					<-ch
					mu.Lock()
					bad := failed[n]
					mu.Unlock()
					if bad {
						mu.Lock()
						failed[s] = true
						mu.Unlock()
						p.progress(Event{Step: s, Status: "skipped", Detail: n + " failed"})
						return
					}
				}
			}
			start := time.Now()
			p.progress(Event{Step: s, Status: "running"})
			status, detail, err := do[s](ctx)
			took := time.Since(start)
			if err != nil {
				mu.Lock()
				failed[s] = true
				errs = append(errs, fmt.Errorf("%s: %w", s, err))
				mu.Unlock()
				p.progress(Event{Step: s, Status: "failed", Detail: err.Error(), Took: took})
				p.journal.Update(func(d *JournalData) {
					d.Steps[s] = StepEntry{Status: "failed", Detail: err.Error(), At: time.Now().UTC()}
				})
				return
			}
			p.progress(Event{Step: s, Status: status, Detail: detail, Took: took})
			p.journal.Update(func(d *JournalData) { d.Steps[s] = StepEntry{Status: status, Detail: detail, At: time.Now().UTC()} })
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Apply carries out a plan made by Plan. Steps whose plan is "ok" make no call.
func (p *Provisioner) Apply(ctx context.Context, plan *Plan) (Result, error) {
	p.journal.Update(func(d *JournalData) { d.Run = "apply" })
	do := map[string]func(context.Context) (string, string, error){
		StepRole:     func(ctx context.Context) (string, string, error) { return p.applyRole(ctx, plan) },
		StepFirewall: func(ctx context.Context) (string, string, error) { return p.applyFirewall(ctx, plan) },
		StepInstance: func(ctx context.Context) (string, string, error) { return p.applyInstance(ctx, plan) },
		StepDNS:      func(ctx context.Context) (string, string, error) { return p.applyRecord(ctx, plan) },
		StepBucket:   func(ctx context.Context) (string, string, error) { return p.applyBucket(ctx, plan) },
		StepVault:    func(ctx context.Context) (string, string, error) { return p.applyVault(ctx, plan) },
		StepDatabase: func(ctx context.Context) (string, string, error) { return p.applyDatabase(ctx, plan) },
	}
	order := []string{StepRole, StepFirewall, StepInstance, StepDNS, StepBucket, StepVault, StepDatabase}
	if p.deps.Host != nil {
		do[StepCert] = func(ctx context.Context) (string, string, error) { return p.applyCert(ctx, plan) }
		do[StepHost] = func(ctx context.Context) (string, string, error) { return p.applyHost(ctx, plan) }
		do[StepHealth] = func(ctx context.Context) (string, string, error) { return p.applyHealth(ctx) }
		order = append(order, StepCert, StepHost, StepHealth)
	}
	needs := stepNeeds
	if p.cluster() {
		do[StepNetwork] = func(ctx context.Context) (string, string, error) { return p.applyNetwork(ctx, plan) }
		do[StepInstance] = func(ctx context.Context) (string, string, error) { return p.applyInstances(ctx, plan) }
		do[StepDNS] = func(ctx context.Context) (string, string, error) { return p.applyClusterRecord(ctx, plan) }
		do[StepLoadBalancer] = func(ctx context.Context) (string, string, error) { return p.applyLoadBalancer(ctx, plan) }
		do[StepHost] = func(ctx context.Context) (string, string, error) { return p.applyHosts(ctx, plan) }
		do[StepHealth] = func(ctx context.Context) (string, string, error) { return p.applyClusterHealth(ctx) }
		order, needs = []string{StepRole, StepFirewall, StepNetwork, StepInstance, StepBucket, StepVault, StepDatabase, StepCert, StepLoadBalancer, StepDNS, StepHost}, clusterNeeds
		if p.managed() {
			do[StepManaged] = func(ctx context.Context) (string, string, error) { return p.applyManaged(ctx, plan) }
			order = append(order, StepManaged)
		}
		if len(plan.cluster.extra) > 0 {
			do[StepScaleIn] = func(ctx context.Context) (string, string, error) { return p.applyScaleIn(ctx, plan) }
			order = append(order, StepScaleIn)
		}
		order = append(order, StepHealth)
	}
	err := p.runGraph(ctx, order, needs, do)
	if err == nil {
		p.journal.Update(func(d *JournalData) { d.Run = "" })
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res, err
}

func (p *Provisioner) applyFirewall(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepFirewall)
	g := plan.seen.group
	switch c.Action {
	case Keep:
		p.setResult(func(r *Result) { r.SecurityGroupID = g.ID })
		return "ok", g.ID, nil
	case Create:
		id, err := p.deps.Firewall.CreateGroup(ctx, p.GroupName(), "applet deployment "+p.cfg.Deployment+": HTTP and HTTPS", p.tags())
		if err != nil {
			return "", "", fmt.Errorf("creating security group: %w", err)
		}
		p.journal.Update(func(d *JournalData) { d.SecurityGroupID = id })
		rules := plan.seen.rules
		if rules == nil {
			rules = p.wantRules()
		}
		if err := p.deps.Firewall.AddRules(ctx, id, rules); err != nil {
			return "", "", fmt.Errorf("adding rules to %s: %w", id, err)
		}
		p.setResult(func(r *Result) { r.SecurityGroupID = id })
		return "created", id + " allowing " + rulesText(rules), nil
	}
	if len(plan.seen.missing) > 0 {
		if err := p.deps.Firewall.AddRules(ctx, g.ID, plan.seen.missing); err != nil {
			return "", "", fmt.Errorf("adding rules to %s: %w", g.ID, err)
		}
	}
	if len(plan.seen.extra) > 0 {
		if err := p.deps.Firewall.RemoveRules(ctx, g.ID, plan.seen.extra); err != nil {
			return "", "", fmt.Errorf("removing rules from %s: %w", g.ID, err)
		}
	}
	p.setResult(func(r *Result) { r.SecurityGroupID = g.ID })
	return "updated", c.Detail, nil
}

func (p *Provisioner) setResult(f func(*Result)) {
	p.mu.Lock()
	f(&p.res)
	p.mu.Unlock()
}

func (p *Provisioner) result() Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res
}

func (p *Provisioner) applyInstance(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepInstance)
	in := plan.seen.instance
	switch c.Action {
	case Keep:
		p.setResult(func(r *Result) { r.InstanceID, r.PublicIP = in.ID, in.PublicIP })
		p.journal.Update(func(d *JournalData) { d.InstanceID = in.ID })
		return "ok", in.ID + " " + in.PublicIP, nil
	case Update: // found booting (an earlier run was interrupted), stopped, or without its role
		started := ""
		if want := p.roleName(); in.State == StateRunning && in.Role != want {
			if err := p.deps.Compute.SetRole(ctx, in.ID, want); err != nil {
				return "", "", fmt.Errorf("attaching role %s to %s: %w", want, in.ID, err)
			}
			p.setResult(func(r *Result) { r.InstanceID, r.PublicIP = in.ID, in.PublicIP })
			p.journal.Update(func(d *JournalData) { d.InstanceID = in.ID })
			return "updated", c.Detail, nil
		}
		if in.State == StateStopped {
			if err := p.deps.Compute.StartInstance(ctx, in.ID); err != nil {
				return "", "", fmt.Errorf("starting %s: %w", in.ID, err)
			}
			started = " (started)"
		}
		ready, err := p.waitRunning(ctx, in.ID)
		if err != nil {
			return "", "", err
		}
		p.setResult(func(r *Result) { r.InstanceID, r.PublicIP = ready.ID, ready.PublicIP })
		if started != "" {
			return "updated", ready.ID + " " + ready.PublicIP + started, nil
		}
		return "ok", ready.ID + " " + ready.PublicIP + " (finished booting)", nil
	case Replace:
		if err := p.deps.Compute.TerminateInstance(ctx, in.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return "", "", fmt.Errorf("terminating %s: %w", in.ID, err)
		}
		p.journal.Update(func(d *JournalData) { d.ClientToken, d.InstanceID = "", "" })
	}
	// A token written before the call is replayed by a run that was killed during it, so the cloud
	// answers with the instance it already made instead of making a second one.
	token := p.journal.Data().ClientToken
	if token == "" {
		token = NewToken(p.cfg.Deployment)
		if err := p.journal.Update(func(d *JournalData) { d.ClientToken = token }); err != nil {
			return "", "", err
		}
	}
	spec := p.spec(p.result().SecurityGroupID)
	spec.ClientToken = token
	id, err := p.deps.Compute.RunInstance(ctx, spec)
	if err != nil {
		return "", "", fmt.Errorf("creating instance: %w", err)
	}
	p.journal.Update(func(d *JournalData) { d.InstanceID = id })
	ready, err := p.waitRunning(ctx, id)
	if err != nil {
		return "", "", err
	}
	// Running, the instance is found by its tag: the token has done its work, and a later create (after
	// the instance is deleted by hand) must not replay it.
	p.journal.Update(func(d *JournalData) { d.ClientToken = "" })
	p.setResult(func(r *Result) { r.InstanceID, r.PublicIP = ready.ID, ready.PublicIP })
	status := "created"
	if c.Action == Replace {
		status = "replaced"
	}
	return status, ready.ID + " " + ready.PublicIP, nil
}

// waitRunning polls the instance until it runs with a public address; LAUNCH_FAILED ends it at once.
func (p *Provisioner) waitRunning(ctx context.Context, id string) (Instance, error) {
	deadline := time.Now().Add(p.cfg.BootTimeout)
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	last := "not visible yet"
	for {
		in, err := p.deps.Compute.Instance(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound): // a new instance may be missing from Describe for a moment
		case err != nil:
			return Instance{}, fmt.Errorf("waiting for %s: %w", id, err)
		case in.State == StateLaunchFailed:
			return Instance{}, fmt.Errorf("instance %s failed to launch (LAUNCH_FAILED): check the image, the instance type's stock in %s and the account's balance; the next run replaces it", id, p.cfg.Instance.Zone)
		case in.State == StateRunning && in.PublicIP != "":
			return in, nil
		default:
			last = in.State
		}
		if time.Now().After(deadline) {
			return Instance{}, fmt.Errorf("instance %s is still %s after %s: look at it in the console, then run again", id, last, p.cfg.BootTimeout)
		}
		select {
		case <-ctx.Done():
			return Instance{}, ctx.Err()
		case <-t.C:
		}
	}
}

func (p *Provisioner) applyRecord(ctx context.Context, plan *Plan) (string, string, error) {
	ip := p.result().PublicIP
	recs := plan.seen.records
	c := p.planRecord(recs, ip, Keep)
	if c.Action == Keep {
		p.setResult(func(r *Result) { r.RecordID = recs[0].ID })
		return "ok", c.Detail, nil
	}
	rec := Record{Name: p.RecordName(), Type: "A", Value: ip, Remark: p.remark(), TTL: 600}
	if len(recs) == 0 {
		id, err := p.deps.DNS.CreateRecord(ctx, p.cfg.DNSZone, rec)
		if err != nil {
			return "", "", fmt.Errorf("creating record: %w", err)
		}
		p.journal.Update(func(d *JournalData) { d.RecordID = id })
		p.setResult(func(r *Result) { r.RecordID = id })
		return "created", c.Detail, nil
	}
	// Fix the first in place; further A records would split traffic, so they go if they are ours.
	keep := recs[0]
	for _, r := range recs {
		if r.Value == ip {
			keep = r
		}
	}
	if keep.Value != ip || keep.Remark != rec.Remark {
		rec.ID = keep.ID
		if err := p.deps.DNS.ModifyRecord(ctx, p.cfg.DNSZone, rec); err != nil {
			return "", "", fmt.Errorf("changing record %d: %w", keep.ID, err)
		}
	}
	var others []string
	for _, r := range recs {
		if r.ID == keep.ID {
			continue
		}
		if r.Remark != p.remark() {
			others = append(others, r.Value)
			continue
		}
		if err := p.deps.DNS.DeleteRecord(ctx, p.cfg.DNSZone, r.ID); err != nil {
			return "", "", fmt.Errorf("deleting duplicate record %d: %w", r.ID, err)
		}
	}
	p.journal.Update(func(d *JournalData) { d.RecordID = keep.ID })
	p.setResult(func(r *Result) { r.RecordID = keep.ID })
	detail := c.Detail
	if len(others) > 0 {
		detail += "; other A records not made by applet remain (" + strings.Join(others, ", ") + "): delete them in DNSPod"
	}
	return "updated", detail, nil
}

func (p *Provisioner) applyBucket(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepBucket)
	if p.deps.Buckets == nil {
		return "skipped", c.Detail, nil
	}
	b := plan.seen.bucket
	bk := p.deps.Buckets
	p.setResult(func(r *Result) { r.BucketURL = bk.URL() })
	switch c.Action {
	case Keep:
		return "ok", bk.Name(), nil
	case Create:
		if err := bk.CreateBucket(ctx, p.tags()); err != nil {
			return "", "", fmt.Errorf("creating bucket: %w", err)
		}
		b = BucketState{Exists: true, PublicRead: true, Tags: p.tags()}
	}
	if !b.PublicRead {
		if err := bk.SetPublicRead(ctx); err != nil {
			return "", "", fmt.Errorf("setting the bucket public-read: %w", err)
		}
	}
	if !b.CORS {
		if err := bk.SetCORS(ctx); err != nil {
			return "", "", fmt.Errorf("setting the bucket's CORS: %w", err)
		}
	}
	if b.Tags[TagKey] != p.cfg.Deployment {
		if err := bk.SetTags(ctx, p.tags()); err != nil {
			return "", "", fmt.Errorf("tagging the bucket: %w", err)
		}
	}
	if !b.BundleExpiry {
		if err := bk.SetBundleExpiry(ctx); err != nil {
			return "", "", fmt.Errorf("setting the bucket's lifecycle rule: %w", err)
		}
	}
	for _, m := range p.cfg.Media {
		if !b.Media[m.Key] {
			if err := bk.PutMedia(ctx, m); err != nil {
				return "", "", fmt.Errorf("putting %s in the bucket: %w", m.Key, err)
			}
		}
	}
	if c.Action == Create {
		return "created", bk.Name() + " " + bk.URL(), nil
	}
	return "updated", c.Detail, nil
}

func (p *Provisioner) applyDatabase(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepDatabase)
	switch c.Action {
	case Skip:
		return "skipped", c.Detail, nil
	case Keep:
		return "ok", c.Detail, nil
	}
	if err := p.deps.Schema.Apply(ctx); err != nil {
		return "", "", fmt.Errorf("applying the schema to %s: %w", p.deps.Schema.Describe(), err)
	}
	return "updated", c.Detail, nil
}
