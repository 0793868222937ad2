package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/serve/video"
)

func (d *env) checkChain(ctx context.Context) Result {
	if !d.deployed() {
		return Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	dl := tls.Dialer{Config: &tls.Config{ServerName: d.c.Domain, InsecureSkipVerify: true}} // verified below, to say what is wrong
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Failed("TLS to "+addr+": "+err.Error(), "make nginx listen on "+strconv.Itoa(d.c.Provision.HTTPSPort)+" with the certificate (applet provision does)")
	}
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	conn.Close()
	leaf := certs[0]
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return Failf("renew it: applet provision (or applet host renew on the instance)", "the certificate expired on %s", leaf.NotAfter.Format(time.DateOnly))
	}
	if err := leaf.VerifyHostname(d.c.Domain); err != nil {
		return Failf("issue one for "+d.c.Domain+" (applet provision does)", "the certificate is for %s, not %s", strings.Join(leaf.DNSNames, ", "), d.c.Domain)
	}
	roots, err := d.roots()
	if err != nil {
		return Failed(err.Error(), "fix provision.acme_roots")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: d.c.Domain, Roots: roots, Intermediates: inter}); err != nil {
		what := "the chain is not trusted"
		if leaf.Issuer.String() == leaf.Subject.String() {
			what = "the certificate is self-signed"
		}
		return Failf("serve a certificate from a public CA with its intermediates (fullchain.pem; applet provision issues one)", "%s: %v", what, err)
	}
	left := leaf.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	switch {
	case left < 14*24*time.Hour:
		return Failf("renew it now: applet provision (or applet host renew on the instance)", "the certificate expires in %d days (%s)", days, leaf.NotAfter.Format(time.DateOnly))
	case left < 30*24*time.Hour:
		return Warning(fmt.Sprintf("the certificate expires in %d days (%s)", days, leaf.NotAfter.Format(time.DateOnly)), "check that applet-renew.timer runs on the instance (systemctl list-timers)")
	}
	return Ok(fmt.Sprintf("trusted, for %s, expires in %d days", d.c.Domain, days))
}

func tlsAccepts(ctx context.Context, addr, name string, v uint16) bool {
	dl := tls.Dialer{Config: &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: v, MaxVersion: v}}
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func (d *env) checkVersions(ctx context.Context) Result {
	if !d.deployed() {
		return Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	names := map[uint16]string{tls.VersionTLS10: "1.0", tls.VersionTLS11: "1.1", tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3"}
	var on, off []string
	accepted := map[uint16]bool{}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		accepted[v] = tlsAccepts(ctx, addr, d.c.Domain, v)
		if accepted[v] {
			on = append(on, names[v])
		} else {
			off = append(off, names[v])
		}
	}
	seen := "offers TLS " + strings.Join(on, ", ")
	if len(on) == 0 {
		seen = "no TLS version is accepted"
	}
	switch {
	case !accepted[tls.VersionTLS12]:
		return Failed(seen+": mini programs need TLS 1.2", "set ssl_protocols TLSv1.2 TLSv1.3 in the nginx site (the applet template does)")
	case accepted[tls.VersionTLS10] || accepted[tls.VersionTLS11]:
		return Warning(seen+": 1.0 and 1.1 are obsolete", "set ssl_protocols TLSv1.2 TLSv1.3 in the nginx site (the applet template does)")
	}
	return Ok(seen + "; refuses " + strings.Join(off, ", "))
}

func (d *env) checkRedirect(ctx context.Context) Result {
	if !d.deployed() {
		return Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPPort)
	if err != nil {
		return Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	client := &http.Client{Transport: &http.Transport{DialContext: d.dialTo(addr)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+d.c.Domain+video.BasePath+"/list", nil)
	resp, err := client.Do(req)
	if err != nil {
		return Failed("HTTP on "+addr+": "+err.Error(), "let nginx listen on port "+strconv.Itoa(d.c.Provision.HTTPPort)+" (renewal needs it too)")
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasPrefix(loc, "https://") {
		return Ok(fmt.Sprintf("HTTP answers %d → %s", resp.StatusCode, loc))
	}
	return Failf("redirect HTTP to HTTPS except /.well-known/acme-challenge/ (the applet site does)", "HTTP answers %d without a redirect to https", resp.StatusCode)
}
