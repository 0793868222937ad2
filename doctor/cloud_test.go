package doctor_test

import (
	"testing"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
)

const testID, testKey = "AKIDdoctor0000000000000000000000000", "doctor-secret-key"

// account is a Tencent Cloud stand-in and the configuration of a deployment in it.
func account(t *testing.T) (*tcfake.Server, map[string]string) {
	tc, err := tcfake.New(testID, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	tc.AddDomain("example.com")
	return tc, map[string]string{"domain": domain, "tencentcloud.region": "ap-guangzhou", "tencentcloud.zone": "ap-guangzhou-3",
		"tencentcloud.endpoint": "http://" + tc.Addr, "tencentcloud.secret_id": testID, "tencentcloud.secret_key": testKey,
		"provision.dns_resolver": tc.DNSAddr}
}

func TestCredentials(t *testing.T) {
	tc, flags := account(t)
	l := load(t, "", flags)
	expect(t, check(t, l, "credentials.read"), doctor.OK, "the key reads CVM, VPC and DNSPod", "")
	expect(t, check(t, l, "credentials.write"), doctor.OK, "RunInstances with DryRun is allowed", "")
	expect(t, check(t, l, "credentials.zone"), doctor.OK, "ap-guangzhou-3 is a zone of ap-guangzhou", "")
	if w := tc.Writes(); len(w) != 0 {
		t.Fatalf("doctor changed the account: %v", w)
	}

	wrong := load(t, "", withFlag(flags, "tencentcloud.secret_key", "not-the-key"))
	r := check(t, wrong, "credentials.read")
	expect(t, r, doctor.Fail, "SignatureFailure", "the SecretKey does not match the SecretId")
	expect(t, check(t, load(t, "", withFlag(flags, "tencentcloud.zone", "ap-guangzhou-9")), "credentials.zone"), doctor.Fail,
		"ap-guangzhou-9 is not among ap-guangzhou's zones (ap-guangzhou-3", "set tencentcloud.zone to one of them")
	tc.Deny("cvm:RunInstances")
	expect(t, check(t, l, "credentials.write"), doctor.Fail, "RunInstances", "cvm:RunInstances")
	// A local setup has no account to check.
	expect(t, check(t, load(t, "", nil), "credentials.read"), doctor.Skipped, "a local setup", "")
}
