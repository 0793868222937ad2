package tencent_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/provision/tencent"
)

func buckets(t *testing.T, cs *cosfake.Server, creds tencent.Credentials, name string) *tencent.Buckets {
	b, err := tencent.NewBuckets(tencent.BucketConfig{Credentials: creds, Bucket: name, Region: "ap-guangzhou", Endpoint: cs.Addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A bucket is never untagged, a create whose answer was lost is found, and a name another account
// holds is said to be so.
func TestBucketsAreTaggedFromTheStart(t *testing.T) {
	cs, err := cosfake.New(faultID, faultKey)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	creds := tencent.Credentials{SecretID: faultID, SecretKey: faultKey}
	ctx := context.Background()

	if err := buckets(t, cs, creds, "album-1250000000").CreateBucket(ctx, tags); err != nil {
		t.Fatal(err)
	}
	if ok, acl, _, tagged := cs.Bucket("album-1250000000"); !ok || acl != "public-read" || !tagged {
		t.Fatalf("created: exists %v, acl %s, tagged %v", ok, acl, tagged)
	}

	cs.LoseAnswerNext(1) // made, and the answer never came: the SDK's retry meets a 409
	if err := buckets(t, cs, creds, "album-1250000001").CreateBucket(ctx, tags); err != nil {
		t.Fatalf("a create whose answer was lost: %v", err)
	}
	if ok, _, _, tagged := cs.Bucket("album-1250000001"); !ok || !tagged {
		t.Fatal("the bucket whose answer was lost is not there, tagged")
	}

	cs.AddForeignBucket("album-1250000002")
	err = buckets(t, cs, creds, "album-1250000002").CreateBucket(ctx, tags)
	if err == nil || !strings.Contains(tencent.Hint(err), "taken by another account") {
		t.Fatalf("another account's bucket: %v (hint %q)", err, tencent.Hint(err))
	}
}

// With a temporary key the presigned URL carries its token; without it COS refuses the download.
func TestPresignedURLsOfTemporaryKeys(t *testing.T) {
	cs, err := cosfake.New(faultID, faultKey)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	cs.CreateBucket("album-1250000000", "public-read")
	cs.AddTemporaryKey("AKIDtemporary0000000000000000000001", "temporary-secret", "the-session-token", time.Now().Add(time.Hour))
	b := buckets(t, cs, tencent.Credentials{SecretID: "AKIDtemporary0000000000000000000001", SecretKey: "temporary-secret", Token: "the-session-token"}, "album-1250000000")
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "bundle")
	os.WriteFile(file, []byte("bundle"), 0o600)
	if err := b.PutPrivate(ctx, "applet-deploy/x.tar.gz", file); err != nil {
		t.Fatal(err)
	}
	link, err := b.PresignGet(ctx, "applet-deploy/x.tar.gz", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link, "x-cos-security-token=the-session-token") {
		t.Fatalf("the presigned URL lacks the token: %s", link)
	}
	// The instance downloads it with no key of its own: the path and query of the presigned URL.
	_, pathAndQuery, _ := strings.Cut(link, ".myqcloud.com/")
	code, body, err := b.GetAnonymous(ctx, pathAndQuery)
	if err != nil || code != http.StatusOK || string(body) != "bundle" {
		t.Fatalf("download through the presigned URL: %d %q %v", code, body, err)
	}
}
