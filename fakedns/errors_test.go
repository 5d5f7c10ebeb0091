package fakedns

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// freePort returns a loopback port free for UDP and TCP at the time.
func freePort(t *testing.T) string {
	t.Helper()
	s := start(t, Config{})
	addr := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// assertFree fails unless UDP and TCP can both bind addr: the failed
// constructor left nothing bound.
func assertFree(t *testing.T, addr string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("udp %s still bound: %v", addr, err)
	}
	pc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("tcp %s still bound: %v", addr, err)
	}
	ln.Close()
}

func TestNewServerBadInput(t *testing.T) {
	zone := func(owner string, recs ...string) []Zone {
		return []Zone{{Name: "example.test", Records: map[string][]string{owner: recs}}}
	}
	tests := []struct {
		name   string
		cfg    Config
		target error
		text   string // substring of the error
	}{
		{"bad record", Config{Zones: zone("mx1.example.test.", "MX ten x.")}, ErrBadRecord,
			`fakedns: zone example.test: record "mx1.example.test." "MX ten x.": bad record: dns: bad MX Pref`},
		{"unknown type", Config{Zones: zone("@", "MXX 10 a.")}, ErrBadRecord, `record "example.test." "MXX 10 a."`},
		{"two records in one", Config{Zones: zone("@", "A 127.0.0.1\nA 127.0.0.2")}, ErrBadRecord, "more than one line"},
		{"empty record", Config{Zones: zone("@", "")}, ErrBadRecord, "bad record"},
		{"class CH", Config{Zones: zone("@", "CH TXT \"x\"")}, ErrBadRecord, "only IN"},
		{"record outside zone", Config{Zones: zone("mx1.other.test.", "A 127.0.0.1")}, ErrOutsideZone,
			`fakedns: zone example.test: record "mx1.other.test." "A 127.0.0.1": name outside the zone`},
		{"bad owner", Config{Zones: zone("a..b", "A 127.0.0.1")}, ErrBadName, "owner"},
		{"duplicate zone", Config{Zones: []Zone{{Name: "example.test"}, {Name: "EXAMPLE.test."}}}, ErrZoneExists,
			"fakedns: zone example.test: zone already exists"},
		{"empty zone name", Config{Zones: []Zone{{Name: ""}}}, ErrBadName, "empty name"},
		{"root zone", Config{Zones: []Zone{{Name: "."}}}, ErrBadName, "root"},
		{"bad zone name", Config{Zones: []Zone{{Name: "a..test"}}}, ErrBadName, `"a..test"`},
		{"unknown fault kind", Config{Faults: []Fault{{Name: "x.test", Kind: "flaky"}}}, ErrUnknownFaultKind,
			`fault kind "flaky": unknown fault kind (valid: servfail, nxdomain, refused, timeout, truncate, delay)`},
		{"delay without Delay", Config{Faults: []Fault{{Name: "x.test", Kind: Delay}}}, ErrBadFault, "needs Delay > 0"},
		{"negative Delay", Config{Faults: []Fault{{Name: "x.test", Kind: ServFail, Delay: -time.Second}}}, ErrBadFault, "negative delay"},
		{"Delay beyond the bound", Config{Faults: []Fault{{Name: "x.test", Kind: Delay, Delay: MaxFaultDelay + time.Second}}}, ErrBadFault, "delay 10m1s is above 10m0s"},
		{"negative Times", Config{Faults: []Fault{{Name: "x.test", Kind: ServFail, Times: -1}}}, ErrBadFault, "negative Times -1"},
		{"fault type", Config{Faults: []Fault{{Name: "x.test", Type: "MXX", Kind: ServFail}}}, ErrBadFault, `unknown type "MXX"`},
		{"fault name", Config{Faults: []Fault{{Name: "", Kind: ServFail}}}, ErrBadFault, "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := freePort(t)
			tt.cfg.Addr = addr
			s, err := NewServer(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("NewServer succeeded")
			}
			if s != nil {
				t.Error("NewServer returned a server with its error")
			}
			if !errors.Is(err, tt.target) {
				t.Errorf("error %q is not %q", err, tt.target)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
			assertFree(t, addr)
		})
	}
	var rerr *RecordError
	if _, err := NewServer(Config{Zones: zone("mx1", "MX ten x.")}); !errors.As(err, &rerr) || rerr.Owner != "mx1.example.test." || rerr.Zone != "example.test." {
		t.Errorf("RecordError: %#v", rerr)
	}
}

func TestNewServerBadAddr(t *testing.T) {
	for _, addr := range []string{"localhost:0", "127.0.0.1", "127.0.0.1:99999", "nonsense", ":53x"} {
		s, err := NewServer(Config{Addr: addr})
		if err == nil {
			s.Close()
			t.Errorf("Addr %q accepted", addr)
			continue
		}
		if !errors.Is(err, ErrBadAddr) || !strings.Contains(err.Error(), addr) {
			t.Errorf("Addr %q: error %q, want ErrBadAddr naming it", addr, err)
		}
	}
}

func TestNewServerAddrInUse(t *testing.T) {
	t.Run("udp", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		s, err := NewServer(Config{Addr: pc.LocalAddr().String()})
		if err == nil {
			s.Close()
			t.Fatal("NewServer on a UDP port in use succeeded")
		}
		if !strings.Contains(err.Error(), "bind udp") || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		addr := freePort(t)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewServer(Config{Addr: addr})
		if err == nil {
			s.Close()
			t.Fatal("NewServer on a TCP port in use succeeded")
		}
		if !strings.Contains(err.Error(), "bind tcp") || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("error %q", err)
		}
		ln.Close()
		assertFree(t, addr) // the UDP socket bound first was released
	})
	t.Run("fixed port", func(t *testing.T) {
		addr := freePort(t)
		s := start(t, Config{Addr: addr})
		if s.Addr() != addr {
			t.Errorf("Addr %s, want %s", s.Addr(), addr)
		}
		if _, err := NewServer(Config{Addr: addr}); err == nil {
			t.Error("second server on the same address succeeded")
		}
	})
}

func TestLiveBadInput(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	before := s.Zones()
	checks := []struct {
		name   string
		err    error
		target error
	}{
		{"AddRecord outside zones", s.AddRecord("mx.other.test", "A 127.0.0.1"), ErrOutsideZone},
		{"AddRecord bad text", s.AddRecord("mx1.example.test", "A 300.0.0.1"), ErrBadRecord},
		{"AddRecord bad name", s.AddRecord("a..example.test", "A 127.0.0.1"), ErrBadName},
		{"AddZone duplicate", s.AddZone(Zone{Name: "example.TEST"}), ErrZoneExists},
		{"AddZone bad record", s.AddZone(Zone{Name: "n.test", Records: map[string][]string{"@": {"MX x"}}}), ErrBadRecord},
		{"RemoveZone missing", s.RemoveZone("missing.test"), ErrNoZone},
		{"RemoveZone bad", s.RemoveZone(""), ErrBadName},
		{"SetSecure missing", s.SetSecure("missing.test", true), ErrNoZone},
		{"SetRecords wrong type", s.SetRecords("example.test", "MX", "MX 10 a.", "A 127.0.0.1"), ErrBadRecord},
		{"SetRecords bad type", s.SetRecords("example.test", "FOO"), ErrBadRecord},
		{"SetRecords outside", s.SetRecords("other.test", "MX", "MX 10 a."), ErrOutsideZone},
		{"RemoveRecords outside", s.RemoveRecords("other.test", "MX"), ErrOutsideZone},
		{"SetFault delay", s.SetFault(Fault{Name: "example.test", Kind: Delay}), ErrBadFault},
		{"SetFault delay beyond the bound", s.SetFault(Fault{Name: "example.test", Kind: Delay, Delay: 11 * time.Minute}), ErrBadFault},
		{"SetFault kind", s.SetFault(Fault{Name: "example.test", Kind: "nope"}), ErrUnknownFaultKind},
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.target) {
			t.Errorf("%s: error %v, want %v", c.name, c.err, c.target)
		}
		if c.err != nil && !strings.HasPrefix(c.err.Error(), "fakedns: ") {
			t.Errorf("%s: error %q lacks the package prefix", c.name, c.err)
		}
	}
	// Nothing changed: SetRecords is all or nothing.
	if after := s.Zones(); len(after) != len(before) || strings.Join(after[0].Records["example.test."], "|") != strings.Join(before[0].Records["example.test."], "|") {
		t.Errorf("zones changed by failed calls:\n%v\n%v", before, after)
	}
	if r := exchange(t, s, "udp", "example.test.", dns.TypeMX, 0); len(r.Answer) != 2 {
		t.Errorf("MX changed by a failed SetRecords: %q", rrStrings(r.Answer))
	}
	if len(s.Faults()) != 0 {
		t.Error("a bad fault was installed")
	}
	if s.ClearFault("", "MX") || s.ClearFault("example.test", "BOGUS") {
		t.Error("ClearFault with bad input reported a fault")
	}
}

// TestCycles starts and closes many servers; goleak (TestMain) checks that
// no goroutine survives, and the last Close must be idempotent.
func TestCycles(t *testing.T) {
	for i := range 200 {
		s, err := NewServer(Config{Zones: exampleZones()})
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if i%50 == 0 {
			exchange(t, s, []string{"udp", "tcp"}[i%2], "example.test.", dns.TypeMX, 0)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("cycle %d: Close: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("cycle %d: second Close: %v", i, err)
		}
	}
}
