package scenarios

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

// TestAllowNonLoopback: the golden case's addresses, every one refused
// without the opt-in, are all taken with allow_non_loopback: true.
func TestAllowNonLoopback(t *testing.T) {
	for _, dir := range []string{"non-loopback", "non-loopback-submit-name"} {
		src, err := os.ReadFile("../testdata/validate/" + dir + "/in.yaml")
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse("in.yaml", append([]byte("allow_non_loopback: true\n"), src...))
		if err != nil {
			t.Errorf("%s with allow_non_loopback: %v", dir, err)
			continue
		}
		if !s.AllowNonLoopback {
			t.Errorf("%s: AllowNonLoopback not set", dir)
		}
	}
}

func TestLoopbackAddressesTaken(t *testing.T) {
	for _, submit := range []string{"127.0.0.1:2525", "127.9.9.9:25", "[::1]:2525", "localhost:2525", "LOCALHOST:25"} {
		src := "name: ok\nrelay: {kind: external, submit: \"" + submit + "\"}\ndns:\n  example.test:\n    a: [127.0.0.5]\n    aaaa: [\"::1\", \"::ffff:127.0.0.1\"]\n    records: {www.example.test: [\"A 127.1.2.3\"]}\nsteps:\n  - flush: {}\n"
		if _, err := Parse("ok.yaml", []byte(src)); err != nil {
			t.Errorf("submit %s: %v", submit, err)
		}
	}
}

// TestValidateGoBuiltNonLoopback: Validate holds a scenario built in Go to
// the same rule, and its opt-in.
func TestValidateGoBuiltNonLoopback(t *testing.T) {
	s := &Scenario{
		Name:  "go",
		DNS:   []*Zone{{Name: "example.test", A: []netip.Addr{netip.MustParseAddr("8.8.8.8")}, Records: []*Records{{Name: "mx.example.test", Records: []string{"AAAA 2001:db8::1"}}}}},
		Steps: []*Step{{Flush: &Flush{}}},
	}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "8.8.8.8 is not on loopback") || !strings.Contains(err.Error(), "2001:db8::1 is not on loopback") {
		t.Errorf("Validate: %v, want both addresses refused", err)
	}
	s.AllowNonLoopback = true
	if err := s.Validate(); err != nil {
		t.Errorf("Validate with AllowNonLoopback: %v", err)
	}
}
