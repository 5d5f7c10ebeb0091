package fakedns

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rawUDP sends b to s over UDP and returns the answer, or nil when none
// came within wait.
func rawUDP(t *testing.T, s *Server, b []byte, wait time.Duration) *dns.Msg {
	t.Helper()
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, dns.MaxMsgSize)
	n, err := c.Read(buf)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("unpack answer: %v", err)
	}
	return m
}

// TestUDPAcceptRules: fakedns's own UDP loop keeps miekg/dns's default
// accept rules, and journals none of the rejected messages.
func TestUDPAcceptRules(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	update := new(dns.Msg)
	update.SetUpdate("example.test.")
	update.Id = 7
	twoQ := new(dns.Msg)
	twoQ.SetQuestion("example.test.", dns.TypeMX)
	twoQ.Question = append(twoQ.Question, twoQ.Question[0])
	twoQ.Id = 8
	garbage := pack(func() *dns.Msg { m := new(dns.Msg); m.SetQuestion("example.test.", dns.TypeMX); m.Id = 9; return m }())
	garbage = garbage[:len(garbage)-3] // the question cut short

	for _, tt := range []struct {
		name  string
		b     []byte
		id    uint16
		rcode int
	}{
		{"update", pack(update), 7, dns.RcodeNotImplemented},
		{"two questions", pack(twoQ), 8, dns.RcodeFormatError},
		{"truncated question", garbage, 9, dns.RcodeFormatError},
	} {
		r := rawUDP(t, s, tt.b, 5*time.Second)
		if r == nil {
			t.Fatalf("%s: no answer", tt.name)
		}
		if r.Id != tt.id || r.Rcode != tt.rcode || !r.Response {
			t.Errorf("%s: id %d rcode %s response %v, want id %d rcode %s", tt.name, r.Id, dns.RcodeToString[r.Rcode], r.Response, tt.id, dns.RcodeToString[tt.rcode])
		}
	}
	// A response and a runt get no answer.
	resp := new(dns.Msg)
	resp.SetQuestion("example.test.", dns.TypeMX)
	resp.Response = true
	if r := rawUDP(t, s, pack(resp), 200*time.Millisecond); r != nil {
		t.Errorf("a response was answered: %v", r)
	}
	if r := rawUDP(t, s, []byte{1, 2, 3}, 200*time.Millisecond); r != nil {
		t.Errorf("a runt was answered: %v", r)
	}
	// The server still answers, and journaled none of the above.
	exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
	if n := s.Journal().Len(); n != 1 {
		t.Errorf("%d events, want 1:\n%s", n, s.Journal())
	}
}

// TestUDPDelayDoesNotBlock: while a delay fault holds one answer, other
// queries on the same socket are answered.
func TestUDPDelayDoesNotBlock(t *testing.T) {
	s := start(t, Config{Zones: exampleZones(), Faults: []Fault{
		{Name: "mx1.example.test", Type: "A", Kind: Delay, Delay: MaxFaultDelay},
	}})
	// One socket for both, so the kernel hands both to the same loop.
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, q := range []struct {
		name  string
		qtype uint16
	}{{"mx1.example.test.", dns.TypeA}, {"example.test.", dns.TypeMX}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.Id = uint16(i + 1)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1232)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("the undelayed query got no answer: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if r.Id != 2 || len(r.Answer) != 2 {
		t.Errorf("answer id %d with %d records, want id 2 with 2", r.Id, len(r.Answer))
	}
	// Close (cleanup) abandons the delayed answer; goleak checks it ended.
}

// TestSharedEventDetails: answers straight from a record set journal the
// set's shared details, which follow live changes and are the same as the
// details built for other answers would be.
func TestSharedEventDetails(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
	exchange(t, s, "tcp", "example.test.", dns.TypeMX, 0)
	if err := s.SetRecords("example.test", "MX", "MX 5 mx9.example.test."); err != nil {
		t.Fatal(err)
	}
	exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
	if err := s.SetSecure("example.test", true); err != nil {
		t.Fatal(err)
	}
	exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
	var got []string
	for _, e := range s.Journal().Events() {
		if e.DNS != nil {
			got = append(got, fmt.Sprintf("%s | %+v", e.Text, *e.DNS))
		}
	}
	mx := "[example.test.\t60\tIN\tMX\t10 mx1.example.test. example.test.\t60\tIN\tMX\t20 mx2.example.test.]"
	want := []string{
		"MX example.test. → NOERROR 2 answers | {Name:example.test. Type:MX Rcode:NOERROR Answer:" + mx + " Proto:udp AD:false TC:false Dropped:false}",
		"MX example.test. → NOERROR 2 answers | {Name:example.test. Type:MX Rcode:NOERROR Answer:" + mx + " Proto:tcp AD:false TC:false Dropped:false}",
		"MX example.test. → NOERROR 1 answer | {Name:example.test. Type:MX Rcode:NOERROR Answer:[example.test.\t60\tIN\tMX\t5 mx9.example.test.] Proto:udp AD:false TC:false Dropped:false}",
		"MX example.test. → NOERROR 1 answer AD | {Name:example.test. Type:MX Rcode:NOERROR Answer:[example.test.\t60\tIN\tMX\t5 mx9.example.test.] Proto:udp AD:true TC:false Dropped:false}",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}
