// Package acme obtains and renews the deployment's certificate with lego. The first certificate is
// issued from the operator's machine over DNS-01, through provision.DNS (the project's own DNSPod
// client), so it does not wait for the A record to propagate; renewals happen on the host over HTTP-01
// through nginx's webroot, with no cloud credentials there. A certificate that is valid for the names
// and not due is kept: never a second issuance while the current one is good.
package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/lego"
	legolog "github.com/go-acme/lego/v4/log"
	"github.com/go-acme/lego/v4/providers/http/webroot"
	"github.com/go-acme/lego/v4/registration"

	"github.com/qcloud-applet/applet/internal/atomicfile"
	"github.com/qcloud-applet/applet/provision"
)

// LetsEncrypt is the default directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// RenewBefore is how long before expiry a certificate is renewed.
const RenewBefore = 30 * 24 * time.Hour

// Files in a certificate directory.
const (
	AccountKeyFile = "account.key"  // 0600
	AccountFile    = "account.json" // the registration
	CertFile       = "fullchain.pem"
	KeyFile        = "privkey.pem" // 0600
)

var quietOnce sync.Once

// Config configures a Client.
type Config struct {
	Directory  string       // ACME directory URL (default LetsEncrypt)
	Email      string       // account contact (may be empty)
	HTTPClient *http.Client // for the ACME server (tests trust a local CA)
	Dir        string       // where the account and certificate live
	// Resolvers are the DNS servers lego checks DNS-01 propagation with (host:port); empty: the system's.
	Resolvers   []string
	RenewBefore time.Duration
}

// Client holds an account and a certificate directory.
type Client struct {
	cfg Config
}

// New checks the config.
func New(cfg Config) (*Client, error) {
	if cfg.Dir == "" {
		return nil, errors.New("acme: missing Dir")
	}
	if cfg.Directory == "" {
		cfg.Directory = LetsEncrypt
	}
	if cfg.RenewBefore <= 0 {
		cfg.RenewBefore = RenewBefore
	}
	quietOnce.Do(func() { legolog.Logger = log.New(io.Discard, "", 0) }) // lego logs to stderr otherwise
	return &Client{cfg: cfg}, nil
}

// Cert is a certificate on disk.
type Cert struct {
	Names    []string
	NotAfter time.Time
	Serial   string
}

// Current reads the certificate in Dir; fs.ErrNotExist when there is none.
func (c *Client) Current() (*Cert, error) { return ReadCert(filepath.Join(c.cfg.Dir, CertFile)) }

// ReadCert reads a PEM certificate chain's leaf.
func ReadCert(path string) (*Cert, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("acme: %s holds no PEM certificate", path)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("acme: %s: %w", path, err)
	}
	return &Cert{Names: leaf.DNSNames, NotAfter: leaf.NotAfter, Serial: leaf.SerialNumber.Text(16)}, nil
}

// Due reports whether cert must be replaced for names at now: missing, not covering them, or within
// renewBefore of expiry.
func Due(cert *Cert, names []string, now time.Time, renewBefore time.Duration) bool {
	if cert == nil {
		return true
	}
	for _, n := range names {
		if !slices.Contains(cert.Names, n) {
			return true
		}
	}
	return cert.NotAfter.Sub(now) < renewBefore
}

type user struct {
	email string
	key   crypto.PrivateKey
	reg   *registration.Resource
}

func (u *user) GetEmail() string                        { return u.email }
func (u *user) GetRegistration() *registration.Resource { return u.reg }
func (u *user) GetPrivateKey() crypto.PrivateKey        { return u.key }

// account loads or creates the account key and registration.
func (c *Client) account() (*lego.Client, *user, error) {
	if err := os.MkdirAll(c.cfg.Dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("acme: %w", err)
	}
	keyPath := filepath.Join(c.cfg.Dir, AccountKeyFile)
	u := &user{email: c.cfg.Email}
	if b, err := os.ReadFile(keyPath); err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, nil, fmt.Errorf("acme: %s is not a PEM key", keyPath)
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("acme: %s: %w", keyPath, err)
		}
		u.key = k
	} else if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		der, _ := x509.MarshalECPrivateKey(k)
		if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, nil, err
		}
		u.key = k
	} else {
		return nil, nil, err
	}
	if b, err := os.ReadFile(filepath.Join(c.cfg.Dir, AccountFile)); err == nil {
		var reg registration.Resource
		if json.Unmarshal(b, &reg) == nil && reg.URI != "" {
			u.reg = &reg
		}
	}
	lc := lego.NewConfig(u)
	lc.CADirURL = c.cfg.Directory
	if c.cfg.HTTPClient != nil {
		lc.HTTPClient = c.cfg.HTTPClient
	}
	client, err := lego.NewClient(lc)
	if err != nil {
		return nil, nil, fmt.Errorf("acme: reaching %s: %w", c.cfg.Directory, err)
	}
	if u.reg == nil {
		reg, err := client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
		if err != nil {
			return nil, nil, fmt.Errorf("acme: registering an account: %w", err)
		}
		u.reg = reg
		b, _ := json.MarshalIndent(reg, "", "  ")
		if err := atomicfile.Write(filepath.Join(c.cfg.Dir, AccountFile), b, 0o600); err != nil {
			return nil, nil, err
		}
	}
	return client, u, nil
}

// dnsProvider answers DNS-01 through provision.DNS: a TXT record _acme-challenge.<host> in the zone.
type dnsProvider struct {
	dns  provision.DNS
	zone string
	mu   sync.Mutex
	ids  map[string]uint64
}

func (p *dnsProvider) name(fqdn string) (string, error) {
	host := strings.TrimSuffix(fqdn, ".")
	if host != p.zone && !strings.HasSuffix(host, "."+p.zone) {
		return "", fmt.Errorf("acme: %s is not in the zone %s", host, p.zone)
	}
	return strings.TrimSuffix(strings.TrimSuffix(host, p.zone), "."), nil
}

func (p *dnsProvider) Present(domain, token, keyAuth string) error {
	info := dns01.GetChallengeInfo(domain, keyAuth)
	name, err := p.name(info.EffectiveFQDN)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := p.dns.CreateRecord(ctx, p.zone, provision.Record{Name: name, Type: "TXT", Value: info.Value, TTL: 600, Remark: "applet acme challenge"})
	if err != nil {
		return fmt.Errorf("acme: writing TXT %s: %w", info.EffectiveFQDN, err)
	}
	p.mu.Lock()
	p.ids[info.EffectiveFQDN+"|"+info.Value] = id
	p.mu.Unlock()
	return nil
}

func (p *dnsProvider) CleanUp(domain, token, keyAuth string) error {
	info := dns01.GetChallengeInfo(domain, keyAuth)
	p.mu.Lock()
	id, ok := p.ids[info.EffectiveFQDN+"|"+info.Value]
	delete(p.ids, info.EffectiveFQDN+"|"+info.Value)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return p.dns.DeleteRecord(ctx, p.zone, id)
}

// Timeout bounds how long lego waits for the TXT record to be visible.
func (p *dnsProvider) Timeout() (timeout, interval time.Duration) {
	return 3 * time.Minute, 2 * time.Second
}

// ObtainDNS01 issues a certificate for names over DNS-01 unless the one in Dir is good; it reports
// whether a new one was issued.
func (c *Client) ObtainDNS01(dns provision.DNS, zone string, names []string) (bool, error) {
	if cur, err := c.Current(); err == nil && !Due(cur, names, time.Now(), c.cfg.RenewBefore) {
		return false, nil
	}
	client, _, err := c.account()
	if err != nil {
		return false, err
	}
	opts := []dns01.ChallengeOption{dns01.DisableAuthoritativeNssPropagationRequirement()}
	if len(c.cfg.Resolvers) > 0 {
		opts = append(opts, dns01.AddRecursiveNameservers(c.cfg.Resolvers))
	}
	if err := client.Challenge.SetDNS01Provider(&dnsProvider{dns: dns, zone: zone, ids: map[string]uint64{}}, opts...); err != nil {
		return false, err
	}
	return true, c.obtain(client, names)
}

// RenewHTTP01 renews the certificate in Dir over HTTP-01 through webroot (nginx serves
// /.well-known/acme-challenge/ from it) when it is due; it reports whether it renewed.
func (c *Client) RenewHTTP01(webrootDir string, names []string) (bool, error) {
	if cur, err := c.Current(); err == nil && !Due(cur, names, time.Now(), c.cfg.RenewBefore) {
		return false, nil
	}
	client, _, err := c.account()
	if err != nil {
		return false, err
	}
	p, err := webroot.NewHTTPProvider(webrootDir)
	if err != nil {
		return false, fmt.Errorf("acme: webroot %s: %w", webrootDir, err)
	}
	if err := client.Challenge.SetHTTP01Provider(p); err != nil {
		return false, err
	}
	return true, c.obtain(client, names)
}

func (c *Client) obtain(client *lego.Client, names []string) error {
	res, err := client.Certificate.Obtain(certificate.ObtainRequest{Domains: names, Bundle: true})
	if err != nil {
		return fmt.Errorf("acme: obtaining a certificate for %s: %w", strings.Join(names, ", "), err)
	}
	// The key first: a certificate without its key would break nginx, the reverse only delays.
	if err := atomicfile.Write(filepath.Join(c.cfg.Dir, KeyFile), res.PrivateKey, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(c.cfg.Dir, CertFile), res.Certificate, 0o600)
}
