package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/host"
)

// A deployment of several instances (provision.instances > 1, or provision.load_balancer) is checked
// as its load balancer sees it: each target's health, the certificate the HTTPS listener serves, the
// applet version of every instance, and the shared stores from an instance.

func (d *env) clustered() bool { return d.c.Provision.Instances > 1 || d.c.Provision.LoadBalancer }

// lbView is the load balancer, its HTTPS listener and its rule for the domain, read once.
type lbView struct {
	lb       provision.LoadBalancer
	listener provision.Listener
	rule     provision.LBRule
}

func (d *env) skipCluster() (Result, bool) {
	if r, skip := d.skipCloud(); skip {
		return r, true
	}
	if !d.clustered() {
		return Skip("one instance, no load balancer (provision.instances is 1)"), true
	}
	return Result{}, false
}

func (d *env) loadBalancer(ctx context.Context) (*lbView, error) {
	d.lbOnce.Do(func() {
		cl, _ := d.cloud()
		lbs, err := cl.FindLoadBalancers(ctx, provision.TagKey, d.c.Deployment)
		if err != nil {
			d.lbErr = err
			return
		}
		if len(lbs) != 1 {
			d.lbErr = fmt.Errorf("%d load balancers carry %s=%s", len(lbs), provision.TagKey, d.c.Deployment)
			return
		}
		ls, err := cl.Listeners(ctx, lbs[0].ID)
		if err != nil {
			d.lbErr = err
			return
		}
		for _, l := range ls {
			if l.Protocol != "HTTPS" || l.Port != 443 {
				continue
			}
			for _, r := range l.Rules {
				if r.Domain == d.c.Domain && r.URL == "/" {
					d.lb = &lbView{lb: lbs[0], listener: l, rule: r}
					return
				}
			}
		}
		d.lbErr = fmt.Errorf("load balancer %s has no HTTPS listener on 443 forwarding %s/", lbs[0].ID, d.c.Domain)
	})
	return d.lb, d.lbErr
}

// withLB runs check on the load balancer's view, or says why it cannot.
func (d *env) withLB(ctx context.Context, check func(v *lbView) Result) Result {
	if r, skip := d.skipCluster(); skip {
		return r
	}
	v, err := d.loadBalancer(ctx)
	if err != nil {
		return Failed(err.Error(), "run applet provision: it makes the load balancer and its listeners")
	}
	return check(v)
}

func (d *env) checkTargets(ctx context.Context) Result {
	return d.withLB(ctx, func(v *lbView) Result { return d.targets(ctx, v) })
}

func (d *env) targets(ctx context.Context, v *lbView) Result {
	cl, _ := d.cloud()
	ts, err := cl.Targets(ctx, v.lb.ID, v.listener.ID, v.rule.ID)
	if err != nil {
		return apiFail(err)
	}
	insts, err := cl.Compute().FindInstances(ctx, provision.TagKey, d.c.Deployment)
	if err != nil {
		return apiFail(err)
	}
	var dead, drained, unknown, alive []string
	seen := map[string]bool{}
	for _, t := range ts {
		seen[t.InstanceID] = true
		switch {
		case t.Health == "Dead":
			dead = append(dead, t.InstanceID)
		case t.Weight == 0:
			drained = append(drained, t.InstanceID)
		case t.Health == "Alive":
			alive = append(alive, t.InstanceID)
		default:
			unknown = append(unknown, t.InstanceID+" ("+t.Health+")")
		}
	}
	var missing []string
	for _, in := range insts {
		if in.State == provision.StateRunning && !seen[in.ID] {
			missing = append(missing, in.ID)
		}
	}
	switch {
	case len(dead) > 0:
		return Failf("look at nginx and applet on them (their /healthz answers from the video backend), then run applet provision: it converges instances the load balancer finds dead",
			"load balancer %s finds %s dead (%d alive)", v.lb.ID, strings.Join(dead, ", "), len(alive))
	case len(missing) > 0:
		return Failf("run applet provision: it puts every instance behind the load balancer", "%s run but are not behind load balancer %s", strings.Join(missing, ", "), v.lb.ID)
	case len(drained) > 0:
		return Warning(fmt.Sprintf("%s at weight 0 (out of the load balancer)", strings.Join(drained, ", ")),
			"a roll under way leaves one instance out at a time; if none is running, run applet provision to put them back")
	case len(unknown) > 0:
		return Warning("not checked yet: "+strings.Join(unknown, ", "), "wait a few seconds: the load balancer checks every 5 s")
	case len(alive) < d.c.Provision.Instances:
		return Warning(fmt.Sprintf("%d of %d instances alive behind %s", len(alive), d.c.Provision.Instances, v.lb.ID), "run applet provision to add the missing ones")
	}
	return Ok(fmt.Sprintf("load balancer %s finds %d instances alive: %s", v.lb.ID, len(alive), strings.Join(alive, ", ")))
}

func (d *env) checkLBCertificate(ctx context.Context) Result {
	return d.withLB(ctx, func(v *lbView) Result { return d.lbCertificate(ctx, v) })
}

func (d *env) lbCertificate(ctx context.Context, v *lbView) Result {
	cl, _ := d.cloud()
	info, err := cl.Certificate(ctx, v.listener.CertID)
	if err != nil {
		return Failed(fmt.Sprintf("the listener serves certificate %q, which cannot be read: %v", v.listener.CertID, err), "run applet provision: it uploads the certificate and switches the listener to it")
	}
	end, err := time.ParseInLocation(time.DateTime, info.NotAfter, time.FixedZone("CST", 8*3600))
	if err != nil {
		return Failed("certificate "+info.ID+" ends at "+info.NotAfter+", which does not parse", "look at it in the SSL certificate console")
	}
	left := time.Until(end)
	what := fmt.Sprintf("listener %s serves %s for %s until %s", v.listener.ID, info.ID, info.Domain, end.Local().Format(time.DateOnly))
	switch {
	case left <= 0:
		return Failed(what+": expired", "run applet provision now: it renews over DNS-01 and switches the listener")
	case left < 30*24*time.Hour:
		return Warning(fmt.Sprintf("%s: %d days left", what, int(left.Hours()/24)), "run applet provision: it renews 30 days before expiry (behind a load balancer nothing renews on the instances)")
	}
	return Ok(what)
}

func (d *env) checkFleetVersions(ctx context.Context) Result {
	if r, skip := d.skipCluster(); skip {
		return r
	}
	cl, _ := d.cloud()
	insts, err := cl.Compute().FindInstances(ctx, provision.TagKey, d.c.Deployment)
	if err != nil {
		return apiFail(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	byVersion := map[string][]string{}
	var failed []string
	for _, in := range insts {
		if in.State != provision.StateRunning {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := cl.RunCommand(ctx, in.ID, host.Script("\"$root"+host.BinaryPath+"\" version\n"), time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || res.ExitCode != 0 {
				failed = append(failed, in.ID)
				return
			}
			f := strings.Fields(res.Output)
			v := "?"
			if len(f) > 1 {
				v = f[1]
			}
			byVersion[v] = append(byVersion[v], in.ID)
		}()
	}
	wg.Wait()
	var parts []string
	for v, ids := range byVersion {
		sort.Strings(ids)
		parts = append(parts, v+" on "+strings.Join(ids, ", "))
	}
	sort.Strings(parts)
	switch {
	case len(failed) > 0:
		sort.Strings(failed)
		return Failf("check that they run and their TAT agent is online", "could not ask %s for its version", strings.Join(failed, ", "))
	case len(byVersion) > 1:
		return Warning("a mixed fleet: "+strings.Join(parts, "; "), "finish the roll (applet provision) or roll back (applet provision rollback): outside a roll every instance runs one version")
	case len(byVersion) == 0:
		return Failed("no instance runs", "run applet provision")
	}
	return Ok(strings.Join(parts, ""))
}

// checkStoresFromInstance checks the shared stores where the backends meet them: from an instance.
func (d *env) checkStoresFromInstance(ctx context.Context) Result {
	if r, skip := d.skipCluster(); skip {
		return r
	}
	if d.o.OnHost {
		return Skip("this is the instance: the backends checks above are from here")
	}
	res, err := d.onHost(ctx)
	if err != nil {
		return Failed("checking from an instance failed: "+err.Error(), "check that the instances run and their TAT agent is online")
	}
	var bad, good []string
	for _, name := range []string{"backends.redis", "backends.mysql", "backends.mongo"} {
		r, ok := res[name]
		switch {
		case !ok:
			bad = append(bad, name+": not reported")
		case r.Status == Fail:
			bad = append(bad, name+": "+r.Observed+" ("+r.Fix+")")
		case r.Status == OK:
			good = append(good, strings.TrimPrefix(name, "backends."))
		}
	}
	if len(bad) > 0 {
		return Failed(strings.Join(bad, "; "), "the instances must reach the shared stores: check their addresses, passwords and the security groups that admit the instances")
	}
	return Ok("an instance reaches " + strings.Join(good, ", "))
}
