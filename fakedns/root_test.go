package fakedns

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// checkRootNX checks a negative answer from the simulated root zone:
// rcode, AA, no answer, and the root's SOA alone in the authority section
// with the negative TTL of RFC 2308 §3.
func checkRootNX(t *testing.T, what string, r *dns.Msg, rcode int) {
	t.Helper()
	if r.Rcode != rcode || !r.Authoritative || len(r.Answer) != 0 {
		t.Errorf("%s: rcode %s AA %v answer %q, want %s, AA, no answer", what, dns.RcodeToString[r.Rcode], r.Authoritative, rrStrings(r.Answer), dns.RcodeToString[rcode])
	}
	if len(r.Ns) != 1 {
		t.Fatalf("%s: authority %q, want the root's SOA", what, rrStrings(r.Ns))
	}
	soa, ok := r.Ns[0].(*dns.SOA)
	if !ok || soa.Hdr.Name != "." || !strings.HasSuffix(soa.Ns, ".invalid.") || !strings.HasSuffix(soa.Mbox, ".invalid.") {
		t.Errorf("%s: authority %q, want an SOA owned by \".\" with names under .invalid", what, rrStrings(r.Ns))
	}
	if ok && (soa.Hdr.Ttl != min(soa.Hdr.Ttl, soa.Minttl) || soa.Hdr.Ttl > 300) {
		t.Errorf("%s: negative TTL %d (MINIMUM %d), want min(TTL, MINIMUM), at most 300", what, soa.Hdr.Ttl, soa.Minttl)
	}
}

// TestOutsideEveryZone: a name outside every zone does not exist, as the
// Internet's root would say (RFC 2308 §2.1), over UDP and TCP; a name with
// a zone below it exists (NODATA, RFC 8020 §2).
func TestOutsideEveryZone(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	for _, proto := range []string{"udp", "tcp"} {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{
			{"origin.test.", dns.TypeMX},
			{"mx.unknown.example.", dns.TypeA},
			{"nosuchdomain.invalid.", dns.TypeAAAA},
			{"Other.TEST.", dns.TypeTXT},
		} {
			r := exchange(t, s, proto, q.name, q.qtype, 1232)
			checkRootNX(t, proto+" "+dns.Type(q.qtype).String()+" "+q.name, r, dns.RcodeNameError)
		}
		// "test." holds example.test and null.test: it exists, empty.
		checkRootNX(t, proto+" MX test.", exchange(t, s, proto, "test.", dns.TypeMX, 0), dns.RcodeSuccess)
		// The root itself has its SOA.
		r := exchange(t, s, proto, ".", dns.TypeSOA, 0)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s SOA .: rcode %s answer %q", proto, dns.RcodeToString[r.Rcode], rrStrings(r.Answer))
		}
	}
	ev := s.Journal().Events(journal.OfKind(journal.KindDNSQuery))[0]
	if ev.DNS == nil || ev.DNS.Rcode != "NXDOMAIN" || !strings.Contains(ev.Text, "NXDOMAIN") {
		t.Errorf("journal: %+v", ev)
	}
	// Go's resolver sees a name that is not found, not a server failure.
	_, err := s.Resolver().LookupMX(context.Background(), "origin.test")
	if !isNotFound(err) {
		t.Errorf("LookupMX origin.test: %v, want not found", err)
	}
}

// TestFaultsOutsideZones: faults still apply to a name outside every
// zone, before the root's NXDOMAIN: REFUSED and SERVFAIL as before, and an
// NXDOMAIN fault carries the root's SOA.
func TestFaultsOutsideZones(t *testing.T) {
	s := start(t, Config{Zones: exampleZones(), Faults: []Fault{
		{Name: "refused.test", Kind: Refused},
		{Name: "servfail.test", Kind: ServFail},
		{Name: "nx.test", Kind: NXDomain},
	}})
	if r := exchange(t, s, "udp", "refused.test.", dns.TypeMX, 0); r.Rcode != dns.RcodeRefused || len(r.Ns) != 0 {
		t.Errorf("refused fault: rcode %s authority %q, want REFUSED", dns.RcodeToString[r.Rcode], rrStrings(r.Ns))
	}
	if r := exchange(t, s, "tcp", "servfail.test.", dns.TypeMX, 0); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("servfail fault: rcode %s", dns.RcodeToString[r.Rcode])
	}
	checkRootNX(t, "nxdomain fault", exchange(t, s, "udp", "nx.test.", dns.TypeMX, 0), dns.RcodeNameError)
	// A REFUSED fault set live takes over from the root's NXDOMAIN.
	checkRootNX(t, "before the live fault", exchange(t, s, "udp", "late.test.", dns.TypeA, 0), dns.RcodeNameError)
	if err := s.SetFault(Fault{Name: "late.test", Kind: Refused}); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "late.test.", dns.TypeA, 0); r.Rcode != dns.RcodeRefused {
		t.Errorf("live refused fault: rcode %s", dns.RcodeToString[r.Rcode])
	}
}

// TestDigOutsideZones asks with the real dig (bind9-dnsutils): what a
// person debugging a scenario would type. It skips without dig, unless CI
// is true or MXSIM_REQUIRE_DIG=1, where a missing dig fails.
func TestDigOutsideZones(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("MXSIM_REQUIRE_DIG") == "1" {
			t.Fatalf("dig not found (%v): install bind9-dnsutils (required when CI=true or MXSIM_REQUIRE_DIG=1)", err)
		}
		t.Skipf("dig not found (%v): install bind9-dnsutils to run this test", err)
	}
	s := start(t, Config{Zones: exampleZones(), Faults: []Fault{{Name: "refused.test", Kind: Refused}}})
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		all := append([]string{"@" + host, "-p", port, "+time=5", "+tries=1", "+norecurse"}, args...)
		out, err := exec.CommandContext(ctx, dig, all...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %s: %v\n%s", strings.Join(all, " "), err, out)
		}
		return string(out)
	}
	for _, tcp := range []bool{false, true} {
		args := []string{"origin.test", "MX"}
		if tcp {
			args = append(args, "+tcp")
		}
		out := run(args...)
		for _, want := range []string{"status: NXDOMAIN", " aa", "AUTHORITY: 1", "ns.mxsim.invalid. hostmaster.mxsim.invalid."} {
			if !strings.Contains(out, want) {
				t.Errorf("dig %s: no %q in\n%s", strings.Join(args, " "), want, out)
			}
		}
		if !strings.Contains(out, ";; AUTHORITY SECTION:\n.\t") {
			t.Errorf("dig %s: the authority SOA is not owned by the root:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := run("mx1.example.test", "A"); !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "127.0.0.11") {
		t.Errorf("dig mx1.example.test: \n%s", out)
	}
	if out := run("refused.test", "MX"); !strings.Contains(out, "status: REFUSED") {
		t.Errorf("dig refused.test (refused fault): \n%s", out)
	}
}
