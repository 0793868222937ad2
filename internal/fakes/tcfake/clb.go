package tcfake

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// CLB (2018-03-17): load balancers with listeners, forwarding rules (a domain and a URL, with the rule's
// health check), targets and weights. Most writes are asynchronous as in CLB: the answer carries a task
// (the RequestId, or the DealName of a create), the change shows only once the task is done
// (DescribeTaskStatus: 2 in progress, 0 succeeded, 1 failed), and another write to the same load
// balancer meanwhile is refused with FailedOperation.ResourceInOperating. Each load balancer has a data
// plane (plane.go): its listeners listen on loopback and proxy to the targets.

type loadBalancer struct {
	id, name, vpc, subnet, token string
	tags                         map[string]string
	domain                       string // a domain-name load balancer's name ("": a fixed address)
	vip                          string
	created                      time.Time
	ready                        bool // the create task is done
	deleted                      bool
	busy                         string // the task in progress
	listeners                    []*listener
	plane                        *plane
}

type listener struct {
	id, name, protocol string
	port               int
	certID             string
	rules              []*rule
	rewrite            string // an HTTP listener made by AutoRewrite: the HTTPS listener it redirects to
}

type rule struct {
	id, domain, url string
	health          clbHealthCheck
	targets         []*target
}

type target struct {
	instance      string
	port, weight  int
	healthy       bool
	checked       bool
	okRun, badRun int
}

type clbTask struct {
	lb     string
	due    time.Time
	fail   bool
	status int // 2 in progress, 0 succeeded, 1 failed
	effect func()
}

type clbState struct {
	lbs        map[string]*loadBalancer
	order      []string
	tasks      map[string]*clbTask
	taskOrder  []string
	taskTime   time.Duration
	failNext   map[string]int
	dynamic    bool                      // new load balancers are addressed by a domain name
	addrs      map[string]string         // "instance:port" → where the data plane reaches it
	healthTick time.Duration             // how often the data plane checks targets
	vip        string                    // the address new load balancers get ("": one of 198.51.100.0/24)
	listenAt   func(port int) string     // where a listener's data plane listens (nil: any loopback port)
	taskReads  []time.Time               // DescribeTaskStatus calls of the last second (20 a second at most)
	served     map[string]map[string]int // per load balancer, requests per target
	n          int
}

func (t *clbState) init() {
	t.lbs, t.tasks, t.failNext, t.addrs = map[string]*loadBalancer{}, map[string]*clbTask{}, map[string]int{}, map[string]string{}
	t.served = map[string]map[string]int{}
	t.taskTime, t.healthTick = 50*time.Millisecond, 100*time.Millisecond
}

// SetTaskTime sets how long CLB's asynchronous tasks take (default 50 ms).
func (s *Server) SetTaskTime(d time.Duration) { s.mu.Lock(); s.clb.taskTime = d; s.mu.Unlock() }

// FailNextTask makes the next task of the CLB action end as failed (status 1), without its effect.
func (s *Server) FailNextTask(action string) { s.mu.Lock(); s.clb.failNext[action]++; s.mu.Unlock() }

// SetDomainLoadBalancers makes new load balancers domain-name ones (newer accounts): they answer a
// LoadBalancerDomain and their addresses change, so DNS must point a CNAME at the domain.
func (s *Server) SetDomainLoadBalancers(v bool) { s.mu.Lock(); s.clb.dynamic = v; s.mu.Unlock() }

// SetTargetAddr says where the data plane reaches an instance's port (the instance's private address
// and port in the real VPC; a loopback address in tests).
func (s *Server) SetTargetAddr(instanceID string, port int, addr string) {
	s.mu.Lock()
	s.clb.addrs[fmt.Sprintf("%s:%d", instanceID, port)] = addr
	s.mu.Unlock()
}

// SetLoadBalancerVIP gives new load balancers this address (a test's loopback, where their listeners
// are served: see SetListenAt).
func (s *Server) SetLoadBalancerVIP(vip string) { s.mu.Lock(); s.clb.vip = vip; s.mu.Unlock() }

// SetListenAt says where the data plane serves a listener's port, e.g. 443 on 127.0.0.1:<a free port>
// (default: a free loopback port, LoadBalancerAddr tells which).
func (s *Server) SetListenAt(f func(port int) string) { s.mu.Lock(); s.clb.listenAt = f; s.mu.Unlock() }

// SetHealthCheckEvery sets how often the data plane checks its targets (default 100 ms; CLB's
// IntervalTime is in seconds and is not waited for here).
func (s *Server) SetHealthCheckEvery(d time.Duration) {
	s.mu.Lock()
	s.clb.healthTick = d
	s.mu.Unlock()
}

// LoadBalancerAddr is the loopback address where a load balancer's listener on port is served ("":
// no such listener, or its task is not done).
func (s *Server) LoadBalancerAddr(lbID string, port int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clbTick()
	lb := s.clb.lbs[lbID]
	if lb == nil || lb.plane == nil {
		return ""
	}
	return lb.plane.addr(port)
}

// Served counts the requests a load balancer sent to each target ("instance:port").
func (s *Server) Served(lbID string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.clb.served[lbID] {
		out[k] = v
	}
	return out
}

// TargetHealth is what a load balancer's checks make of each target ("instance:port" → Alive, Dead,
// Unknown).
func (s *Server) TargetHealth(lbID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clbTick()
	out := map[string]string{}
	if lb := s.clb.lbs[lbID]; lb != nil {
		for _, l := range lb.listeners {
			for _, r := range l.rules {
				for _, t := range r.targets {
					h := "Unknown"
					switch {
					case t.healthy:
						h = "Alive"
					case t.checked:
						h = "Dead"
					}
					out[fmt.Sprintf("%s:%d", t.instance, t.port)] = h
				}
			}
		}
	}
	return out
}

// LoadBalancerIDs lists the load balancers that exist (created or being created), in order.
func (s *Server) LoadBalancerIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clbTick()
	var out []string
	for _, id := range s.clb.order {
		if lb := s.clb.lbs[id]; lb != nil && !lb.deleted {
			out = append(out, id)
		}
	}
	return out
}

// clbTick finishes the tasks that are due, in the order they were accepted; s.mu is held.
func (s *Server) clbTick() {
	now := s.now()
	for _, id := range s.clb.taskOrder {
		t := s.clb.tasks[id]
		if t.status != 2 || now.Before(t.due) {
			continue
		}
		if t.fail {
			t.status = 1
		} else {
			t.status = 0
			if t.effect != nil {
				t.effect()
			}
		}
		if lb := s.clb.lbs[t.lb]; lb != nil && lb.busy == id {
			lb.busy = ""
		}
	}
}

// startTask accepts an asynchronous write on lb; effect runs when the task is done. s.mu is held.
func (s *Server) startTask(id, action string, lb *loadBalancer, effect func()) {
	t := &clbTask{lb: lb.id, due: s.now().Add(s.clb.taskTime), status: 2, effect: effect}
	if s.clb.failNext[action] > 0 {
		s.clb.failNext[action]--
		t.fail = true
	}
	s.clb.tasks[id] = t
	s.clb.taskOrder = append(s.clb.taskOrder, id)
	lb.busy = id
}

// CLB has no typed module here; its requests are decoded into types written from its API reference.
type (
	clbTag struct {
		TagKey, TagValue string
	}
	clbFilter struct {
		Name   string
		Values []string
	}
	clbHealthCheck struct {
		HealthSwitch, TimeOut, IntervalTime, HealthNum, UnHealthNum, HttpCode   *int64
		HttpCheckPath, HttpCheckDomain, HttpCheckMethod, CheckType, HttpVersion *string
	}
	clbCertificate struct {
		SSLMode, CertId, CertCaId, SSLVerifyClient *string
	}
	clbTarget struct {
		InstanceId, Type, EniIp *string
		Port                    *int64
		Weight                  *int64
	}
	clbRuleInput struct {
		Domain, Url, Scheduler, ForwardType *string
		HealthCheck                         *clbHealthCheck
		SessionExpireTime                   *int64
	}
	clbCreateLoadBalancer struct {
		LoadBalancerType, LoadBalancerName, VpcId, SubnetId, AddressIPVersion, ClientToken, VipIsp *string
		Forward, ProjectId                                                                         *int64
		Number                                                                                     *uint64
		Tags                                                                                       []clbTag
		DynamicVip, LoadBalancerPassToTarget                                                       *bool
	}
	clbDescribeLoadBalancers struct {
		LoadBalancerIds                           []string
		Filters                                   []clbFilter
		Offset, Limit                             *int64
		LoadBalancerName, LoadBalancerType, VpcId *string
	}
	clbLoadBalancerIDs struct {
		LoadBalancerIds []string
	}
	clbCreateListener struct {
		LoadBalancerId, Protocol *string
		Ports                    []int64
		ListenerNames            []string
		Certificate              *clbCertificate
		HealthCheck              *clbHealthCheck
	}
	clbDescribeListeners struct {
		LoadBalancerId *string
		ListenerIds    []string
		Protocol       *string
		Port           *int64
	}
	clbModifyListener struct {
		LoadBalancerId, ListenerId, ListenerName *string
		Certificate                              *clbCertificate
	}
	clbCreateRule struct {
		LoadBalancerId, ListenerId *string
		Rules                      []clbRuleInput
	}
	clbAutoRewrite struct {
		LoadBalancerId, ListenerId *string
		Domains                    []string
	}
	clbTargets struct {
		LoadBalancerId, ListenerId, LocationId, Domain, Url *string
		Targets                                             []clbTarget
		Weight                                              *int64
	}
	clbDescribeTargetHealth struct {
		LoadBalancerIds []string
	}
	clbDescribeTargets struct {
		LoadBalancerId *string
		ListenerIds    []string
		Protocol       *string
		Port           *int64
	}
	clbTaskStatus struct {
		TaskId, DealName *string
	}
)

func init() {
	for k, f := range map[string]func() any{
		"clb.CreateLoadBalancer":    func() any { return &clbCreateLoadBalancer{} },
		"clb.DescribeLoadBalancers": func() any { return &clbDescribeLoadBalancers{} },
		"clb.DeleteLoadBalancer":    func() any { return &clbLoadBalancerIDs{} },
		"clb.CreateListener":        func() any { return &clbCreateListener{} },
		"clb.DescribeListeners":     func() any { return &clbDescribeListeners{} },
		"clb.ModifyListener":        func() any { return &clbModifyListener{} },
		"clb.CreateRule":            func() any { return &clbCreateRule{} },
		"clb.AutoRewrite":           func() any { return &clbAutoRewrite{} },
		"clb.RegisterTargets":       func() any { return &clbTargets{} },
		"clb.DeregisterTargets":     func() any { return &clbTargets{} },
		"clb.ModifyTargetWeight":    func() any { return &clbTargets{} },
		"clb.DescribeTargetHealth":  func() any { return &clbDescribeTargetHealth{} },
		"clb.DescribeTargets":       func() any { return &clbDescribeTargets{} },
		"clb.DescribeTaskStatus":    func() any { return &clbTaskStatus{} },
	} {
		sdkRequests[k] = f
	}
	for k, v := range map[string][]string{
		"clb.CreateLoadBalancer":   {"LoadBalancerType"},
		"clb.DeleteLoadBalancer":   {"LoadBalancerIds"},
		"clb.CreateListener":       {"LoadBalancerId", "Ports", "Protocol"},
		"clb.DescribeListeners":    {"LoadBalancerId"},
		"clb.ModifyListener":       {"LoadBalancerId", "ListenerId"},
		"clb.CreateRule":           {"LoadBalancerId", "ListenerId", "Rules"},
		"clb.AutoRewrite":          {"LoadBalancerId", "ListenerId"},
		"clb.RegisterTargets":      {"LoadBalancerId", "ListenerId", "Targets"},
		"clb.DeregisterTargets":    {"LoadBalancerId", "ListenerId", "Targets"},
		"clb.ModifyTargetWeight":   {"LoadBalancerId", "ListenerId"},
		"clb.DescribeTargetHealth": {"LoadBalancerIds"},
		"clb.DescribeTargets":      {"LoadBalancerId"},
	} {
		required[k] = v
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func num(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

// readable finds a load balancer that exists; s.mu is held.
func (s *Server) readable(id string) (*loadBalancer, *apiError) {
	lb := s.clb.lbs[id]
	if lb == nil || lb.deleted {
		return nil, errorf("InvalidParameter.LBIdNotFound", "LoadBalancer %s does not exist.", id)
	}
	return lb, nil
}

// writable finds a load balancer a write may change now; s.mu is held.
func (s *Server) writable(id string) (*loadBalancer, *apiError) {
	lb, err := s.readable(id)
	if err == nil && (!lb.ready || lb.busy != "") {
		return nil, errorf("FailedOperation.ResourceInOperating", "LoadBalancer %s is in operation; retry once its task is done.", id)
	}
	return lb, err
}

// writableListener finds a load balancer a write may change now and one of its listeners; s.mu is held.
func (s *Server) writableListener(lbID, listenerID string) (*loadBalancer, *listener, *apiError) {
	lb, err := s.writable(lbID)
	if err != nil {
		return nil, nil, err
	}
	l := lb.listener(listenerID)
	if l == nil {
		return nil, nil, errorf("InvalidParameter.ListenerIdNotFound", "Listener %s does not exist.", listenerID)
	}
	return lb, l, nil
}

func (lb *loadBalancer) listener(id string) *listener {
	for _, l := range lb.listeners {
		if l.id == id {
			return l
		}
	}
	return nil
}

func (l *listener) rule(id, domain, url string) *rule {
	for _, r := range l.rules {
		if (id != "" && r.id == id) || (id == "" && r.domain == domain && r.url == url) {
			return r
		}
	}
	return nil
}

// listenersUsing names the listeners that serve a certificate; s.mu is held.
func (s *Server) listenersUsing(certID string) []string {
	var out []string
	for _, id := range s.clb.order {
		lb := s.clb.lbs[id]
		if lb == nil || lb.deleted {
			continue
		}
		for _, l := range lb.listeners {
			if l.certID == certID {
				out = append(out, lb.id+"/"+l.id)
			}
		}
	}
	return out
}

func (s *Server) clbAction(req *request) (any, *apiError) {
	if err := s.checkRegion(req.region); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clbTick()
	switch req.action {
	case "CreateLoadBalancer":
		return s.createLoadBalancer(req)
	case "DescribeLoadBalancers":
		return s.describeLoadBalancers(req)
	case "DeleteLoadBalancer":
		var in clbLoadBalancerIDs
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		var lbs []*loadBalancer
		for _, id := range in.LoadBalancerIds {
			lb, err := s.writable(id)
			if err != nil {
				return nil, err
			}
			lbs = append(lbs, lb)
		}
		for _, lb := range lbs {
			s.startTask(req.id, req.action, lb, func() {
				lb.deleted = true
				if lb.plane != nil {
					lb.plane.close()
					lb.plane = nil
				}
			})
		}
		return map[string]any{}, nil
	case "CreateListener":
		return s.createListener(req)
	case "DescribeListeners":
		var in clbDescribeListeners
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		lb, err := s.readable(str(in.LoadBalancerId))
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, l := range lb.listeners {
			if (len(in.ListenerIds) > 0 && !slices.Contains(in.ListenerIds, l.id)) || (in.Protocol != nil && *in.Protocol != l.protocol) || (in.Port != nil && int(*in.Port) != l.port) {
				continue
			}
			m := map[string]any{"ListenerId": l.id, "ListenerName": l.name, "Protocol": l.protocol, "Port": l.port}
			if l.certID != "" {
				m["Certificate"] = map[string]any{"SSLMode": "UNIDIRECTIONAL", "CertId": l.certID}
			}
			rules := []map[string]any{}
			for _, r := range l.rules {
				rm := map[string]any{"LocationId": r.id, "Domain": r.domain, "Url": r.url, "ListenerId": l.id, "HealthCheck": r.health}
				if l.rewrite != "" {
					rm["RewriteTarget"] = map[string]any{"TargetListenerId": l.rewrite}
				}
				rules = append(rules, rm)
			}
			if l.protocol == "HTTP" || l.protocol == "HTTPS" {
				m["Rules"] = rules
			}
			out = append(out, m)
		}
		return map[string]any{"Listeners": out, "TotalCount": len(out)}, nil
	case "ModifyListener":
		var in clbModifyListener
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		lb, l, err := s.writableListener(str(in.LoadBalancerId), str(in.ListenerId))
		if err != nil {
			return nil, err
		}
		cert := ""
		if in.Certificate != nil {
			if l.protocol != "HTTPS" {
				return nil, errorf("InvalidParameter.ProtocolCheckFailed", "Only HTTPS listeners take a certificate.")
			}
			cert = str(in.Certificate.CertId)
			if s.ssl.certs[cert] == nil {
				return nil, errorf("InvalidParameter", "Certificate %s does not exist.", cert)
			}
		}
		s.startTask(req.id, req.action, lb, func() {
			if in.ListenerName != nil {
				l.name = *in.ListenerName
			}
			if cert != "" {
				l.certID = cert
				lb.plane.setCert(l.port, s.ssl.certs[cert].pair)
			}
		})
		return map[string]any{}, nil
	case "CreateRule":
		var in clbCreateRule
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		lb, l, err := s.writableListener(str(in.LoadBalancerId), str(in.ListenerId))
		if err != nil {
			return nil, err
		}
		if l.protocol != "HTTP" && l.protocol != "HTTPS" {
			return nil, errorf("InvalidParameter.ProtocolCheckFailed", "Forwarding rules are for HTTP and HTTPS listeners.")
		}
		var rules []*rule
		var ids []string
		for _, ri := range in.Rules {
			d, u := str(ri.Domain), str(ri.Url)
			if d == "" || u == "" || !strings.HasPrefix(u, "/") {
				return nil, errorf("InvalidParameter.FormatError", "A rule needs a Domain and a Url that starts with /.")
			}
			if l.rule("", d, u) != nil {
				return nil, errorf("InvalidParameterValue.Duplicate", "The rule %s%s exists on listener %s.", d, u, l.id)
			}
			hc := clbHealthCheck{}
			if ri.HealthCheck != nil {
				hc = *ri.HealthCheck
			}
			s.clb.n++
			r := &rule{id: fmt.Sprintf("loc-%08x", s.clb.n), domain: d, url: u, health: hc}
			rules = append(rules, r)
			ids = append(ids, r.id)
		}
		s.startTask(req.id, req.action, lb, func() { l.rules = append(l.rules, rules...) })
		return map[string]any{"LocationIds": ids}, nil
	case "AutoRewrite":
		var in clbAutoRewrite
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		lb, err := s.writable(str(in.LoadBalancerId))
		if err != nil {
			return nil, err
		}
		l := lb.listener(str(in.ListenerId))
		switch {
		case l == nil:
			return nil, errorf("InvalidParameter.ListenerIdNotFound", "Listener %s does not exist.", str(in.ListenerId))
		case l.protocol != "HTTPS" || l.port != 443:
			return nil, errorf("InvalidParameter.ProtocolCheckFailed", "AutoRewrite needs the HTTPS:443 listener.")
		}
		for _, d := range in.Domains {
			if l.rule("", d, "/") == nil {
				return nil, errorf("InvalidParameter.LocationNotFound", "The HTTPS listener has no rule for %s.", d)
			}
		}
		var http *listener
		for _, o := range lb.listeners {
			if o.port == 80 {
				http = o
			}
		}
		if http != nil && (http.protocol != "HTTP" || http.rewrite != "") {
			return nil, errorf("InvalidParameter.RewriteAlreadyExist", "Port 80 already redirects or is not HTTP.")
		}
		s.clb.n++
		newID := fmt.Sprintf("lbl-%08x", s.clb.n)
		s.startTask(req.id, req.action, lb, func() {
			if http == nil {
				http = &listener{id: newID, name: "auto-rewrite-80", protocol: "HTTP", port: 80}
				lb.listeners = append(lb.listeners, http)
				lb.plane.listen(80, nil)
			}
			http.rewrite = l.id
			for _, d := range in.Domains {
				s.clb.n++
				http.rules = append(http.rules, &rule{id: fmt.Sprintf("loc-%08x", s.clb.n), domain: d, url: "/"})
			}
		})
		return map[string]any{}, nil
	case "RegisterTargets", "DeregisterTargets", "ModifyTargetWeight":
		return s.changeTargets(req)
	case "DescribeTargets":
		var in clbDescribeTargets
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		lb, err := s.readable(str(in.LoadBalancerId))
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, l := range lb.listeners {
			if len(in.ListenerIds) > 0 && !slices.Contains(in.ListenerIds, l.id) {
				continue
			}
			rules := []map[string]any{}
			for _, r := range l.rules {
				ts := []map[string]any{}
				for _, t := range r.targets {
					ts = append(ts, map[string]any{"Type": "CVM", "InstanceId": t.instance, "Port": t.port, "Weight": t.weight})
				}
				rules = append(rules, map[string]any{"LocationId": r.id, "Domain": r.domain, "Url": r.url, "Targets": ts})
			}
			out = append(out, map[string]any{"ListenerId": l.id, "Protocol": l.protocol, "Port": l.port, "Rules": rules})
		}
		return map[string]any{"Listeners": out}, nil
	case "DescribeTargetHealth":
		var in clbDescribeTargetHealth
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, id := range in.LoadBalancerIds {
			lb := s.clb.lbs[id]
			if lb == nil || lb.deleted {
				continue
			}
			ls := []map[string]any{}
			for _, l := range lb.listeners {
				rules := []map[string]any{}
				for _, r := range l.rules {
					ts := []map[string]any{}
					for _, t := range r.targets {
						detail := "Alive"
						switch {
						case num(r.health.HealthSwitch, 1) == 0:
							detail = "Close"
						case !t.checked:
							detail = "Unknown"
						case !t.healthy:
							detail = "Dead"
						}
						ts = append(ts, map[string]any{"IP": s.instanceIP(t.instance), "Port": t.port, "HealthStatus": t.healthy,
							"TargetId": t.instance, "HealthStatusDetail": detail, "Weight": t.weight})
					}
					rules = append(rules, map[string]any{"LocationId": r.id, "Domain": r.domain, "Url": r.url, "Targets": ts})
				}
				ls = append(ls, map[string]any{"ListenerId": l.id, "ListenerName": l.name, "Protocol": l.protocol, "Port": l.port, "Rules": rules})
			}
			out = append(out, map[string]any{"LoadBalancerId": lb.id, "LoadBalancerName": lb.name, "Listeners": ls})
		}
		return map[string]any{"LoadBalancers": out}, nil
	case "DescribeTaskStatus":
		var in clbTaskStatus
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		// The API reference allows 20 of these a second per account.
		now := s.now()
		recent := s.clb.taskReads[:0]
		for _, at := range s.clb.taskReads {
			if now.Sub(at) < time.Second {
				recent = append(recent, at)
			}
		}
		if s.clb.taskReads = recent; len(recent) >= 20 {
			return nil, errorf("RequestLimitExceeded", "DescribeTaskStatus is limited to 20 requests a second.")
		}
		s.clb.taskReads = append(s.clb.taskReads, now)
		id := str(in.TaskId)
		if id == "" {
			id = str(in.DealName)
		}
		if id == "" {
			return nil, errorf("MissingParameter", "Either TaskId or DealName is required.")
		}
		t := s.clb.tasks[id]
		if t == nil {
			return nil, errorf("InvalidParameter", "The task %s does not exist.", id)
		}
		out := map[string]any{"Status": t.status}
		if in.DealName != nil {
			out["LoadBalancerIds"] = []string{t.lb}
		}
		return out, nil
	}
	return nil, unknownAction(req)
}

func (s *Server) createLoadBalancer(req *request) (any, *apiError) {
	var in clbCreateLoadBalancer
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	switch {
	case str(in.LoadBalancerType) != "OPEN" && str(in.LoadBalancerType) != "INTERNAL":
		return nil, errorf("InvalidParameterValue", "LoadBalancerType must be OPEN or INTERNAL.")
	case str(in.LoadBalancerType) == "INTERNAL" && str(in.SubnetId) == "":
		return nil, errorf("InvalidParameter", "An INTERNAL load balancer needs a SubnetId.")
	case in.VpcId != nil && !strings.HasPrefix(*in.VpcId, "vpc-"):
		return nil, errorf("InvalidParameter.FormatError", "VpcId %s is malformed.", *in.VpcId)
	case len(str(in.ClientToken)) > 64:
		return nil, errorf("InvalidParameter.ClientTokenLimitExceeded", "ClientToken is longer than 64 characters.")
	case len(str(in.LoadBalancerName)) > 60:
		return nil, errorf("InvalidParameterValue.Length", "LoadBalancerName is longer than 60 characters.")
	}
	if v := str(in.VpcId); v != "" && s.vpc.vpcs[v] == nil {
		return nil, errorf("InvalidParameterValue", "The VPC %s does not exist.", v)
	}
	if tok := str(in.ClientToken); tok != "" {
		for _, id := range s.clb.order {
			if lb := s.clb.lbs[id]; lb.token == tok {
				return map[string]any{"LoadBalancerIds": []string{lb.id}, "DealName": "deal-" + lb.id}, nil
			}
		}
	}
	s.clb.n++
	lb := &loadBalancer{id: fmt.Sprintf("lb-%08x", s.clb.n), name: str(in.LoadBalancerName), vpc: str(in.VpcId), subnet: str(in.SubnetId),
		token: str(in.ClientToken), tags: map[string]string{}, created: s.now(), vip: fmt.Sprintf("198.51.100.%d", 10+s.clb.n%200)}
	if s.clb.vip != "" {
		lb.vip = s.clb.vip
	}
	if s.clb.dynamic || (in.DynamicVip != nil && *in.DynamicVip) {
		lb.domain = lb.id + ".clb." + req.region + ".tencentclb.com"
	}
	for _, t := range in.Tags {
		lb.tags[t.TagKey] = t.TagValue
	}
	s.clb.lbs[lb.id] = lb
	s.clb.order = append(s.clb.order, lb.id)
	deal := "deal-" + lb.id
	s.startTask(deal, req.action, lb, func() {
		lb.ready = true
		lb.plane = s.newPlane(lb.id)
	})
	s.clb.tasks[req.id] = s.clb.tasks[deal]
	return map[string]any{"LoadBalancerIds": []string{lb.id}, "DealName": deal}, nil
}

func (s *Server) describeLoadBalancers(req *request) (any, *apiError) {
	var in clbDescribeLoadBalancers
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	limit := int(num(in.Limit, 20))
	if limit > 100 || limit < 0 {
		return nil, errorf("InvalidParameterValue.Range", "Limit must be within 0 and 100.")
	}
	var set []map[string]any
	now := s.now()
	for _, id := range s.clb.order {
		lb := s.clb.lbs[id]
		if lb.deleted || (len(in.LoadBalancerIds) > 0 && !slices.Contains(in.LoadBalancerIds, id)) {
			continue
		}
		match := true
		for _, f := range in.Filters {
			switch {
			case f.Name == "tag-key":
				match = match && slices.ContainsFunc(f.Values, func(k string) bool { _, ok := lb.tags[k]; return ok })
			case strings.HasPrefix(f.Name, "tag:"):
				v, ok := lb.tags[strings.TrimPrefix(f.Name, "tag:")]
				match = match && ok && slices.Contains(f.Values, v)
				// The tag index catches up with a create only after a while, as elsewhere.
				match = match && now.Sub(lb.created) >= s.describeLag
			case f.Name == "vpc-id":
				match = match && slices.Contains(f.Values, lb.vpc)
			default:
				return nil, errorf("InvalidParameter.InvalidFilter", "The filter %s is not supported.", f.Name)
			}
		}
		if !match {
			continue
		}
		status := 0
		if lb.ready {
			status = 1
		}
		var tags []clbTag
		for k, v := range lb.tags {
			tags = append(tags, clbTag{k, v})
		}
		m := map[string]any{"LoadBalancerId": lb.id, "LoadBalancerName": lb.name, "LoadBalancerType": "OPEN", "Forward": 1,
			"Status": status, "VpcId": lb.vpc, "SubnetId": lb.subnet, "Tags": tags, "CreateTime": lb.created.In(chinaTime).Format(time.DateTime)}
		if lb.domain != "" {
			// Its addresses change: they are not to be written into DNS.
			m["LoadBalancerDomain"] = lb.domain
			m["Domain"] = lb.domain
			m["LoadBalancerVips"] = []string{fmt.Sprintf("198.51.100.%d", 100+int(now.Unix()/60)%100)}
			if s.clb.vip != "" {
				m["LoadBalancerVips"] = []string{s.clb.vip}
			}
		} else {
			m["LoadBalancerVips"] = []string{lb.vip}
		}
		set = append(set, m)
	}
	total := len(set)
	off := int(num(in.Offset, 0))
	set = set[min(off, len(set)):]
	set = set[:min(limit, len(set))]
	if set == nil {
		set = []map[string]any{}
	}
	return map[string]any{"TotalCount": total, "LoadBalancerSet": set}, nil
}

func (s *Server) createListener(req *request) (any, *apiError) {
	var in clbCreateListener
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	lb, err := s.writable(str(in.LoadBalancerId))
	if err != nil {
		return nil, err
	}
	proto := str(in.Protocol)
	if !slices.Contains([]string{"TCP", "UDP", "HTTP", "HTTPS", "TCP_SSL", "QUIC"}, proto) {
		return nil, errorf("InvalidParameter.ProtocolCheckFailed", "Protocol %s is not one of TCP, UDP, HTTP, HTTPS, TCP_SSL, QUIC.", proto)
	}
	if proto != "HTTP" && proto != "HTTPS" {
		return nil, errorf("UnsupportedOperation", "This stand-in serves HTTP and HTTPS listeners only.")
	}
	if len(in.ListenerNames) > 0 && len(in.ListenerNames) != len(in.Ports) {
		return nil, errorf("InvalidParameter", "ListenerNames must name each port.")
	}
	cert := ""
	if proto == "HTTPS" {
		if in.Certificate == nil || str(in.Certificate.CertId) == "" {
			return nil, errorf("InvalidParameter", "An HTTPS listener needs a Certificate with its CertId.")
		}
		cert = str(in.Certificate.CertId)
		if s.ssl.certs[cert] == nil {
			return nil, errorf("InvalidParameter", "Certificate %s does not exist.", cert)
		}
	}
	var ls []*listener
	var ids []string
	for i, p := range in.Ports {
		if p < 1 || p > 65535 {
			return nil, errorf("InvalidParameterValue.Range", "Port %d is out of range.", p)
		}
		for _, o := range lb.listeners {
			if o.port == int(p) {
				return nil, errorf("InvalidParameter.PortCheckFailed", "Port %d is in use by listener %s.", p, o.id)
			}
		}
		s.clb.n++
		l := &listener{id: fmt.Sprintf("lbl-%08x", s.clb.n), protocol: proto, port: int(p), certID: cert}
		if len(in.ListenerNames) > 0 {
			l.name = in.ListenerNames[i]
		}
		ls = append(ls, l)
		ids = append(ids, l.id)
	}
	s.startTask(req.id, req.action, lb, func() {
		lb.listeners = append(lb.listeners, ls...)
		for _, l := range ls {
			if l.certID != "" {
				c := s.ssl.certs[l.certID].pair
				lb.plane.listen(l.port, &c)
			} else {
				lb.plane.listen(l.port, nil)
			}
		}
	})
	return map[string]any{"ListenerIds": ids}, nil
}

func (s *Server) changeTargets(req *request) (any, *apiError) {
	var in clbTargets
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	lb, l, err := s.writableListener(str(in.LoadBalancerId), str(in.ListenerId))
	if err != nil {
		return nil, err
	}
	r := l.rule(str(in.LocationId), str(in.Domain), str(in.Url))
	if r == nil {
		return nil, errorf("InvalidParameter.LocationNotFound", "The listener %s has no such rule.", l.id)
	}
	now := s.now()
	type change struct {
		id           string
		port, weight int
	}
	var cs []change
	for _, t := range in.Targets {
		id, port := str(t.InstanceId), int(num(t.Port, 0))
		if port < 1 || port > 65535 {
			return nil, errorf("InvalidParameterValue.Range", "Target port %d is out of range.", port)
		}
		weight := int(num(t.Weight, num(in.Weight, 10)))
		if weight < 0 || weight > 100 {
			return nil, errorf("InvalidParameterValue.Range", "Weight %d is not within 0 and 100.", weight)
		}
		i := s.cvm.instances[id]
		if req.action == "RegisterTargets" && (i == nil || s.state(i, now) != "RUNNING") {
			return nil, errorf("InvalidParameter", "Instance %s does not exist or is not running.", id)
		}
		if req.action == "RegisterTargets" && lb.vpc != "" && i.vpc != lb.vpc {
			return nil, errorf("InvalidParameter", "Instance %s is not in the load balancer's VPC %s.", id, lb.vpc)
		}
		has := slices.ContainsFunc(r.targets, func(x *target) bool { return x.instance == id && x.port == port })
		if req.action == "RegisterTargets" && has {
			return nil, errorf("InvalidParameter", "The target %s:%d is registered already.", id, port)
		}
		if req.action != "RegisterTargets" && !has {
			return nil, errorf("InvalidParameter", "The target %s:%d is not registered.", id, port)
		}
		cs = append(cs, change{id, port, weight})
	}
	s.startTask(req.id, req.action, lb, func() {
		for _, c := range cs {
			switch req.action {
			case "RegisterTargets":
				r.targets = append(r.targets, &target{instance: c.id, port: c.port, weight: c.weight})
			case "DeregisterTargets":
				r.targets = slices.DeleteFunc(r.targets, func(x *target) bool { return x.instance == c.id && x.port == c.port })
			default:
				for _, x := range r.targets {
					if x.instance == c.id && x.port == c.port {
						x.weight = c.weight
					}
				}
			}
		}
	})
	return map[string]any{}, nil
}

// instanceIP is an instance's private address as CLB reports it; s.mu is held.
func (s *Server) instanceIP(id string) string {
	if i := s.cvm.instances[id]; i != nil {
		return "10.0.0." + fmt.Sprint(1+len(i.id)%250)
	}
	return ""
}
