package rolecred_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	sdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/fakes/metafake"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/provision/tencent"
)

const bucket = "album-1250000000"

func stand(t *testing.T, ttl time.Duration, role func() string) (*metafake.Server, *cosfake.Server) {
	t.Helper()
	cs, err := cosfake.New("AKIDaccount", "account-secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	cs.CreateBucket(bucket, "public-read")
	md, err := metafake.New(metafake.Config{TTL: ttl, Role: role, Policies: hostPolicies, Issue: cs.AddRoleKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	return md, cs
}

func hostRole() string { return "applet-prod" }

func hostPolicies(string) []string {
	return []string{tencent.HostPolicy(bucket, "ap-guangzhou", "prod", "photos/")}
}

func client(t *testing.T, cs *cosfake.Server, src rolecred.Source) *sdk.Client {
	bu, _ := sdk.NewBucketURL(bucket, "ap-guangzhou", false)
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, cs.Addr)
	}
	return sdk.NewClient(&sdk.BaseURL{BucketURL: bu}, &http.Client{Timeout: 5 * time.Second, Transport: rolecred.COSTransport(src, base)})
}

func put(c *sdk.Client, key string) error {
	_, err := c.Object.Put(context.Background(), key, bytes.NewReader([]byte("x")), nil)
	return err
}

// The role's credentials are read again before they expire, and each set is what the service
// handed out last.
func TestRoleCredentialsRefreshBeforeTheyExpire(t *testing.T) {
	md, _ := stand(t, 3*time.Second, hostRole)
	p := &rolecred.Provider{Endpoint: md.URL}
	ctx := context.Background()
	first, err := p.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Token == "" || time.Until(first.Expires) > 3*time.Second {
		t.Fatalf("credentials %+v", first)
	}
	again, _ := p.Credentials(ctx)
	if again != first || md.Reads() != 2 { // the role's name, then its credentials: cached since
		t.Fatalf("read the service %d times for two requests", md.Reads())
	}
	time.Sleep(2200 * time.Millisecond) // less than a third of the life left
	next, err := p.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == first.ID || !next.Expires.After(first.Expires) {
		t.Fatalf("not refreshed: %+v then %+v", first, next)
	}
}

// With the metadata service down for a moment, credentials that still work are used; with none
// left, the error says so.
func TestRoleCredentialsSurviveAMetadataBlip(t *testing.T) {
	md, _ := stand(t, 6*time.Second, hostRole) // ExpiredTime is in whole seconds: 5 to 6s of life
	p := &rolecred.Provider{Endpoint: md.URL}
	ctx := context.Background()
	first, err := p.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	md.SetDown(true)
	time.Sleep(4300 * time.Millisecond) // past the refresh point, before the expiry
	if c, err := p.Credentials(ctx); err != nil || c != first {
		t.Fatalf("during the blip: %v %+v", err, c)
	}
	time.Sleep(2 * time.Second) // now expired
	if _, err := p.Credentials(ctx); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Fatalf("with the service down and the credentials expired: %v", err)
	}
}

func TestRoleNotAttachedSaysWhatToDo(t *testing.T) {
	md, _ := stand(t, time.Minute, func() string { return "" })
	_, err := (&rolecred.Provider{Endpoint: md.URL}).Credentials(context.Background())
	if !errors.Is(err, rolecred.ErrNoRole) || !strings.Contains(err.Error(), "applet provision") {
		t.Fatalf("err = %v", err)
	}
}

// The role's policy is what COS enforces: the album writes under its folder and nowhere else, the
// host reads its own bundles; and a role's key is refused without its token or once expired.
func TestRolePolicyLimitsWhatTheHostCanDo(t *testing.T) {
	md, cs := stand(t, time.Minute, hostRole)
	c := client(t, cs, &rolecred.Provider{Endpoint: md.URL})
	if err := put(c, "photos/2026/a.jpg"); err != nil {
		t.Fatalf("a write under the album's folder: %v", err)
	}
	if _, err := c.Object.Delete(context.Background(), "photos/2026/a.jpg"); err != nil {
		t.Fatalf("a delete under the album's folder: %v", err)
	}
	for _, key := range []string{"other/a.jpg", "applet/video/media/01.jpg", "applet-deploy/prod/x", "applet-deploy/other/x", "photos-not/a.jpg"} {
		if err := put(c, key); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("a write to %s: %v", key, err)
		}
	}
	// Bundles: its own deployment's only, read and delete.
	admin := client(t, cs, rolecred.Static{ID: "AKIDaccount", Key: "account-secret"})
	for _, k := range []string{"applet-deploy/prod/host.tar.gz", "applet-deploy/other/host.tar.gz"} {
		if err := put(admin, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Object.Get(context.Background(), "applet-deploy/prod/host.tar.gz", nil); err != nil {
		t.Fatalf("reading its own bundle: %v", err)
	}
	if _, err := c.Object.Get(context.Background(), "applet-deploy/other/host.tar.gz", nil); err == nil {
		t.Fatal("read another deployment's bundle")
	}
	if _, err := c.Bucket.Put(context.Background(), nil); err == nil {
		t.Fatal("the role may create buckets")
	}
	// A role key without its token, and one that expired.
	creds, _ := (&rolecred.Provider{Endpoint: md.URL}).Credentials(context.Background())
	if err := put(client(t, cs, rolecred.Static{ID: creds.ID, Key: creds.Key}), "photos/b.jpg"); err == nil || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
		t.Fatalf("without the token: %v", err)
	}
	cs.AddRoleKey("AKIDold", "old-secret", "old-token", time.Now().Add(-time.Second), func() []string { return hostPolicies("") })
	expired := rolecred.Static{ID: "AKIDold", Key: "old-secret", Token: "old-token"}
	if err := put(client(t, cs, expired), "photos/b.jpg"); err == nil || !strings.Contains(err.Error(), "ExpiredToken") {
		t.Fatalf("an expired key: %v", err)
	}
}

// The same credentials sign Tencent Cloud API calls through the SDK's credential interface, token
// included; the stand-in refuses the key without it.
func TestRoleCredentialsSignTencentCloudCalls(t *testing.T) {
	tc, err := tcfake.New("AKIDaccount", "account-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.CreateRoleDirectly("applet-prod")
	md, err := metafake.New(metafake.Config{TTL: time.Minute, Role: hostRole, Issue: func(id, key, token string, exp time.Time, _ func() []string) {
		tc.AddTemporaryKey(id, key, token, exp)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = tc.Addr, "HTTP"
	get := func(cred common.CredentialIface) error {
		c, _ := cam.NewClient(cred, "", prof)
		r := cam.NewGetRoleRequest()
		r.RoleName = common.StringPtr("applet-prod")
		_, err := c.GetRole(r)
		return err
	}
	src := &rolecred.Provider{Endpoint: md.URL}
	if err := get(rolecred.TencentCloud{Source: src}); err != nil {
		t.Fatalf("with the role's credentials: %v", err)
	}
	c, _ := src.Credentials(context.Background())
	if err := get(common.NewCredential(c.ID, c.Key)); err == nil {
		t.Fatal("the role's key was accepted without its token")
	}
}

// A policy changed in CAM applies to credentials already handed out, as in the cloud.
func TestRolePolicyChangeAppliesAtOnce(t *testing.T) {
	cs, err := cosfake.New("AKIDaccount", "account-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	cs.CreateBucket(bucket, "public-read")
	var mu sync.Mutex
	docs := hostPolicies("")
	md, err := metafake.New(metafake.Config{TTL: time.Hour, Role: hostRole, Issue: cs.AddRoleKey, Policies: func(string) []string {
		mu.Lock()
		defer mu.Unlock()
		return docs
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	c := client(t, cs, &rolecred.Provider{Endpoint: md.URL})
	if err := put(c, "elsewhere/a"); err == nil {
		t.Fatal("wrote outside the album's folder")
	}
	mu.Lock()
	docs = []string{`{"version":"2.0","statement":[{"effect":"allow","action":["name/cos:*"],"resource":["*"]}]}`}
	mu.Unlock()
	if err := put(c, "elsewhere/a"); err != nil {
		t.Fatalf("after the policy was widened: %v", err)
	}
	if md.Issued() != 1 {
		t.Fatalf("%d sets issued; the change should apply to the one in hand", md.Issued())
	}
}
