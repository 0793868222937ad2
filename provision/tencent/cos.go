package tencent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	sdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/provision"
)

// AllUsers is the grantee COS uses for anonymous access.
const AllUsers = "http://cam.qcloud.com/groups/global/AllUsers"

// BucketConfig configures Buckets.
type BucketConfig struct {
	Credentials Credentials
	// Source, when set, signs instead of Credentials (an instance role's changing credentials).
	Source   rolecred.Source
	Bucket   string // <name>-<appid>
	Region   string
	Endpoint string // host:port to dial instead of the bucket's domain (a stand-in)
	Timeout  time.Duration
	// Private makes CreateBucket create a private bucket (the backups'), not a public-read one.
	Private bool
}

// Buckets is provision.Buckets on COS.
type Buckets struct {
	cfg    BucketConfig
	client *sdk.Client
	url    string
	plain  *http.Client // unsigned requests, as the mini program makes them
	// bucketURL is where requests go (http to a stand-in, https otherwise).
	bucketURL string
}

var (
	_ provision.Buckets = (*Buckets)(nil)
	_ provision.Vault   = (*Buckets)(nil)
)

// NewBuckets returns the bucket's manager; it makes no request.
func NewBuckets(cfg BucketConfig) (*Buckets, error) {
	if cfg.Bucket == "" || cfg.Region == "" {
		return nil, fmt.Errorf("cos: missing bucket or region")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	bu, err := sdk.NewBucketURL(cfg.Bucket, cfg.Region, cfg.Endpoint == "")
	if err != nil {
		return nil, fmt.Errorf("cos: %w", err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Endpoint != "" {
		d := &net.Dialer{Timeout: 5 * time.Second}
		base.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, cfg.Endpoint)
		}
	}
	src := cfg.Source
	if src == nil {
		src = rolecred.Static{ID: cfg.Credentials.SecretID, Key: cfg.Credentials.SecretKey, Token: cfg.Credentials.Token}
	}
	client := sdk.NewClient(&sdk.BaseURL{BucketURL: bu}, &http.Client{Timeout: cfg.Timeout, Transport: rolecred.COSTransport(src, base)})
	client.Conf.RetryOpt.Count = 3
	client.Conf.RetryOpt.Interval = 300 * time.Millisecond
	return &Buckets{cfg: cfg, client: client, url: "https://" + bu.Host, plain: &http.Client{Timeout: cfg.Timeout, Transport: base}, bucketURL: bu.String()}, nil
}

// Name is the bucket's name.
func (b *Buckets) Name() string { return b.cfg.Bucket }

// URL is the bucket's public address.
func (b *Buckets) URL() string { return b.url }

func cosErr(what string, err error) error {
	if e, ok := err.(*sdk.ErrorResponse); ok {
		ae := &APIError{Service: "cos", Action: what, Code: e.Code, Message: e.Message, RequestID: e.RequestID}
		switch {
		case e.Response != nil && e.Response.StatusCode == http.StatusForbidden && e.Code == "SignatureDoesNotMatch":
			ae.Fix = "the SecretKey does not match the SecretId: check the COS or Tencent Cloud credentials"
		case e.Response != nil && e.Response.StatusCode == http.StatusForbidden && e.Code == "":
			// A HEAD answer has no body to say which.
			ae.Code = "AccessDenied"
			ae.Fix = "COS refused the key for " + what + ": check the SecretKey, and that the SecretId may use cos:" + what
		case e.Response != nil && e.Response.StatusCode == http.StatusForbidden:
			ae.Fix = "the SecretId lacks permission cos:" + what + ": grant it in CAM (e.g. the policy QcloudCOSFullAccess)"
		case e.Code == "BucketAlreadyExists":
			ae.Fix = "the bucket name is taken by another account: choose another cos.bucket"
		case e.Code == "TooManyBuckets":
			ae.Fix = "bucket quota reached: delete unused buckets"
		}
		return ae
	}
	return fmt.Errorf("cos %s: %w", what, err)
}

// Bucket reads the bucket's existence, ACL, CORS, tags and whether it holds objects.
func (b *Buckets) Bucket(ctx context.Context) (provision.BucketState, error) {
	var st provision.BucketState
	if _, err := b.client.Bucket.Head(ctx); err != nil {
		if sdk.IsNotFoundError(err) {
			return st, nil
		}
		return st, cosErr("HeadBucket", err)
	}
	st.Exists = true
	acl, _, err := b.client.Bucket.GetACL(ctx)
	if err != nil {
		return st, cosErr("GetBucketACL", err)
	}
	read := false
	for _, g := range acl.AccessControlList {
		if g.Grantee == nil || g.Grantee.URI != AllUsers {
			continue
		}
		read = read || g.Permission == "READ" || g.Permission == "FULL_CONTROL"
		st.PublicWrite = st.PublicWrite || g.Permission == "WRITE" || g.Permission == "FULL_CONTROL"
	}
	st.PublicRead = read && !st.PublicWrite
	cors, _, err := b.client.Bucket.GetCORS(ctx)
	switch {
	case sdk.IsNotFoundError(err):
	case err != nil:
		return st, cosErr("GetBucketCORS", err)
	default:
		st.CORS = corsOK(cors.Rules)
	}
	tags, _, err := b.client.Bucket.GetTagging(ctx)
	switch {
	case sdk.IsNotFoundError(err):
	case err != nil:
		return st, cosErr("GetBucketTagging", err)
	default:
		st.Tags = map[string]string{}
		for _, t := range tags.TagSet {
			st.Tags[t.Key] = t.Value
		}
	}
	media, _, err := b.client.Bucket.Get(ctx, &sdk.BucketGetOptions{Prefix: provision.MediaPrefix, MaxKeys: 1000})
	if err != nil {
		return st, cosErr("GetBucket", err)
	}
	st.Media = map[string]bool{}
	for _, o := range media.Contents {
		st.Media[o.Key] = true
	}
	// Keys come in order: among the first len(media)+1, one is not media when anything else is there.
	list, _, err := b.client.Bucket.Get(ctx, &sdk.BucketGetOptions{MaxKeys: len(st.Media) + 1})
	if err != nil {
		return st, cosErr("GetBucket", err)
	}
	for _, o := range list.Contents {
		st.HasObjects = st.HasObjects || !strings.HasPrefix(o.Key, provision.MediaPrefix)
	}
	if st.BundleExpiry, err = b.BundleExpiry(ctx); err != nil {
		return st, err
	}
	return st, nil
}

func corsRule() sdk.BucketCORSRule {
	return sdk.BucketCORSRule{ID: "applet", AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "HEAD", "PUT", "POST"},
		AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag", "Content-Length"}, MaxAgeSeconds: 600}
}

func corsOK(rules []sdk.BucketCORSRule) bool {
	for _, r := range rules {
		o, m := false, map[string]bool{}
		for _, x := range r.AllowedOrigins {
			o = o || x == "*"
		}
		for _, x := range r.AllowedMethods {
			m[x] = true
		}
		if o && m["GET"] && m["HEAD"] {
			return true
		}
	}
	return false
}

// CreateBucket makes the bucket public-read (anyone may read, only the account writes), tagged in
// the creating request: never a moment untagged. A 409 is checked before another account is blamed:
// a create whose answer was lost (the SDK's retry then meets the bucket it made) is found by reading
// the bucket with our key and its tags.
func (b *Buckets) CreateBucket(ctx context.Context, tags map[string]string) error {
	vals := url.Values{}
	for k, v := range tags {
		vals.Set(k, v)
	}
	acl := "public-read"
	if b.cfg.Private {
		acl = "private"
	}
	_, err := b.client.Bucket.Put(ctx, &sdk.BucketPutOptions{XCosACL: acl, XCosTagging: vals.Encode()})
	if err == nil {
		return nil
	}
	if e, ok := err.(*sdk.ErrorResponse); ok && (e.Code == "BucketAlreadyExists" || e.Code == "BucketAlreadyOwnedByYou") {
		if _, herr := b.client.Bucket.Head(ctx); herr == nil {
			got, _, terr := b.client.Bucket.GetTagging(ctx)
			mine := terr != nil && sdk.IsNotFoundError(terr) // ours, made a moment ago, tags not yet readable
			if terr == nil {
				mine = true
				for _, t := range got.TagSet {
					if want, ok := tags[t.Key]; ok && want != t.Value {
						mine = false
					}
				}
			}
			if mine {
				return nil
			}
		}
	}
	return cosErr("PutBucket", err)
}

// SetPublicRead sets the canned ACL public-read.
func (b *Buckets) SetPublicRead(ctx context.Context) error {
	if _, err := b.client.Bucket.PutACL(ctx, &sdk.BucketPutACLOptions{Header: &sdk.ACLHeaderOptions{XCosACL: "public-read"}}); err != nil {
		return cosErr("PutBucketACL", err)
	}
	return nil
}

// SetPrivate sets the canned ACL private.
func (b *Buckets) SetPrivate(ctx context.Context) error {
	if _, err := b.client.Bucket.PutACL(ctx, &sdk.BucketPutACLOptions{Header: &sdk.ACLHeaderOptions{XCosACL: "private"}}); err != nil {
		return cosErr("PutBucketACL", err)
	}
	return nil
}

// SetCORS lets the mini program (and browsers during development) read images.
func (b *Buckets) SetCORS(ctx context.Context) error {
	if _, err := b.client.Bucket.PutCORS(ctx, &sdk.BucketPutCORSOptions{Rules: []sdk.BucketCORSRule{corsRule()}}); err != nil {
		return cosErr("PutBucketCORS", err)
	}
	return nil
}

// SetTags replaces the bucket's tags.
func (b *Buckets) SetTags(ctx context.Context, tags map[string]string) error {
	opt := &sdk.BucketPutTaggingOptions{}
	for _, k := range sortedKeys(tags) {
		opt.TagSet = append(opt.TagSet, sdk.BucketTaggingTag{Key: k, Value: tags[k]})
	}
	if _, err := b.client.Bucket.PutTagging(ctx, opt); err != nil {
		return cosErr("PutBucketTagging", err)
	}
	return nil
}

// Empty deletes every object, a page at a time.
func (b *Buckets) Empty(ctx context.Context) error {
	for {
		list, _, err := b.client.Bucket.Get(ctx, &sdk.BucketGetOptions{MaxKeys: 1000})
		if err != nil {
			return cosErr("GetBucket", err)
		}
		if len(list.Contents) == 0 {
			return nil
		}
		for _, o := range list.Contents {
			if _, err := b.client.Object.Delete(ctx, o.Key); err != nil {
				return cosErr("DeleteObject", err)
			}
		}
	}
}

// DeleteBucket deletes the (empty) bucket; one already gone is not an error.
func (b *Buckets) DeleteBucket(ctx context.Context) error {
	if _, err := b.client.Bucket.Delete(ctx); err != nil {
		if sdk.IsNotFoundError(err) {
			return nil
		}
		return cosErr("DeleteBucket", err)
	}
	return nil
}

// PutPrivate uploads a local file as a private object (readable only with a signature), even in a
// public-read bucket.
func (b *Buckets) PutPrivate(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	// A SectionReader can seek back, so the SDK's retry can replay it.
	body := io.NewSectionReader(f, 0, st.Size())
	_, err = b.client.Object.Put(ctx, key, body, &sdk.ObjectPutOptions{
		ACLHeaderOptions:       &sdk.ACLHeaderOptions{XCosACL: "private"},
		ObjectPutHeaderOptions: &sdk.ObjectPutHeaderOptions{ContentType: "application/gzip", ContentLength: st.Size()},
	})
	if err != nil {
		return cosErr("PutObject", err)
	}
	return nil
}

// PresignGet returns a URL that reads the object until ttl passes.
func (b *Buckets) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	// GetPresignedURL2 signs with the client's credentials and carries a temporary key's token,
	// without which COS refuses the instance's download.
	u, err := b.client.Object.GetPresignedURL2(ctx, http.MethodGet, key, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("cos: presigning %s: %w", key, err)
	}
	return u.String(), nil
}

// DeleteObject removes an object; a missing one is not an error.
func (b *Buckets) DeleteObject(ctx context.Context, key string) error {
	if _, err := b.client.Object.Delete(ctx, key); err != nil && !sdk.IsNotFoundError(err) {
		return cosErr("DeleteObject", err)
	}
	return nil
}

// Endpoint is the address requests are dialled to instead of the bucket's domain ("" for the real one).
func (b *Buckets) Endpoint() string { return b.cfg.Endpoint }

// PutObject writes a small object with the bucket's ACL.
func (b *Buckets) PutObject(ctx context.Context, key string, data []byte) error {
	if _, err := b.client.Object.Put(ctx, key, bytes.NewReader(data), nil); err != nil {
		return cosErr("PutObject", err)
	}
	return nil
}

// PutMedia writes a sample media file, readable by anyone like the bucket, with its type and a long
// cache life (the files never change under a name).
func (b *Buckets) PutMedia(ctx context.Context, m provision.MediaObject) error {
	opt := &sdk.ObjectPutOptions{ObjectPutHeaderOptions: &sdk.ObjectPutHeaderOptions{ContentType: m.ContentType, CacheControl: "public, max-age=31536000"}}
	if _, err := b.client.Object.Put(ctx, m.Key, bytes.NewReader(m.Data), opt); err != nil {
		return cosErr("PutObject", err)
	}
	return nil
}

// GetAnonymous reads an object without a signature, as the mini program does: its status and body.
func (b *Buckets) GetAnonymous(ctx context.Context, key string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.bucketURL+"/"+key, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := b.plain.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// BundleRuleID names the lifecycle rule that expires host bundles a killed run left behind.
const BundleRuleID = "applet-host-bundles"

// BundleRulePrefix is what the rule expires: every deployment's bundles.
const BundleRulePrefix = "applet-deploy/"

func (b *Buckets) lifecycle(ctx context.Context) ([]sdk.BucketLifecycleRule, error) {
	res, _, err := b.client.Bucket.GetLifecycle(ctx)
	if sdk.IsNotFoundError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, cosErr("GetBucketLifecycle", err)
	}
	return res.Rules, nil
}

func bundleRule(r sdk.BucketLifecycleRule) bool {
	return r.ID == BundleRuleID && r.Status == "Enabled" && r.Filter != nil && r.Filter.Prefix == BundleRulePrefix &&
		r.Expiration != nil && r.Expiration.Days == 1
}

// BundleExpiry reports whether the bucket expires host bundles after a day.
func (b *Buckets) BundleExpiry(ctx context.Context) (bool, error) {
	rules, err := b.lifecycle(ctx)
	for _, r := range rules {
		if bundleRule(r) {
			return true, err
		}
	}
	return false, err
}

// SetBundleExpiry adds (or fixes) the rule, keeping the bucket's other rules: a PUT replaces them all.
func (b *Buckets) SetBundleExpiry(ctx context.Context) error {
	rules, err := b.lifecycle(ctx)
	if err != nil {
		return err
	}
	keep := []sdk.BucketLifecycleRule{{ID: BundleRuleID, Status: "Enabled", Filter: &sdk.BucketLifecycleFilter{Prefix: BundleRulePrefix},
		Expiration: &sdk.BucketLifecycleExpiration{Days: 1}}}
	for _, r := range rules {
		if r.ID != BundleRuleID {
			keep = append(keep, r)
		}
	}
	if _, err := b.client.Bucket.PutLifecycle(ctx, &sdk.BucketPutLifecycleOptions{Rules: keep}); err != nil {
		return cosErr("PutBucketLifecycle", err)
	}
	return nil
}

// RemoveBundleExpiry takes the rule away and leaves the bucket's other rules.
func (b *Buckets) RemoveBundleExpiry(ctx context.Context) error {
	rules, err := b.lifecycle(ctx)
	if err != nil {
		return err
	}
	var keep []sdk.BucketLifecycleRule
	for _, r := range rules {
		if r.ID != BundleRuleID {
			keep = append(keep, r)
		}
	}
	if len(keep) == len(rules) {
		return nil
	}
	if len(keep) == 0 {
		if _, err := b.client.Bucket.DeleteLifecycle(ctx); err != nil && !sdk.IsNotFoundError(err) {
			return cosErr("DeleteBucketLifecycle", err)
		}
		return nil
	}
	if _, err := b.client.Bucket.PutLifecycle(ctx, &sdk.BucketPutLifecycleOptions{Rules: keep}); err != nil {
		return cosErr("PutBucketLifecycle", err)
	}
	return nil
}

// List returns the keys under prefix, following pages.
func (b *Buckets) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	marker := ""
	for {
		res, _, err := b.client.Bucket.Get(ctx, &sdk.BucketGetOptions{Prefix: prefix, Marker: marker, MaxKeys: 1000})
		if err != nil {
			return nil, cosErr("GetBucket", err)
		}
		for _, o := range res.Contents {
			keys = append(keys, o.Key)
		}
		if !res.IsTruncated || len(res.Contents) == 0 {
			return keys, nil
		}
		marker = res.NextMarker
		if marker == "" {
			marker = res.Contents[len(res.Contents)-1].Key
		}
	}
}

// Region is the bucket's region.
func (b *Buckets) Region() string { return b.cfg.Region }

// Download writes an object (signed, private ones too) to w.
func (b *Buckets) Download(ctx context.Context, key string, w io.Writer) error {
	resp, err := b.client.Object.Get(ctx, key, nil)
	if err != nil {
		return cosErr("GetObject", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("cos GetObject: %w", err)
	}
	return nil
}
