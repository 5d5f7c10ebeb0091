package fakedns

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// exampleZones is the network most tests query.
func exampleZones() []Zone {
	return []Zone{
		{Name: "example.test", Records: map[string][]string{
			"@":                {"MX 10 mx1", "MX 20 mx2.example.test.", `TXT "v=spf1 -all"`, "A 127.0.0.10"},
			"mx1":              {"A 127.0.0.11", "AAAA ::1"},
			"mx2.example.test": {"300 A 127.0.0.12"},
			"_25._tcp.mx1":     {"TLSA 3 1 1 0123456789abcdef"},
			"www":              {"CNAME alias"},
			"alias":            {"CNAME mx1"},
			"ext":              {"CNAME mx.other.test."},
			"loop1":            {"CNAME loop2"},
			"loop2":            {"CNAME loop1"},
		}},
		{Name: "NULL.test.", Records: map[string][]string{"": {"MX 0 ."}}},
	}
}

// start starts a server and closes it at cleanup.
func start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// exchange sends one query with miekg/dns's client over proto.
func exchange(t testing.TB, s *Server, proto, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	r, err := tryExchange(s, proto, name, qtype, edns, 5*time.Second)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", dns.Type(qtype), name, proto, err)
	}
	return r
}

func tryExchange(s *Server, proto, name string, qtype uint16, edns uint16, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: proto, Timeout: timeout, UDPSize: edns}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	r, _, err := c.Exchange(m, s.Addr())
	return r, err
}

// rrStrings renders a section's records.
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	return out
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}
