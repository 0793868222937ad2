package testenv_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"testing"

	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/lego"
	legolog "github.com/go-acme/lego/v4/log"
	"github.com/go-acme/lego/v4/registration"

	"github.com/qcloud-applet/applet/internal/testenv"
)

type acmeUser struct {
	key crypto.PrivateKey
	reg *registration.Resource
}

func (u *acmeUser) GetEmail() string                        { return "ops@applet.example.com" }
func (u *acmeUser) GetRegistration() *registration.Resource { return u.reg }
func (u *acmeUser) GetPrivateKey() crypto.PrivateKey        { return u.key }

// txtProvider answers DNS-01 by writing the TXT record into the test DNS, as a DNS API would.
type txtProvider struct{ srv *testenv.ACMEServer }

func (p txtProvider) Present(domain, token, keyAuth string) error {
	info := dns01.GetChallengeInfo(domain, keyAuth)
	p.srv.DNS.AddDNSTXTRecord(info.EffectiveFQDN, info.Value)
	return nil
}

func (p txtProvider) CleanUp(domain, token, keyAuth string) error {
	p.srv.DNS.DeleteDNSTXTRecord(dns01.GetChallengeInfo(domain, keyAuth).EffectiveFQDN)
	return nil
}

// The ACME server of the harness really validates DNS-01 and issues a certificate that chains to
// its root.
func TestACMEIssuesOverDNS01(t *testing.T) {
	legolog.Logger = log.New(io.Discard, "", 0)
	srv := testenv.ACME(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	user := &acmeUser{key: key}
	cfg := lego.NewConfig(user)
	cfg.CADirURL = srv.Directory
	cfg.HTTPClient = srv.Client
	client, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = client.Challenge.SetDNS01Provider(txtProvider{srv},
		dns01.AddRecursiveNameservers([]string{srv.DNSAddr}),
		dns01.DisableAuthoritativeNssPropagationRequirement())
	if err != nil {
		t.Fatal(err)
	}
	if user.reg, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		t.Fatal(err)
	}
	res, err := client.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"applet.example.com"}, Bundle: true})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(res.Certificate)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := srv.Roots()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(roots) {
		t.Fatalf("root PEM: %s", roots)
	}
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(res.Certificate)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "applet.example.com", Roots: pool, Intermediates: inter}); err != nil {
		t.Fatalf("issued certificate does not verify: %v", err)
	}
}
