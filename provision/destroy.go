package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DestroyOptions say how far destroy goes.
type DestroyOptions struct {
	Force bool // delete the bucket's objects; otherwise a bucket with objects is kept
	Purge bool // drop the database; otherwise its data is kept
}

// PlanDestroy reads what carries the deployment's tag and says what Destroy would remove. Read calls only.
func (p *Provisioner) PlanDestroy(ctx context.Context, opts DestroyOptions) (*Plan, error) {
	plan := &Plan{Destroy: true}
	rd := &reads{plan: plan}
	mu, set, fail, run := &rd.mu, rd.set, rd.fail, rd.run
	run(func() {
		groups, err := p.deps.Firewall.FindGroups(ctx, p.GroupName(), TagKey, p.cfg.Deployment)
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
		insts, err := p.deps.Compute.FindInstances(ctx, TagKey, p.cfg.Deployment)
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
	run(func() {
		recs, err := p.deps.DNS.Records(ctx, p.cfg.DNSZone, p.RecordName(), "A")
		if err != nil {
			fail(StepDNS, err)
			return
		}
		var ours []Record
		for _, r := range recs {
			if r.Remark == p.remark() {
				ours = append(ours, r)
			}
		}
		mu.Lock()
		plan.seen.records = ours
		mu.Unlock()
		if len(ours) == 0 {
			set(Change{StepDNS, Skip, "none made by this deployment"})
			return
		}
		set(Change{StepDNS, Delete, fmt.Sprintf("A %s → %s", p.cfg.Domain, ours[0].Value)})
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
			case b.HasObjects && !opts.Force:
				set(Change{StepBucket, Skip, name + " has objects: kept (--force deletes them and the bucket)"})
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
		}
	}
	if err := rd.wait(); err != nil {
		return nil, err
	}
	sortChanges(plan.Changes)
	return plan, nil
}

// Destroy removes what PlanDestroy found: the record, the instances (waiting until they are gone), then
// the security group, the bucket and, when asked, the database.
func (p *Provisioner) Destroy(ctx context.Context, plan *Plan) error {
	p.journal.Update(func(d *JournalData) { d.Run = "destroy" })
	needs := map[string][]string{StepFirewall: {StepInstance}}
	do := map[string]func(context.Context) (string, string, error){
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
		if _, ok := do[s]; ok && (s != StepBucket || p.deps.Buckets != nil) && (s != StepDatabase || p.deps.Schema != nil) {
			order = append(order, s)
		}
	}
	err := p.runGraph(ctx, order, needs, do)
	if err == nil {
		p.journal.Update(func(d *JournalData) {
			*d = JournalData{Deployment: d.Deployment, Steps: map[string]StepEntry{}}
		})
	}
	return err
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
