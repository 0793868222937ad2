package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/provision"
)

// RootPool returns the system roots plus the PEM file (a private ACME CA), or nil for the system's.
func RootPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("provision.acme_roots: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("provision.acme_roots: %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Source is provision.Certs on a Client and the project's DNS client: DNS-01 from this machine.
type Source struct {
	Client *Client
	DNS    provision.DNS
	Zone   string
	Names  []string
	// Live reads the certificate the domain serves now (renewed on the host, maybe), or an error.
	Live func(ctx context.Context) (*Cert, error)
}

var _ provision.Certs = (*Source)(nil)

func (a *Source) Status(fresh bool) (bool, string) {
	cur, err := a.Client.Current()
	if err == nil && !Due(cur, a.Names, time.Now(), RenewBefore) {
		return true, "valid until " + cur.NotAfter.Local().Format(time.DateOnly)
	}
	if ok, detail := a.liveGood(context.Background()); ok && !fresh {
		return true, detail
	}
	if err != nil {
		return false, "issue for " + strings.Join(a.Names, ", ") + " over DNS-01"
	}
	return false, fmt.Sprintf("renew (the one on hand expires %s or does not cover %s)", cur.NotAfter.Local().Format(time.DateOnly), strings.Join(a.Names, ", "))
}

// liveGood reports whether the domain already serves a trusted certificate for the names that is not
// due: then nothing is issued, whatever the local copy says (never two valid certificates).
func (a *Source) liveGood(ctx context.Context) (bool, string) {
	if a.Live == nil {
		return false, ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := a.Live(ctx)
	if err != nil || Due(c, a.Names, time.Now(), RenewBefore) {
		return false, ""
	}
	return true, "the host serves one valid until " + c.NotAfter.Local().Format(time.DateOnly) + " (renewed there)"
}

func (a *Source) Obtain(ctx context.Context, fresh bool) (bool, string, error) {
	if cur, err := a.Client.Current(); (err != nil || Due(cur, a.Names, time.Now(), RenewBefore)) && a.Live != nil && !fresh {
		if ok, detail := a.liveGood(ctx); ok {
			return false, detail, nil
		}
	}
	issued, err := a.Client.ObtainDNS01(a.DNS, a.Zone, a.Names)
	if err != nil {
		return false, "", err
	}
	cur, err := a.Client.Current()
	if err != nil {
		return false, "", err
	}
	return issued, "valid until " + cur.NotAfter.Local().Format(time.DateOnly), nil
}

// LiveCert dials the domain (resolved through resolver when set) on port and returns the leaf it
// serves, verified against roots.
func LiveCert(domain string, port int, resolver string, roots *x509.CertPool) func(ctx context.Context) (*Cert, error) {
	return func(ctx context.Context) (*Cert, error) {
		r := net.DefaultResolver
		if resolver != "" {
			r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, resolver)
			}}
		}
		ips, err := r.LookupHost(ctx, domain)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("resolving %s: %v", domain, err)
		}
		d := tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: domain, MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ips[0], strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
		return &Cert{Names: leaf.DNSNames, NotAfter: leaf.NotAfter, Serial: leaf.SerialNumber.Text(16)}, nil
	}
}

// PEM is the certificate on hand with its key, for a load balancer to serve.
func (a *Source) PEM() (chain, key []byte, err error) {
	if chain, err = os.ReadFile(filepath.Join(a.Client.cfg.Dir, CertFile)); err != nil {
		return nil, nil, err
	}
	if key, err = os.ReadFile(filepath.Join(a.Client.cfg.Dir, KeyFile)); err != nil {
		return nil, nil, err
	}
	return chain, key, nil
}
