package fakedns

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// ednsSize is the UDP payload size this server advertises in its OPT
// record (RFC 6891 §6.2.5; 1232 is the DNS Flag Day 2020 value).
const ednsSize = 1232

// ServeDNS answers one query and appends one journal event. It implements
// dns.Handler, so the server can also be mounted on another dns.Server
// (its own TCP server does; UDP is read by serveUDP).
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	_, tcp := w.LocalAddr().(*net.TCPAddr)
	rp := s.respond(r, tcp, s.remote(w.RemoteAddr()))
	if rp.send {
		_, _ = w.Write(rp.out)
	}
	s.putReply(rp)
}

// respond answers r, appends its journal event and returns the reply with
// the packed answer in out (send false: none is to be sent). The caller
// sends it and hands rp back with putReply.
//
// The order: faults first (they apply to any name), then the zones. The
// hot path takes the read lock twice at most, does map lookups only, and
// reuses packing buffers; an answer straight from one record set journals
// that set's precomputed details (see rrset), so it adds no garbage.
func (s *Server) respond(r *dns.Msg, tcp bool, remote string) *reply {
	// d is copied to the heap only when the event does not share an
	// rrset's details.
	d := journal.DNS{Proto: "udp"}
	if tcp {
		d.Proto = "tcp"
	}
	ev := journal.Event{Kind: journal.KindDNSQuery, Source: s.source, Remote: remote}

	// The reply and its packing buffer come from a pool: a busy server
	// answers tens of thousands of queries a second.
	rp := s.replies.Get().(*reply)
	rp.send = false
	m := rp.start(r)
	var answers []string
	var set *rrset
	var fire firing
	switch {
	case r.Opcode != dns.OpcodeQuery:
		// RFC 1035 §4.1.1: NOTIMP for kinds of query we do not support.
		m.Rcode = dns.RcodeNotImplemented
	case len(r.Question) != 1:
		// RFC 9619 §3: QDCOUNT other than 1 gets FORMERR.
		m.Rcode = dns.RcodeFormatError
	default:
		q := r.Question[0]
		qname := lowerFqdn(q.Name)
		d.Name, d.Type = qname, typeString(q.Qtype)
		fired := false
		s.mu.RLock()
		if len(s.faults) > 0 {
			fire, fired = s.takeFault(qname, q.Qtype, tcp)
		}
		s.mu.RUnlock()
		if fired {
			ev.Fault = fire.label
			if fire.delay > 0 && !s.wait(fire.delay) {
				d.Dropped = true
				ev.Text = d.Type + " " + d.Name + " → no answer (server closed)"
				ev.DNS = heapDNS(d)
				s.journal.Append(ev)
				return rp
			}
		}
		switch {
		case fired && fire.kind == Timeout:
			d.Dropped = true
			ev.Text = eventText(&d, fire)
			ev.DNS = heapDNS(d)
			s.journal.Append(ev)
			return rp
		case fired && fire.kind == ServFail:
			m.Rcode = dns.RcodeServerFailure
		case fired && fire.kind == Refused:
			m.Rcode = dns.RcodeRefused
		case fired && fire.kind == NXDomain:
			// RFC 2308 §2.1: NXDOMAIN carries the zone's SOA when we have one.
			m.Rcode = dns.RcodeNameError
			// Outside every zone, the simulated root's SOA.
			m.Authoritative = true
			s.mu.RLock()
			if zd := s.findZone(qname); zd != nil {
				m.AuthenticatedData = zd.secure
				m.Ns = append(m.Ns, zd.negSOA)
			} else {
				m.Ns = append(m.Ns, rootSOA)
			}
			s.mu.RUnlock()
		case fired && fire.kind == Truncate:
			// RFC 1035 §4.1.1 TC, no records: the client retries over TCP.
			m.Authoritative, m.Truncated = true, true
		case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
			m.Rcode = dns.RcodeRefused
		case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
			// Zone transfers are not offered.
			m.Rcode = dns.RcodeRefused
		default:
			answers, set = s.answer(m, qname, q.Qtype)
		}
	}

	// RFC 1035 §4.2.1: a UDP message is at most 512 octets without EDNS0.
	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		// RFC 6891 §7: a response to a query with OPT carries an OPT;
		// §6.2.5: the requestor's payload size, never less than 512, bounds
		// the answer. RFC 3225 §3: the DO bit is copied.
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		rp.setEdns0(ednsSize, opt.Do())
	}
	m.Compress = true
	out, err := m.PackBuffer(rp.buf[:cap(rp.buf)])
	if err == nil && !tcp && len(out) > size {
		// RFC 2181 §9: an RRset that does not fit is not sent in part; TC
		// set and the answer emptied, the client retries over TCP.
		m.Truncated = true
		m.Answer, m.Ns, m.Extra = nil, nil, onlyOPT(m.Extra)
		answers, set = nil, nil
		out, err = m.PackBuffer(out[:cap(out)])
	}
	if err != nil {
		ev.Err = "pack answer: " + err.Error()
		m.Rcode = dns.RcodeServerFailure
		m.Truncated, m.Answer, m.Ns, m.Extra = false, nil, nil, onlyOPT(m.Extra)
		answers, set = nil, nil
		out, err = m.PackBuffer(out[:cap(out)])
	}
	if set != nil && fire.kind == "" && m.Rcode == dns.RcodeSuccess && !m.Truncated && m.AuthenticatedData == set.secure {
		// The answer is exactly the record set: its shared details say
		// the same as the ones built below would.
		se := set.event()
		ev.DNS, ev.Text = se.dns[0], se.text
		if tcp {
			ev.DNS = se.dns[1]
		}
	} else {
		d.Rcode = dns.RcodeToString[m.Rcode]
		d.AD, d.TC, d.Answer = m.AuthenticatedData, m.Truncated, answers
		ev.Text = eventText(&d, fire)
		ev.DNS = heapDNS(d)
	}
	// Recorded before the answer leaves, so a client holding the answer
	// always finds its event in the journal. A failed write (the client
	// is gone) is therefore not recorded.
	s.journal.Append(ev)
	rp.send, rp.out = err == nil, out
	rp.buf = out[:0]
	return rp
}

// heapDNS returns a copy of d for an event.
func heapDNS(d journal.DNS) *journal.DNS { return &d }

// reply is the scratch space of one answer, reused through Server.replies:
// the message (its sections keep their capacity), its OPT record and the
// packing buffer.
type reply struct {
	m    dns.Msg
	opt  dns.OPT
	buf  []byte
	out  []byte // the packed answer (in buf's storage)
	send bool   // whether out is to be sent
}

// start makes rp.m the reply to r, as dns.Msg.SetReply does, reusing the
// sections' storage; r's question slice is shared (r is not used after).
func (rp *reply) start(r *dns.Msg) *dns.Msg {
	m := &rp.m
	ans, ns, extra := m.Answer[:0], m.Ns[:0], m.Extra[:0]
	*m = dns.Msg{}
	m.Answer, m.Ns, m.Extra = ans, ns, extra
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	if m.Opcode == dns.OpcodeQuery {
		m.RecursionDesired = r.RecursionDesired // RFC 1035 §4.1.1: RD is copied
		m.CheckingDisabled = r.CheckingDisabled // RFC 4035 §3.2.2: CD is copied
	}
	if len(r.Question) > 0 {
		m.Question = r.Question[:1:1]
	}
	return m
}

// setEdns0 adds the OPT record (RFC 6891 §6.1.2), as dns.Msg.SetEdns0 does.
func (rp *reply) setEdns0(size uint16, do bool) {
	rp.opt = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	rp.opt.SetUDPSize(size)
	if do {
		rp.opt.SetDo()
	}
	rp.m.Extra = append(rp.m.Extra, &rp.opt)
}

// putReply returns rp to the pool without holding on to any record.
func (s *Server) putReply(rp *reply) {
	m := &rp.m
	clear(m.Answer)
	clear(m.Ns)
	clear(m.Extra)
	m.Question = nil
	rp.out = nil
	s.replies.Put(rp)
}

// remote returns addr as text ("127.0.0.1:53211") for the journal (see
// remoteText).
func (s *Server) remote(addr net.Addr) string {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return s.remoteText(a.AddrPort())
	case *net.TCPAddr:
		return s.remoteText(a.AddrPort())
	default:
		return addr.String()
	}
}

// remoteText returns ap as text for the journal, from a small cache: a
// client (a relay, dnsperf) asks from the same few addresses again and
// again.
func (s *Server) remoteText(ap netip.AddrPort) string {
	s.remMu.RLock()
	str, ok := s.remotes[ap]
	s.remMu.RUnlock()
	if ok {
		return str
	}
	str = net.UDPAddrFromAddrPort(ap).String()
	s.remMu.Lock()
	if len(s.remotes) >= maxRemotes {
		clear(s.remotes)
	}
	s.remotes[ap] = str
	s.remMu.Unlock()
	return str
}

// maxRemotes bounds the cache of remote address texts.
const maxRemotes = 1024

// answer fills m from the zones for qname and qtype (RFC 1034 §4.3.2) and
// returns the texts of the answer records; set is the record set when the
// answer is exactly one (no CNAME followed, not ANY), else nil.
func (s *Server) answer(m *dns.Msg, qname string, qtype uint16) (texts []string, set *rrset) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	zd := s.findZone(qname)
	m.Authoritative = true // RFC 1035 §4.1.1 AA
	if zd == nil {
		// Outside every zone the server answers as the simulated root
		// zone would (see rootSOA): the name does not exist (RFC 2308
		// §2.1), unless a zone lies below it, which makes it an empty
		// non-terminal of the root, NODATA (RFC 8020 §2, RFC 2308 §2.2).
		switch {
		case qname == "." && (qtype == dns.TypeSOA || qtype == dns.TypeANY):
			m.Answer = append(m.Answer, rootSOA)
			return []string{rootSOA.String()}, nil
		case !s.zoneBelow(qname):
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, rootSOA)
		return nil, nil
	}
	secure := zd.secure
	var seen [maxCNAMEChain + 1]string
	nseen := 0
	name := qname
	for {
		recs, exists := zd.nodes[name]
		if !exists {
			// RFC 2308 §2.1: NXDOMAIN with the SOA in the authority
			// section. RFC 6604 §3: after a CNAME the RCODE is that of
			// the last name of the chain.
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, zd.negSOA)
			break
		}
		if qtype != dns.TypeCNAME {
			if c, ok := cnameOf(recs); ok {
				// RFC 1034 §3.6.2, §4.3.2 step 3a: a CNAME answers any type;
				// restart at its target when it is ours.
				m.Answer = append(m.Answer, c.rr)
				texts = append(texts, c.text)
				seen[nseen] = name
				nseen++
				target := lowerFqdn(c.rr.(*dns.CNAME).Target)
				next := s.findZone(target)
				if next == nil || nseen >= maxCNAMEChain || contains(seen[:nseen], target) {
					break
				}
				zd, name = next, target
				secure = secure && zd.secure
				continue
			}
		}
		if texts == nil && qtype != dns.TypeANY {
			// The common case: the answer is one record set, whose texts
			// and journal details were computed when the zone changed.
			start := len(m.Answer)
			for _, r := range recs {
				if r.rr.Header().Rrtype == qtype {
					m.Answer = append(m.Answer, r.rr)
					set = r.set
				}
			}
			if set == nil {
				// RFC 2308 §2.2: NODATA (see below).
				m.Ns = append(m.Ns, zd.negSOA)
			} else {
				texts = set.texts
				if n := len(set.texts); zd.rotate && n > 1 {
					// Zone.Rotate: start one record further at each
					// answer. The shared journal details give the
					// written order, so this answer has its own.
					k := int((set.turn.Add(1) - 1) % uint64(n))
					ans := m.Answer[start:]
					rot := append(append(make([]dns.RR, 0, n), ans[k:]...), ans[:k]...)
					copy(ans, rot)
					texts = append(append(make([]string, 0, n), set.texts[k:]...), set.texts[:k]...)
					set = nil
				}
			}
			break
		}
		if texts == nil {
			texts = make([]string, 0, len(recs))
		}
		n := 0
		for _, r := range recs {
			if qtype == dns.TypeANY || r.rr.Header().Rrtype == qtype {
				m.Answer = append(m.Answer, r.rr)
				texts = append(texts, r.text)
				n++
			}
		}
		if n == 0 {
			// RFC 2308 §2.2: NODATA is NOERROR with no answer and the SOA
			// in the authority section; an empty non-terminal is NODATA
			// too (RFC 8020 §2: it exists).
			m.Ns = append(m.Ns, zd.negSOA)
		}
		break
	}
	m.AuthenticatedData = secure
	return texts, set
}

// rootSOA is the SOA of the simulated root zone: the authority section
// of a negative answer for a name outside every zone, the way the
// Internet's root answers for a name that does not exist (RFC 2308 §2.1:
// NXDOMAIN, AA, the SOA of the zone that says so). Its names are under
// .invalid (RFC 6761 §6.4), which never resolves; its TTL and MINIMUM
// are DefaultTTL, so a relay caches the negative answer briefly (RFC 2308
// §5). Shared by every answer, never modified.
var rootSOA dns.RR = &dns.SOA{
	Hdr:     dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: DefaultTTL},
	Ns:      "ns.mxsim.invalid.",
	Mbox:    "hostmaster.mxsim.invalid.",
	Serial:  1,
	Refresh: 3600,
	Retry:   600,
	Expire:  86400,
	Minttl:  DefaultTTL,
}

// zoneBelow reports whether a zone lies strictly below name (absolute,
// lower case). Called with s.mu held; only for names outside every zone.
func (s *Server) zoneBelow(name string) bool {
	for z := range s.zones {
		if z != name && dns.IsSubDomain(name, z) {
			return true
		}
	}
	return false
}

// cnameOf returns the CNAME among recs.
func cnameOf(recs []record) (record, bool) {
	for _, r := range recs {
		if r.rr.Header().Rrtype == dns.TypeCNAME {
			return r, true
		}
	}
	return record{}, false
}

func contains(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

// onlyOPT keeps the OPT record of an additional section.
func onlyOPT(extra []dns.RR) []dns.RR {
	for _, rr := range extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			return []dns.RR{rr}
		}
	}
	return nil
}

// wait waits d, or less when the server closes; it reports whether d
// elapsed.
func (s *Server) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return false
	}
}

// typeString names a query type without allocating for known types.
func typeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return dns.Type(t).String()
}

// eventText is the journal line of a query:
// "MX example.test. → NOERROR 2 answers (servfail fault 1/2)".
func eventText(d *journal.DNS, f firing) string {
	var b strings.Builder
	b.Grow(64)
	if d.Type != "" {
		b.WriteString(d.Type)
		b.WriteByte(' ')
		b.WriteString(d.Name)
		b.WriteByte(' ')
	}
	b.WriteString("→ ")
	if d.Dropped {
		b.WriteString("no answer")
	} else {
		b.WriteString(d.Rcode)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(len(d.Answer)))
		if len(d.Answer) == 1 {
			b.WriteString(" answer")
		} else {
			b.WriteString(" answers")
		}
		if d.TC {
			b.WriteString(" truncated")
		}
		if d.AD {
			b.WriteString(" AD")
		}
	}
	if f.kind != "" {
		b.WriteString(" (")
		b.WriteString(string(f.kind))
		b.WriteString(" fault")
		b.WriteString(strings.TrimPrefix(f.label, string(f.kind)))
		b.WriteByte(')')
	}
	return b.String()
}
