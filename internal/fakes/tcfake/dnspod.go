package tcfake

import (
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

type record struct {
	id                                  uint64
	name, typ, line, value, remark, sts string
	ttl                                 uint64
	updated                             time.Time
}

type dnsState struct {
	domains map[string][]*record // zone → records
	n       uint64
}

func (d *dnsState) init() { d.domains = map[string][]*record{} }

// AddDomain makes a zone exist in the account, as adding a domain to DNSPod does.
func (s *Server) AddDomain(zone string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	zone = strings.ToLower(strings.TrimSuffix(zone, "."))
	if _, ok := s.dns.domains[zone]; !ok {
		s.dns.domains[zone] = nil
	}
}

// Record is a DNS record held by the stand-in.
type Record struct {
	ID                        uint64
	Name, Type, Value, Remark string
	TTL                       uint64
}

// Records returns the records of a zone.
func (s *Server) Records(zone string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.dns.domains[zone] {
		out = append(out, Record{r.id, r.name, r.typ, r.value, r.remark, r.ttl})
	}
	return out
}

// SetRecordValue changes a record's value behind provision's back, as an operator in the console would.
func (s *Server) SetRecordValue(zone string, id uint64, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.dns.domains[zone] {
		if r.id == id {
			r.value = value
		}
	}
}

func (s *Server) dnspodAction(req *request) (any, *apiError) {
	var in struct {
		Domain     string
		SubDomain  string
		Subdomain  string // DescribeRecordList spells it so
		RecordType string
		RecordLine string
		Value      string
		TTL        uint64
		Remark     *string
		RecordId   uint64
		Status     string
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	zone := strings.ToLower(in.Domain)
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, ok := s.dns.domains[zone]
	if !ok {
		return nil, errorf("InvalidParameterValue.DomainNotExists", "The domain %s does not exist in this account.", in.Domain)
	}
	find := func(id uint64) (int, *record) {
		for i, r := range recs {
			if r.id == id {
				return i, r
			}
		}
		return -1, nil
	}
	check := func(skip uint64) *apiError {
		switch in.RecordType {
		case "A", "AAAA", "TXT", "CNAME", "MX", "NS", "CAA":
		default:
			return errorf("InvalidParameter.RecordTypeInvalid", "The record type %q is invalid.", in.RecordType)
		}
		if in.RecordLine == "" {
			return errorf("MissingParameter", "RecordLine is required.")
		}
		if in.RecordType == "A" && net.ParseIP(in.Value).To4() == nil {
			return errorf("InvalidParameter.RecordValueInvalid", "The value %q is not an IPv4 address.", in.Value)
		}
		name := strings.ToLower(in.SubDomain)
		if name == "" {
			name = "@"
		}
		for _, r := range recs {
			if r.id != skip && r.name == name && r.typ == in.RecordType && r.line == in.RecordLine && r.value == in.Value {
				return errorf("InvalidParameter.DomainRecordExist", "The record already exists.")
			}
		}
		return nil
	}
	switch req.action {
	case "DescribeRecordList":
		var list []map[string]any
		for _, r := range recs {
			if (in.Subdomain != "" && r.name != strings.ToLower(in.Subdomain)) || (in.RecordType != "" && r.typ != in.RecordType) {
				continue
			}
			list = append(list, map[string]any{"RecordId": r.id, "Value": r.value, "Status": r.sts, "UpdatedOn": r.updated.Format("2006-01-02 15:04:05"),
				"Name": r.name, "Line": r.line, "LineId": "0", "Type": r.typ, "MonitorStatus": "", "Remark": r.remark, "TTL": r.ttl, "MX": 0, "DefaultNS": false})
		}
		if len(list) == 0 {
			return nil, errorf("ResourceNotFound.NoDataOfRecord", "The record list is empty.")
		}
		return map[string]any{"RecordCountInfo": map[string]any{"SubdomainCount": len(list), "ListCount": len(list), "TotalCount": len(list)}, "RecordList": list}, nil
	case "CreateRecord":
		if err := check(0); err != nil {
			return nil, err
		}
		s.dns.n++
		r := &record{id: 1_000_000 + s.dns.n, name: strings.ToLower(in.SubDomain), typ: in.RecordType, line: in.RecordLine, value: in.Value, ttl: in.TTL, sts: "ENABLE", updated: s.now()}
		if r.name == "" {
			r.name = "@"
		}
		if r.ttl == 0 {
			r.ttl = 600
		}
		if in.Remark != nil {
			r.remark = *in.Remark
		}
		s.dns.domains[zone] = append(recs, r)
		return map[string]any{"RecordId": r.id}, nil
	case "ModifyRecord":
		_, r := find(in.RecordId)
		if r == nil {
			return nil, errorf("InvalidParameter.RecordIdInvalid", "The record %d does not exist.", in.RecordId)
		}
		if err := check(r.id); err != nil {
			return nil, err
		}
		r.name, r.typ, r.line, r.value, r.updated = strings.ToLower(in.SubDomain), in.RecordType, in.RecordLine, in.Value, s.now()
		if r.name == "" {
			r.name = "@"
		}
		if in.TTL != 0 {
			r.ttl = in.TTL
		}
		if in.Remark != nil {
			r.remark = *in.Remark
		}
		return map[string]any{"RecordId": r.id}, nil
	case "DeleteRecord":
		i, r := find(in.RecordId)
		if r == nil {
			return nil, errorf("InvalidParameter.RecordIdInvalid", "The record %d does not exist.", in.RecordId)
		}
		s.dns.domains[zone] = append(recs[:i:i], recs[i+1:]...)
		return map[string]any{}, nil
	}
	return nil, unknownAction(req)
}

// startDNS serves the zones' records over UDP and TCP on one loopback port.
func (s *Server) startDNS() error {
	var pc net.PacketConn
	var ln net.Listener
	var err error
	// The same port for UDP and TCP: a UDP port's TCP twin may be taken, so try a few.
	for i := 0; i < 20; i++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return err
	}
	s.DNSAddr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serveDNS)
	u := &dns.Server{PacketConn: pc, Handler: h}
	t := &dns.Server{Listener: ln, Handler: h}
	go u.ActivateAndServe()
	go t.ActivateAndServe()
	s.dsrv = []closer{u, t}
	return nil
}

func (s *Server) serveDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	qn := strings.ToLower(strings.TrimSuffix(q.Question[0].Name, "."))
	qt := q.Question[0].Qtype
	s.mu.Lock()
	zone, name := "", ""
	for z := range s.dns.domains {
		if (qn == z || strings.HasSuffix(qn, "."+z)) && len(z) > len(zone) {
			zone = z
			name = strings.TrimSuffix(strings.TrimSuffix(qn, z), ".")
		}
	}
	if name == "" {
		name = "@"
	}
	exists := false
	for _, r := range s.dns.domains[zone] {
		if r.name != name || r.sts != "ENABLE" {
			continue
		}
		exists = true
		hdr := dns.RR_Header{Name: dns.Fqdn(qn), Class: dns.ClassINET, Ttl: uint32(r.ttl)}
		switch {
		case r.typ == "A" && qt == dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP(r.value)})
		case r.typ == "TXT" && qt == dns.TypeTXT:
			hdr.Rrtype = dns.TypeTXT
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{r.value}})
		case r.typ == "CNAME" && (qt == dns.TypeCNAME || qt == dns.TypeA):
			hdr.Rrtype = dns.TypeCNAME
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr, Target: dns.Fqdn(r.value)})
		}
	}
	s.mu.Unlock()
	switch {
	case zone == "":
		m.Rcode = dns.RcodeRefused
	case !exists && name != "@":
		m.Rcode = dns.RcodeNameError
	}
	if zone != "" && len(m.Answer) == 0 {
		m.Ns = append(m.Ns, &dns.SOA{Hdr: dns.RR_Header{Name: dns.Fqdn(zone), Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns: "ns1." + dns.Fqdn(zone), Mbox: "hostmaster." + dns.Fqdn(zone), Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60})
	}
	w.WriteMsg(m)
}
