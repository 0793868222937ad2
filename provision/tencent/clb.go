package tencent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"

	"github.com/qcloud-applet/applet/provision"
)

// CLB (2018-03-17) and the SSL certificate service (2019-12-05) through the common client: their typed
// modules are not served here, so requests and answers are the types below, written from the API
// reference. CLB's writes are asynchronous: each answers a task (its RequestId, or a create's DealName)
// that DescribeTaskStatus reports 2 while it runs, 0 once done and 1 if it failed; the methods here
// return only when it has ended.

// TaskWait bounds the wait for one CLB task.
var TaskWait = 5 * time.Minute

const (
	clbVersion = "2018-03-17"
	sslVersion = "2019-12-05"
)

type clbTag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

type clbFilter struct {
	Name   string   `json:"Name"`
	Values []string `json:"Values"`
}

type clbHealthCheck struct {
	HealthSwitch    int64  `json:"HealthSwitch"`
	TimeOut         int64  `json:"TimeOut,omitempty"`
	IntervalTime    int64  `json:"IntervalTime,omitempty"`
	HealthNum       int64  `json:"HealthNum,omitempty"`
	UnHealthNum     int64  `json:"UnHealthNum,omitempty"`
	HttpCode        int64  `json:"HttpCode,omitempty"`
	HttpCheckPath   string `json:"HttpCheckPath,omitempty"`
	HttpCheckDomain string `json:"HttpCheckDomain,omitempty"`
	HttpCheckMethod string `json:"HttpCheckMethod,omitempty"`
}

type clbTarget struct {
	InstanceId string `json:"InstanceId"`
	Port       int64  `json:"Port"`
	Weight     *int64 `json:"Weight,omitempty"`
}

type clbCertificate struct {
	SSLMode string `json:"SSLMode"`
	CertId  string `json:"CertId"`
}

// send makes one call of a product without a typed module and decodes its answer into out.
func (c *Client) send(ctx context.Context, cl *common.Client, o op, version string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, o, func(ctx context.Context) error {
		req := tchttp.NewCommonRequest(o.service, version, o.action)
		req.SetContext(ctx)
		if err := req.SetActionParameters(body); err != nil {
			return err
		}
		resp := tchttp.NewCommonResponse()
		if err := cl.Send(req, resp); err != nil {
			return err
		}
		var env struct{ Response json.RawMessage }
		if err := json.Unmarshal(resp.GetBody(), &env); err != nil {
			return err
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(env.Response, out)
	})
}

func (c *Client) clbCall(ctx context.Context, action string, write bool, in, out any) error {
	return c.send(ctx, c.clb, op{service: "clb", action: action, write: write, where: c.cfg.Region}, clbVersion, in, out)
}

// clbWrite makes an asynchronous CLB write and waits for its task. A write whose answer was lost may
// have been carried out: callers read before they write again (a replay could duplicate it).
func (c *Client) clbWrite(ctx context.Context, action string, in, out any) error {
	var raw json.RawMessage
	if err := c.whenFree(ctx, func() error { return c.clbCall(ctx, action, true, in, &raw) }); err != nil {
		return err
	}
	var task struct {
		RequestId string
		DealName  string
	}
	if err := json.Unmarshal(raw, &task); err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return err
		}
	}
	return c.waitTask(ctx, action, task.RequestId, task.DealName)
}

// whenFree makes a write, again while the load balancer is busy with another task (another write of
// this run, or of a run that was interrupted): CLB refuses writes until that task ends.
func (c *Client) whenFree(ctx context.Context, write func() error) error {
	deadline := time.Now().Add(TaskWait)
	poll := max(c.cfg.BaseDelay/5, 20*time.Millisecond)
	for {
		err := write()
		if !isCode(err, "FailedOperation.ResourceInOperating") {
			return err
		}
		if time.Now().After(deadline) {
			var ae *APIError
			errors.As(err, &ae)
			ae.Fix = fmt.Sprintf("the load balancer stayed busy with another task for %s: look at its tasks in the CLB console, then run applet provision again", TaskWait)
			return ae
		}
		c.retries.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll + time.Duration(rand.Int64N(int64(poll)))):
		}
		poll = min(poll*2, 2*time.Second)
	}
}

// waitTask polls DescribeTaskStatus until the task has ended.
func (c *Client) waitTask(ctx context.Context, action, requestID, dealName string) error {
	in := map[string]string{"TaskId": requestID}
	if dealName != "" {
		in = map[string]string{"DealName": dealName}
	}
	deadline := time.Now().Add(TaskWait)
	poll := max(c.cfg.BaseDelay/5, 20*time.Millisecond)
	for {
		st := struct{ Status int }{Status: 2}
		// The API allows 20 of these a second: throttled, the task is simply asked about again later.
		if err := c.clbCall(ctx, "DescribeTaskStatus", false, in, &st); err != nil && !isCode(err, "RequestLimitExceeded") {
			return err
		}
		switch st.Status {
		case 0:
			return nil
		case 1:
			return &APIError{Service: "clb", Action: action, Code: "FailedOperation.TaskFailed",
				Message: fmt.Sprintf("its task %s failed", strings.TrimSpace(requestID+" "+dealName)),
				Fix:     "the load balancer did not take the change: run applet provision again (it reads what is there first); if it fails again, look at the load balancer in the CLB console"}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clb %s: its task %s did not end within %s", action, requestID+dealName, TaskWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		poll = min(poll*2, 2*time.Second)
	}
}

// FindLoadBalancers returns the load balancers carrying the tag.
func (c *Client) FindLoadBalancers(ctx context.Context, tagKey, tagValue string) ([]provision.LoadBalancer, error) {
	return c.describeLoadBalancers(ctx, map[string]any{"Filters": []clbFilter{{Name: "tag:" + tagKey, Values: []string{tagValue}}}})
}

// describeLoadBalancers follows DescribeLoadBalancers' pages.
func (c *Client) describeLoadBalancers(ctx context.Context, in map[string]any) ([]provision.LoadBalancer, error) {
	var out []provision.LoadBalancer
	for offset := 0; ; offset += 100 {
		var page struct {
			TotalCount      int
			LoadBalancerSet []struct {
				LoadBalancerId, LoadBalancerName, LoadBalancerDomain, Domain string
				Status                                                       int
				LoadBalancerVips                                             []string
				Tags                                                         []clbTag
			}
		}
		in["Offset"], in["Limit"] = offset, 100
		if err := c.clbCall(ctx, "DescribeLoadBalancers", false, in, &page); err != nil {
			return nil, err
		}
		for _, l := range page.LoadBalancerSet {
			lb := provision.LoadBalancer{ID: l.LoadBalancerId, Name: l.LoadBalancerName, Ready: l.Status == 1, VIPs: l.LoadBalancerVips,
				Domain: l.LoadBalancerDomain, Tags: map[string]string{}}
			if lb.Domain == "" {
				lb.Domain = l.Domain
			}
			for _, t := range l.Tags {
				lb.Tags[t.TagKey] = t.TagValue
			}
			out = append(out, lb)
		}
		if len(page.LoadBalancerSet) < 100 || offset+100 >= page.TotalCount {
			return out, nil
		}
	}
}

// CreateLoadBalancer creates a public load balancer and waits until it is ready. The ClientToken
// makes a replayed create answer the first one.
func (c *Client) CreateLoadBalancer(ctx context.Context, spec provision.LoadBalancerSpec) (string, error) {
	in := map[string]any{"LoadBalancerType": "OPEN", "LoadBalancerName": spec.Name, "ClientToken": spec.ClientToken}
	if spec.VpcID != "" {
		in["VpcId"] = spec.VpcID
	}
	var tags []clbTag
	for k, v := range spec.Tags {
		tags = append(tags, clbTag{k, v})
	}
	in["Tags"] = tags
	var out struct{ LoadBalancerIds []string }
	o := op{service: "clb", action: "CreateLoadBalancer", write: true, idempotent: spec.ClientToken != "", where: c.cfg.Region}
	var raw json.RawMessage
	if err := c.whenFree(ctx, func() error { return c.send(ctx, c.clb, o, clbVersion, in, &raw) }); err != nil {
		return "", err
	}
	var task struct {
		RequestId, DealName string
		LoadBalancerIds     []string
	}
	if err := json.Unmarshal(raw, &task); err != nil {
		return "", err
	}
	if len(task.LoadBalancerIds) == 0 {
		return "", fmt.Errorf("clb CreateLoadBalancer: the answer names no load balancer")
	}
	out.LoadBalancerIds = task.LoadBalancerIds
	if err := c.waitTask(ctx, "CreateLoadBalancer", task.RequestId, task.DealName); err != nil {
		return out.LoadBalancerIds[0], err
	}
	return out.LoadBalancerIds[0], nil
}

// DeleteLoadBalancer deletes a load balancer with its listeners; one already gone is not an error.
func (c *Client) DeleteLoadBalancer(ctx context.Context, id string) error {
	err := c.clbWrite(ctx, "DeleteLoadBalancer", map[string]any{"LoadBalancerIds": []string{id}}, nil)
	if isCode(err, "InvalidParameter.LBIdNotFound") {
		return nil
	}
	return err
}

// Listeners lists a load balancer's listeners with their rules.
func (c *Client) Listeners(ctx context.Context, lbID string) ([]provision.Listener, error) {
	var out struct {
		Listeners []struct {
			ListenerId, ListenerName, Protocol string
			Port                               int
			Certificate                        *struct{ CertId string }
			Rules                              []struct {
				LocationId, Domain, Url string
				HealthCheck             *clbHealthCheck
				RewriteTarget           *struct{ TargetListenerId string }
			}
		}
	}
	if err := c.clbCall(ctx, "DescribeListeners", false, map[string]any{"LoadBalancerId": lbID}, &out); err != nil {
		return nil, err
	}
	var ls []provision.Listener
	for _, l := range out.Listeners {
		pl := provision.Listener{ID: l.ListenerId, Name: l.ListenerName, Protocol: l.Protocol, Port: l.Port}
		if l.Certificate != nil {
			pl.CertID = l.Certificate.CertId
		}
		for _, r := range l.Rules {
			rule := provision.LBRule{ID: r.LocationId, Domain: r.Domain, URL: r.Url}
			if r.HealthCheck != nil && r.HealthCheck.HealthSwitch == 1 {
				rule.HealthPath = r.HealthCheck.HttpCheckPath
			}
			if r.RewriteTarget != nil && r.RewriteTarget.TargetListenerId != "" {
				pl.RedirectsTo = r.RewriteTarget.TargetListenerId
			}
			pl.Rules = append(pl.Rules, rule)
		}
		ls = append(ls, pl)
	}
	return ls, nil
}

// CreateListener makes an HTTP or HTTPS listener (HTTPS with the certificate certID).
func (c *Client) CreateListener(ctx context.Context, lbID, protocol string, port int, name, certID string) (string, error) {
	in := map[string]any{"LoadBalancerId": lbID, "Ports": []int{port}, "Protocol": protocol, "ListenerNames": []string{name}}
	if protocol == "HTTPS" {
		in["Certificate"] = clbCertificate{SSLMode: "UNIDIRECTIONAL", CertId: certID}
	}
	var out struct{ ListenerIds []string }
	if err := c.clbWrite(ctx, "CreateListener", in, &out); err != nil {
		return "", err
	}
	if len(out.ListenerIds) == 0 {
		return "", errors.New("clb CreateListener: the answer names no listener")
	}
	return out.ListenerIds[0], nil
}

// SetListenerCertificate switches an HTTPS listener to another certificate (a renewal).
func (c *Client) SetListenerCertificate(ctx context.Context, lbID, listenerID, certID string) error {
	return c.clbWrite(ctx, "ModifyListener", map[string]any{"LoadBalancerId": lbID, "ListenerId": listenerID,
		"Certificate": clbCertificate{SSLMode: "UNIDIRECTIONAL", CertId: certID}}, nil)
}

// CreateRule makes a forwarding rule with its health check: a GET of HealthPath that must answer 2xx,
// every 5 seconds, 3 in a row to be alive and 3 to be dead.
func (c *Client) CreateRule(ctx context.Context, lbID, listenerID string, r provision.LBRule) (string, error) {
	hc := clbHealthCheck{HealthSwitch: 0}
	if r.HealthPath != "" {
		hc = clbHealthCheck{HealthSwitch: 1, TimeOut: 2, IntervalTime: 5, HealthNum: 3, UnHealthNum: 3, HttpCode: 2,
			HttpCheckPath: r.HealthPath, HttpCheckDomain: r.Domain, HttpCheckMethod: "GET"}
	}
	var out struct{ LocationIds []string }
	err := c.clbWrite(ctx, "CreateRule", map[string]any{"LoadBalancerId": lbID, "ListenerId": listenerID,
		"Rules": []map[string]any{{"Domain": r.Domain, "Url": r.URL, "HealthCheck": hc}}}, &out)
	if err != nil {
		return "", err
	}
	if len(out.LocationIds) == 0 {
		return "", errors.New("clb CreateRule: the answer names no rule")
	}
	return out.LocationIds[0], nil
}

// RedirectHTTP makes port 80 redirect the domains to the HTTPS listener (CLB's AutoRewrite).
func (c *Client) RedirectHTTP(ctx context.Context, lbID, httpsListenerID string, domains []string) error {
	return c.clbWrite(ctx, "AutoRewrite", map[string]any{"LoadBalancerId": lbID, "ListenerId": httpsListenerID, "Domains": domains}, nil)
}

// Targets lists a rule's targets with weights (DescribeTargets) and health (DescribeTargetHealth).
func (c *Client) Targets(ctx context.Context, lbID, listenerID, ruleID string) ([]provision.Target, error) {
	var ts struct {
		Listeners []struct {
			ListenerId string
			Rules      []struct {
				LocationId string
				Targets    []struct {
					InstanceId   string
					Port, Weight int
				}
			}
		}
	}
	if err := c.clbCall(ctx, "DescribeTargets", false, map[string]any{"LoadBalancerId": lbID, "ListenerIds": []string{listenerID}}, &ts); err != nil {
		return nil, err
	}
	var hs struct {
		LoadBalancers []struct {
			Listeners []struct {
				ListenerId string
				Rules      []struct {
					LocationId string
					Targets    []struct {
						TargetId           string
						Port               int
						HealthStatusDetail string
					}
				}
			}
		}
	}
	if err := c.clbCall(ctx, "DescribeTargetHealth", false, map[string]any{"LoadBalancerIds": []string{lbID}}, &hs); err != nil {
		return nil, err
	}
	health := map[string]string{}
	for _, lb := range hs.LoadBalancers {
		for _, l := range lb.Listeners {
			for _, r := range l.Rules {
				if l.ListenerId == listenerID && r.LocationId == ruleID {
					for _, t := range r.Targets {
						health[fmt.Sprintf("%s:%d", t.TargetId, t.Port)] = t.HealthStatusDetail
					}
				}
			}
		}
	}
	var out []provision.Target
	for _, l := range ts.Listeners {
		for _, r := range l.Rules {
			if l.ListenerId != listenerID || r.LocationId != ruleID {
				continue
			}
			for _, t := range r.Targets {
				h := health[fmt.Sprintf("%s:%d", t.InstanceId, t.Port)]
				if h == "" {
					h = "Unknown"
				}
				out = append(out, provision.Target{InstanceID: t.InstanceId, Port: t.Port, Weight: t.Weight, Health: h})
			}
		}
	}
	return out, nil
}

func targetsIn(ts []provision.Target, weights bool) []clbTarget {
	out := make([]clbTarget, len(ts))
	for i, t := range ts {
		out[i] = clbTarget{InstanceId: t.InstanceID, Port: int64(t.Port)}
		if weights {
			out[i].Weight = common.Int64Ptr(int64(t.Weight))
		}
	}
	return out
}

// RegisterTargets puts instances' ports behind a rule, with their weights.
func (c *Client) RegisterTargets(ctx context.Context, lbID, listenerID, ruleID string, ts []provision.Target) error {
	return c.clbWrite(ctx, "RegisterTargets", map[string]any{"LoadBalancerId": lbID, "ListenerId": listenerID, "LocationId": ruleID, "Targets": targetsIn(ts, true)}, nil)
}

// DeregisterTargets takes instances' ports from behind a rule.
func (c *Client) DeregisterTargets(ctx context.Context, lbID, listenerID, ruleID string, ts []provision.Target) error {
	return c.clbWrite(ctx, "DeregisterTargets", map[string]any{"LoadBalancerId": lbID, "ListenerId": listenerID, "LocationId": ruleID, "Targets": targetsIn(ts, false)}, nil)
}

// SetWeight changes one target's weight (0: no new requests).
func (c *Client) SetWeight(ctx context.Context, lbID, listenerID, ruleID string, t provision.Target) error {
	return c.clbWrite(ctx, "ModifyTargetWeight", map[string]any{"LoadBalancerId": lbID, "ListenerId": listenerID, "LocationId": ruleID,
		"Targets": targetsIn([]provision.Target{t}, false), "Weight": t.Weight}, nil)
}

func (c *Client) sslCall(ctx context.Context, action string, write bool, in, out any) error {
	return c.send(ctx, c.ssl, op{service: "ssl", action: action, write: write, where: c.cfg.Region}, sslVersion, in, out)
}

// UploadCertificate uploads a server certificate with its key. The same certificate uploaded twice
// answers the first one's id (so a replay after a lost answer is safe).
func (c *Client) UploadCertificate(ctx context.Context, certPEM, keyPEM, alias string, tags map[string]string) (string, error) {
	in := map[string]any{"CertificatePublicKey": certPEM, "CertificatePrivateKey": keyPEM, "CertificateType": "SVR", "Alias": alias}
	var ts []map[string]string
	for k, v := range tags {
		ts = append(ts, map[string]string{"TagKey": k, "TagValue": v})
	}
	if ts != nil {
		in["Tags"] = ts
	}
	var out struct{ CertificateId, RepeatCertId string }
	o := op{service: "ssl", action: "UploadCertificate", write: true, idempotent: true, where: c.cfg.Region}
	if err := c.send(ctx, c.ssl, o, sslVersion, in, &out); err != nil {
		return "", err
	}
	if out.CertificateId == "" {
		out.CertificateId = out.RepeatCertId
	}
	return out.CertificateId, nil
}

// Certificate reads an uploaded certificate; provision.ErrNotFound when there is none.
func (c *Client) Certificate(ctx context.Context, id string) (provision.CertificateInfo, error) {
	var out struct{ CertificateId, Domain, CertEndTime string }
	err := c.sslCall(ctx, "DescribeCertificate", false, map[string]any{"CertificateId": id}, &out)
	if isCode(err, "FailedOperation.CertificateNotFound") {
		return provision.CertificateInfo{}, provision.ErrNotFound
	}
	if err != nil {
		return provision.CertificateInfo{}, err
	}
	return provision.CertificateInfo{ID: out.CertificateId, Domain: out.Domain, NotAfter: out.CertEndTime}, nil
}

// DeleteCertificate deletes an uploaded certificate that no listener serves; one already gone is not an
// error.
func (c *Client) DeleteCertificate(ctx context.Context, id string) error {
	err := c.sslCall(ctx, "DeleteCertificate", true, map[string]any{"CertificateId": id}, nil)
	if isCode(err, "FailedOperation.CertificateNotFound") {
		return nil
	}
	return err
}

var (
	_ provision.LoadBalancers    = (*Client)(nil)
	_ provision.CertificateStore = (*Client)(nil)
)

// LoadBalancer reads one load balancer by id; provision.ErrNotFound when there is none.
func (c *Client) LoadBalancer(ctx context.Context, id string) (provision.LoadBalancer, error) {
	lbs, err := c.describeLoadBalancers(ctx, map[string]any{"LoadBalancerIds": []string{id}})
	if err != nil {
		return provision.LoadBalancer{}, err
	}
	if len(lbs) == 0 {
		return provision.LoadBalancer{}, provision.ErrNotFound
	}
	return lbs[0], nil
}
