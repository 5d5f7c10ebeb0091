package fakedns

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestLoopbackOnlyZones(t *testing.T) {
	cases := []struct {
		rec string
		ok  bool
	}{
		{"A 127.0.0.1", true},
		{"A 127.255.1.2", true},
		{"AAAA ::1", true},
		{"AAAA ::ffff:127.0.0.9", true}, // IPv4-mapped loopback
		{"MX 10 mx.other.test.", true},  // a name, no address
		{"A 8.8.8.8", false},
		{"A 10.0.0.1", false},
		{"A 0.0.0.0", false},
		{"AAAA 2001:db8::1", false},
		{"AAAA ::ffff:8.8.8.8", false},
		{"AAAA ::", false},
	}
	for _, c := range cases {
		s, err := NewServer(Config{LoopbackOnly: true, Zones: []Zone{{Name: "example.test", Records: map[string][]string{"mx1": {c.rec}}}}})
		if err == nil {
			s.Close()
		}
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.rec, err)
			}
			continue
		}
		if !errors.Is(err, ErrNotLoopback) || !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: error %v, want ErrNotLoopback and ErrBadRecord", c.rec, err)
			continue
		}
		var re *RecordError
		if !errors.As(err, &re) || re.Owner != "mx1.example.test." || re.Record != c.rec {
			t.Errorf("%s: %v does not name the record", c.rec, err)
		}
	}
}

func TestLoopbackOnlyAddr(t *testing.T) {
	s, err := NewServer(Config{LoopbackOnly: true, Addr: "0.0.0.0:0"})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, ErrNotLoopback) || !errors.Is(err, ErrBadAddr) || !strings.Contains(err.Error(), "0.0.0.0:0") {
		t.Errorf("Addr 0.0.0.0:0: %v, want ErrBadAddr and ErrNotLoopback", err)
	}
}

func TestLoopbackOnlyLiveChanges(t *testing.T) {
	s := start(t, Config{LoopbackOnly: true, Zones: exampleZones()})
	for name, change := range map[string]func() error{
		"SetRecords": func() error { return s.SetRecords("mx1.example.test", "A", "A 127.0.0.20", "A 8.8.8.8") },
		"AddRecord":  func() error { return s.AddRecord("mx1.example.test", "AAAA 2001:db8::1") },
		"AddZone": func() error {
			return s.AddZone(Zone{Name: "other.test", Records: map[string][]string{"@": {"A 8.8.4.4"}}})
		},
	} {
		err := change()
		if !errors.Is(err, ErrNotLoopback) || !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v, want ErrNotLoopback", name, err)
		}
	}
	// Nothing changed: mx1 keeps its address, other.test does not exist.
	r := exchange(t, s, "udp", "mx1.example.test.", dns.TypeA, 0)
	if got := rrStrings(r.Answer); len(got) != 1 || !strings.HasSuffix(got[0], "127.0.0.11") {
		t.Errorf("mx1 A after refused changes: %q", got)
	}
	if r := exchange(t, s, "udp", "other.test.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Errorf("other.test after a refused AddZone: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	if err := s.SetRecords("mx1.example.test", "A", "A 127.0.0.21"); err != nil {
		t.Errorf("a loopback address: %v", err)
	}
}

// Without LoopbackOnly, fakedns serves any address: it is a DNS server
// first, and a test of a resolver may want any data.
func TestAnyAddressWithoutLoopbackOnly(t *testing.T) {
	s := start(t, Config{Zones: []Zone{{Name: "example.test", Records: map[string][]string{"mx1": {"A 8.8.8.8"}}}}})
	if err := s.SetRecords("mx1.example.test", "AAAA", "AAAA 2001:db8::1"); err != nil {
		t.Fatal(err)
	}
}
