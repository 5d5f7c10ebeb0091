package fakedns

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// A zone with Rotate answers each record set one record further at each
// query, round-robin, over UDP and TCP alike; the journal gives the order
// sent. Without Rotate the order never changes.
func TestRotate(t *testing.T) {
	mx := []string{"MX 10 mx1", "MX 10 mx2", "MX 10 mx3"}
	j := journal.New()
	s := start(t, Config{Journal: j, Zones: []Zone{
		{Name: "rot.test", Rotate: true, Records: map[string][]string{"@": mx, "one": {"A 127.0.0.1"}}},
		{Name: "fixed.test", Records: map[string][]string{"@": mx}},
	}})
	first := func(r *dns.Msg) string { return r.Answer[0].(*dns.MX).Mx }
	var got []string
	for i, proto := range []string{"udp", "tcp", "udp", "udp"} {
		r := exchange(t, s, proto, "rot.test.", dns.TypeMX, 0)
		if len(r.Answer) != 3 {
			t.Fatalf("query %d: %d answers, want 3", i+1, len(r.Answer))
		}
		got = append(got, first(r))
	}
	if want := []string{"mx1.rot.test.", "mx2.rot.test.", "mx3.rot.test.", "mx1.rot.test."}; !slices.Equal(got, want) {
		t.Errorf("rotating zone: first records %v, want %v", got, want)
	}
	r := exchange(t, s, "udp", "rot.test.", dns.TypeMX, 0)
	if want := []string{"rot.test.\t60\tIN\tMX\t10 mx2.rot.test.", "rot.test.\t60\tIN\tMX\t10 mx3.rot.test.", "rot.test.\t60\tIN\tMX\t10 mx1.rot.test."}; !slices.Equal(rrStrings(r.Answer), want) {
		t.Errorf("fifth answer %v, want %v", rrStrings(r.Answer), want)
	}
	evs := j.Events(journal.OfKind(journal.KindDNSQuery))
	if last := evs[len(evs)-1]; last.DNS == nil || len(last.DNS.Answer) != 3 || last.DNS.Answer[0] != "rot.test.\t60\tIN\tMX\t10 mx2.rot.test." {
		t.Errorf("journal of the fifth answer: %+v, want the order sent", last.DNS)
	}
	if r := exchange(t, s, "udp", "one.rot.test.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("one-record set: %v", rrStrings(r.Answer))
	}
	for i := range 3 {
		if r := exchange(t, s, "udp", "fixed.test.", dns.TypeMX, 0); first(r) != "mx1.fixed.test." {
			t.Errorf("fixed zone, query %d: first record %s, want mx1.fixed.test.", i+1, first(r))
		}
	}
	for _, z := range s.Zones() {
		if (z.Name == "rot.test.") != z.Rotate {
			t.Errorf("snapshot of %s: Rotate %v", z.Name, z.Rotate)
		}
	}
}
