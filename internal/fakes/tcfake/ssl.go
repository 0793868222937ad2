package tcfake

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// The SSL certificate service (2019-12-05): uploaded certificates, which CLB's HTTPS listeners serve.

type certificate struct {
	id, alias string
	pair      tls.Certificate
	domains   []string
	notAfter  time.Time
	tags      map[string]string
}

type sslState struct {
	certs map[string]*certificate
	n     int
}

func (t *sslState) init() { t.certs = map[string]*certificate{} }

type sslTag struct{ TagKey, TagValue string }

// The SSL module is not served here; these are written from the API reference.
type (
	sslUploadCertificate struct {
		CertificatePublicKey, CertificatePrivateKey, CertificateType, Alias, CertificateUse *string
		ProjectId                                                                           *uint64
		Tags                                                                                []sslTag
		Repeatable                                                                          *bool
	}
	sslCertificateID struct {
		CertificateId   *string
		IsCheckResource *bool
	}
)

func init() {
	for k, f := range map[string]func() any{
		"ssl.UploadCertificate":   func() any { return &sslUploadCertificate{} },
		"ssl.DescribeCertificate": func() any { return &sslCertificateID{} },
		"ssl.DeleteCertificate":   func() any { return &sslCertificateID{} },
	} {
		sdkRequests[k] = f
	}
	required["ssl.UploadCertificate"] = []string{"CertificatePublicKey"}
	required["ssl.DescribeCertificate"] = []string{"CertificateId"}
	required["ssl.DeleteCertificate"] = []string{"CertificateId"}
}

func (s *Server) sslAction(req *request) (any, *apiError) {
	switch req.action {
	case "UploadCertificate":
		var in sslUploadCertificate
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		typ := "SVR"
		if in.CertificateType != nil {
			typ = *in.CertificateType
		}
		if typ != "SVR" {
			return nil, errorf("FailedOperation.InvalidParam", "CertificateType %s is not served by this stand-in.", typ)
		}
		if in.CertificatePrivateKey == nil {
			return nil, errorf("FailedOperation.InvalidCertificateSource", "A server certificate needs its private key.")
		}
		pair, err := tls.X509KeyPair([]byte(*in.CertificatePublicKey), []byte(*in.CertificatePrivateKey))
		if err != nil {
			return nil, errorf("FailedOperation.CertificateParseError", "The certificate or its key cannot be parsed: %v", err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, errorf("FailedOperation.CertificateParseError", "The certificate cannot be parsed: %v", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.now().After(leaf.NotAfter) {
			return nil, errorf("FailedOperation.CertificateExpired", "The certificate expired at %s.", leaf.NotAfter)
		}
		// The same certificate uploaded again is refused unless Repeatable: its id is returned.
		for _, c := range s.ssl.certs {
			if string(c.pair.Certificate[0]) == string(pair.Certificate[0]) && (in.Repeatable == nil || !*in.Repeatable) {
				return map[string]any{"CertificateId": c.id, "RepeatCertId": c.id}, nil
			}
		}
		s.ssl.n++
		c := &certificate{id: fmt.Sprintf("cert-%08x", s.ssl.n), pair: pair, domains: leaf.DNSNames, notAfter: leaf.NotAfter, tags: map[string]string{}}
		if in.Alias != nil {
			c.alias = *in.Alias
		}
		for _, t := range in.Tags {
			c.tags[t.TagKey] = t.TagValue
		}
		s.ssl.certs[c.id] = c
		return map[string]any{"CertificateId": c.id}, nil
	case "DescribeCertificate", "DeleteCertificate":
		var in sslCertificateID
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		c := s.ssl.certs[*in.CertificateId]
		if c == nil {
			return nil, errorf("FailedOperation.CertificateNotFound", "The certificate %s does not exist.", *in.CertificateId)
		}
		if req.action == "DeleteCertificate" {
			if users := s.listenersUsing(c.id); len(users) > 0 {
				return nil, errorf("FailedOperation.DeleteResourceFailed", "The certificate %s is bound to %s.", c.id, strings.Join(users, ", "))
			}
			delete(s.ssl.certs, c.id)
			return map[string]any{"DeleteResult": true}, nil
		}
		var tags []sslTag
		for k, v := range c.tags {
			tags = append(tags, sslTag{k, v})
		}
		domain := ""
		if len(c.domains) > 0 {
			domain = c.domains[0]
		}
		return map[string]any{"CertificateId": c.id, "Alias": c.alias, "Domain": domain, "SubjectAltName": c.domains,
			"CertificateType": "SVR", "From": "upload", "Status": 1,
			"CertEndTime": c.notAfter.In(chinaTime).Format(time.DateTime), "Tags": tags}, nil
	}
	return nil, unknownAction(req)
}

var chinaTime = time.FixedZone("CST", 8*3600)

// Certificates lists the uploaded certificates' ids.
func (s *Server) Certificates() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.ssl.certs {
		out = append(out, id)
	}
	return out
}
