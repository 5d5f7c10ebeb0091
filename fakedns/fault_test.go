package fakedns

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

func TestParseFaultKind(t *testing.T) {
	for _, s := range []string{"servfail", "NXDOMAIN", " refused ", "timeout", "truncate", "delay"} {
		k, err := ParseFaultKind(s)
		if err != nil || string(k) != strings.ToLower(strings.TrimSpace(s)) {
			t.Errorf("ParseFaultKind(%q) = %q, %v", s, k, err)
		}
	}
	_, err := ParseFaultKind("flaky")
	if !errors.Is(err, ErrUnknownFaultKind) {
		t.Fatalf("ParseFaultKind(flaky) error %v, want ErrUnknownFaultKind", err)
	}
	for _, want := range []string{`"flaky"`, "servfail", "nxdomain", "refused", "timeout", "truncate", "delay"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestFaultKinds(t *testing.T) {
	tests := []struct {
		kind  FaultKind
		rcode int
		ns    int // SOA in authority
	}{
		{ServFail, dns.RcodeServerFailure, 0},
		{NXDomain, dns.RcodeNameError, 1},
		{Refused, dns.RcodeRefused, 0},
		{Delay, dns.RcodeSuccess, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			s := start(t, Config{Zones: exampleZones(), Faults: []Fault{
				{Name: "example.test", Type: "MX", Kind: tt.kind, Delay: time.Millisecond},
			}})
			r := exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
			if r.Rcode != tt.rcode || len(r.Ns) != tt.ns {
				t.Fatalf("rcode %s, authority %q; want %s with %d records", dns.RcodeToString[r.Rcode], rrStrings(r.Ns), dns.RcodeToString[tt.rcode], tt.ns)
			}
			if tt.kind == Delay && len(r.Answer) != 2 {
				t.Errorf("delay fault: %d answers, want the 2 MX", len(r.Answer))
			}
			// Other types of the name are not affected.
			if r := exchange(t, s, "udp", "example.test.", dns.TypeTXT, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("TXT: rcode %s, %d answers; the MX fault leaked", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			ev := s.Journal().Events()[0]
			if ev.Fault != string(tt.kind) || !strings.Contains(ev.Text, "("+string(tt.kind)+" fault)") {
				t.Errorf("journal event fault %q text %q", ev.Fault, ev.Text)
			}
		})
	}
}

func TestTimeoutFault(t *testing.T) {
	s := start(t, Config{Zones: exampleZones(), Faults: []Fault{
		{Name: "example.test", Kind: Timeout, Times: 1},
	}})
	_, err := tryExchange(s, "udp", "example.test.", dns.TypeMX, 0, 200*time.Millisecond)
	var nerr interface{ Timeout() bool }
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("error %v, want a timeout", err)
	}
	// Times 1: the next query is answered.
	r := exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
	if len(r.Answer) != 2 {
		t.Fatalf("after the timeout: %d answers", len(r.Answer))
	}
	ev := s.Journal().Events()[0]
	if !ev.DNS.Dropped || ev.DNS.Rcode != "" || ev.Fault != "timeout 1/1" || ev.Text != "MX example.test. → no answer (timeout fault 1/1)" {
		t.Errorf("journal event %+v %+v", ev, ev.DNS)
	}
}

func TestTruncateFault(t *testing.T) {
	s := start(t, Config{Zones: exampleZones(), Faults: []Fault{
		{Name: "example.test", Type: "ANY", Kind: Truncate},
	}})
	r := exchange(t, s, "udp", "example.test.", dns.TypeMX, 1232)
	if !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("udp: TC %v with %d answers, want TC and none", r.Truncated, len(r.Answer))
	}
	r = exchange(t, s, "tcp", "example.test.", dns.TypeMX, 1232)
	if r.Truncated || len(r.Answer) != 2 {
		t.Fatalf("tcp: TC %v with %d answers, want the full answer", r.Truncated, len(r.Answer))
	}
	evs := s.Journal().Events()
	if evs[0].Fault != "truncate" || !evs[0].DNS.TC || evs[1].Fault != "" {
		t.Errorf("journal: %q / %q", evs[0].Fault, evs[1].Fault)
	}
	// A resolver falls back to TCP and gets the answer.
	mxs, err := s.Resolver().LookupMX(t.Context(), "example.test")
	if err != nil || len(mxs) != 2 {
		t.Fatalf("LookupMX through truncation: %v, %v", mxs, err)
	}
}

func TestFaultTimes(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	if err := s.SetFault(Fault{Name: "example.test.", Type: "mx", Kind: ServFail, Times: 2}); err != nil {
		t.Fatal(err)
	}
	want := []int{dns.RcodeServerFailure, dns.RcodeServerFailure, dns.RcodeSuccess, dns.RcodeSuccess}
	for i, w := range want {
		r := exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
		if r.Rcode != w {
			t.Fatalf("query %d: rcode %s, want %s", i+1, dns.RcodeToString[r.Rcode], dns.RcodeToString[w])
		}
		if i == 0 {
			fs := s.Faults()
			if len(fs) != 1 || fs[0].Times != 1 || fs[0].Type != "MX" || fs[0].Name != "example.test." {
				t.Fatalf("Faults after one firing: %+v, want Times 1 remaining", fs)
			}
		}
	}
	if fs := s.Faults(); len(fs) != 0 {
		t.Errorf("Faults after Times used up: %+v, want none", fs)
	}
	var labels []string
	for _, e := range s.Journal().Events(journal.OfKind(journal.KindDNSQuery)) {
		labels = append(labels, e.Fault)
	}
	if strings.Join(labels, ",") != "servfail 1/2,servfail 2/2,," {
		t.Errorf("journal fault labels %q", labels)
	}
}

func TestFaultPrecedence(t *testing.T) {
	s := start(t, Config{Zones: exampleZones(), Faults: []Fault{
		{Name: "example.test", Zone: true, Kind: ServFail},
		{Name: "example.test", Zone: true, Type: "TXT", Kind: NXDomain},
		{Name: "mx1.example.test", Type: "A", Kind: Refused},
		{Name: "mx1.example.test", Kind: NXDomain},
		{Name: "outside.test", Zone: true, Kind: ServFail},
	}})
	tests := []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"mx1.example.test.", dns.TypeA, dns.RcodeRefused},      // exact (Name, Type)
		{"mx1.example.test.", dns.TypeAAAA, dns.RcodeNameError}, // (Name, ANY)
		{"mx2.example.test.", dns.TypeA, dns.RcodeServerFailure},
		{"example.test.", dns.TypeMX, dns.RcodeServerFailure}, // zone-wide covers the apex
		{"example.test.", dns.TypeTXT, dns.RcodeNameError},    // zone-wide (Name, Type) before (Name, ANY)
		{"a.b.outside.test.", dns.TypeMX, dns.RcodeServerFailure},
		{"null.test.", dns.TypeMX, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		r := exchange(t, s, "udp", tt.name, tt.qtype, 0)
		if r.Rcode != tt.rcode {
			t.Errorf("%s %s: rcode %s, want %s", dns.Type(tt.qtype), tt.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
		}
	}
	if !s.ClearFault("MX1.example.test", "a") {
		t.Fatal("ClearFault found nothing")
	}
	if s.ClearFault("mx1.example.test", "a") {
		t.Fatal("ClearFault twice found something")
	}
	if r := exchange(t, s, "udp", "mx1.example.test.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Errorf("after ClearFault: rcode %s, want NXDOMAIN from (Name, ANY)", dns.RcodeToString[r.Rcode])
	}
	// SetFault replaces the fault with the same key.
	if err := s.SetFault(Fault{Name: "mx1.example.test", Type: "", Kind: Refused}); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "mx1.example.test.", dns.TypeA, 0); r.Rcode != dns.RcodeRefused {
		t.Errorf("after replacing: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if n := len(s.Faults()); n != 5-1 {
		t.Errorf("Faults: %d, want 4", n)
	}
	s.ClearFaults()
	if r := exchange(t, s, "udp", "mx1.example.test.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after ClearFaults: rcode %s", dns.RcodeToString[r.Rcode])
	}
	if len(s.Faults()) != 0 {
		t.Error("Faults not empty after ClearFaults")
	}
}

// TestCloseAbortsDelay: a delayed answer does not hold Close.
func TestCloseAbortsDelay(t *testing.T) {
	s, err := NewServer(Config{Zones: exampleZones(), Faults: []Fault{
		{Name: "example.test", Kind: Delay, Delay: MaxFaultDelay, Times: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := tryExchange(s, "udp", "example.test.", dns.TypeMX, 0, 500*time.Millisecond)
		done <- err
	}()
	// The fault is spent once the query is being delayed.
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Faults()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the query never reached the server")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("the delayed query got an answer after Close")
	}
	ev := s.Journal().Events()
	if len(ev) != 1 || !ev[0].DNS.Dropped || !strings.Contains(ev[0].Text, "server closed") {
		t.Errorf("journal: %s", s.Journal())
	}
}
