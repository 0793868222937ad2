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

// Step names, in the order a plan lists them.
const (
	StepFirewall = "security-group"
	StepInstance = "instance"
	StepDNS      = "dns-record"
	StepBucket   = "bucket"
	StepDatabase = "database"
	StepCert     = "certificate"
	StepHost     = "host"
	StepHealth   = "health"
)

var stepNeeds = map[string][]string{
	StepFirewall: nil,
	StepRole:     nil,
	StepInstance: {StepFirewall, StepRole},
	StepDNS:      {StepInstance},
	StepBucket:   nil,
	StepDatabase: nil,
	StepCert:     nil, // DNS-01 does not wait for the instance or its record
	StepVault:    nil,
	StepHost:     {StepInstance, StepCert, StepBucket, StepVault, StepDatabase},
	StepHealth:   {StepHost, StepDNS},
}

var stepOrder = []string{StepRole, StepFirewall, StepNetwork, StepManaged, StepInstance, StepDNS, StepBucket, StepVault, StepDatabase, StepCert, StepLoadBalancer, StepHost, StepScaleIn, StepHealth}

// clusterNeeds are the steps' dependencies with several instances: the record points at the load
// balancer once instances serve behind it (a deployment moving from one instance keeps its old
// address until then), the load balancer needs the certificate; instances beyond the count leave once
// the others serve.
var clusterNeeds = map[string][]string{
	StepFirewall:     nil,
	StepRole:         nil,
	StepNetwork:      nil,
	StepInstance:     {StepFirewall, StepRole, StepNetwork},
	StepLoadBalancer: {StepCert, StepNetwork},
	StepDNS:          {StepLoadBalancer, StepHost}, // only once instances serve behind it
	StepBucket:       nil,
	StepDatabase:     nil,
	StepCert:         nil,
	StepVault:        nil,
	StepManaged:      {StepFirewall, StepNetwork},
	StepHost:         {StepInstance, StepLoadBalancer, StepBucket, StepVault, StepDatabase, StepManaged},
	StepScaleIn:      {StepHost, StepDNS},
	StepHealth:       {StepHost, StepDNS, StepScaleIn},
}

// Action is what a plan does to a resource.
type Action string

// Actions.
const (
	Keep    Action = "ok"
	Create  Action = "create"
	Update  Action = "update"
	Replace Action = "replace"
	Delete  Action = "delete"
	Skip    Action = "skip"
	Check   Action = "check" // reads only: the health of what was made
)

// Change is one line of a plan.
type Change struct {
	Step   string
	Action Action
	Detail string
}

// Plan is what apply or destroy would do, from what was read.
type Plan struct {
	Destroy bool
	// Kept is what a destroy keeps on purpose, each with the flag that would remove it.
	Kept        []string
	destroyOpts DestroyOptions
	Changes     []Change
	Price       *Price // set when an instance will be created
	Warnings    []string
	// Backups are the deployment's backups (ids, oldest first); Restore is the one the caller chose
	// to restore onto an instance this plan creates ("": none).
	Backups []string
	Restore string

	seen    observed
	cluster clusterSeen
	several bool // the deployment has more than one instance
	// keepManaged: a destroy keeps the managed databases (no --purge), and what they need.
	keepManaged bool
}

// NoChange reports whether applying the plan would change nothing.
func (p *Plan) NoChange() bool {
	for _, c := range p.Changes {
		if c.Action != Keep && c.Action != Skip && c.Action != Check {
			return false
		}
	}
	return true
}

func (p *Plan) change(step string) Change {
	for _, c := range p.Changes {
		if c.Step == step {
			return c
		}
	}
	return Change{Step: step, Action: Skip}
}

type observed struct {
	group     *SecurityGroup
	rules     []Rule // the rules the group should have (nil: wantRules)
	missing   []Rule // rules to add
	extra     []Rule // rules to remove
	instance  *Instance
	extraInst []Instance
	records   []Record
	bucket    BucketState
	vault     BucketState
	role      RoleState
}

// Config is what a deployment asks for.
type Config struct {
	Deployment string
	Domain     string
	DNSZone    string // the DNSPod domain holding Domain
	Region     string
	Instance   InstanceSpec // Name, Zone, ImageID, Type, DiskGB, BandwidthMbps, KeyIDs, UserData
	SSHCIDR    string       // open port 22 to this block; empty keeps it closed

	PollInterval time.Duration // how often a booting instance is looked at
	BootTimeout  time.Duration // how long an instance may take to run

	// Media are the sample videos' posters and clips the bucket serves (none: no sample media).
	Media []MediaObject
	// Role is the CAM role the instance runs with (Name "": none).
	Role RoleSpec
	// BackupPrefix is where in the backup bucket the backups are.
	BackupPrefix string
	// Instances is how many instances run the backends (0 and 1: one, with no load balancer).
	Instances int
	LB        LBSettings
	Network   NetworkSettings
	Managed   ManagedSettings
}

// Deps are the clouds a deployment lives in; Buckets and Schema may be nil (no such step).
type Deps struct {
	Compute  Compute
	Firewall Firewall
	DNS      DNS
	Buckets  Buckets
	Vault    Vault // the backup bucket; nil: none
	Schema   Schema
	Roles    Roles // nil: no instance role
	// The host side; all nil with cloud_only.
	Certs  Certs
	Host   Host
	Health Health
	// With more than one instance: the load balancer and the certificate service it serves from.
	LoadBalancers LoadBalancers
	CertStore     CertificateStore
	Network       Network
	Databases     Databases // the managed databases
}

// Event is a step's progress.
type Event struct {
	Step   string
	Status string // "running", then "created", "updated", "replaced", "deleted", "ok", "skipped" or "failed"
	Detail string
	Took   time.Duration
}

// Result is what a deployment ended with.
type Result struct {
	InstanceID, PublicIP, SecurityGroupID string
	RecordID                              uint64
	BucketURL                             string
	Instances                             []Instance // with more than one, by name
	// LoadBalancerID and LoadBalancerAddress name the load balancer in front of several instances.
	LoadBalancerID, LoadBalancerAddress string
	VpcID, SubnetID                     string // the network of several instances
	LB                                  *lbRefs
}

// Provisioner plans and applies one deployment.
type Provisioner struct {
	cfg      Config
	deps     Deps
	journal  *Journal
	progress func(Event)

	mu      sync.Mutex
	res     Result
	drained map[string]string // what each instance said when it was drained, by id
}

// New returns a Provisioner; progress (may be nil) hears of every step.
func New(cfg Config, deps Deps, journal *Journal, progress func(Event)) (*Provisioner, error) {
	var missing []string
	for name, ok := range map[string]bool{"deployment": cfg.Deployment != "", "domain": cfg.Domain != "", "dns zone": cfg.DNSZone != "",
		"compute": deps.Compute != nil, "firewall": deps.Firewall != nil, "dns": deps.DNS != nil, "journal": journal != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("provision: missing %s", strings.Join(missing, ", "))
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.BootTimeout <= 0 {
		cfg.BootTimeout = 10 * time.Minute
	}
	if cfg.Instances > 1 || cfg.LB.Always {
		if deps.LoadBalancers == nil || deps.CertStore == nil || deps.Network == nil || deps.Host == nil {
			return nil, errors.New("provision: more than one instance needs a load balancer, a certificate service, a network and the host side (not cloud_only)")
		}
		if cfg.Network.CIDR == "" {
			cfg.Network.CIDR, cfg.Network.SubnetCIDR = "10.110.0.0/16", "10.110.1.0/24"
		}
		if cfg.LB.Drain <= 0 {
			cfg.LB.Drain = 30 * time.Second
		}
		if cfg.LB.AliveTimeout <= 0 {
			cfg.LB.AliveTimeout = 3 * time.Minute
		}
	}
	if progress == nil {
		progress = func(Event) {}
	}
	return &Provisioner{cfg: cfg, deps: deps, journal: journal, progress: progress}, nil
}

func (p *Provisioner) tags() map[string]string { return map[string]string{TagKey: p.cfg.Deployment} }

// GroupName is the security group's name.
func (p *Provisioner) GroupName() string { return "applet-" + p.cfg.Deployment }

// RecordName is the DNS record's name within the zone.
func (p *Provisioner) RecordName() string {
	if p.cfg.Domain == p.cfg.DNSZone {
		return "@"
	}
	return strings.TrimSuffix(p.cfg.Domain, "."+p.cfg.DNSZone)
}

func (p *Provisioner) remark() string { return TagKey + "=" + p.cfg.Deployment }

func (p *Provisioner) wantRules() []Rule {
	r := []Rule{{Protocol: "TCP", Port: "80", CIDR: "0.0.0.0/0"}, {Protocol: "TCP", Port: "443", CIDR: "0.0.0.0/0"}}
	if p.cfg.SSHCIDR != "" {
		r = append(r, Rule{Protocol: "TCP", Port: "22", CIDR: p.cfg.SSHCIDR})
	}
	return r
}

// Plan reads the cloud and says what Apply would do. It makes only read calls.
func (p *Provisioner) Plan(ctx context.Context) (*Plan, error) {
	plan := &Plan{several: p.cluster()}
	rd := &reads{plan: plan}
	mu, set, addErr, run := &rd.mu, rd.set, rd.fail, rd.run
	warn := func(w string) { mu.Lock(); plan.Warnings = append(plan.Warnings, w); mu.Unlock() }
	if !strings.HasSuffix(p.cfg.Domain, "."+p.cfg.DNSZone) && p.cfg.Domain != p.cfg.DNSZone {
		return nil, fmt.Errorf("the domain %s is not inside the DNS zone %s", p.cfg.Domain, p.cfg.DNSZone)
	}

	p.planRole(ctx, rd)
	p.planVault(ctx, rd)
	// Security group, then the instance (whose creation needs the zone checked and the price).
	run(func() {
		groups, err := p.groups(ctx)
		if err != nil {
			addErr(StepFirewall, err)
			return
		}
		switch {
		case len(groups) == 0:
			set(Change{StepFirewall, Create, fmt.Sprintf("%s allowing %s", p.GroupName(), rulesText(p.wantRules()))})
		default:
			if len(groups) > 1 {
				warn(fmt.Sprintf("%d security groups are named %s with this deployment's tag; using %s", len(groups), p.GroupName(), groups[0].ID))
			}
			g := groups[0]
			mu.Lock()
			plan.seen.group = &g
			plan.seen.missing, plan.seen.extra = diffRules(g.Rules, p.wantRules())
			mu.Unlock()
			if len(plan.seen.missing)+len(plan.seen.extra) == 0 {
				set(Change{StepFirewall, Keep, g.ID})
			} else {
				var d []string
				if len(plan.seen.missing) > 0 {
					d = append(d, "allow "+rulesText(plan.seen.missing))
				}
				if len(plan.seen.extra) > 0 {
					d = append(d, "close "+rulesText(plan.seen.extra))
				}
				set(Change{StepFirewall, Update, g.ID + ": " + strings.Join(d, "; ")})
			}
		}
	})
	var ip string
	if p.cluster() {
		p.planInstances(ctx, rd) // reads the network first
		p.planLoadBalancer(ctx, rd)
		p.planManaged(ctx, rd)
		run(func() {
			recs, err := p.deps.DNS.Records(ctx, p.cfg.DNSZone, p.RecordName(), "CNAME")
			if err != nil {
				addErr(StepDNS, err)
				return
			}
			mu.Lock()
			plan.cluster.cnames = recs
			mu.Unlock()
		})
	}
	run(func() {
		if p.cluster() {
			return
		}
		insts, err := p.deps.Compute.FindInstances(ctx, TagKey, p.cfg.Deployment)
		if err != nil {
			addErr(StepInstance, err)
			return
		}
		var live []Instance
		for _, in := range insts {
			if in.State != StateTerminating {
				live = append(live, in)
			}
		}
		if len(live) > 1 {
			ids := make([]string, len(live))
			for i, in := range live {
				ids[i] = in.ID
			}
			addErr(StepInstance, fmt.Errorf("%d instances carry %s=%s (%s): terminate the extra ones in the console, then run again", len(live), TagKey, p.cfg.Deployment, strings.Join(ids, ", ")))
			return
		}
		spec := p.spec("")
		if len(live) == 1 {
			in := live[0]
			mu.Lock()
			plan.seen.instance = &in
			ip = in.PublicIP
			mu.Unlock()
			switch in.State {
			case StateLaunchFailed:
				set(Change{StepInstance, Replace, in.ID + " failed to launch: terminate it and create a new " + spec.Type})
			case StateStopped:
				set(Change{StepInstance, Update, in.ID + " is STOPPED: start it (the backends run on it)"})
			case StateShutdown:
				addErr(StepInstance, fmt.Errorf("instance %s is SHUTDOWN: Tencent Cloud stopped it for the account's arrears; top up the account, start it in the console, then run again", in.ID))
				return
			case StateRunning:
				if want := p.roleName(); in.Role != want {
					set(Change{StepInstance, Update, in.ID + " " + in.PublicIP + ": attach role " + want + roleWas(in.Role)})
				} else {
					set(Change{StepInstance, Keep, in.ID + " " + in.PublicIP})
				}
				if in.Type != "" && in.Type != spec.Type {
					warn(fmt.Sprintf("instance %s is %s, the config asks for %s: provision does not resize; destroy and provision again to replace it", in.ID, in.Type, spec.Type))
				}
			default:
				set(Change{StepInstance, Update, in.ID + " is " + in.State + ": wait until it runs"})
			}
			if in.State != StateLaunchFailed {
				return
			}
		}
		// Only a new instance needs the zone checked and the price; the two reads are independent.
		var zones []string
		var price Price
		var zerr, perr error
		var both sync.WaitGroup
		both.Add(2)
		go func() { defer both.Done(); zones, zerr = p.deps.Compute.Zones(ctx) }()
		go func() { defer both.Done(); price, perr = p.deps.Compute.Price(ctx, spec) }()
		both.Wait()
		if zerr != nil {
			addErr(StepInstance, zerr)
			return
		}
		if !slices.Contains(zones, spec.Zone) {
			addErr(StepInstance, fmt.Errorf("zone %s is not in region %s (it has %s): set tencentcloud.zone to one of them", spec.Zone, p.cfg.Region, strings.Join(zones, ", ")))
			return
		}
		if perr != nil {
			addErr(StepInstance, perr)
			return
		}
		mu.Lock()
		plan.Price = &price
		mu.Unlock()
		if len(live) == 0 {
			set(Change{StepInstance, Create, fmt.Sprintf("%s in %s from %s, %d GB disk, %d Mbps", spec.Type, spec.Zone, spec.ImageID, spec.DiskGB, spec.BandwidthMbps)})
		}
	})
	run(func() {
		recs, err := p.deps.DNS.Records(ctx, p.cfg.DNSZone, p.RecordName(), "A")
		if err != nil {
			addErr(StepDNS, err)
			return
		}
		mu.Lock()
		plan.seen.records = recs
		mu.Unlock()
	})
	if p.deps.Buckets != nil {
		run(func() {
			b, err := p.deps.Buckets.Bucket(ctx)
			if err != nil {
				addErr(StepBucket, err)
				return
			}
			mu.Lock()
			plan.seen.bucket = b
			mu.Unlock()
			name := p.deps.Buckets.Name()
			if b.Exists && b.Tags[TagKey] != "" && b.Tags[TagKey] != p.cfg.Deployment {
				addErr(StepBucket, fmt.Errorf("bucket %s belongs to deployment %q: choose another cos.bucket", name, b.Tags[TagKey]))
				return
			}
			var todo []string
			if !b.Exists {
				set(Change{StepBucket, Create, name + " public-read, private-write, with CORS for the mini program, host bundles expiring after a day" + p.mediaNote()})
				return
			}
			if !b.PublicRead {
				todo = append(todo, "make it public-read")
			}
			if !b.CORS {
				todo = append(todo, "set CORS")
			}
			if b.Tags[TagKey] != p.cfg.Deployment {
				todo = append(todo, "tag it "+p.remark())
			}
			if !b.BundleExpiry {
				todo = append(todo, "expire host bundles after a day")
			}
			if n := p.missingMedia(b); n > 0 {
				todo = append(todo, fmt.Sprintf("put %d sample media files", n))
			}
			if len(todo) == 0 {
				set(Change{StepBucket, Keep, name})
			} else {
				set(Change{StepBucket, Update, name + ": " + strings.Join(todo, ", ")})
			}
		})
	} else {
		set(Change{StepBucket, Skip, "cos.bucket is empty: the album keeps images on the instance's disk"})
	}
	if p.deps.Schema != nil {
		run(func() {
			n, err := p.deps.Schema.Pending(ctx)
			switch {
			case errors.Is(err, ErrUnreachable):
				set(Change{StepDatabase, Skip, p.deps.Schema.Describe() + " is not reachable from here: the host step applies the schema"})
			case err != nil:
				addErr(StepDatabase, err)
			case n == 0:
				set(Change{StepDatabase, Keep, p.deps.Schema.Describe() + " is up to date"})
			default:
				set(Change{StepDatabase, Update, fmt.Sprintf("%s: apply %d migrations and seeds", p.deps.Schema.Describe(), n)})
			}
		})
	} else if p.managed() && slices.Contains(p.cfg.Managed.Create, KindMySQL) {
		set(Change{StepDatabase, Skip, "the managed MySQL answers only the instances: the backends apply the schema and seed"})
	} else {
		set(Change{StepDatabase, Skip, "mysql.dsn is empty: the video list uses the embedded database"})
	}
	if err := rd.wait(); err != nil {
		return nil, err
	}
	// The record's change depends on the instance's address, known only now (or after apply).
	if p.cluster() {
		defer p.planClusterFirewall(plan) // once the record's change is known
		dns := p.planClusterRecord(plan)
		set(dns)
		if dns.Action != Keep {
			// Instances the domain pointed at directly stay for the DNS caches (applyScaleIn).
			for i, c := range plan.Changes {
				if c.Step == StepScaleIn {
					plan.Changes[i].Detail += "; one the domain pointed at directly stays until DNS caches have moved (the next run removes it)"
				}
			}
		}
	} else {
		set(p.planRecord(plan.seen.records, ip, plan.change(StepInstance).Action))
	}
	if err := p.planHost(ctx, plan); err != nil {
		return nil, err
	}
	if p.cluster() && plan.change(StepCert).Action != Keep && plan.change(StepLoadBalancer).Action == Keep {
		for i, c := range plan.Changes {
			if c.Step == StepLoadBalancer {
				plan.Changes[i] = Change{StepLoadBalancer, Update, c.Detail + ": serve the new certificate"}
			}
		}
	}
	sortChanges(plan.Changes)
	return plan, nil
}

// reads runs a plan's lookups side by side and gathers their changes and errors.
type reads struct {
	mu   sync.Mutex
	wg   sync.WaitGroup
	plan *Plan
	errs []error
}

func (r *reads) set(c Change) { r.mu.Lock(); r.plan.Changes = append(r.plan.Changes, c); r.mu.Unlock() }

func (r *reads) fail(step string, err error) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Errorf("reading %s: %w", step, err))
	r.mu.Unlock()
}

func (r *reads) run(f func()) { r.wg.Add(1); go func() { defer r.wg.Done(); f() }() }

func (r *reads) wait() error { r.wg.Wait(); return errors.Join(r.errs...) }

func (p *Provisioner) planRecord(recs []Record, ip string, inst Action) Change {
	host := p.cfg.Domain
	if inst != Keep || ip == "" {
		if len(recs) == 0 {
			return Change{StepDNS, Create, "A " + host + " → the instance's address"}
		}
		return Change{StepDNS, Update, "A " + host + " → the instance's address (now " + recs[0].Value + ")"}
	}
	switch {
	case len(recs) == 0:
		return Change{StepDNS, Create, "A " + host + " → " + ip}
	case len(recs) == 1 && recs[0].Value == ip:
		return Change{StepDNS, Keep, "A " + host + " → " + ip}
	case len(recs) == 1:
		return Change{StepDNS, Update, "A " + host + " → " + ip + " (was " + recs[0].Value + ")"}
	}
	return Change{StepDNS, Update, fmt.Sprintf("A %s → %s (%d A records now: keep one)", host, ip, len(recs))}
}

func sortChanges(cs []Change) {
	idx := map[string]int{}
	for i, s := range stepOrder {
		idx[s] = i
	}
	sort.SliceStable(cs, func(i, j int) bool { return idx[cs[i].Step] < idx[cs[j].Step] })
}

// roleName is the role the instance must have ("" for none).
func (p *Provisioner) roleName() string {
	if p.deps.Roles == nil {
		return ""
	}
	return p.cfg.Role.Name
}

func roleWas(r string) string {
	if r == "" {
		return ""
	}
	return " (has " + r + ")"
}

func (p *Provisioner) spec(sg string) InstanceSpec {
	s := p.cfg.Instance
	s.SecurityGroupID = sg
	s.Role = p.roleName()
	s.Tags = p.tags()
	if s.Name == "" {
		s.Name = "applet-" + p.cfg.Deployment
	}
	return s
}

func rulesText(rs []Rule) string {
	var out []string
	for _, r := range rs {
		s := r.Protocol + " " + r.Port
		if r.Group != "" {
			s += " from " + r.Group
		} else if r.CIDR != "0.0.0.0/0" {
			s += " from " + r.CIDR
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// planClusterFirewall settles the instances' group of a deployment of several: while an instance may
// still be reached directly (the record is moving to the load balancer, or an instance of the old
// layout is still there), anyone may reach ports 80 and 443 as before; then only the load balancer's
// ranges, on port 80 (TLS ends at the load balancer).
func (p *Provisioner) planClusterFirewall(plan *Plan) {
	if len(p.cfg.LB.Ranges) == 0 || len(plan.cluster.extra)+len(plan.cluster.failed) > 0 {
		return
	}
	var vips []string
	if plan.cluster.lb != nil {
		vips = plan.cluster.lb.VIPs
	}
	for _, r := range plan.seen.records {
		if !slices.Contains(vips, r.Value) {
			return // the domain still names an instance
		}
	}
	want := p.clusterRules()
	plan.seen.rules = want
	g := plan.seen.group
	if g == nil {
		for i := range plan.Changes {
			if plan.Changes[i].Step == StepFirewall {
				plan.Changes[i].Detail = fmt.Sprintf("%s allowing %s", p.GroupName(), rulesText(want))
			}
		}
		return
	}
	plan.seen.missing, plan.seen.extra = diffRules(g.Rules, want)
	c := Change{StepFirewall, Keep, g.ID}
	if len(plan.seen.missing)+len(plan.seen.extra) > 0 {
		var d []string
		if len(plan.seen.missing) > 0 {
			d = append(d, "allow "+rulesText(plan.seen.missing))
		}
		if len(plan.seen.extra) > 0 {
			d = append(d, "close "+rulesText(plan.seen.extra))
		}
		c = Change{StepFirewall, Update, g.ID + ": " + strings.Join(d, "; ") + " (the instances are reached only through the load balancer)"}
	}
	for i := range plan.Changes {
		if plan.Changes[i].Step == StepFirewall {
			plan.Changes[i] = c
		}
	}
}

// clusterRules are the instances' rules once only the load balancer reaches them.
func (p *Provisioner) clusterRules() []Rule {
	var r []Rule
	for _, cidr := range p.cfg.LB.Ranges {
		r = append(r, Rule{Protocol: "TCP", Port: "80", CIDR: cidr})
	}
	if p.cfg.SSHCIDR != "" {
		r = append(r, Rule{Protocol: "TCP", Port: "22", CIDR: p.cfg.SSHCIDR})
	}
	return r
}

// diffRules returns the wanted rules that are missing and the rules provision makes that are not
// wanted: port 22, and ports 80 and 443 open to anyone (other rules an operator added are left alone).
func diffRules(have, want []Rule) (missing, extra []Rule) {
	key := func(r Rule) string { return strings.ToUpper(r.Protocol) + "/" + r.Port + "/" + r.CIDR + "/" + r.Group }
	hs := map[string]bool{}
	for _, r := range have {
		hs[key(r)] = true
	}
	ws := map[string]bool{}
	for _, r := range want {
		ws[key(r)] = true
		if !hs[key(r)] {
			missing = append(missing, r)
		}
	}
	for _, r := range have {
		ours := r.Port == "22" || (r.Port == "80" || r.Port == "443") && r.CIDR == "0.0.0.0/0"
		if ours && !ws[key(r)] {
			extra = append(extra, r)
		}
	}
	return missing, extra
}

// missingMedia counts the sample media files the bucket lacks.
func (p *Provisioner) missingMedia(b BucketState) int {
	n := 0
	for _, m := range p.cfg.Media {
		if !b.Media[m.Key] {
			n++
		}
	}
	return n
}

func (p *Provisioner) mediaNote() string {
	if len(p.cfg.Media) == 0 {
		return ""
	}
	return fmt.Sprintf(", and %d sample media files", len(p.cfg.Media))
}

// groups finds the deployment's security group by name and tag, or, while the tag index has not
// caught up with a create, by the id the journal recorded.
func (p *Provisioner) groups(ctx context.Context) ([]SecurityGroup, error) {
	groups, err := p.deps.Firewall.FindGroups(ctx, p.GroupName(), TagKey, p.cfg.Deployment)
	if err != nil || len(groups) > 0 {
		return groups, err
	}
	id := p.journal.Data().SecurityGroupID
	if id == "" {
		return nil, nil
	}
	g, err := p.deps.Firewall.GroupByID(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && g.Name != p.GroupName()) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []SecurityGroup{g}, nil
}
