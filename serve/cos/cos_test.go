package cos_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/cos"
	"github.com/qcloud-applet/applet/serve/storetest"
)

const (
	bucket = "album-1250000000"
	region = "ap-guangzhou"
	id     = "AKIDtestcos"
	secret = "cos-secret-key"
)

func standIn(t *testing.T) *cosfake.Server {
	t.Helper()
	srv, err := cosfake.New(id, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.CreateBucket(bucket, "public-read")
	return srv
}

func newStorage(t *testing.T, srv *cosfake.Server, key string) *cos.Storage {
	t.Helper()
	s, err := cos.New(cos.Config{Bucket: bucket, Region: region, SecretID: id, SecretKey: key, Endpoint: srv.Addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// download fetches a public URL anonymously, dialling the stand-in as a resolver would.
func download(t *testing.T, srv *cosfake.Server, u string) (int, []byte, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Addr)
	}}}
	resp, err := c.Get(strings.Replace(u, "https://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Content-Type")
}

func TestCOSStorage(t *testing.T) {
	storetest.RunAlbumStorage(t, func(t *testing.T) storetest.AlbumFixture {
		srv := standIn(t)
		return storetest.AlbumFixture{
			Storage:  newStorage(t, srv, secret),
			SpoolDir: t.TempDir(),
			Fetch:    func(t *testing.T, u string) (int, []byte, string) { return download(t, srv, u) },
		}
	})
}

func spoolOf(t *testing.T, data string) album.Spool {
	f, err := os.CreateTemp(t.TempDir(), "spool")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	f.WriteString(data)
	f.Seek(0, 0)
	return album.Spool{File: f, Size: int64(len(data)), ContentType: "image/jpeg"}
}

func TestWrongSecretIsRejected(t *testing.T) {
	srv := standIn(t)
	s := newStorage(t, srv, "not-the-secret")
	err := s.Put(context.Background(), album.NewKey("photos/", "jpg", time.Now()), spoolOf(t, "\xff\xd8\xffdata"))
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("Put with a wrong secret: %v", err)
	}
	if len(srv.Objects(bucket)) != 0 {
		t.Fatal("an unsigned upload was stored")
	}
	if err := s.Ready(context.Background()); err == nil {
		t.Fatal("Ready with a wrong secret should fail")
	}
}

func TestPutRetriesAndReplaysTheBody(t *testing.T) {
	srv := standIn(t)
	s := newStorage(t, srv, secret)
	srv.FailNext(2, 500)
	before := srv.Requests()
	key := album.NewKey("photos/", "jpg", time.Now())
	if err := s.Put(context.Background(), key, spoolOf(t, "\xff\xd8\xff full body")); err != nil {
		t.Fatalf("500 twice then 200 should succeed: %v", err)
	}
	if n := srv.Requests() - before; n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	status, body, _ := download(t, srv, s.URL(key))
	if status != 200 || string(body) != "\xff\xd8\xff full body" {
		t.Fatalf("replayed body: %d %q", status, body)
	}
}

func TestPutFailsCleanlyWhenCOSIsDown(t *testing.T) {
	srv := standIn(t)
	s := newStorage(t, srv, secret)
	srv.FailAll(503)
	key := album.NewKey("photos/", "jpg", time.Now())
	if err := s.Put(context.Background(), key, spoolOf(t, "\xff\xd8\xffx")); err == nil {
		t.Fatal("Put succeeded while COS answered 503")
	}
	srv.Heal()
	if len(srv.Objects(bucket)) != 0 {
		t.Fatal("object stored")
	}
	srv.DropNext(3)
	if err := s.Put(context.Background(), key, spoolOf(t, "\xff\xd8\xffx")); err == nil {
		t.Fatal("Put succeeded while every connection was dropped")
	}
	srv.DelayNext(1, 200*time.Millisecond)
	if err := s.Put(context.Background(), key, spoolOf(t, "\xff\xd8\xffx")); err != nil {
		t.Fatalf("a slow answer within the timeout: %v", err)
	}
}

func TestReadyNamesAMissingBucket(t *testing.T) {
	srv, err := cosfake.New(id, secret)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = newStorage(t, srv, secret).Ready(context.Background())
	if err == nil || !strings.Contains(err.Error(), "bucket album-1250000000 does not exist") {
		t.Fatalf("Ready = %v", err)
	}
}

func TestConfigNamesWhatIsMissing(t *testing.T) {
	_, err := cos.New(cos.Config{Bucket: bucket})
	if err == nil || err.Error() != "cos: missing cos.region, cos.secret_id, cos.secret_key" {
		t.Fatalf("err = %v", err)
	}
}

func TestPrivateObjectsNeedASignature(t *testing.T) {
	srv := standIn(t)
	srv.CreateBucket("private-1250000000", "private")
	s, _ := cos.New(cos.Config{Bucket: "private-1250000000", Region: region, SecretID: id, SecretKey: secret, Endpoint: srv.Addr})
	key := album.NewKey("photos/", "jpg", time.Now())
	if err := s.Put(context.Background(), key, spoolOf(t, "\xff\xd8\xffx")); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := download(t, srv, s.URL(key)); status != 403 {
		t.Fatalf("anonymous GET of a private object = %d", status)
	}
}
