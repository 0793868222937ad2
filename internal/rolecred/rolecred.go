// Package rolecred hands out the temporary credentials of the CAM role attached to a CVM instance,
// read from the instance metadata service and refreshed before they expire. Both official SDKs have
// a provider of their own, but they hard-code the metadata host (and the Tencent Cloud one has no
// timeout); this one takes the endpoint from the config, so a host reads the real service and a test
// reads a stand-in, and every read has a deadline.
package rolecred

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultEndpoint is the metadata service as an instance sees it.
const DefaultEndpoint = "http://metadata.tencentyun.com/latest/meta-data/"

// Creds are one set of temporary credentials.
type Creds struct {
	ID, Key, Token string
	Expires        time.Time
}

// Source gives credentials that are valid now.
type Source interface {
	Credentials(ctx context.Context) (Creds, error)
}

// Static is a key that does not change while it is used: a long-lived one, or a temporary one
// given with its token (which then expires when it does).
type Static struct{ ID, Key, Token string }

// Credentials implements Source.
func (s Static) Credentials(context.Context) (Creds, error) {
	return Creds{ID: s.ID, Key: s.Key, Token: s.Token}, nil
}

// Provider reads the instance role's credentials from the metadata service.
type Provider struct {
	// Endpoint is the metadata base URL, ending in "/latest/meta-data/" (default DefaultEndpoint).
	Endpoint string
	// Role is the CAM role's name; empty: the one the metadata service lists.
	Role string
	// Client makes the reads; default a client with a 3s timeout.
	Client *http.Client

	mu      sync.Mutex
	cur     Creds
	fetched time.Time
}

// ErrNoRole means the instance has no CAM role attached.
var ErrNoRole = errors.New("the instance has no CAM role attached: run applet provision (it attaches one), or set cos.secret_id and cos.secret_key")

// Credentials returns the cached credentials, reading new ones once a third of their life (at most
// five minutes) is left, so no request is signed with a key that expires on its way.
func (p *Provider) Credentials(ctx context.Context) (Creds, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.cur.ID != "" && now.Before(p.cur.Expires.Add(-margin(p.fetched, p.cur.Expires))) {
		return p.cur, nil
	}
	c, err := p.fetch(ctx)
	if err != nil {
		if p.cur.ID != "" && now.Before(p.cur.Expires) {
			return p.cur, nil // the old ones still work; the next request tries again
		}
		return Creds{}, err
	}
	p.cur, p.fetched = c, now
	return c, nil
}

func margin(fetched, expires time.Time) time.Duration {
	return min(expires.Sub(fetched)/3, 5*time.Minute)
}

func (p *Provider) endpoint() string {
	e := p.Endpoint
	if e == "" {
		e = DefaultEndpoint
	}
	if !strings.HasSuffix(e, "/") {
		e += "/"
	}
	return e
}

func (p *Provider) get(ctx context.Context, path string) ([]byte, int, error) {
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 3 * time.Second}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.endpoint()+path, nil)
		if err != nil {
			return nil, 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode >= 500 {
			lastErr = fmt.Errorf("the metadata service answered %d", resp.StatusCode)
			continue
		}
		return body, resp.StatusCode, nil
	}
	return nil, 0, fmt.Errorf("reading the instance metadata at %s: %w", p.endpoint(), lastErr)
}

// RoleName is the role the metadata service lists for this instance.
func (p *Provider) RoleName(ctx context.Context) (string, error) {
	if p.Role != "" {
		return p.Role, nil
	}
	body, status, err := p.get(ctx, "cam/security-credentials/")
	if err != nil {
		return "", err
	}
	name, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if status == http.StatusNotFound || name == "" {
		return "", ErrNoRole
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("the metadata service answered %d listing the instance's role", status)
	}
	return strings.TrimSpace(name), nil
}

// metaCreds is the metadata service's answer (the field names the SDKs read).
type metaCreds struct {
	TmpSecretId, TmpSecretKey, Token, Code, Expiration string
	ExpiredTime                                        int64
}

func (p *Provider) fetch(ctx context.Context) (Creds, error) {
	role, err := p.RoleName(ctx)
	if err != nil {
		return Creds{}, err
	}
	body, status, err := p.get(ctx, "cam/security-credentials/"+role)
	if err != nil {
		return Creds{}, err
	}
	if status == http.StatusNotFound {
		return Creds{}, fmt.Errorf("role %s is not attached to this instance: %w", role, ErrNoRole)
	}
	var m metaCreds
	if err := json.Unmarshal(body, &m); err != nil || status != http.StatusOK {
		return Creds{}, fmt.Errorf("the metadata service answered %d with no credentials for role %s", status, role)
	}
	if m.Code != "Success" || m.TmpSecretId == "" || m.TmpSecretKey == "" || m.Token == "" || m.ExpiredTime == 0 {
		return Creds{}, fmt.Errorf("the metadata service gave no usable credentials for role %s (code %q)", role, m.Code)
	}
	return Creds{ID: m.TmpSecretId, Key: m.TmpSecretKey, Token: m.Token, Expires: time.Unix(m.ExpiredTime, 0)}, nil
}

// TencentCloud adapts a Source to the Tencent Cloud SDK's credential interface; GetCredential
// gives one consistent set (the SDK signs with it).
type TencentCloud struct{ Source Source }

// GetCredential implements common.CredentialIface.
func (t TencentCloud) GetCredential() (string, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _ := t.Source.Credentials(ctx)
	return c.ID, c.Key, c.Token
}

// GetSecretId implements common.CredentialIface.
func (t TencentCloud) GetSecretId() string { id, _, _ := t.GetCredential(); return id }

// GetSecretKey implements common.CredentialIface.
func (t TencentCloud) GetSecretKey() string { _, k, _ := t.GetCredential(); return k }

// GetToken implements common.CredentialIface.
func (t TencentCloud) GetToken() string { _, _, tok := t.GetCredential(); return tok }
