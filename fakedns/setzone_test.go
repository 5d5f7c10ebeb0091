package fakedns

import (
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

func TestSetZone(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	added, err := s.SetZone(Zone{Name: "Example.Test", Secure: true, Records: map[string][]string{"@": {"MX 5 mx9.example.test."}}})
	if err != nil || added {
		t.Fatalf("SetZone = %v, %v; want a replacement", added, err)
	}
	r := exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.MX).Mx != "mx9.example.test." || !r.AuthenticatedData {
		t.Fatalf("MX after SetZone: %q (AD %v)", rrStrings(r.Answer), r.AuthenticatedData)
	}
	// The old zone's other names are gone with it.
	if r := exchange(t, s, "udp", "mx1.example.test.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("mx1 after SetZone: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	// A bad record changes nothing.
	if _, err := s.SetZone(Zone{Name: "example.test", Records: map[string][]string{"@": {"MX 1 ok.test.", "MX ten x."}}}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("SetZone with a bad record: %v, want ErrBadRecord", err)
	}
	if r := exchange(t, s, "udp", "example.test.", dns.TypeMX, 0); len(r.Answer) != 1 || r.Answer[0].(*dns.MX).Mx != "mx9.example.test." {
		t.Fatalf("MX after a failed SetZone: %q", rrStrings(r.Answer))
	}
	added, err = s.SetZone(Zone{Name: "new.test", Records: map[string][]string{"@": {"A 127.0.0.7"}}})
	if err != nil || !added {
		t.Fatalf("SetZone of a new zone = %v, %v", added, err)
	}
	if r := exchange(t, s, "udp", "new.test.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Fatalf("new zone not served: %s", dns.RcodeToString[r.Rcode])
	}
	var texts []string
	for _, e := range s.Journal().Events(journal.OfKind(journal.KindControl)) {
		texts = append(texts, e.Text)
	}
	if len(texts) != 2 || texts[0] != "set zone example.test." || texts[1] != "add zone new.test." {
		t.Errorf("control events %q", texts)
	}
}
