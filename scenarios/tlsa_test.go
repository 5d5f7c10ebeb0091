package scenarios

import (
	"strings"
	"testing"
)

const tlsaBase = `name: dane
dns:
  example.test:
    secure: true
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test:
    tls: {starttls: offered}
    tlsa: %s
relay: {tls: dane}
steps:
  - send: {from: a@origin.test, to: [b@example.test]}
`

func TestHostTLSA(t *testing.T) {
	s, err := Parse("ok.yaml", []byte(strings.Replace(tlsaBase, "%s", "{usage: 3, selector: 1, matching: 1, mismatch: true}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Host("mx1.example.test")
	if h.TLSA == nil || *h.TLSA != (HostTLSA{Pos: h.TLSA.Pos, Usage: 3, Selector: 1, Matching: 1, Mismatch: true}) {
		t.Fatalf("tlsa = %+v", h.TLSA)
	}
	if !s.Zone("example.test").Secure || s.Relay.TLS != TLSDane {
		t.Fatalf("secure %v, relay tls %q", s.Zone("example.test").Secure, s.Relay.TLS)
	}
	if got := h.TLSA.String(); got != "3 1 1 (mismatch)" {
		t.Errorf("String = %q", got)
	}
}

func TestHostTLSABadForms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{usage: 1, selector: 1, matching: 1}", `bad.yaml:9:19: host mx1.example.test: tlsa usage 1: want 2 (DANE-TA`},
		{"{usage: 4, selector: 1, matching: 1}", `bad.yaml:9:19: "usage" must be at most 3, got 4`},
		{"{usage: 3, selector: 2, matching: 1}", `bad.yaml:9:32: "selector" must be at most 1, got 2`},
		{"{usage: 3, selector: 1, matching: 3}", `bad.yaml:9:45: "matching" must be at most 2, got 3`},
		{"{usage: 3, selector: 1}", `bad.yaml:9:11: missing required key "matching" in tlsa`},
		{"{usage: 3, selector: 1, matching: 1, hash: x}", `bad.yaml:9:48: unknown key "hash" in tlsa`},
		{"{usage: x, selector: 1, matching: 1}", `bad.yaml:9:19: "usage" must be an integer, got a string`},
		{"[3, 1, 1]", `bad.yaml:9:11: `},
		{"{usage: 3, selector: 1, matching: 1, mismatch: maybe}", `bad.yaml:9:58: "mismatch" must be true or false`},
	} {
		_, err := Parse("bad.yaml", []byte(strings.Replace(tlsaBase, "%s", tc.in, 1)))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("tlsa: %s: error %v, want prefix %q", tc.in, err, tc.want)
		}
	}
}

func TestHostTLSAGoBuilt(t *testing.T) {
	s, err := Parse("ok.yaml", []byte(strings.Replace(tlsaBase, "%s", "{usage: 3, selector: 1, matching: 1}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	s.Host("mx1.example.test").TLSA = &HostTLSA{Usage: 0, Selector: 5, Matching: 9}
	err = s.Validate()
	for _, want := range []string{"tlsa usage 0", "tlsa selector 5", "tlsa matching 9"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}
