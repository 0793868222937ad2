package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// A deployment of more than one instance (Config.Instances > 1) runs them behind a load balancer that
// ends TLS with the deployment's certificate (uploaded to the cloud's certificate service), redirects
// HTTP to HTTPS and forwards the domain to the instances' nginx on port 80, checking each at
// HealthPath. Its stores are shared servers off the instances (refused otherwise before a plan is
// made), so an instance holds nothing that another lacks: one can be converged, added or removed
// while the others serve. Hosts converge one at a time: out of the load balancer (weight 0), drained,
// converged, checked, back in; a failure stops the roll and leaves the rest as they were.

// Steps of a deployment of several instances.
const (
	StepLoadBalancer = "load-balancer"
	StepScaleIn      = "scale-in"
)

// TargetWeight is an instance's weight in the load balancer while it serves.
const TargetWeight = 10

// HealthPath is where the load balancer checks an instance (nginx answers it from a backend's
// liveness).
const HealthPath = "/healthz"

// LBSettings configure the load balancer of a deployment of several instances.
type LBSettings struct {
	// Drain is how long an instance taken out of the load balancer is given to finish what it serves
	// before it is converged or removed.
	Drain time.Duration
	// AliveTimeout bounds the wait for the load balancer to find a converged instance alive.
	AliveTimeout time.Duration
	// Always keeps the load balancer with one instance (a deployment scaled down to one).
	Always bool
	// Ranges are the blocks the load balancer's requests and health checks come from: once no instance
	// is reached directly, the instances' group admits only them, on port 80.
	Ranges []string
}

// CertPEMs is what Certs offers when a load balancer serves the certificate: its chain and key.
type CertPEMs interface {
	PEM() (chain, key []byte, err error)
}

func (p *Provisioner) cluster() bool { return p.cfg.Instances > 1 || p.cfg.LB.Always }

// InstanceName is the name of the deployment's k-th instance (from 1) when it has several.
func (p *Provisioner) InstanceName(k int) string {
	return fmt.Sprintf("applet-%s-%d", p.cfg.Deployment, k)
}

// LoadBalancerName is the load balancer's name.
func (p *Provisioner) LoadBalancerName() string { return "applet-" + p.cfg.Deployment }

type clusterSeen struct {
	keep    []Instance // the instances that stay, by name
	failed  []Instance // LAUNCH_FAILED: replaced
	missing []string   // names to create
	extra   []Instance // beyond Instances: drained and removed
	lb      *LoadBalancer
	lbs     []Listener
	cnames  []Record
	net     networkSeen
	// repair: instances the load balancer finds dead, converged again.
	repair     map[string]bool
	netSubnets []Subnet // for destroy: the subnets of the VPC provision made
	// For destroy: the load balancers found, and the certificate uploaded for them ("": none).
	lbsFound []LoadBalancer
	certs    []string
	managed  managedSeen
	// For destroy: the managed databases provision made, and their security group.
	dbsFound []ManagedDB
	dbGroups []SecurityGroup
}

// planInstances reads the instances of a deployment of several: which stay, which are added, which
// go.
func (p *Provisioner) planInstances(ctx context.Context, rd *reads) {
	rd.run(func() {
		// The network first: an instance outside the deployment's VPC (one made before it had one) is
		// replaced by one inside, where the load balancer can reach it.
		wantVPC := ""
		if p.readNetwork(ctx, rd) {
			rd.mu.Lock()
			if v := rd.plan.cluster.net.vpc; v != nil {
				wantVPC = v.ID
			}
			rd.mu.Unlock()
		} else {
			return
		}
		insts, err := p.deps.Compute.FindInstances(ctx, TagKey, p.cfg.Deployment)
		if err != nil {
			rd.fail(StepInstance, err)
			return
		}
		sort.Slice(insts, func(i, j int) bool {
			return insts[i].Name < insts[j].Name || (insts[i].Name == insts[j].Name && insts[i].ID < insts[j].ID)
		})
		want := map[string]bool{}
		for k := 1; k <= p.cfg.Instances; k++ {
			want[p.InstanceName(k)] = true
		}
		cs := clusterSeen{}
		taken := map[string]bool{}
		var todo []string
		for _, in := range insts {
			switch {
			case in.State == StateTerminating:
			case in.State == StateLaunchFailed:
				cs.failed = append(cs.failed, in)
			case want[in.Name] && !taken[in.Name] && in.VpcID == wantVPC && wantVPC != "":
				taken[in.Name] = true
				cs.keep = append(cs.keep, in)
				switch in.State {
				case StateShutdown:
					rd.fail(StepInstance, fmt.Errorf("instance %s is SHUTDOWN: Tencent Cloud stopped it for the account's arrears; top up the account, start it in the console, then run again", in.ID))
					return
				case StateStopped:
					todo = append(todo, "start "+in.ID)
				case StateRunning:
					if want := p.roleName(); in.Role != want {
						todo = append(todo, "attach role "+want+" to "+in.ID)
					}
				default:
					todo = append(todo, "wait for "+in.ID+" ("+in.State+")")
				}
			default:
				cs.extra = append(cs.extra, in)
			}
		}
		for k := 1; k <= p.cfg.Instances; k++ {
			if n := p.InstanceName(k); !taken[n] {
				cs.missing = append(cs.missing, n)
			}
		}
		rd.mu.Lock() // the load balancer's read fills other fields of plan.cluster meanwhile
		pc := &rd.plan.cluster
		pc.keep, pc.failed, pc.missing, pc.extra = cs.keep, cs.failed, cs.missing, cs.extra
		rd.mu.Unlock()
		if len(cs.extra) > 0 {
			var outside []string
			for _, in := range cs.extra {
				if in.VpcID != wantVPC || wantVPC == "" {
					outside = append(outside, in.ID)
				}
			}
			d := fmt.Sprintf("remove %s: out of the load balancer, drained for %s, then terminated", instanceIDs(cs.extra), p.cfg.LB.Drain)
			if len(outside) > 0 {
				d += " (" + strings.Join(outside, ", ") + ": outside the deployment's VPC, replaced by new ones inside)"
			}
			rd.set(Change{StepScaleIn, Delete, d})
		}
		spec := p.spec("")
		if len(cs.missing) == 0 && len(cs.failed) == 0 {
			if len(todo) > 0 {
				rd.set(Change{StepInstance, Update, strings.Join(todo, "; ")})
			} else {
				rd.set(Change{StepInstance, Keep, fmt.Sprintf("%d instances: %s", len(cs.keep), instanceIDs(cs.keep))})
			}
			return
		}
		zones, err := p.deps.Compute.Zones(ctx)
		if err != nil {
			rd.fail(StepInstance, err)
			return
		}
		if !slices.Contains(zones, spec.Zone) {
			rd.fail(StepInstance, fmt.Errorf("zone %s is not in region %s (it has %s): set tencentcloud.zone to one of them", spec.Zone, p.cfg.Region, strings.Join(zones, ", ")))
			return
		}
		price, err := p.deps.Compute.Price(ctx, spec)
		if err != nil {
			rd.fail(StepInstance, err)
			return
		}
		rd.mu.Lock()
		rd.plan.Price = &price
		rd.mu.Unlock()
		d := fmt.Sprintf("%d × %s in %s from %s, %d GB disk, %d Mbps (%s)", len(cs.missing), spec.Type, spec.Zone, spec.ImageID, spec.DiskGB, spec.BandwidthMbps, strings.Join(cs.missing, ", "))
		if len(cs.failed) > 0 {
			d += "; terminate " + instanceIDs(cs.failed) + " (failed to launch)"
		}
		if len(todo) > 0 {
			d += "; " + strings.Join(todo, "; ")
		}
		rd.set(Change{StepInstance, Create, d})
	})
}

func instanceIDs(ins []Instance) string {
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.ID
	}
	return strings.Join(ids, ", ")
}

// planLoadBalancer reads the load balancer and says what it lacks.
func (p *Provisioner) planLoadBalancer(ctx context.Context, rd *reads) {
	rd.run(func() {
		lbs, err := p.findLoadBalancers(ctx)
		if err != nil {
			rd.fail(StepLoadBalancer, err)
			return
		}
		switch len(lbs) {
		case 0:
			rd.set(Change{StepLoadBalancer, Create, fmt.Sprintf("%s: HTTPS 443 with the certificate, HTTP 80 redirected, %s/ to the instances' port 80, checked at %s", p.LoadBalancerName(), p.cfg.Domain, HealthPath)})
			return
		case 1:
		default:
			var ids []string
			for _, lb := range lbs {
				ids = append(ids, lb.ID)
			}
			rd.fail(StepLoadBalancer, fmt.Errorf("%d load balancers carry %s=%s (%s): delete the extra ones in the CLB console, then run again", len(lbs), TagKey, p.cfg.Deployment, strings.Join(ids, ", ")))
			return
		}
		lb := lbs[0]
		ls, err := p.deps.LoadBalancers.Listeners(ctx, lb.ID)
		if err != nil {
			rd.fail(StepLoadBalancer, err)
			return
		}
		rd.mu.Lock()
		rd.plan.cluster.lb, rd.plan.cluster.lbs = &lb, ls
		rd.mu.Unlock()
		var todo []string
		https, rule, redirect := p.lbParts(ls)
		switch {
		case https == nil:
			todo = append(todo, "add the HTTPS listener")
		case https.CertID != p.journal.Data().CertID:
			todo = append(todo, "serve the certificate on hand (the listener has "+https.CertID+")")
		}
		if rule == nil {
			todo = append(todo, "forward "+p.cfg.Domain+"/ to the instances")
		} else if rule.HealthPath != HealthPath {
			rd.set(Change{StepLoadBalancer, Keep, lb.ID})
			rd.fail(StepLoadBalancer, fmt.Errorf("the rule %s of %s checks %q, not %s: delete the rule in the CLB console (provision makes it again), then run again", rule.ID, lb.ID, rule.HealthPath, HealthPath))
			return
		}
		if redirect == nil {
			todo = append(todo, "redirect HTTP to HTTPS")
		}
		if !lb.Ready {
			todo = append(todo, "wait until it is ready")
		}
		if len(todo) == 0 {
			rd.set(Change{StepLoadBalancer, Keep, lb.ID + " " + lbAddress(lb)})
		} else {
			rd.set(Change{StepLoadBalancer, Update, lb.ID + ": " + strings.Join(todo, ", ")})
		}
	})
}

// findLoadBalancers finds the load balancer by tag or, while the tag index lags behind a create, by
// the id the journal recorded.
func (p *Provisioner) findLoadBalancers(ctx context.Context) ([]LoadBalancer, error) {
	lbs, err := p.deps.LoadBalancers.FindLoadBalancers(ctx, TagKey, p.cfg.Deployment)
	if err != nil || len(lbs) > 0 {
		return lbs, err
	}
	id := p.journal.Data().LoadBalancerID
	if id == "" {
		return nil, nil
	}
	lb, err := p.deps.LoadBalancers.LoadBalancer(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []LoadBalancer{lb}, nil
}

// lbParts finds the HTTPS listener on 443, its rule for the domain at /, and the HTTP listener that
// redirects to it.
func (p *Provisioner) lbParts(ls []Listener) (https *Listener, rule *LBRule, redirect *Listener) {
	for i := range ls {
		if ls[i].Protocol == "HTTPS" && ls[i].Port == 443 {
			https = &ls[i]
		}
	}
	if https == nil {
		return nil, nil, nil
	}
	for i := range https.Rules {
		if https.Rules[i].Domain == p.cfg.Domain && https.Rules[i].URL == "/" {
			rule = &https.Rules[i]
		}
	}
	for i := range ls {
		if ls[i].Port == 80 && ls[i].RedirectsTo == https.ID {
			redirect = &ls[i]
		}
	}
	return https, rule, redirect
}

// lbAddress is what the domain points at: the load balancer's domain name, or its fixed address.
func lbAddress(lb LoadBalancer) string {
	if lb.Domain != "" {
		return lb.Domain
	}
	if len(lb.VIPs) > 0 {
		return lb.VIPs[0]
	}
	return ""
}

// applyInstances makes the instances of a deployment of several: replaces those that failed to launch,
// starts stopped ones, and creates the missing ones side by side.
func (p *Provisioner) applyInstances(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepInstance)
	cs := plan.cluster
	for _, in := range cs.failed {
		if err := p.deps.Compute.TerminateInstance(ctx, in.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return "", "", fmt.Errorf("terminating %s: %w", in.ID, err)
		}
	}
	var mu sync.Mutex
	var ready []Instance
	var errs []error
	var wg sync.WaitGroup
	// Existing instances are brought up and missing ones created side by side.
	gather := func(get func() (Instance, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := get()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ready = append(ready, got)
		}()
	}
	for _, in := range cs.keep {
		gather(func() (Instance, error) { return p.bringUp(ctx, in) })
	}
	for _, name := range cs.missing {
		gather(func() (Instance, error) { return p.createNamed(ctx, name) })
	}
	wg.Wait()
	sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
	p.setResult(func(r *Result) {
		r.Instances = ready
		if len(ready) > 0 {
			r.InstanceID, r.PublicIP = ready[0].ID, ready[0].PublicIP
		}
	})
	if err := errors.Join(errs...); err != nil {
		return "", "", err
	}
	var ids []string
	for _, in := range ready {
		ids = append(ids, in.ID+" "+in.PublicIP)
	}
	switch c.Action {
	case Create:
		return "created", strings.Join(ids, ", "), nil
	case Update:
		return "updated", strings.Join(ids, ", "), nil
	}
	return "ok", strings.Join(ids, ", "), nil
}

// bringUp makes an existing instance of the deployment run with its role.
func (p *Provisioner) bringUp(ctx context.Context, in Instance) (Instance, error) {
	if want := p.roleName(); in.State == StateRunning && in.Role != want {
		if err := p.deps.Compute.SetRole(ctx, in.ID, want); err != nil {
			return Instance{}, fmt.Errorf("attaching role %s to %s: %w", want, in.ID, err)
		}
	}
	if in.State == StateStopped {
		if err := p.deps.Compute.StartInstance(ctx, in.ID); err != nil {
			return Instance{}, fmt.Errorf("starting %s: %w", in.ID, err)
		}
	}
	if in.State == StateRunning && in.PublicIP != "" {
		return in, nil
	}
	got, err := p.waitRunning(ctx, in.ID)
	got.Name = in.Name
	return got, err
}

// createNamed creates one named instance with a ClientToken kept in the journal until it runs, so a
// run killed mid-call gets the same instance back.
func (p *Provisioner) createNamed(ctx context.Context, name string) (Instance, error) {
	token := p.journal.Data().InstanceTokens[name]
	if token == "" {
		token = NewToken(p.cfg.Deployment)
		if err := p.journal.Update(func(d *JournalData) {
			if d.InstanceTokens == nil {
				d.InstanceTokens = map[string]string{}
			}
			d.InstanceTokens[name] = token
		}); err != nil {
			return Instance{}, err
		}
	}
	res := p.result()
	spec := p.spec(res.SecurityGroupID)
	spec.Name, spec.ClientToken, spec.VpcID, spec.SubnetID = name, token, res.VpcID, res.SubnetID
	id, err := p.deps.Compute.RunInstance(ctx, spec)
	if err != nil {
		return Instance{}, fmt.Errorf("creating instance %s: %w", name, err)
	}
	in, err := p.waitRunning(ctx, id)
	if err != nil {
		return Instance{}, err
	}
	p.journal.Update(func(d *JournalData) { delete(d.InstanceTokens, name) })
	in.Name = name
	return in, nil
}

// lbRefs are the load balancer's parts the host step uses.
type lbRefs struct {
	lb         LoadBalancer
	listener   string
	rule       string
	uploadedAs string // the certificate id it serves
}

// applyLoadBalancer uploads the certificate and makes the load balancer, its listeners and rule. The
// instances are registered by the host step, once each is converged.
func (p *Provisioner) applyLoadBalancer(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepLoadBalancer)
	if c.Action == Keep {
		// Nothing to write: the parts the host step needs are what the plan read.
		lb := *plan.cluster.lb
		https, rule, _ := p.lbParts(plan.cluster.lbs)
		p.setResult(func(r *Result) {
			r.LB = &lbRefs{lb: lb, listener: https.ID, rule: rule.ID, uploadedAs: https.CertID}
			r.LoadBalancerID, r.LoadBalancerAddress = lb.ID, lbAddress(lb)
		})
		return "ok", c.Detail, nil
	}
	pems, ok := p.deps.Certs.(CertPEMs)
	if !ok {
		return "", "", errors.New("the certificate source cannot hand its certificate to a load balancer")
	}
	chain, key, err := pems.PEM()
	if err != nil {
		return "", "", fmt.Errorf("reading the certificate: %w", err)
	}
	// The certificate service answers the first upload's id for the same certificate: replaying an
	// upload whose answer was lost makes no second copy.
	certID, err := p.deps.CertStore.UploadCertificate(ctx, string(chain), string(key), p.LoadBalancerName(), p.tags())
	if err != nil {
		return "", "", fmt.Errorf("uploading the certificate: %w", err)
	}
	var lb LoadBalancer
	if plan.cluster.lb != nil {
		lb = *plan.cluster.lb
	} else {
		token := p.journal.Data().LoadBalancerToken
		if token == "" {
			token = NewToken(p.cfg.Deployment)
			if err := p.journal.Update(func(d *JournalData) { d.LoadBalancerToken = token }); err != nil {
				return "", "", err
			}
		}
		id, err := p.deps.LoadBalancers.CreateLoadBalancer(ctx, LoadBalancerSpec{Name: p.LoadBalancerName(), VpcID: p.result().VpcID, ClientToken: token, Tags: p.tags()})
		if id != "" {
			p.journal.Update(func(d *JournalData) { d.LoadBalancerID = id })
		}
		if err != nil {
			return "", "", fmt.Errorf("creating the load balancer: %w", err)
		}
		if lb, err = p.deps.LoadBalancers.LoadBalancer(ctx, id); err != nil {
			return "", "", fmt.Errorf("reading the load balancer %s: %w", id, err)
		}
	}
	p.journal.Update(func(d *JournalData) { d.LoadBalancerID, d.LoadBalancerToken = lb.ID, "" })
	ls, err := p.deps.LoadBalancers.Listeners(ctx, lb.ID)
	if err != nil {
		return "", "", fmt.Errorf("reading the listeners of %s: %w", lb.ID, err)
	}
	https, rule, redirect := p.lbParts(ls)
	// The certificate the listener served is replaced below: the journal's, or, when this machine did not
	// upload it (another operator's run), the listener's own.
	oldCert := p.journal.Data().CertID
	if https != nil && https.CertID != "" {
		oldCert = https.CertID
	}
	var listenerID, ruleID string
	switch {
	case https == nil:
		if listenerID, err = p.deps.LoadBalancers.CreateListener(ctx, lb.ID, "HTTPS", 443, "https", certID); err != nil {
			return "", "", fmt.Errorf("adding the HTTPS listener to %s: %w", lb.ID, err)
		}
	case https.CertID != certID:
		listenerID = https.ID
		if err := p.deps.LoadBalancers.SetListenerCertificate(ctx, lb.ID, https.ID, certID); err != nil {
			return "", "", fmt.Errorf("switching %s to certificate %s: %w", https.ID, certID, err)
		}
	default:
		listenerID = https.ID
	}
	p.journal.Update(func(d *JournalData) { d.CertID = certID })
	if oldCert != "" && oldCert != certID {
		// The certificate it replaced was uploaded by an earlier run; nothing else serves it.
		if err := p.deps.CertStore.DeleteCertificate(ctx, oldCert); err != nil {
			return "", "", fmt.Errorf("deleting the replaced certificate %s: %w", oldCert, err)
		}
	}
	if rule != nil {
		ruleID = rule.ID
	} else if ruleID, err = p.deps.LoadBalancers.CreateRule(ctx, lb.ID, listenerID, LBRule{Domain: p.cfg.Domain, URL: "/", HealthPath: HealthPath}); err != nil {
		return "", "", fmt.Errorf("adding the rule for %s to %s: %w", p.cfg.Domain, lb.ID, err)
	}
	if redirect == nil {
		if err := p.deps.LoadBalancers.RedirectHTTP(ctx, lb.ID, listenerID, []string{p.cfg.Domain}); err != nil {
			return "", "", fmt.Errorf("redirecting HTTP to HTTPS on %s: %w", lb.ID, err)
		}
	}
	p.setResult(func(r *Result) {
		r.LB = &lbRefs{lb: lb, listener: listenerID, rule: ruleID, uploadedAs: certID}
		r.LoadBalancerID, r.LoadBalancerAddress = lb.ID, lbAddress(lb)
	})
	switch c.Action {
	case Create:
		return "created", lb.ID + " " + lbAddress(lb), nil
	case Update:
		return "updated", c.Detail, nil
	}
	return "ok", lb.ID + " " + lbAddress(lb), nil
}

// planClusterRecord says what the domain's record must become: a CNAME to a load balancer named by a
// domain (its addresses change), else an A record to its address.
func (p *Provisioner) planClusterRecord(plan *Plan) Change {
	lb := plan.cluster.lb
	host := p.cfg.Domain
	if lb == nil || lbAddress(*lb) == "" {
		if len(plan.seen.records)+len(plan.cluster.cnames) == 0 {
			return Change{StepDNS, Create, host + " → the load balancer"}
		}
		return Change{StepDNS, Update, host + " → the load balancer"}
	}
	typ, value := recordFor(*lb)
	have := plan.seen.records
	other := plan.cluster.cnames
	if typ == "CNAME" {
		have, other = plan.cluster.cnames, plan.seen.records
	}
	switch {
	case len(have) == 1 && strings.TrimSuffix(have[0].Value, ".") == strings.TrimSuffix(value, ".") && len(other) == 0:
		return Change{StepDNS, Keep, typ + " " + host + " → " + value}
	case len(have)+len(other) == 0:
		return Change{StepDNS, Create, typ + " " + host + " → " + value}
	}
	return Change{StepDNS, Update, typ + " " + host + " → " + value}
}

func recordFor(lb LoadBalancer) (typ, value string) {
	if lb.Domain != "" {
		return "CNAME", lb.Domain + "."
	}
	return "A", lb.VIPs[0]
}

// applyClusterRecord points the domain at the load balancer; records of the other type made by this
// deployment go (DNSPod refuses an A record and a CNAME side by side), others are an error.
func (p *Provisioner) applyClusterRecord(ctx context.Context, plan *Plan) (string, string, error) {
	refs := p.result().LB
	if refs == nil {
		return "", "", errors.New("no load balancer to point the domain at")
	}
	lb := refs.lb
	typ, value := recordFor(lb)
	a, err := p.deps.DNS.Records(ctx, p.cfg.DNSZone, p.RecordName(), "A")
	if err != nil {
		return "", "", err
	}
	cn, err := p.deps.DNS.Records(ctx, p.cfg.DNSZone, p.RecordName(), "CNAME")
	if err != nil {
		return "", "", err
	}
	have, other := a, cn
	if typ == "CNAME" {
		have, other = cn, a
	}
	for _, r := range other {
		if r.Remark != p.remark() {
			return "", "", fmt.Errorf("%s has a %s record not made by applet (→ %s): delete it in DNSPod, then run again", p.cfg.Domain, r.Type, r.Value)
		}
	}
	c := p.planClusterRecord(&Plan{cluster: clusterSeen{lb: &lb, cnames: cn}, seen: observed{records: a}})
	if c.Action == Keep {
		p.setResult(func(r *Result) { r.RecordID = have[0].ID })
		return "ok", c.Detail, nil
	}
	for _, r := range other {
		if err := p.deps.DNS.DeleteRecord(ctx, p.cfg.DNSZone, r.ID); err != nil {
			return "", "", fmt.Errorf("deleting record %d: %w", r.ID, err)
		}
	}
	rec := Record{Name: p.RecordName(), Type: typ, Value: value, Remark: p.remark(), TTL: 600}
	var id uint64
	if len(have) == 0 {
		if id, err = p.deps.DNS.CreateRecord(ctx, p.cfg.DNSZone, rec); err != nil {
			return "", "", fmt.Errorf("creating record: %w", err)
		}
	} else {
		rec.ID, id = have[0].ID, have[0].ID
		if err := p.deps.DNS.ModifyRecord(ctx, p.cfg.DNSZone, rec); err != nil {
			return "", "", fmt.Errorf("changing record %d: %w", rec.ID, err)
		}
		for _, r := range have[1:] {
			if r.Remark == p.remark() {
				if err := p.deps.DNS.DeleteRecord(ctx, p.cfg.DNSZone, r.ID); err != nil {
					return "", "", fmt.Errorf("deleting duplicate record %d: %w", r.ID, err)
				}
			}
		}
	}
	p.journal.Update(func(d *JournalData) { d.RecordID = id })
	p.setResult(func(r *Result) { r.RecordID = id })
	if len(have) == 0 {
		return "created", c.Detail, nil
	}
	return "updated", c.Detail, nil
}

// planHosts says which instances' hosts converge: new ones, those whose bundle changed, those out of
// the load balancer and those it finds dead.
func (p *Provisioner) planHosts(ctx context.Context, plan *Plan) error {
	digest, err := p.deps.Host.Digest()
	if err != nil {
		return fmt.Errorf("preparing the host bundle: %w", err)
	}
	serving := map[string]Target{}
	if lb := plan.cluster.lb; lb != nil {
		if https, rule, _ := p.lbParts(plan.cluster.lbs); rule != nil {
			ts, err := p.deps.LoadBalancers.Targets(ctx, lb.ID, https.ID, rule.ID)
			if err != nil {
				return fmt.Errorf("reading the targets of %s: %w", lb.ID, err)
			}
			for _, t := range ts {
				serving[t.InstanceID] = t
			}
		}
	}
	j := p.journal.Data()
	var why []string
	plan.cluster.repair = map[string]bool{}
	for _, in := range plan.cluster.keep {
		t, ok := serving[in.ID]
		switch {
		case j.Hosts[in.ID].Digest != digest:
			why = append(why, in.ID+": the bundle changed")
		case !ok || t.Weight != TargetWeight:
			why = append(why, in.ID+": not serving behind the load balancer")
		case t.Health == "Dead":
			why = append(why, in.ID+": the load balancer finds it dead")
			plan.cluster.repair[in.ID] = true
		}
	}
	switch {
	case len(plan.cluster.missing)+len(plan.cluster.failed) > 0 || len(why) > 0:
		var parts []string
		if n := len(plan.cluster.missing) + len(plan.cluster.failed); n > 0 {
			parts = append(parts, fmt.Sprintf("converge the %d new instances side by side, then put them in the load balancer", n))
		}
		if len(why) > 0 {
			parts = append(parts, "converge the others one at a time: out of the load balancer, drained, converged, checked, back in ("+strings.Join(why, "; ")+")")
		}
		d := strings.Join(parts, "; ")
		plan.Changes = append(plan.Changes, Change{StepHost, Update, d})
	default:
		plan.Changes = append(plan.Changes, Change{StepHost, Keep, fmt.Sprintf("bundle %s on %d instances", digest[:12], len(plan.cluster.keep))})
	}
	return nil
}

// applyHosts converges the hosts one at a time, each out of the load balancer while it does, and
// (re)registers them. A failure stops the roll: the instances not reached keep what they run.
func (p *Provisioner) applyHosts(ctx context.Context, plan *Plan) (string, string, error) {
	res := p.result()
	refs := res.LB
	if refs == nil {
		return "", "", errors.New("no load balancer to put the instances behind")
	}
	registered, err := p.targets(ctx, refs)
	if err != nil {
		return "", "", err
	}
	digest, err := p.deps.Host.Digest()
	if err != nil {
		return "", "", fmt.Errorf("preparing the host bundle: %w", err)
	}
	force := plan.change(StepHost).Detail == convergeAsked
	var mu sync.Mutex
	var done, reports []string
	converge := func(ctx context.Context, in Instance) error {
		began := time.Now()
		got, report, err := p.deps.Host.Apply(ctx, in, "")
		if err != nil {
			return err
		}
		p.journal.Update(func(d *JournalData) {
			if d.Hosts == nil {
				d.Hosts = map[string]HostEntry{}
			}
			d.Hosts[in.ID] = HostEntry{Digest: got, Applied: time.Now().UTC()}
		})
		mu.Lock()
		defer mu.Unlock()
		r := fmt.Sprintf("%s (%s)", in.ID, time.Since(began).Round(100*time.Millisecond))
		p.mu.Lock()
		if d := p.drained[in.ID]; d != "" {
			r += ": " + d
		}
		p.mu.Unlock()
		if report = strings.TrimSpace(report); report != "" {
			r += ": " + report
		}
		reports = append(reports, r)
		return nil
	}
	// Instances not behind the load balancer yet serve nobody: they converge side by side and go in
	// together. Those that serve go one at a time.
	var fresh, serving []Instance
	stale := map[string]bool{} // to converge: its bundle changed, converging was asked, or it is dead
	for _, in := range res.Instances {
		t, isTarget := registered[in.ID]
		stale[in.ID] = p.journal.Data().Hosts[in.ID].Digest != digest || force || plan.cluster.repair[in.ID]
		switch {
		case !isTarget:
			fresh = append(fresh, in)
		case stale[in.ID] || t.Weight != TargetWeight:
			serving = append(serving, in)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(fresh))
	for i, in := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := converge
			if p.journal.Data().Hosts[in.ID].Digest == digest && !force {
				do = nil // converged by an earlier run that stopped before registering it
			}
			errs[i] = p.rollOne(ctx, StepHost, in.ID+" (new)", refs, in, Target{}, false, "converging", do)
			if errs[i] == nil {
				mu.Lock()
				done = append(done, in.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", fresh[i].ID, err)
		}
	}
	for i, in := range serving {
		t := registered[in.ID]
		do := converge
		if !stale[in.ID] {
			do = nil // converged, only out of the load balancer: put it back
		}
		step := fmt.Sprintf("%s (%d of %d)", in.ID, i+1, len(serving))
		if err := p.rollOne(ctx, StepHost, step, refs, in, t, true, "converging", do); err != nil {
			return "", "", p.rollStopped(in, done, err)
		}
		done = append(done, in.ID)
	}
	if len(done) == 0 {
		return "ok", fmt.Sprintf("bundle %s on %d instances", digest[:12], len(res.Instances)), nil
	}
	sort.Strings(done)
	sort.Strings(reports)
	detail := "in the load balancer: " + strings.Join(done, ", ")
	if len(reports) > 0 {
		detail += "; converged " + strings.Join(reports, "; ")
	}
	return "updated", detail, nil
}

// targets reads the rule's targets by instance id.
func (p *Provisioner) targets(ctx context.Context, refs *lbRefs) (map[string]Target, error) {
	ts, err := p.deps.LoadBalancers.Targets(ctx, refs.lb.ID, refs.listener, refs.rule)
	if err != nil {
		return nil, fmt.Errorf("reading the targets of %s: %w", refs.lb.ID, err)
	}
	out := map[string]Target{}
	for _, t := range ts {
		out[t.InstanceID] = t
	}
	return out, nil
}

// rollOne takes an instance out of the load balancer (weight 0) and gives it the drain time when it
// serves, runs do (nil: nothing), then puts it back (registering it when it was not a target) and
// waits until the load balancer finds it alive.
func (p *Provisioner) rollOne(ctx context.Context, step, what string, refs *lbRefs, in Instance, t Target, isTarget bool, doing string, do func(context.Context, Instance) error) error {
	lbs := p.deps.LoadBalancers
	if do != nil {
		if isTarget && t.Weight > 0 {
			p.progress(Event{Step: step, Status: "running", Detail: what + ": out of the load balancer, draining (at most " + p.cfg.LB.Drain.String() + ")"})
			if err := lbs.SetWeight(ctx, refs.lb.ID, refs.listener, refs.rule, Target{InstanceID: in.ID, Port: 80, Weight: 0}); err != nil {
				return fmt.Errorf("taking %s out of the load balancer: %w", in.ID, err)
			}
			if err := p.drain(ctx, in); err != nil {
				return err
			}
		}
		p.progress(Event{Step: step, Status: "running", Detail: what + ": " + doing})
		if err := do(ctx, in); err != nil {
			return err
		}
	}
	p.progress(Event{Step: step, Status: "running", Detail: what + ": back in the load balancer"})
	var err error
	if isTarget {
		err = lbs.SetWeight(ctx, refs.lb.ID, refs.listener, refs.rule, Target{InstanceID: in.ID, Port: 80, Weight: TargetWeight})
	} else {
		err = lbs.RegisterTargets(ctx, refs.lb.ID, refs.listener, refs.rule, []Target{{InstanceID: in.ID, Port: 80, Weight: TargetWeight}})
	}
	if err != nil {
		return fmt.Errorf("putting %s behind the load balancer: %w", in.ID, err)
	}
	return p.waitAlive(ctx, refs, in.ID)
}

// RollEach does something to every instance of a deployment behind a load balancer, one at a time,
// each out of the load balancer while it does (provision rollback). It returns the instances done; an
// error stops it, and the instances not reached are left as they were.
func (p *Provisioner) RollEach(ctx context.Context, doing string, do func(context.Context, Instance) error) ([]string, error) {
	lbs, err := p.findLoadBalancers(ctx)
	if err != nil {
		return nil, err
	}
	if len(lbs) != 1 {
		return nil, fmt.Errorf("found %d load balancers of deployment %s; run applet provision first", len(lbs), p.cfg.Deployment)
	}
	ls, err := p.deps.LoadBalancers.Listeners(ctx, lbs[0].ID)
	if err != nil {
		return nil, err
	}
	https, rule, _ := p.lbParts(ls)
	if rule == nil {
		return nil, fmt.Errorf("load balancer %s does not forward %s yet; run applet provision first", lbs[0].ID, p.cfg.Domain)
	}
	refs := &lbRefs{lb: lbs[0], listener: https.ID, rule: rule.ID}
	registered, err := p.targets(ctx, refs)
	if err != nil {
		return nil, err
	}
	insts, err := p.deps.Compute.FindInstances(ctx, TagKey, p.cfg.Deployment)
	if err != nil {
		return nil, err
	}
	sort.Slice(insts, func(i, j int) bool { return insts[i].Name < insts[j].Name })
	var done []string
	for i, in := range insts {
		if in.State != StateRunning {
			continue
		}
		t, isTarget := registered[in.ID]
		what := fmt.Sprintf("%s (%d of %d)", in.ID, i+1, len(insts))
		if err := p.rollOne(ctx, "rollback", what, refs, in, t, isTarget, doing, do); err != nil {
			return done, p.rollStopped(in, done, err)
		}
		done = append(done, in.ID)
	}
	return done, nil
}

// convergeAsked is the host step's detail when the operator asked for a converge.
const convergeAsked = "converge every instance (asked for), one at a time"

func (p *Provisioner) rollStopped(in Instance, done []string, err error) error {
	rest := "no instance was done before it"
	if len(done) > 0 {
		rest = strings.Join(done, ", ") + " done before it"
	}
	return fmt.Errorf("the roll stopped at %s (%s; the others keep what they run, and %s stays out of the load balancer): %w", in.ID, rest, in.ID, err)
}

// waitAlive waits until the load balancer's checks find the instance alive.
func (p *Provisioner) waitAlive(ctx context.Context, refs *lbRefs, id string) error {
	deadline := time.Now().Add(p.cfg.LB.AliveTimeout)
	last := "not registered"
	for {
		ts, err := p.deps.LoadBalancers.Targets(ctx, refs.lb.ID, refs.listener, refs.rule)
		if err != nil {
			return fmt.Errorf("reading the targets of %s: %w", refs.lb.ID, err)
		}
		for _, t := range ts {
			if t.InstanceID == id {
				last = t.Health
			}
		}
		if last == "Alive" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the load balancer does not find %s alive after %s (its check %s is %s): look at nginx and applet on it (applet doctor), then run again", id, p.cfg.LB.AliveTimeout, HealthPath, last)
		}
		if err := sleepCtx(ctx, p.cfg.PollInterval); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// drain gives an instance just taken out of the load balancer the time to finish what it serves: until
// its backends serve no request (asked on the instance), at most LB.Drain. A host that cannot be asked
// gets all of LB.Drain; one whose answer does not come is converged anyway once LB.Drain has passed.
// What the host said is kept for the step's report.
func (p *Provisioner) drain(ctx context.Context, in Instance) error {
	d, ok := p.deps.Host.(Drainer)
	if !ok {
		return sleepCtx(ctx, p.cfg.LB.Drain)
	}
	start := time.Now()
	said, err := d.Drain(ctx, in, p.cfg.LB.Drain)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		said = "drained for " + p.cfg.LB.Drain.String() + " (the instance did not say: " + err.Error() + ")"
		err = sleepCtx(ctx, p.cfg.LB.Drain-time.Since(start))
	}
	p.mu.Lock()
	if p.drained == nil {
		p.drained = map[string]string{}
	}
	p.drained[in.ID] = strings.TrimPrefix(said, "host: ")
	p.mu.Unlock()
	return err
}

// applyScaleIn drains and removes the instances beyond the count, one at a time.
func (p *Provisioner) applyScaleIn(ctx context.Context, plan *Plan) (string, string, error) {
	refs := p.result().LB
	// An instance the domain pointed at directly (the one of a one-instance layout) is still reached
	// by clients whose resolvers cached the old record: it stays until the record's TTL has passed.
	recordMoved := plan.change(StepDNS).Action != Keep
	var gone, kept []string
	for _, in := range plan.cluster.extra {
		var ts []Target
		if refs != nil {
			var err error
			if ts, err = p.deps.LoadBalancers.Targets(ctx, refs.lb.ID, refs.listener, refs.rule); err != nil {
				return "", "", err
			}
		}
		isTarget := slices.ContainsFunc(ts, func(t Target) bool { return t.InstanceID == in.ID })
		if recordMoved && !isTarget {
			kept = append(kept, in.ID)
			continue
		}
		if refs != nil {
			for _, t := range ts {
				if t.InstanceID != in.ID {
					continue
				}
				if t.Weight > 0 {
					if err := p.deps.LoadBalancers.SetWeight(ctx, refs.lb.ID, refs.listener, refs.rule, Target{InstanceID: in.ID, Port: 80, Weight: 0}); err != nil {
						return "", "", fmt.Errorf("taking %s out of the load balancer: %w", in.ID, err)
					}
					if err := p.drain(ctx, in); err != nil {
						return "", "", err
					}
				}
				if err := p.deps.LoadBalancers.DeregisterTargets(ctx, refs.lb.ID, refs.listener, refs.rule, []Target{{InstanceID: in.ID, Port: 80}}); err != nil {
					return "", "", fmt.Errorf("deregistering %s: %w", in.ID, err)
				}
			}
		}
		if err := p.deps.Compute.TerminateInstance(ctx, in.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return "", "", fmt.Errorf("terminating %s: %w", in.ID, err)
		}
		if err := p.waitGone(ctx, in.ID); err != nil {
			return "", "", err
		}
		p.journal.Update(func(d *JournalData) { delete(d.Hosts, in.ID) })
		gone = append(gone, in.ID)
	}
	if len(kept) > 0 {
		d := strings.Join(kept, ", ") + " kept until DNS caches have moved to the load balancer (the record's TTL is 10 minutes): the next applet provision removes it"
		if len(gone) > 0 {
			d = strings.Join(gone, ", ") + " drained and removed; " + d
		}
		return "updated", d, nil
	}
	return "deleted", strings.Join(gone, ", ") + " drained and removed", nil
}

// applyClusterHealth checks the backends through the load balancer.
func (p *Provisioner) applyClusterHealth(ctx context.Context) (string, string, error) {
	refs := p.result().LB
	if refs == nil || len(refs.lb.VIPs) == 0 {
		return "", "", errors.New("the load balancer has no address to check through")
	}
	detail, err := p.deps.Health.Check(ctx, refs.lb.VIPs[0])
	if err != nil {
		return "", "", err
	}
	return "ok", detail + " (through the load balancer)", nil
}
