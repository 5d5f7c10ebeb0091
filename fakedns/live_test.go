package fakedns

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

func TestLiveRecordChanges(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	if err := s.AddRecord("mx3.example.test", "A 127.0.0.13"); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "mx3.example.test.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Fatalf("added A not served: %q", rrStrings(r.Answer))
	}
	if err := s.SetRecords("example.test", "MX", "MX 5 mx3", "MX 50 mx1"); err != nil {
		t.Fatal(err)
	}
	r := exchange(t, s, "tcp", "example.test.", dns.TypeMX, 0)
	var got []string
	for _, rr := range r.Answer {
		got = append(got, rr.(*dns.MX).Mx)
	}
	if !slices.Equal(got, []string{"mx3.example.test.", "mx1.example.test."}) {
		t.Fatalf("MX after SetRecords: %q", got)
	}
	// TXT untouched.
	if r := exchange(t, s, "udp", "example.test.", dns.TypeTXT, 0); len(r.Answer) != 1 {
		t.Fatalf("SetRecords MX touched TXT: %q", rrStrings(r.Answer))
	}
	if err := s.SetRecords("example.test.", "MX"); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "example.test.", dns.TypeMX, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("MX after SetRecords none: %s %q, want NODATA", dns.RcodeToString[r.Rcode], rrStrings(r.Answer))
	}
	if err := s.RemoveRecords("mx3.example.test", ""); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "mx3.example.test.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after RemoveRecords: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	// Removing the TLSA removes the empty non-terminal above it.
	if err := s.RemoveRecords("_25._tcp.mx1.example.test", "TLSA"); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "_tcp.mx1.example.test.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("ENT after removal: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	// The SOA comes back as the automatic one.
	if err := s.RemoveRecords("example.test", "SOA"); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "nope.example.test.", dns.TypeA, 0); len(r.Ns) != 1 {
		t.Fatalf("no SOA after removing it: %q", rrStrings(r.Ns))
	}
	if err := s.AddZone(Zone{Name: "new.test", Records: map[string][]string{"@": {"MX 10 mx.new.test."}}}); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "new.test.", dns.TypeMX, 0); len(r.Answer) != 1 {
		t.Fatalf("added zone not served: %s", dns.RcodeToString[r.Rcode])
	}
	if err := s.RemoveZone("new.test"); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "new.test.", dns.TypeMX, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("removed zone: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	if n := len(s.Journal().Events(journal.OfKind(journal.KindControl))); n != 8 {
		t.Errorf("%d control events, want 8:\n%s", n, s.Journal())
	}
}

func TestZonesSnapshotRoundTrip(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	snap := s.Zones()
	if len(snap) != 2 || snap[0].Name != "example.test." || snap[1].Name != "null.test." {
		t.Fatalf("zones %v", snap)
	}
	if got := snap[0].Records["mx2.example.test."]; !slices.Equal(got, []string{"300 A 127.0.0.12"}) {
		t.Errorf("mx2 records %q", got)
	}
	if got := snap[0].Records["example.test."]; len(got) != 6 || got[0] != "SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60" {
		t.Errorf("apex records %q", got)
	}
	// Fed back, the snapshot gives the same zones.
	s2 := start(t, Config{Zones: snap})
	if again := s2.Zones(); fmt.Sprint(again) != fmt.Sprint(snap) {
		t.Errorf("round trip differs:\n%v\n%v", again, snap)
	}
}

// TestConcurrentChanges runs queries over UDP and TCP while another
// goroutine changes records, zones and faults; -race checks the locking.
func TestConcurrentChanges(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	const workers, queries = 4, 50
	errs := make(chan error, workers*queries+1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			proto := []string{"udp", "tcp"}[w%2]
			for i := range queries {
				r, err := tryExchange(s, proto, "example.test.", dns.TypeMX, 0, 5e9)
				if err != nil {
					errs <- fmt.Errorf("worker %d query %d: %w", w, i, err)
					return
				}
				switch r.Rcode {
				case dns.RcodeSuccess, dns.RcodeServerFailure:
				default:
					errs <- fmt.Errorf("worker %d query %d: rcode %s", w, i, dns.RcodeToString[r.Rcode])
				}
			}
		}()
	}
	var changer sync.WaitGroup
	changer.Add(1)
	go func() {
		defer changer.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			switch i % 6 {
			case 0:
				err = s.SetRecords("example.test", "MX", fmt.Sprintf("MX %d mx1", i%100))
			case 1:
				err = s.SetFault(Fault{Name: "example.test", Type: "MX", Kind: ServFail, Times: 1})
			case 2:
				err = s.AddRecord(fmt.Sprintf("h%d.example.test", i), "A 127.0.0.1")
			case 3:
				err = s.SetSecure("example.test", i%2 == 0)
			case 4:
				s.ClearFaults()
				_ = s.Faults()
			case 5:
				_ = s.Zones()
				err = s.AddZone(Zone{Name: fmt.Sprintf("z%d.test", i)})
			}
			if err != nil {
				errs <- fmt.Errorf("change %d: %w", i, err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	changer.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(s.Journal().Events(journal.OfKind(journal.KindDNSQuery))); n != workers*queries {
		t.Errorf("%d query events, want %d", n, workers*queries)
	}
}

func TestJournalEvents(t *testing.T) {
	j := journal.New()
	s := start(t, Config{Zones: exampleZones(), Journal: j, Source: "dns-a"})
	if s.Journal() != j {
		t.Fatal("Journal() is not the configured journal")
	}
	exchange(t, s, "udp", "example.test.", dns.TypeMX, 0)
	exchange(t, s, "tcp", "nope.example.test.", dns.TypeA, 0)
	exchange(t, s, "udp", "mx1.example.test.", dns.TypeA, 0)
	evs := j.Events()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3:\n%s", len(evs), j)
	}
	e := evs[0]
	if e.Kind != journal.KindDNSQuery || e.Source != "dns-a" || e.Remote == "" || e.Fault != "" {
		t.Errorf("event %+v", e)
	}
	if e.Text != "MX example.test. → NOERROR 2 answers" {
		t.Errorf("text %q", e.Text)
	}
	want := journal.DNS{Name: "example.test.", Type: "MX", Rcode: "NOERROR", Proto: "udp",
		Answer: []string{"example.test.\t60\tIN\tMX\t10 mx1.example.test.", "example.test.\t60\tIN\tMX\t20 mx2.example.test."}}
	if fmt.Sprint(*e.DNS) != fmt.Sprint(want) {
		t.Errorf("DNS\n got %+v\nwant %+v", *e.DNS, want)
	}
	if d := evs[1].DNS; d.Rcode != "NXDOMAIN" || d.Proto != "tcp" || evs[1].Text != "A nope.example.test. → NXDOMAIN 0 answers" {
		t.Errorf("second event %q %+v", evs[1].Text, d)
	}
	if evs[2].Text != "A mx1.example.test. → NOERROR 1 answer" {
		t.Errorf("third event %q", evs[2].Text)
	}
	// Default source and journal.
	s2 := start(t, Config{Zones: exampleZones()})
	exchange(t, s2, "udp", "example.test.", dns.TypeMX, 0)
	if evs := s2.Journal().Events(); len(evs) != 1 || evs[0].Source != "dns" {
		t.Errorf("default journal events %+v", evs)
	}
}

func TestResolver(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	res := s.Resolver()
	ctx := t.Context()
	mxs, err := res.LookupMX(ctx, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(mxs) != 2 || mxs[0].Host != "mx1.example.test." || mxs[0].Pref != 10 || mxs[1].Host != "mx2.example.test." {
		t.Errorf("LookupMX %+v", mxs)
	}
	addrs, err := res.LookupHost(ctx, "www.example.test")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(addrs)
	if !slices.Equal(addrs, []string{"127.0.0.11", "::1"}) {
		t.Errorf("LookupHost through CNAME chain: %q", addrs)
	}
	txt, err := res.LookupTXT(ctx, "example.test")
	if err != nil || !slices.Equal(txt, []string{"v=spf1 -all"}) {
		t.Errorf("LookupTXT %q %v", txt, err)
	}
	_, err = res.LookupMX(ctx, "nope.example.test")
	if !isNotFound(err) {
		t.Errorf("LookupMX of NXDOMAIN: %v, want not found", err)
	}
	// Big answers come over TCP after TC.
	if err := s.AddZone(bigTXTZone()); err != nil {
		t.Fatal(err)
	}
	txt, err = res.LookupTXT(ctx, "big.test")
	if err != nil || len(txt) != 10 {
		t.Errorf("LookupTXT big: %d records, %v", len(txt), err)
	}
}
