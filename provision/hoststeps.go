package provision

import (
	"context"
	"fmt"
	"time"
)

// Certs keeps the deployment's certificate.
type Certs interface {
	// Status says whether the certificate on hand covers the names and is not due, and describes it.
	// fresh: the host is a new instance, so only the local copy can reach it (whatever the domain
	// serves now comes from the instance it replaces).
	Status(fresh bool) (ok bool, detail string)
	// Obtain issues one (DNS-01) unless the one on hand is good; it reports whether it issued.
	Obtain(ctx context.Context, fresh bool) (issued bool, detail string, err error)
}

// Host converges the instance.
type Host interface {
	// Digest identifies what would be delivered now (binary, config, certificate, site, units).
	Digest() (string, error)
	// Apply delivers the bundle to the instance and converges it; it returns the bundle's digest and
	// the host's own report.
	// restore, when set, is a backup the host restores before it starts the backends.
	Apply(ctx context.Context, in Instance, restore string) (digest, report string, err error)
}

// Drainer is a Host that can tell when an instance out of the load balancer has finished what it
// serves: it waits, at most within, until its backends serve no request.
type Drainer interface {
	Drain(ctx context.Context, in Instance, within time.Duration) (string, error)
}

// Health checks the backends through the public domain.
type Health interface {
	Check(ctx context.Context, ip string) (string, error)
}

func (p *Provisioner) planHost(ctx context.Context, plan *Plan) error {
	if p.deps.Host == nil {
		return nil
	}
	certOK, certDetail := p.deps.Certs.Status(plan.NewInstance())
	if certOK {
		plan.Changes = append(plan.Changes, Change{StepCert, Keep, certDetail})
	} else {
		plan.Changes = append(plan.Changes, Change{StepCert, Create, certDetail})
	}
	if p.cluster() {
		if err := p.planHosts(ctx, plan); err != nil {
			return err
		}
		if plan.NoChange() {
			plan.Changes = append(plan.Changes, Change{StepHealth, Skip, "nothing changed: applet doctor checks a running deployment"})
		} else {
			plan.Changes = append(plan.Changes, Change{StepHealth, Check, "each backend through the load balancer at https://" + p.cfg.Domain + ", WebSocket included"})
		}
		return nil
	}
	j := p.journal.Data()
	digest, err := p.deps.Host.Digest()
	if err != nil {
		return fmt.Errorf("preparing the host bundle: %w", err)
	}
	inst := plan.change(StepInstance).Action
	switch {
	case j.PendingRestore != "" && inst == Keep:
		plan.Changes = append(plan.Changes, Change{StepHost, Update, "converge the host and restore backup " + j.PendingRestore + " (an earlier run did not finish)"})
	case inst != Keep:
		plan.Changes = append(plan.Changes, Change{StepHost, Create, "install applet, its config, the certificate, the nginx site and the services"})
	case !certOK || digest != j.HostDigest:
		what := "the bundle changed"
		if j.HostDigest == "" {
			what = "never converged from here"
		}
		plan.Changes = append(plan.Changes, Change{StepHost, Update, fmt.Sprintf("converge the host (%s)", what)})
	default:
		plan.Changes = append(plan.Changes, Change{StepHost, Keep, "bundle " + digest[:12] + " applied " + j.HostApplied.Local().Format(time.DateTime)})
	}
	if plan.NoChange() {
		plan.Changes = append(plan.Changes, Change{StepHealth, Skip, "nothing changed: applet doctor checks a running deployment"})
	} else {
		plan.Changes = append(plan.Changes, Change{StepHealth, Check, "each backend through https://" + p.cfg.Domain + ", WebSocket included"})
	}
	return nil
}

func (p *Provisioner) applyCert(ctx context.Context, plan *Plan) (string, string, error) {
	issued, detail, err := p.deps.Certs.Obtain(ctx, plan.NewInstance())
	if err != nil {
		return "", "", err
	}
	if issued {
		return "created", detail, nil
	}
	return "ok", detail, nil
}

func (p *Provisioner) applyHost(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepHost)
	in := p.result()
	if c.Action == Keep && plan.change(StepCert).Action == Keep {
		return "ok", c.Detail, nil
	}
	// A backup chosen for a new instance is recorded first, so that a run killed before the host
	// finished it restores it when run again.
	if a := plan.change(StepInstance).Action; plan.Restore != "" && (a == Create || a == Replace) {
		p.journal.Update(func(d *JournalData) { d.PendingRestore = plan.Restore })
	}
	restore := p.journal.Data().PendingRestore
	digest, report, err := p.deps.Host.Apply(ctx, Instance{ID: in.InstanceID, PublicIP: in.PublicIP}, restore)
	if err != nil {
		return "", "", err
	}
	p.journal.Update(func(d *JournalData) { d.HostDigest, d.HostApplied, d.PendingRestore = digest, time.Now().UTC(), "" })
	if restore != "" {
		report = "restored backup " + restore + "; " + report
	}
	if c.Action == Create {
		return "created", report, nil
	}
	return "updated", report, nil
}

func (p *Provisioner) applyHealth(ctx context.Context) (string, string, error) {
	detail, err := p.deps.Health.Check(ctx, p.result().PublicIP)
	if err != nil {
		return "", "", err
	}
	return "ok", detail, nil
}

// Converge makes the plan run the host step (and the health check) even when the bundle is unchanged.
func (p *Plan) Converge() {
	for i, c := range p.Changes {
		switch {
		case c.Step == StepHost && c.Action == Keep && p.several:
			p.Changes[i] = Change{StepHost, Update, convergeAsked}
		case c.Step == StepHost && c.Action == Keep:
			p.Changes[i] = Change{StepHost, Update, "converge the host (asked for)"}
		case c.Step == StepHealth && c.Action == Skip:
			p.Changes[i] = Change{StepHealth, Check, "each backend through the domain, WebSocket included"}
		}
	}
}
