// Package cos keeps backups in a private COS bucket, every object under a prefix (the deployment's)
// and encrypted at rest by COS (SSE-COS) on top of any client-side encryption.
package cos

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/backup"
	"github.com/qcloud-applet/applet/serve/cos"
	sdk "github.com/tencentyun/cos-go-sdk-v5"
)

// Target implements backup.Target on a bucket.
type Target struct {
	client *sdk.Client
	bucket string
	prefix string
}

var _ backup.Target = (*Target)(nil)

// New returns the target in cfg's bucket under prefix ("" or ending in /). It makes no request.
func New(cfg cos.Config, prefix string) (*Target, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute // a part is a few MiB: slow links still finish
	}
	c, err := cos.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Target{client: c, bucket: cfg.Bucket, prefix: prefix}, nil
}

func (t *Target) Describe() string { return "cos://" + t.bucket + "/" + t.prefix }

// Put uploads with server-side encryption asked for; a body that is an io.ReadSeeker (every part
// is) is replayed on retry.
func (t *Target) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	_, err := t.client.Object.Put(ctx, t.prefix+name, r, &sdk.ObjectPutOptions{
		ObjectPutHeaderOptions: &sdk.ObjectPutHeaderOptions{ContentLength: size, ContentType: "application/octet-stream", XCosServerSideEncryption: "AES256"},
	})
	if err != nil {
		return fmt.Errorf("cos: uploading %s: %w", name, err)
	}
	return nil
}

func (t *Target) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := t.client.Object.Get(ctx, t.prefix+name, nil)
	if sdk.IsNotFoundError(err) {
		return nil, backup.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cos: reading %s: %w", name, err)
	}
	return resp.Body, nil
}

func (t *Target) List(ctx context.Context, prefix string) ([]backup.Object, error) {
	var out []backup.Object
	marker := ""
	for {
		res, _, err := t.client.Bucket.Get(ctx, &sdk.BucketGetOptions{Prefix: t.prefix + prefix, Marker: marker, MaxKeys: 1000})
		if err != nil {
			return nil, fmt.Errorf("cos: listing %s: %w", prefix, err)
		}
		for _, o := range res.Contents {
			mod, _ := time.Parse(time.RFC3339, o.LastModified)
			out = append(out, backup.Object{Name: strings.TrimPrefix(o.Key, t.prefix), Size: o.Size, Modified: mod})
		}
		if !res.IsTruncated || len(res.Contents) == 0 {
			return out, nil
		}
		marker = res.NextMarker
		if marker == "" {
			marker = res.Contents[len(res.Contents)-1].Key
		}
	}
}

func (t *Target) Delete(ctx context.Context, name string) error {
	if _, err := t.client.Object.Delete(ctx, t.prefix+name); err != nil && !sdk.IsNotFoundError(err) {
		return fmt.Errorf("cos: deleting %s: %w", name, err)
	}
	return nil
}
