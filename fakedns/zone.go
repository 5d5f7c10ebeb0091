package fakedns

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// DefaultTTL is the TTL of records written without one, and of the SOA and
// NS records a zone gets automatically. It is short so that resolvers that
// cache do not hide live changes for long.
const DefaultTTL = 60

// maxCNAMEChain bounds how many CNAMEs one answer follows (loops included).
const maxCNAMEChain = 8

// Zone is one authoritative zone, written as data.
type Zone struct {
	// Name is the apex, e.g. "example.test" (trailing dot optional,
	// case-insensitive). The root zone is not allowed.
	Name string
	// Records maps owner names to records in zone-file syntax without the
	// owner: "MX 10 mx1.example.test.", "A 127.0.0.11", "TXT \"v=spf1 -all\"",
	// "MX 0 .", "CNAME other.test.", "TLSA 3 1 1 abcd…", with an optional
	// TTL first: "300 A 1.2.3.4".
	//
	// Owner "@" or "" is the apex. An owner without a trailing dot that
	// does not end in the zone name is relative to it ("mx1" is
	// "mx1.example.test."); one that ends in the zone name is absolute.
	// Domain names inside the records (MX exchange, CNAME target, NS, PTR,
	// SRV target, SOA names) follow the same rule: "MX 10 mx1" and
	// "MX 10 mx1.example.test" both mean mx1.example.test., while a name
	// of another zone needs its trailing dot ("CNAME other.test.").
	//
	// A zone gets an SOA and an NS record at its apex unless Records gives
	// them (TTL DefaultTTL, primary ns.<zone>.).
	Records map[string][]string
	// Secure marks the zone DNSSEC-secure: every answer from it carries the
	// AD bit, whatever the query's DO and AD bits (see Server).
	Secure bool
	// Rotate turns the order of every record set of the zone by one at
	// each query that it answers, round-robin (BIND's rrset-order
	// cyclic): the first answer gives the records in the order written,
	// the next starts with the second record, and so on. Without it the
	// order never changes.
	Rotate bool
}

// record is one RR with its text form computed once, so the hot path does
// not format records for the journal.
type record struct {
	rr   dns.RR
	text string // rr.String(): full zone-file form with owner
	set  *rrset // the records of rr's type at its owner; set by rebuild
}

// rrset is what the journal records of an answer that is exactly the
// records of one type at one owner (the usual answer). The texts are
// gathered when the zone changes; the event details are made at the first
// such answer and then shared by every later one: a busy server journals
// hundreds of thousands of queries, and shared details add no garbage per
// query nor anything new for the garbage collector to mark, while a large
// zone pays nothing for the sets nobody asks for. Events only read them.
type rrset struct {
	owner  string
	t      uint16
	secure bool
	texts  []string
	ev     atomic.Pointer[rrsetEvent]
	turn   atomic.Uint64 // answers given, for Zone.Rotate
}

// rrsetEvent is the journal part of an rrset.
type rrsetEvent struct {
	text string          // the event's Text, as eventText writes it
	dns  [2]*journal.DNS // the event's DNS: [0] for UDP, [1] for TCP
}

// newRRSet makes the rrset of the records of type t in recs, owned by
// owner, in a zone whose answers carry AD when secure.
func newRRSet(owner string, t uint16, recs []record, secure bool) *rrset {
	rs := &rrset{owner: owner, t: t, secure: secure}
	for _, r := range recs {
		if r.rr.Header().Rrtype == t {
			rs.texts = append(rs.texts, r.text)
		}
	}
	return rs
}

// event returns the set's journal details, making them at the first call.
// Safe for concurrent use: two first callers may both make them, and one
// wins.
func (rs *rrset) event() *rrsetEvent {
	if e := rs.ev.Load(); e != nil {
		return e
	}
	e := &rrsetEvent{}
	for i, proto := range []string{"udp", "tcp"} {
		e.dns[i] = &journal.DNS{Name: rs.owner, Type: typeString(rs.t), Rcode: dns.RcodeToString[dns.RcodeSuccess], Answer: rs.texts, Proto: proto, AD: rs.secure}
	}
	e.text = eventText(e.dns[0], firing{})
	if rs.ev.CompareAndSwap(nil, e) {
		return e
	}
	return rs.ev.Load()
}

// zoneData is a zone as the server holds it. It is guarded by Server.mu.
type zoneData struct {
	name   string
	secure bool
	rotate bool // Zone.Rotate
	// loopbackOnly refuses A and AAAA records outside loopback
	// (Config.LoopbackOnly); every record reaches the zone through parse.
	loopbackOnly bool
	// nodes maps every existing owner name to its records, in the order
	// they were added. An empty non-terminal (RFC 4592 §2.2.2: a name that
	// exists only because a deeper name does) maps to an empty slice.
	nodes map[string][]record
	// negSOA is the SOA placed in the authority section of negative
	// answers, its TTL lowered per RFC 2308 §3.
	negSOA dns.RR
}

// canonName returns name lowercased and fully qualified, or an error when
// it is not a valid domain name.
func canonName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return "", fmt.Errorf("%w: empty name", ErrBadName)
	}
	n = dns.Fqdn(n)
	if _, ok := dns.IsDomainName(n); !ok || strings.Contains(n, "..") {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return n, nil
}

// canonZone is canonName for a zone apex; the root is refused.
func canonZone(name string) (string, error) {
	n, err := canonName(name)
	if err != nil {
		return "", fmt.Errorf("fakedns: zone %q: %w", name, err)
	}
	if n == "." {
		return "", fmt.Errorf("fakedns: zone %q: %w: the root zone is not supported", name, ErrBadName)
	}
	return n, nil
}

// qualify turns a name as written in a Zone (owner or name in rdata) into
// an absolute one: "@" and "" are the apex, a name with a trailing dot is
// absolute, one ending in the zone name is absolute, anything else is
// relative to the zone.
func qualify(zone, name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	switch {
	case n == "" || n == "@":
		return zone
	case strings.HasSuffix(n, "."):
		return n
	case n+"." == zone || strings.HasSuffix(n+".", "."+zone):
		return n + "."
	default:
		return n + "." + zone
	}
}

// lowerFqdn lowercases a wire name, without allocating when it is already
// lowercase and fully qualified (the usual case).
func lowerFqdn(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return dns.Fqdn(strings.ToLower(s))
		}
	}
	return dns.Fqdn(s)
}

// parseRecord parses one record written without its owner, for owner
// (absolute) in zone (absolute).
func parseRecord(zone, owner, text string) (record, error) {
	if strings.ContainsAny(text, "\n\r") {
		return record{}, fmt.Errorf("%w: more than one line", ErrBadRecord)
	}
	zp := dns.NewZoneParser(strings.NewReader(owner+" "+text), zone, "")
	zp.SetDefaultTTL(DefaultTTL)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return record{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if !ok || rr == nil {
		return record{}, fmt.Errorf("%w: empty", ErrBadRecord)
	}
	if _, more := zp.Next(); more || zp.Err() != nil {
		return record{}, fmt.Errorf("%w: more than one record", ErrBadRecord)
	}
	if rr.Header().Class != dns.ClassINET {
		return record{}, fmt.Errorf("%w: class %s, only IN is served", ErrBadRecord, dns.Class(rr.Header().Class))
	}
	rr.Header().Name = owner
	fixRdataNames(zone, rr)
	return record{rr: rr, text: rr.String()}, nil
}

// fixRdataNames applies Zone's naming rule to names inside rdata: the zone
// parser made "mx1.example.test" (no dot) relative to the origin, giving
// "mx1.example.test.example.test."; such a name is taken as absolute.
func fixRdataNames(zone string, rr dns.RR) {
	fix := func(p *string) {
		n := strings.ToLower(*p)
		twice := zone + zone
		if n == twice || strings.HasSuffix(n, "."+twice) {
			n = n[:len(n)-len(zone)]
		}
		*p = n
	}
	switch r := rr.(type) {
	case *dns.MX:
		fix(&r.Mx)
	case *dns.CNAME:
		fix(&r.Target)
	case *dns.NS:
		fix(&r.Ns)
	case *dns.PTR:
		fix(&r.Ptr)
	case *dns.SRV:
		fix(&r.Target)
	case *dns.SOA:
		fix(&r.Ns)
		fix(&r.Mbox)
	}
}

// newZoneData validates z and builds its data; with loopbackOnly, its
// addresses and those of later changes must be loopback ones.
func newZoneData(z Zone, loopbackOnly bool) (*zoneData, error) {
	name, err := canonZone(z.Name)
	if err != nil {
		return nil, err
	}
	zd := &zoneData{name: name, secure: z.Secure, rotate: z.Rotate, loopbackOnly: loopbackOnly, nodes: make(map[string][]record)}
	owners := make([]string, 0, len(z.Records))
	for o := range z.Records {
		owners = append(owners, o)
	}
	sort.Strings(owners) // deterministic: the first bad record is always the same
	for _, o := range owners {
		for _, text := range z.Records[o] {
			if err := zd.add(o, text); err != nil {
				return nil, err
			}
		}
	}
	if !zd.has(name, dns.TypeNS) {
		rr := &dns.NS{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: DefaultTTL}, Ns: "ns." + name}
		zd.nodes[name] = append(zd.nodes[name], record{rr: rr, text: rr.String()})
	}
	zd.rebuild()
	return zd, nil
}

// owner resolves an owner as written in a Zone and checks it is inside.
func (zd *zoneData) owner(written, text string) (string, error) {
	owner := qualify(zd.name, written)
	if _, ok := dns.IsDomainName(owner); !ok || strings.Contains(owner, "..") {
		return "", &RecordError{Zone: zd.name, Owner: written, Record: text, Err: fmt.Errorf("%w: owner %q", ErrBadName, written)}
	}
	if !dns.IsSubDomain(zd.name, owner) {
		return "", &RecordError{Zone: zd.name, Owner: owner, Record: text, Err: ErrOutsideZone}
	}
	return owner, nil
}

// parse resolves the owner and parses text.
func (zd *zoneData) parse(written, text string) (string, record, error) {
	owner, err := zd.owner(written, text)
	if err != nil {
		return "", record{}, err
	}
	rec, err := parseRecord(zd.name, owner, text)
	if err == nil && zd.loopbackOnly {
		err = checkLoopback(rec.rr)
	}
	if err != nil {
		return "", record{}, &RecordError{Zone: zd.name, Owner: owner, Record: text, Err: err}
	}
	return owner, rec, nil
}

// checkLoopback returns an error for an A or AAAA record whose address is
// outside 127.0.0.0/8 and ::1. An IPv4-mapped IPv6 address of 127.0.0.0/8
// is loopback too: a dual-stack socket reaches it on loopback.
func checkLoopback(rr dns.RR) error {
	var ip net.IP
	switch r := rr.(type) {
	case *dns.A:
		ip = r.A
	case *dns.AAAA:
		ip = r.AAAA
	default:
		return nil
	}
	if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %w: %s (LoopbackOnly: 127.0.0.0/8 and ::1 only)", ErrBadRecord, ErrNotLoopback, ip)
}

// add parses and appends one record; a duplicate (RFC 2181 §5: an RRset
// holds no duplicates) is ignored. Callers call rebuild afterwards.
func (zd *zoneData) add(written, text string) error {
	owner, rec, err := zd.parse(written, text)
	if err != nil {
		return err
	}
	zd.insert(owner, rec)
	return nil
}

func (zd *zoneData) insert(owner string, rec record) {
	for _, r := range zd.nodes[owner] {
		if dns.IsDuplicate(r.rr, rec.rr) {
			return
		}
	}
	zd.nodes[owner] = append(zd.nodes[owner], rec)
}

// has reports whether owner has a record of type t.
func (zd *zoneData) has(owner string, t uint16) bool {
	for _, r := range zd.nodes[owner] {
		if r.rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

// remove deletes the records of type t (every type when t is TypeANY) at
// owner. Callers call rebuild afterwards.
func (zd *zoneData) remove(owner string, t uint16) {
	old := zd.nodes[owner]
	kept := make([]record, 0, len(old))
	for _, r := range old {
		if t != dns.TypeANY && r.rr.Header().Rrtype != t {
			kept = append(kept, r)
		}
	}
	zd.nodes[owner] = kept
}

// rebuild restores the invariants after a change: the apex has an SOA
// (needed for negative answers, RFC 2308 §3), negSOA is current, and the
// empty non-terminals are exactly the ancestors of names with records.
func (zd *zoneData) rebuild() {
	if !zd.has(zd.name, dns.TypeSOA) {
		rr := &dns.SOA{
			Hdr:     dns.RR_Header{Name: zd.name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: DefaultTTL},
			Ns:      "ns." + zd.name,
			Mbox:    "hostmaster." + zd.name,
			Serial:  1,
			Refresh: 3600,
			Retry:   600,
			Expire:  86400,
			Minttl:  DefaultTTL,
		}
		// The SOA goes first, where a zone file has it.
		zd.nodes[zd.name] = append([]record{{rr: rr, text: rr.String()}}, zd.nodes[zd.name]...)
	}
	for n, recs := range zd.nodes {
		if len(recs) == 0 && n != zd.name {
			delete(zd.nodes, n)
		}
	}
	for n := range zd.nodes {
		for p := parent(n); p != "" && p != zd.name && dns.IsSubDomain(zd.name, p); p = parent(p) {
			if _, ok := zd.nodes[p]; ok {
				continue
			}
			zd.nodes[p] = []record{}
		}
	}
	for owner, recs := range zd.nodes {
		for i := range recs {
			recs[i].set = nil
			t := recs[i].rr.Header().Rrtype
			for _, prev := range recs[:i] {
				if prev.rr.Header().Rrtype == t {
					recs[i].set = prev.set
					break
				}
			}
			if recs[i].set == nil {
				recs[i].set = newRRSet(owner, t, recs, zd.secure)
			}
		}
	}
	for _, r := range zd.nodes[zd.name] {
		if soa, ok := r.rr.(*dns.SOA); ok {
			neg := dns.Copy(soa).(*dns.SOA)
			// RFC 2308 §3: the TTL of a negative answer's SOA is the minimum
			// of the SOA's TTL and its MINIMUM field.
			neg.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
			zd.negSOA = neg
			break
		}
	}
}

// parent returns the name one label up, "" above the root.
func parent(n string) string {
	if n == "." {
		return ""
	}
	i, end := dns.NextLabel(n, 0)
	if end {
		return "."
	}
	return n[i:]
}

// snapshot returns the zone as a Zone, owners absolute, records without
// their owner and with their TTL only when it is not DefaultTTL.
func (zd *zoneData) snapshot() Zone {
	z := Zone{Name: zd.name, Secure: zd.secure, Rotate: zd.rotate, Records: make(map[string][]string, len(zd.nodes))}
	for n, recs := range zd.nodes {
		if len(recs) == 0 {
			continue
		}
		out := make([]string, 0, len(recs))
		for _, r := range recs {
			out = append(out, recordText(r.rr))
		}
		z.Records[n] = out
	}
	return z
}

// recordText writes rr the way Zone.Records takes it.
func recordText(rr dns.RR) string {
	h := rr.Header()
	rdata := strings.TrimPrefix(rr.String(), h.String())
	t := dns.Type(h.Rrtype).String() + " " + rdata
	if h.Ttl != DefaultTTL {
		t = strconv.FormatUint(uint64(h.Ttl), 10) + " " + t
	}
	return t
}
