package host

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/qcloud-applet/applet/provision/acme"
)

// Renew renews the host's certificate over HTTP-01 through nginx's webroot when it is due (within
// renewBefore of expiry; 0 means acme.RenewBefore), then tests and reloads nginx. It needs no cloud
// credentials: the ACME account came in the bundle.
func Renew(ctx context.Context, o Options, renewBefore time.Duration) (bool, *Report, error) {
	o.defaults()
	m, err := LoadManifest(o.Root)
	if err != nil {
		return false, nil, err
	}
	client := http.DefaultClient
	if m.ACMERoots != "" {
		pem, err := os.ReadFile(o.path(m.ACMERoots))
		if err != nil {
			return false, nil, fmt.Errorf("reading the ACME roots: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return false, nil, fmt.Errorf("%s holds no PEM certificate", m.ACMERoots)
		}
		client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	ac, err := acme.New(acme.Config{Directory: m.ACMEDir, HTTPClient: client, Dir: o.path(m.TLSDir), RenewBefore: renewBefore})
	if err != nil {
		return false, nil, err
	}
	rep := &Report{}
	renewed, err := ac.RenewHTTP01(o.path(m.Webroot), m.Names)
	if err != nil || !renewed {
		return false, rep, err
	}
	rep.Changed = append(rep.Changed, m.TLSDir+"/fullchain.pem", m.TLSDir+"/privkey.pem")
	if err := o.run(ctx, rep, o.NginxTest); err != nil {
		return true, rep, err
	}
	return true, rep, o.run(ctx, rep, o.NginxReload)
}
