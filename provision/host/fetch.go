package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/provision/tencent"
)

// Fetch says where the secret part of a bundle waits: a private object that only the instance's
// role may read. The command that runs `applet host apply` carries this and nothing secret.
type Fetch struct {
	Bucket, Region, Key string
	SHA256              string // of the object
	// Endpoint dials COS here instead of the bucket's domain (a stand-in); Metadata is the
	// metadata service's base URL ("": the real one).
	Endpoint, Metadata string
}

// FetchBundle downloads the bundle with the instance role's credentials into dst (0600), checks its
// digest, and deletes the object: it is needed once.
func FetchBundle(ctx context.Context, f Fetch, dst string) error {
	if f.Bucket == "" || f.Region == "" || f.Key == "" || f.SHA256 == "" {
		return errors.New("fetching the bundle: bucket, region, key and sha256 are all needed")
	}
	// The bucket client provision uses, signing with the role's credentials.
	b, err := tencent.NewBuckets(tencent.BucketConfig{Source: &rolecred.Provider{Endpoint: f.Metadata},
		Bucket: f.Bucket, Region: f.Region, Endpoint: f.Endpoint, Timeout: 10 * time.Minute})
	if err != nil {
		return fmt.Errorf("fetching the bundle: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	h := sha256.New()
	if err := b.Download(ctx, f.Key, io.MultiWriter(out, h)); err != nil {
		return fmt.Errorf("fetching the bundle %s with the instance role: %w", f.Key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("the bundle %s has digest %s, the command expected %s: not applied", f.Key, got, f.SHA256)
	}
	if err := out.Close(); err != nil {
		return err
	}
	// Gone once read: provision deletes it too, and a lifecycle rule expires any left after a day.
	for attempt := 0; attempt < 3; attempt++ {
		if b.DeleteObject(ctx, f.Key) == nil {
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 300 * time.Millisecond)
	}
	return nil // provision deletes it after the command, and the lifecycle rule after that
}

// ApplyBundle converges the host from a bundle file, or from the secret part that f names (fetched
// with the instance role; the binary is then the one running). A Key of "bucket/key" with no Bucket
// names both.
func ApplyBundle(ctx context.Context, bundle string, f Fetch, o Options) (*Report, error) {
	if f.Bucket == "" {
		f.Bucket, f.Key, _ = strings.Cut(f.Key, "/")
	}
	dir, err := os.MkdirTemp("", "applet-bundle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if f.Key != "" {
		bundle = filepath.Join(dir, "bundle.tar.gz")
		if err := FetchBundle(ctx, f, bundle); err != nil {
			return nil, err
		}
		if o.BinarySource, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	bf, err := os.Open(bundle)
	if err != nil {
		return nil, err
	}
	defer bf.Close()
	m, err := Extract(bf, dir)
	if err != nil {
		return nil, err
	}
	return Apply(ctx, dir, m, o)
}
