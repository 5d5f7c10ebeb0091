package fakedns

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestAnswers(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	tests := []struct {
		name  string
		qtype uint16
		want  []string // answer records, rr.String() with tabs as spaces
	}{
		{"example.test.", dns.TypeMX, []string{
			"example.test. 60 IN MX 10 mx1.example.test.",
			"example.test. 60 IN MX 20 mx2.example.test.",
		}},
		{"EXAMPLE.test.", dns.TypeTXT, []string{`example.test. 60 IN TXT "v=spf1 -all"`}},
		{"mx1.example.test.", dns.TypeA, []string{"mx1.example.test. 60 IN A 127.0.0.11"}},
		{"mx1.example.test.", dns.TypeAAAA, []string{"mx1.example.test. 60 IN AAAA ::1"}},
		{"mx2.example.test.", dns.TypeA, []string{"mx2.example.test. 300 IN A 127.0.0.12"}},
		{"_25._tcp.mx1.example.test.", dns.TypeTLSA, []string{"_25._tcp.mx1.example.test. 60 IN TLSA 3 1 1 0123456789abcdef"}},
		{"null.test.", dns.TypeMX, []string{"null.test. 60 IN MX 0 ."}},
		// RFC 1034 §4.3.2: the chain is followed inside our zones.
		{"www.example.test.", dns.TypeA, []string{
			"www.example.test. 60 IN CNAME alias.example.test.",
			"alias.example.test. 60 IN CNAME mx1.example.test.",
			"mx1.example.test. 60 IN A 127.0.0.11",
		}},
		// A CNAME query returns the CNAME alone.
		{"www.example.test.", dns.TypeCNAME, []string{"www.example.test. 60 IN CNAME alias.example.test."}},
		// A target outside our zones ends the chain.
		{"ext.example.test.", dns.TypeA, []string{"ext.example.test. 60 IN CNAME mx.other.test."}},
		// A loop ends when a name comes back.
		{"loop1.example.test.", dns.TypeA, []string{
			"loop1.example.test. 60 IN CNAME loop2.example.test.",
			"loop2.example.test. 60 IN CNAME loop1.example.test.",
		}},
		{"example.test.", dns.TypeSOA, []string{"example.test. 60 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60"}},
		{"example.test.", dns.TypeNS, []string{"example.test. 60 IN NS ns.example.test."}},
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s/%s", proto, dns.Type(tt.qtype), tt.name), func(t *testing.T) {
				r := exchange(t, s, proto, tt.name, tt.qtype, 0)
				if r.Rcode != dns.RcodeSuccess {
					t.Fatalf("rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
				}
				if !r.Authoritative {
					t.Error("AA bit not set")
				}
				if r.AuthenticatedData {
					t.Error("AD bit set for an insecure zone")
				}
				got := rrStrings(r.Answer)
				for i := range got {
					got[i] = strings.Join(strings.Fields(got[i]), " ")
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("answer\n got %q\nwant %q", got, tt.want)
				}
			})
		}
	}
}

func TestNegativeAnswers(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	tests := []struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
	}{
		{"nope.example.test.", dns.TypeMX, dns.RcodeNameError, 0},           // NXDOMAIN
		{"deep.nope.example.test.", dns.TypeA, dns.RcodeNameError, 0},       // NXDOMAIN below
		{"mx1.example.test.", dns.TypeMX, dns.RcodeSuccess, 0},              // NODATA
		{"_tcp.mx1.example.test.", dns.TypeTXT, dns.RcodeSuccess, 0},        // empty non-terminal: NODATA
		{"null.test.", dns.TypeA, dns.RcodeSuccess, 0},                      // NODATA at apex
		{"ext.example.test.", dns.TypeCNAME, dns.RcodeSuccess, 1},           // control: exists
		{"x.www.example.test.", dns.TypeA, dns.RcodeNameError, 0},           // below a CNAME: nothing
		{"dangling.example.test.", dns.TypeA, dns.RcodeNameError, 0},        // see below: CNAME to nowhere
		{"_25._tcp.mx1.example.test.", dns.TypeA, dns.RcodeSuccess, 0},      // NODATA at a TLSA name
		{"mx2.example.test.", dns.TypeAAAA, dns.RcodeSuccess, 0},            // NODATA
		{"example.test.", dns.TypeAAAA, dns.RcodeSuccess, 0},                // NODATA apex
		{"loop2.example.test.", dns.TypeCNAME, dns.RcodeSuccess, 1},         // CNAME itself
		{"nope.null.test.", dns.TypeMX, dns.RcodeNameError, 0},              // other zone
		{"sub.nope.null.test.", dns.TypeTLSA, dns.RcodeNameError, 0},        // deeper
		{"NOPE.Example.Test.", dns.TypeMX, dns.RcodeNameError, 0},           // case-insensitive
		{"mx1.example.test.", dns.TypeTLSA, dns.RcodeSuccess, 0},            // NODATA
		{"_tcp.mx1.example.test.", dns.TypeTLSA, dns.RcodeSuccess, 0},       // ENT
		{"_25._tcp.mx1.example.test.", dns.TypeMX, dns.RcodeSuccess, 0},     // NODATA
		{"tcp.mx1.example.test.", dns.TypeMX, dns.RcodeNameError, 0},        // not the ENT
		{"_26._tcp.mx1.example.test.", dns.TypeTLSA, dns.RcodeNameError, 0}, // sibling
	}
	if err := s.AddRecord("dangling.example.test", "CNAME gone.example.test."); err != nil {
		t.Fatal(err)
	}
	// RFC 6604 §3: the RCODE of a chain is that of its last name.
	tests[7].answers = 1
	for _, tt := range tests {
		t.Run(dns.Type(tt.qtype).String()+"/"+tt.name, func(t *testing.T) {
			r := exchange(t, s, "udp", tt.name, tt.qtype, 0)
			if r.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if len(r.Answer) != tt.answers {
				t.Fatalf("answer %q, want %d records", rrStrings(r.Answer), tt.answers)
			}
			if !r.Authoritative {
				t.Error("AA bit not set")
			}
			if tt.answers > 0 && tt.rcode == dns.RcodeSuccess {
				return
			}
			// RFC 2308 §3: the zone's SOA in the authority section.
			if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
				t.Fatalf("authority %q, want the zone's SOA", rrStrings(r.Ns))
			}
			zone := "example.test."
			if strings.HasSuffix(strings.ToLower(tt.name), "null.test.") {
				zone = "null.test."
			}
			if r.Ns[0].Header().Name != zone {
				t.Errorf("SOA owner %s, want %s", r.Ns[0].Header().Name, zone)
			}
		})
	}
}

func TestNegativeSOATTL(t *testing.T) {
	s := start(t, Config{Zones: []Zone{{Name: "ttl.test", Records: map[string][]string{
		"@": {"3600 SOA ns.ttl.test. h.ttl.test. 7 3600 600 86400 30"},
	}}}})
	r := exchange(t, s, "udp", "nope.ttl.test.", dns.TypeA, 0)
	if len(r.Ns) != 1 {
		t.Fatalf("authority %q", rrStrings(r.Ns))
	}
	// RFC 2308 §3: min(SOA TTL, MINIMUM).
	if ttl := r.Ns[0].Header().Ttl; ttl != 30 {
		t.Errorf("negative SOA TTL %d, want 30", ttl)
	}
	if serial := r.Ns[0].(*dns.SOA).Serial; serial != 7 {
		t.Errorf("SOA serial %d, want the given 7", serial)
	}
}

func TestOutsideZonesAndLongestZone(t *testing.T) {
	s := start(t, Config{Zones: []Zone{
		{Name: "example.test", Records: map[string][]string{"a.sub": {"A 127.0.0.1"}}},
		{Name: "sub.example.test", Records: map[string][]string{"a": {"A 127.0.0.2"}}},
	}})
	r := exchange(t, s, "udp", "other.test.", dns.TypeMX, 0)
	if r.Rcode != dns.RcodeNameError || !r.Authoritative || len(r.Ns) != 1 || r.Ns[0].Header().Name != "." {
		t.Errorf("outside zones: rcode %s AA %v authority %q, want NXDOMAIN, AA and the root's SOA", dns.RcodeToString[r.Rcode], r.Authoritative, rrStrings(r.Ns))
	}
	r = exchange(t, s, "tcp", "test.", dns.TypeSOA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("parent of zones: rcode %s answer %q authority %q, want NODATA", dns.RcodeToString[r.Rcode], rrStrings(r.Answer), rrStrings(r.Ns))
	}
	r = exchange(t, s, "udp", "a.sub.example.test.", dns.TypeA, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.2" {
		t.Errorf("longest zone should win: answer %q", rrStrings(r.Answer))
	}
	if err := s.RemoveZone("sub.example.test."); err != nil {
		t.Fatal(err)
	}
	r = exchange(t, s, "udp", "a.sub.example.test.", dns.TypeA, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Errorf("after removing the child zone the parent answers: answer %q", rrStrings(r.Answer))
	}
}

func bigTXTZone() Zone {
	var txt []string
	for i := range 10 {
		txt = append(txt, fmt.Sprintf(`TXT "%03d-%s"`, i, strings.Repeat("x", 200)))
	}
	return Zone{Name: "big.test", Records: map[string][]string{"@": txt}}
}

func TestTruncation(t *testing.T) {
	s := start(t, Config{Zones: []Zone{bigTXTZone()}})

	for _, edns := range []uint16{0, 512, 1232} {
		t.Run(fmt.Sprintf("udp-edns-%d", edns), func(t *testing.T) {
			r := exchange(t, s, "udp", "big.test.", dns.TypeTXT, edns)
			if !r.Truncated {
				t.Fatal("TC not set for an answer that does not fit")
			}
			if len(r.Answer) != 0 {
				t.Errorf("truncated answer carries %d records, want none", len(r.Answer))
			}
			if opt := r.IsEdns0(); (opt != nil) != (edns > 0) {
				t.Errorf("OPT in answer: %v, want %v (echo)", opt != nil, edns > 0)
			}
		})
	}
	t.Run("udp-edns-4096", func(t *testing.T) {
		r := exchange(t, s, "udp", "big.test.", dns.TypeTXT, 4096)
		if r.Truncated || len(r.Answer) != 10 {
			t.Fatalf("TC %v, %d answers; want the full answer", r.Truncated, len(r.Answer))
		}
	})
	t.Run("tcp", func(t *testing.T) {
		r := exchange(t, s, "tcp", "big.test.", dns.TypeTXT, 0)
		if r.Truncated || len(r.Answer) != 10 {
			t.Fatalf("TC %v, %d answers; want the full answer", r.Truncated, len(r.Answer))
		}
	})
	// The journal says what was sent.
	evs := s.Journal().Events()
	if len(evs) != 5 {
		t.Fatalf("journal has %d events, want 5:\n%s", len(evs), s.Journal())
	}
	if d := evs[0].DNS; !d.TC || len(d.Answer) != 0 || d.Proto != "udp" {
		t.Errorf("first event %+v, want TC, no answers, udp", d)
	}
	if d := evs[4].DNS; d.TC || len(d.Answer) != 10 || d.Proto != "tcp" {
		t.Errorf("last event %+v, want 10 answers over tcp", d)
	}
}

func TestSecureAD(t *testing.T) {
	zones := []Zone{
		{Name: "secure.test", Secure: true, Records: map[string][]string{
			"@": {"MX 10 mx1"}, "mx1": {"A 127.0.0.11"}, "_25._tcp.mx1": {"TLSA 3 1 1 abcd"},
			"via": {"CNAME host.plain.test."},
		}},
		{Name: "plain.test", Records: map[string][]string{"@": {"MX 10 mx1"}, "host": {"A 127.0.0.12"}}},
	}
	s := start(t, Config{Zones: zones})
	tests := []struct {
		name  string
		qtype uint16
		ad    bool
	}{
		{"secure.test.", dns.TypeMX, true},
		{"_25._tcp.mx1.secure.test.", dns.TypeTLSA, true},
		{"nope.secure.test.", dns.TypeA, true}, // NXDOMAIN from a secure zone
		{"plain.test.", dns.TypeMX, false},
		{"via.secure.test.", dns.TypeA, false}, // the chain crosses an insecure zone
	}
	for _, tt := range tests {
		r := exchange(t, s, "udp", tt.name, tt.qtype, 0)
		if r.AuthenticatedData != tt.ad {
			t.Errorf("%s %s: AD %v, want %v", dns.Type(tt.qtype), tt.name, r.AuthenticatedData, tt.ad)
		}
	}
	if err := s.SetSecure("secure.test", false); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "secure.test.", dns.TypeMX, 0); r.AuthenticatedData {
		t.Error("AD still set after SetSecure(false)")
	}
	if err := s.SetSecure("plain.test.", true); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "tcp", "plain.test.", dns.TypeMX, 0); !r.AuthenticatedData {
		t.Error("AD not set after SetSecure(true)")
	}
	if ev := s.Journal().Events(); !ev[len(ev)-1].DNS.AD {
		t.Error("journal event does not record AD")
	}
}

func TestQueryEdgeCases(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	// Type ANY returns every record at the name.
	r := exchange(t, s, "tcp", "mx1.example.test.", dns.TypeANY, 0)
	if len(r.Answer) != 2 {
		t.Errorf("ANY: %q, want A and AAAA", rrStrings(r.Answer))
	}
	// Zone transfers are refused.
	r = exchange(t, s, "tcp", "example.test.", dns.TypeAXFR, 0)
	if r.Rcode != dns.RcodeRefused {
		t.Errorf("AXFR: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	// Class CH is refused.
	c := &dns.Client{Net: "udp"}
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeRefused {
		t.Errorf("class CH: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	// DO bit is echoed in the OPT.
	m = new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeMX)
	m.SetEdns0(1232, true)
	r, _, err = c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if opt := r.IsEdns0(); opt == nil || !opt.Do() {
		t.Errorf("OPT %v, want one with DO", opt)
	}
}
