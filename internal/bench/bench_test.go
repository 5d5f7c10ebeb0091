package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/fakedns"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		got, err := Median(c.in)
		if err != nil || got != c.want {
			t.Errorf("Median(%v) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	in := []float64{3, 1, 2}
	Median(in)
	if in[0] != 3 {
		t.Errorf("Median sorted its input: %v", in)
	}
	if _, err := Median(nil); !errors.Is(err, ErrNoSamples) {
		t.Errorf("Median(nil) error = %v, want ErrNoSamples", err)
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100..1, unsorted
	}
	for _, c := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.1, 1}} {
		if got, _ := Percentile(xs, c.p); got != c.want {
			t.Errorf("Percentile(1..100, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if _, err := Percentile(nil, 50); !errors.Is(err, ErrNoSamples) {
		t.Errorf("Percentile(nil) error = %v, want ErrNoSamples", err)
	}
}

func TestRatios(t *testing.T) {
	got := Ratios([]float64{2, 3, 9}, []float64{1, 0, 3, 7})
	if fmt.Sprint(got) != "[2 3]" {
		t.Errorf("Ratios = %v, want [2 3] (zero divisor skipped, extra values ignored)", got)
	}
}

func TestParseDNSPerf(t *testing.T) {
	b, err := os.ReadFile("testdata/dnsperf.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDNSPerf(string(b))
	if err != nil {
		t.Fatal(err)
	}
	want := DNSPerf{Sent: 472670, Completed: 472670, Lost: 0, QPS: 157443.831920, AvgLatency: 512 * time.Microsecond}
	if got != want {
		t.Errorf("ParseDNSPerf = %+v, want %+v", got, want)
	}
	if _, err := ParseDNSPerf("[Status] Command line: dnsperf\nError: could not open file\n"); !errors.Is(err, ErrParse) {
		t.Errorf("ParseDNSPerf(no statistics) error = %v, want ErrParse", err)
	}
}

func TestParseDNSPerfLatencies(t *testing.T) {
	out := `[Status] Sending queries (to 127.0.0.1:53)
> NOERROR bench.test MX 0.001185
> NOERROR mx1.bench.test A 0.000161
> SERVFAIL broken.test MX 0.000050
> T bench.test MX
Statistics:
`
	lat, notOK, err := ParseDNSPerfLatencies(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lat) != "[0.001185 0.000161 5e-05]" || notOK != 1 {
		t.Errorf("latencies %v, not NOERROR %d; want 3 latencies and 1", lat, notOK)
	}
}

func TestParseSuite(t *testing.T) {
	out := "PASS     mx-priority   0.01s\n\n25 passed, 1 failed, 2 errors, in 17.4s\n"
	got, err := ParseSuite(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Passed != 25 || got.Failed != 1 || got.Errors != 2 || got.Elapsed != 17400*time.Millisecond || got.Total() != 28 {
		t.Errorf("ParseSuite = %+v", got)
	}
	got, err = ParseSuite("3 passed, 0 failed in 1m2.5s\n")
	if err != nil || got.Total() != 3 || got.Elapsed != 62500*time.Millisecond {
		t.Errorf("ParseSuite(no errors field) = %+v, %v", got, err)
	}
	if _, err := ParseSuite("mxsim run: no scenarios found\n"); !errors.Is(err, ErrParse) {
		t.Errorf("ParseSuite(no summary) error = %v, want ErrParse", err)
	}
}

func TestParseCPUInfo(t *testing.T) {
	info := "processor\t: 0\nmodel name\t: Test CPU @ 2.0GHz\n\nprocessor\t: 1\nmodel name\t: Test CPU @ 2.0GHz\n"
	model, n := parseCPUInfo([]byte(info), 7)
	if model != "Test CPU @ 2.0GHz" || n != 2 {
		t.Errorf("parseCPUInfo = %q, %d", model, n)
	}
	if _, n := parseCPUInfo(nil, 7); n != 7 {
		t.Errorf("parseCPUInfo(empty) cpus = %d, want the fallback 7", n)
	}
	if got := procField([]byte("MemFree:  1 kB\nMemTotal:   24684092 kB\n"), "MemTotal"); got != "24684092 kB" {
		t.Errorf("procField = %q", got)
	}
	if m := ReadMachine(); m.CPUs < 1 || !strings.Contains(m.String(), "CPUs") {
		t.Errorf("ReadMachine = %+v", m)
	}
}

func TestRender(t *testing.T) {
	r := &Report{
		Machine: Machine{CPUs: 2, Model: "Test CPU", Go: "go1.26"},
		Date:    time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		Runs:    3,
		Command: "make bench",
		Sections: []Section{{
			Title: "SMTP",
			Setup: "smtp-source drives both.",
			Table: Table{Header: []string{"body", "a|b"}, Rows: [][]string{{"1 KiB", "x"}}},
			Targets: []Target{
				{ID: "ok", What: "met one", Want: "≥ 1", Got: "2", Met: true, Profile: "SECRET-PROFILE"},
				{ID: "bad", What: "missed one", Want: "≥ 1", Got: "0.5", Profile: "flat flat% main.hot", Explain: "it is slow"},
			},
			Notes: []string{"a note"},
		}},
	}
	var b bytes.Buffer
	if err := r.Render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"2 CPUs, Test CPU", "2026-11-26 12:00 UTC", "median of 3 runs",
		"| 1 | met one | ≥ 1 | 2 | met |", "| 1 | missed one | ≥ 1 | 0.5 | **missed** |",
		"## 1. SMTP", `| body | a\|b |`, "| 1 KiB | x |", "- a note",
		"### Missed: missed one", "flat flat% main.hot", "How to read it: it is slow",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET-PROFILE") {
		t.Errorf("report shows the profile of a met target:\n%s", out)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("report does not end with a newline")
	}
	if got := len(r.Missed()); got != 1 {
		t.Errorf("Missed() = %d targets, want 1", got)
	}
}

func TestWaitTCPAndFreeAddr(t *testing.T) {
	ap, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if !ap.Addr().IsLoopback() || ap.Port() == 0 {
		t.Fatalf("FreeAddr = %v, want loopback with a port", ap)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := WaitTCP(ctx, ap.String()); !errors.Is(err, ErrNotReady) {
		t.Errorf("WaitTCP with nothing listening: %v, want ErrNotReady", err)
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := WaitTCP(ctx2, ap.String()); err != nil {
		t.Errorf("WaitTCP with a listener: %v", err)
	}
}

// TestBenchZoneServed writes the benchmark zone, loads it the way
// dnsserve does, and asks a fakedns server for an MX and an A record.
func TestBenchZoneServed(t *testing.T) {
	var zone, queries bytes.Buffer
	if err := BenchZone(&zone, "bench.test", 50); err != nil {
		t.Fatal(err)
	}
	if err := BenchQueries(&queries, "bench.test", 50); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(queries.String(), "\n"); n != 55 {
		t.Errorf("%d queries, want 50 MX + 5 A", n)
	}
	z, err := ReadZone(&zone, "bench.test", "bench.zone")
	if err != nil {
		t.Fatal(err)
	}
	s, err := fakedns.NewServer(fakedns.Config{Zones: []fakedns.Zone{z}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := new(dns.Client)
	for _, q := range []struct {
		name string
		typ  uint16
		want string
	}{
		{"d17.bench.test.", dns.TypeMX, "mx2.bench.test."},
		{"mx2.bench.test.", dns.TypeA, "127.1.0.2"},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.typ)
		r, _, err := c.Exchange(m, s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), q.want) {
			t.Errorf("%s %s: %v", q.name, dns.TypeToString[q.typ], r.Answer)
		}
	}
	if _, err := ReadZone(strings.NewReader("@ IN MX ten\n"), "bad.test", "bad.zone"); err == nil || !strings.Contains(err.Error(), "bad.zone") {
		t.Errorf("ReadZone(bad record) error = %v, want one naming bad.zone", err)
	}
}

func ExampleMedian() {
	m, _ := Median([]float64{6900, 7100, 7020})
	p, _ := Percentile([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90)
	fmt.Println(m, p)
	// Output: 7020 9
}
