package tcfake

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"
	dnspod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/dnspod/v20210323"
)

const (
	id  = "AKIDtcfaketest00000000000000000000001"
	key = "tcfake-test-secret-000000000000001"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := New(id, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func prof(s *Server) *profile.ClientProfile {
	p := profile.NewClientProfile()
	p.HttpProfile.Endpoint = s.Addr
	p.HttpProfile.Scheme = "HTTP"
	return p
}

func cvmClient(t *testing.T, s *Server, secretID, secretKey string) *cvm.Client {
	c, err := cvm.NewClient(common.NewCredential(secretID, secretKey), "ap-guangzhou", prof(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func code(err error) string {
	if e, ok := err.(*sdkerrors.TencentCloudSDKError); ok {
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestSignatures(t *testing.T) {
	s := start(t)
	if _, err := cvmClient(t, s, id, key).DescribeZones(cvm.NewDescribeZonesRequest()); err != nil {
		t.Fatalf("a good signature was refused: %v", err)
	}
	if got := code2(cvmClient(t, s, id, "wrong-key").DescribeZones(cvm.NewDescribeZonesRequest())); got != "AuthFailure.SignatureFailure" {
		t.Errorf("wrong key: %s", got)
	}
	if got := code2(cvmClient(t, s, "AKIDunknown", key).DescribeZones(cvm.NewDescribeZonesRequest())); got != "AuthFailure.SecretIdNotFound" {
		t.Errorf("unknown id: %s", got)
	}
	s.SetClock(func() time.Time { return time.Now().Add(6 * time.Minute) })
	if got := code2(cvmClient(t, s, id, key).DescribeZones(cvm.NewDescribeZonesRequest())); got != "AuthFailure.SignatureExpire" {
		t.Errorf("skewed clock: %s", got)
	}
	s.SetClock(time.Now)

	// A request without Authorization, and one whose body was changed after signing.
	resp, err := http.Post("http://"+s.Addr+"/", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(b.String(), "AuthFailure.SignatureFailure") {
		t.Errorf("no Authorization: %s", b.String())
	}
	c := cvmClient(t, s, id, key)
	c.WithHttpTransport(tamper{})
	if got := code2(c.DescribeZones(cvm.NewDescribeZonesRequest())); got != "AuthFailure.SignatureFailure" {
		t.Errorf("tampered body: %s", got)
	}
	for _, call := range s.Calls() {
		if call.Code == "" && call.Action != "DescribeZones" {
			t.Errorf("unexpected call %+v", call)
		}
	}
}

// tamper changes the body after the SDK signed it.
type tamper struct{}

func (tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Body.Close()
	r.Body = io.NopCloser(strings.NewReader(`{"Offset":1}`))
	r.ContentLength = int64(len(`{"Offset":1}`))
	return http.DefaultTransport.RoundTrip(r)
}

func code2[T any](_ T, err error) string { return code(err) }

func TestInstanceLifecycleAndToken(t *testing.T) {
	s := start(t)
	s.SetBootDelay(100 * time.Millisecond)
	s.SetTerminateDelay(50 * time.Millisecond)
	c := cvmClient(t, s, id, key)
	run := func() string {
		req := cvm.NewRunInstancesRequest()
		req.Placement = &cvm.Placement{Zone: common.StringPtr("ap-guangzhou-3")}
		req.ImageId = common.StringPtr("img-487zeit5")
		req.InstanceType = common.StringPtr("S5.MEDIUM2")
		req.ClientToken = common.StringPtr("tok-1")
		req.TagSpecification = []*cvm.TagSpecification{{ResourceType: common.StringPtr("instance"), Tags: []*cvm.Tag{{Key: common.StringPtr("k"), Value: common.StringPtr("v")}}}}
		resp, err := c.RunInstances(req)
		if err != nil {
			t.Fatal(err)
		}
		return *resp.Response.InstanceIdSet[0]
	}
	a, b := run(), run()
	if a != b || len(s.Instances()) != 1 {
		t.Fatalf("a replayed ClientToken made another instance: %s %s", a, b)
	}
	state := func() string {
		req := cvm.NewDescribeInstancesRequest()
		req.Filters = []*cvm.Filter{{Name: common.StringPtr("tag:k"), Values: common.StringPtrs([]string{"v"})}}
		resp, err := c.DescribeInstances(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Response.InstanceSet) == 0 {
			return "gone"
		}
		return *resp.Response.InstanceSet[0].InstanceState
	}
	if st := state(); st != "PENDING" {
		t.Fatalf("new instance %s", st)
	}
	time.Sleep(120 * time.Millisecond)
	if st := state(); st != "RUNNING" {
		t.Fatalf("after boot %s", st)
	}
	treq := cvm.NewTerminateInstancesRequest()
	treq.InstanceIds = common.StringPtrs([]string{a})
	if _, err := c.TerminateInstances(treq); err != nil {
		t.Fatal(err)
	}
	if st := state(); st != "TERMINATING" {
		t.Fatalf("after terminate %s", st)
	}
	time.Sleep(60 * time.Millisecond)
	if st := state(); st != "gone" {
		t.Fatalf("later %s", st)
	}
}

func TestFaults(t *testing.T) {
	s := start(t)
	c := cvmClient(t, s, id, key)
	s.Fail("DescribeZones", 1, "InternalError", "injected")
	if got := code2(c.DescribeZones(cvm.NewDescribeZonesRequest())); got != "InternalError" {
		t.Errorf("fail: %s", got)
	}
	s.ThrottleEvery(2)
	var codes []string
	for i := 0; i < 4; i++ {
		codes = append(codes, code2(c.DescribeZones(cvm.NewDescribeZonesRequest())))
	}
	if strings.Join(codes, ",") != "RequestLimitExceeded,,RequestLimitExceeded," {
		t.Errorf("throttle every 2nd: %q", codes)
	}
	s.Heal()
	s.Hang("DescribeZones", 1)
	p := prof(s)
	p.HttpProfile.ReqTimeout = 1
	hc, _ := cvm.NewClient(common.NewCredential(id, key), "ap-guangzhou", p)
	start := time.Now()
	if _, err := hc.DescribeZones(cvm.NewDescribeZonesRequest()); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("hang: %v after %s", err, time.Since(start))
	}
}

func TestDNSPodAndResolver(t *testing.T) {
	s := start(t)
	s.AddDomain("example.com")
	dc, err := dnspod.NewClient(common.NewCredential(id, key), "", prof(s))
	if err != nil {
		t.Fatal(err)
	}
	list := func() string {
		req := dnspod.NewDescribeRecordListRequest()
		req.Domain = common.StringPtr("example.com")
		req.Subdomain = common.StringPtr("applet")
		_, err := dc.DescribeRecordList(req)
		return code(err)
	}
	if got := list(); got != "ResourceNotFound.NoDataOfRecord" {
		t.Fatalf("empty list: %s", got)
	}
	create := func(typ, value string) string {
		req := dnspod.NewCreateRecordRequest()
		req.Domain = common.StringPtr("example.com")
		req.SubDomain = common.StringPtr("applet")
		req.RecordType = common.StringPtr(typ)
		req.RecordLine = common.StringPtr("默认")
		req.Value = common.StringPtr(value)
		_, err := dc.CreateRecord(req)
		return code(err)
	}
	if got := create("A", "203.0.113.9"); got != "" {
		t.Fatal(got)
	}
	if got := create("A", "203.0.113.9"); got != "InvalidParameter.DomainRecordExist" {
		t.Fatalf("duplicate: %s", got)
	}
	if got := create("TXT", "token-value"); got != "" {
		t.Fatal(got)
	}
	req := dnspod.NewDescribeRecordListRequest()
	req.Domain = common.StringPtr("nope.com")
	if _, err := dc.DescribeRecordList(req); code(err) != "InvalidParameterValue.DomainNotExists" {
		t.Fatalf("unknown domain: %v", err)
	}

	// The same records answer real DNS queries.
	q := func(name string, typ uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, typ)
		r, err := dns.Exchange(m, s.DNSAddr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := q("applet.example.com.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "203.0.113.9" {
		t.Fatalf("A: %v", r)
	}
	if r := q("applet.example.com.", dns.TypeTXT); len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "token-value" {
		t.Fatalf("TXT: %v", r)
	}
	if r := q("missing.example.com.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("missing name: %v", r)
	}
}
