package doctor_test

import (
	"context"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/tencent"
)

func TestDNSResolve(t *testing.T) {
	tc, flags := account(t)
	tc.SetBootDelay(0)
	ctx := context.Background()
	cfg := tencent.NewDefaultConfig("ap-guangzhou")
	cfg.Credentials, cfg.Endpoint = tencent.Credentials{SecretID: testID, SecretKey: testKey}, "http://"+tc.Addr
	cl, err := tencent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := load(t, "", flags)
	expect(t, check(t, l, "dns.resolve"), doctor.Fail, domain+" does not resolve", "create its A record")

	id, err := cl.DNS().CreateRecord(ctx, "example.com", provision.Record{Name: "applet", Type: "A", Value: "198.51.100.7", TTL: 600})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, check(t, l, "dns.resolve"), doctor.OK, domain+" resolves to 198.51.100.7 (the instance could not be looked up: no instance carries applet-deployment=applet)", "")

	if _, err := cl.Compute().RunInstance(ctx, provision.InstanceSpec{Zone: "ap-guangzhou-3", ImageID: "img-487zeit5", Type: "S5.MEDIUM2", DiskGB: 20, BandwidthMbps: 1,
		Tags: map[string]string{provision.TagKey: "applet"}}); err != nil {
		t.Fatal(err)
	}
	var ip string
	for deadline := time.Now().Add(5 * time.Second); ip == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if insts, _ := cl.Compute().FindInstances(ctx, provision.TagKey, "applet"); len(insts) == 1 {
			ip = insts[0].PublicIP
		}
	}
	if ip == "" {
		t.Fatal("the instance got no public address")
	}
	expect(t, check(t, l, "dns.resolve"), doctor.Fail, "resolves to 198.51.100.7, but the instance", "point the A record at "+ip)
	tc.SetRecordValue("example.com", id, ip)
	expect(t, check(t, l, "dns.resolve"), doctor.OK, domain+" resolves to "+ip+", the instance", "")
}

func TestICPFiling(t *testing.T) {
	expect(t, check(t, load(t, "", nil), "icp.filing"), doctor.Skipped, "a local setup", "")
	mainland := map[string]string{"domain": domain, "tencentcloud.region": "ap-guangzhou"}
	expect(t, check(t, load(t, "", mainland), "icp.filing"), doctor.Warn, "ap-guangzhou is in mainland China", "file the domain for ICP")
	expect(t, check(t, load(t, "", withFlag(mainland, "tencentcloud.region", "ap-hongkong")), "icp.filing"), doctor.OK, "ap-hongkong needs no ICP filing", "")
	expect(t, check(t, load(t, "", map[string]string{"domain": domain, "cos.region": "ap-singapore"}), "icp.filing"), doctor.OK, "ap-singapore needs no ICP filing", "")
}
