// Package tencent implements provision's Compute, Firewall and DNS on Tencent Cloud (CVM, VPC, DNSPod)
// through the official SDK, and Buckets on COS. Every call has a timeout; throttling and transient
// errors are retried with capped exponential backoff and jitter; quota and permission errors fail at
// once and say what to do. Credentials are never printed or logged.
package tencent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"
	dnspod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/dnspod/v20210323"
	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"
)

// Environment variables, as the Tencent Cloud tools name them.
const (
	EnvSecretID     = "TENCENTCLOUD_SECRET_ID"
	EnvSecretKey    = "TENCENTCLOUD_SECRET_KEY"
	EnvSessionToken = "TENCENTCLOUD_SESSION_TOKEN"
)

// Credentials are a key pair (and a token for temporary keys).
type Credentials struct {
	SecretID, SecretKey, Token string
	Source                     string // where they came from, for messages
}

// String never shows the key.
func (c Credentials) String() string {
	id := c.SecretID
	if len(id) > 8 {
		id = id[:4] + "…" + id[len(id)-4:]
	}
	return "SecretId " + id + " (from " + c.Source + ")"
}

// LoadCredentials looks in the environment, then in ~/.tencentcloud/credentials, then at fromConfig.
// It never asks the CVM metadata server (that call has no timeout off Tencent Cloud).
func LoadCredentials(getenv func(string) string, home string, fromConfig Credentials) (Credentials, error) {
	if id, key := getenv(EnvSecretID), getenv(EnvSecretKey); id != "" || key != "" {
		if id == "" || key == "" {
			return Credentials{}, fmt.Errorf("tencentcloud: only one of %s and %s is set: set both", EnvSecretID, EnvSecretKey)
		}
		return Credentials{SecretID: id, SecretKey: key, Token: getenv(EnvSessionToken), Source: "the environment"}, nil
	}
	if home != "" {
		path := filepath.Join(home, ".tencentcloud", "credentials")
		if c, err := readCredentialsFile(path); err == nil {
			return c, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return Credentials{}, err
		}
	}
	if fromConfig.SecretID != "" && fromConfig.SecretKey != "" {
		if fromConfig.Source == "" {
			fromConfig.Source = "the config file"
		}
		return fromConfig, nil
	}
	return Credentials{}, fmt.Errorf("tencentcloud: no credentials: set %s and %s, or write ~/.tencentcloud/credentials, or set tencentcloud.secret_id and tencentcloud.secret_key", EnvSecretID, EnvSecretKey)
}

// readCredentialsFile reads the [default] section of the CLI's INI file.
func readCredentialsFile(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, err
	}
	defer f.Close()
	c := Credentials{Source: path}
	section := "default"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section != "default" {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "secret_id":
			c.SecretID = strings.TrimSpace(v)
		case "secret_key":
			c.SecretKey = strings.TrimSpace(v)
		case "token":
			c.Token = strings.TrimSpace(v)
		}
	}
	if c.SecretID == "" || c.SecretKey == "" {
		return Credentials{}, fmt.Errorf("tencentcloud: %s has no secret_id and secret_key under [default]", path)
	}
	return c, nil
}

// Config configures a Client.
type Config struct {
	Credentials Credentials
	Region      string
	// Endpoint sends every product's calls to one address, e.g. http://127.0.0.1:8080 for a stand-in
	// (empty: the public <product>.tencentcloudapi.com).
	Endpoint    string
	CallTimeout time.Duration // bound on one attempt
	MaxAttempts int           // attempts for a retryable error, in all
	BaseDelay   time.Duration // first backoff
	MaxDelay    time.Duration // backoff cap
}

// NewDefaultConfig returns the defaults for a region.
func NewDefaultConfig(region string) Config {
	return Config{Region: region, CallTimeout: 15 * time.Second, MaxAttempts: 6, BaseDelay: 250 * time.Millisecond, MaxDelay: 5 * time.Second}
}

// Client calls CVM, VPC, DNSPod and TAT.
type Client struct {
	cfg    Config
	cvm    *cvm.Client
	vpc    *vpc.Client
	dnspod *dnspod.Client
	cam    *cam.Client
	common *common.Client // TAT
	clb    *common.Client // CLB and SSL have no typed module here: their types are in clb.go
	ssl    *common.Client
	// The managed databases have no typed module here either: their types are in databases.go.
	cdb, redis, mongodb *common.Client

	calls, retries atomic.Int64
}

// New checks the config and builds the SDK clients (no call is made).
func New(cfg Config) (*Client, error) {
	var missing []string
	if cfg.Credentials.SecretID == "" {
		missing = append(missing, "SecretId")
	}
	if cfg.Credentials.SecretKey == "" {
		missing = append(missing, "SecretKey")
	}
	if cfg.Region == "" {
		missing = append(missing, "region")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("tencentcloud: missing %s", strings.Join(missing, ", "))
	}
	d := NewDefaultConfig(cfg.Region)
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = d.CallTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = d.MaxAttempts
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = d.BaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = d.MaxDelay
	}
	prof := func(product string) (*profile.ClientProfile, error) {
		p := profile.NewClientProfile()
		p.Debug = false // the SDK's debug log prints the Authorization header
		p.DisableRegionBreaker = true
		p.HttpProfile.ReqTimeout = int(cfg.CallTimeout/time.Second) + 1
		if cfg.Endpoint != "" {
			u, err := url.Parse(cfg.Endpoint)
			if err != nil || u.Host == "" {
				u = &url.URL{Scheme: "https", Host: cfg.Endpoint}
			}
			p.HttpProfile.Endpoint = u.Host
			p.HttpProfile.Scheme = strings.ToUpper(u.Scheme)
		} else {
			p.HttpProfile.Endpoint = product + ".tencentcloudapi.com"
		}
		return p, nil
	}
	cr := common.NewTokenCredential(cfg.Credentials.SecretID, cfg.Credentials.SecretKey, cfg.Credentials.Token)
	c := &Client{cfg: cfg}
	var err error
	p, _ := prof("cvm")
	if c.cvm, err = cvm.NewClient(cr, cfg.Region, p); err != nil {
		return nil, fmt.Errorf("tencentcloud: %w", err)
	}
	p, _ = prof("vpc")
	if c.vpc, err = vpc.NewClient(cr, cfg.Region, p); err != nil {
		return nil, fmt.Errorf("tencentcloud: %w", err)
	}
	p, _ = prof("dnspod")
	if c.dnspod, err = dnspod.NewClient(cr, "", p); err != nil { // DNSPod has no region
		return nil, fmt.Errorf("tencentcloud: %w", err)
	}
	p, _ = prof("cam")
	if c.cam, err = cam.NewClient(cr, "", p); err != nil { // CAM is global
		return nil, fmt.Errorf("tencentcloud: %w", err)
	}
	// Each product has its own endpoint: one common client per product.
	p, _ = prof("tat")
	c.common = common.NewCommonClient(cr, cfg.Region, p)
	p, _ = prof("clb")
	c.clb = common.NewCommonClient(cr, cfg.Region, p)
	p, _ = prof("ssl")
	c.ssl = common.NewCommonClient(cr, cfg.Region, p)
	p, _ = prof("cdb")
	c.cdb = common.NewCommonClient(cr, cfg.Region, p)
	p, _ = prof("redis")
	c.redis = common.NewCommonClient(cr, cfg.Region, p)
	p, _ = prof("mongodb")
	c.mongodb = common.NewCommonClient(cr, cfg.Region, p)
	return c, nil
}

// Calls returns how many API calls (attempts) were made, and how many of them were retries.
func (c *Client) Calls() (calls, retries int64) { return c.calls.Load(), c.retries.Load() }

// APIError is an error answered by the API, or a call that could not be made, with what to do.
type APIError struct {
	Service, Action string
	Code, Message   string
	RequestID       string
	Fix             string
}

func (e *APIError) Error() string {
	s := e.Service + " " + e.Action + ": " + e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Hint is the one thing to do about the error.
func (e *APIError) Hint() string { return e.Fix }

// op describes a call for the retry policy.
type op struct {
	service, action string
	write           bool
	idempotent      bool   // a write that is safe to replay (ClientToken, or a delete)
	where           string // zone or domain, for messages
}

// retryable says whether code is worth another attempt (cloud.md's list).
func retryable(code string, o op) bool {
	for _, p := range []string{"RequestLimitExceeded", "ResourceBusy", "ResourceUnavailable"} {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	switch {
	case code == "ResourceUnavailable.AgentStatusNotOnline":
		return false // RunCommand waits for the agent itself, for longer than a backoff
	case code == "FailedOperation.ResourceInOperating":
		return false // a load balancer busy with a task: clbWrite waits for it, for longer than a backoff
	case strings.HasPrefix(code, "ResourceInUse"), code == "FailedOperation.FrequencyLimit":
		return true
	case ambiguous(code):
		// The request may have been carried out: replay only what is safe to replay; a write that
		// is not is reconciled by reading (see Firewall.CreateGroup).
		return !o.write || o.idempotent
	case strings.HasPrefix(code, "InternalError"):
		return !o.write
	}
	return false
}

// ambiguous says whether an answer leaves open if the request was carried out: the connection or
// the gateway failed (an HTML error page, a body cut mid-read, a body that is not JSON), or no
// answer came in time.
func ambiguous(code string) bool {
	switch code {
	case "ClientError.NetworkError", "ClientError.HttpStatusCodeError", "ClientError.ParseJsonError", "ClientError.IOError", "Timeout":
		return true
	}
	return false
}

// Ambiguous says whether err leaves open if the call was carried out.
func Ambiguous(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ambiguous(ae.Code)
}

// do runs call with a timeout per attempt, retrying what may succeed later.
func (c *Client) do(ctx context.Context, o op, call func(ctx context.Context) error) error {
	delay := c.cfg.BaseDelay
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		c.calls.Add(1)
		err := call(actx)
		timedOut := actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ae := c.classify(o, err, timedOut)
		if !retryable(ae.Code, o) || attempt >= c.cfg.MaxAttempts {
			if retryable(ae.Code, o) {
				ae.Fix = fmt.Sprintf("gave up after %d attempts; run again later", attempt)
			}
			return ae
		}
		c.retries.Add(1)
		// Full jitter keeps several clients from retrying in step.
		sleep := time.Duration(rand.Int64N(int64(delay))) + delay/2
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sleep):
		}
		delay = min(delay*2, c.cfg.MaxDelay)
	}
}

func (c *Client) classify(o op, err error, timedOut bool) *APIError {
	ae := &APIError{Service: o.service, Action: o.action}
	var se *sdkerrors.TencentCloudSDKError
	switch {
	case timedOut:
		ae.Code, ae.Message = "Timeout", fmt.Sprintf("no answer within %s", c.cfg.CallTimeout)
	case errors.As(err, &se):
		ae.Code, ae.Message, ae.RequestID = se.Code, se.Message, se.RequestId
		if cause := se.Unwrap(); cause != nil {
			ae.Message += ": " + cause.Error()
		}
	default:
		ae.Code, ae.Message = "ClientError.NetworkError", err.Error()
	}
	code := ae.Code
	switch {
	case code == "AuthFailure.SecretIdNotFound":
		ae.Fix = "the SecretId is unknown to Tencent Cloud: check tencentcloud.secret_id or " + EnvSecretID
	case code == "AuthFailure.SignatureFailure":
		ae.Fix = "the SecretKey does not match the SecretId: check tencentcloud.secret_key or " + EnvSecretKey
	case code == "AuthFailure.SignatureExpire":
		ae.Fix = "this machine's clock is more than 5 minutes off: synchronise it (e.g. timedatectl set-ntp true)"
	case code == "AuthFailure.TokenFailure", code == "AuthFailure.InvalidAuthorization":
		ae.Fix = "the credentials were refused: check the SecretId, SecretKey and " + EnvSessionToken
	case code == "AuthFailure.CamRoleNameAuthenticateFailed":
		ae.Fix = "CVM cannot give the instance its role: the key needs cam:PassRole on it, and the role must trust cvm.qcloud.com (see the README's provision section)"
	case o.service == "cam" && (strings.HasPrefix(code, "AuthFailure.UnauthorizedOperation") || strings.HasPrefix(code, "UnauthorizedOperation")):
		ae.Fix = fmt.Sprintf("the SecretId may not call cam:%s: grant the CAM actions in the README's provision section, or have an administrator make the role and set provision.instance_role to it", o.action)
	case strings.HasPrefix(code, "AuthFailure.UnauthorizedOperation"), strings.HasPrefix(code, "UnauthorizedOperation"):
		ae.Fix = fmt.Sprintf("the SecretId lacks permission %s:%s: grant it in CAM (e.g. the policy Qcloud%sFullAccess)", o.service, o.action, strings.ToUpper(o.service))
	case strings.HasPrefix(code, "LimitExceeded"):
		what := "quota"
		if o.action == "RunInstances" {
			what = "instance quota"
		}
		ae.Fix = fmt.Sprintf("%s reached in %s: release unused resources or ask for a higher quota in the console", what, o.where)
	case code == "UnsupportedRegion", strings.HasPrefix(code, "InvalidZone"):
		ae.Fix = "set tencentcloud.region and tencentcloud.zone to a region and one of its zones, e.g. ap-guangzhou and ap-guangzhou-3"
	case code == "InvalidParameterValue.DomainNotExists":
		ae.Fix = fmt.Sprintf("add the domain %s to DNSPod in this account, or set provision.dns_zone to the domain DNSPod holds", o.where)
	case code == "InvalidParameterValue.InstanceTypeNotFound":
		ae.Fix = "set provision.instance_type to a type sold in " + o.where + ", e.g. S5.MEDIUM2"
	case strings.HasPrefix(code, "InvalidImageId"):
		ae.Fix = "set provision.image_id to a public image of the region, e.g. an Ubuntu 22.04 image"
	case strings.HasPrefix(code, "ResourceInsufficient"):
		ae.Fix = "the instance type is sold out in " + o.where + ": pick another zone or type"
	}
	return ae
}
