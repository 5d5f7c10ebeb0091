// Command envbench measures environments in process, printing one JSON
// object per invocation:
//
//  1. -mode start: start and close an environment (DNS, three hosts, CA;
//     the configuration of harness's BenchmarkStartEnv) -n times and report
//     the median and p90 of one start+close;
//  2. -mode scale: start one network of -domains mail domains (one zone
//     each, MX to one of -hosts hosts) and -hosts SMTP hosts, report the
//     start time, the resident memory, -queries sequential MX lookups'
//     p50/p99, and the close time. With -harness it goes through
//     harness.New; without, it wires fakedns and fakesmtp directly over
//     several /24s, one journal and one CA, for comparison.
//
// Usage: envbench -mode start|scale [flags] [-cpuprofile FILE] [-memprofile FILE]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/internal/bench"
	"github.com/mxsim/mxsim/journal"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// startResult is the output of -mode start.
type startResult struct {
	N        int   `json:"n"`
	MedianNS int64 `json:"median_ns"`
	P90NS    int64 `json:"p90_ns"`
}

// scaleResult is the output of -mode scale.
type scaleResult struct {
	Via      string `json:"via"` // "harness" or "components"
	Domains  int    `json:"domains"`
	Hosts    int    `json:"hosts"`
	StartNS  int64  `json:"start_ns"`
	CloseNS  int64  `json:"close_ns"`
	RSS      int64  `json:"rss_bytes"` // VmRSS after start
	HWM      int64  `json:"hwm_bytes"` // VmHWM (peak) at the end
	Queries  int    `json:"queries"`
	P50NS    int64  `json:"p50_ns"`
	P99NS    int64  `json:"p99_ns"`
	Answered int    `json:"answered"` // queries with NOERROR and an MX answer
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("envbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "", "`start` or `scale` (required)")
	n := fs.Int("n", 200, "start mode: start+close `cycles`")
	domains := fs.Int("domains", 10000, "scale mode: mail `domains`")
	hosts := fs.Int("hosts", 1000, "scale mode: SMTP `hosts`")
	queries := fs.Int("queries", 2000, "scale mode: sequential MX `lookups` timed")
	viaHarness := fs.Bool("harness", false, "scale mode: start through harness.New")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `FILE`")
	memprofile := fs.String("memprofile", "", "write a heap profile after start to `FILE`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *n < 1 || *domains < 1 || *hosts < 1 || *queries < 1 {
		fmt.Fprintln(stderr, "envbench: bad arguments: counts must be 1 or more, no positional arguments")
		return 2
	}
	stopProfile, err := bench.StartCPUProfile(*cpuprofile)
	if err != nil {
		fmt.Fprintf(stderr, "envbench: %v\n", err)
		return 1
	}
	defer stopProfile()
	var out any
	switch *mode {
	case "start":
		out, err = startMode(*n)
	case "scale":
		out, err = scaleMode(*domains, *hosts, *queries, *viaHarness, *memprofile)
	default:
		fmt.Fprintf(stderr, "envbench: -mode %q: want start or scale\n", *mode)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "envbench: %v\n", err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		fmt.Fprintf(stderr, "envbench: %v\n", err)
		return 1
	}
	return 0
}

// startConfig is harness's BenchmarkStartEnv network: two zones, three
// hosts (one offering STARTTLS), no relay.
func startConfig() harness.Config {
	return harness.Config{
		Zones: []fakedns.Zone{
			{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test."}}},
			{Name: "origin.test", Records: map[string][]string{"@": {"MX 10 mx.origin.test."}}},
		},
		Hosts: []harness.Host{
			{Name: "mx1.example.test"},
			{Name: "mx2.example.test", Behavior: fakesmtp.Behavior{TLS: fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered}}},
			{Name: "mx.origin.test"}, // every MX points at a host (Config is checked as a scenario)
		},
	}
}

func startMode(n int) (startResult, error) {
	cfg := startConfig()
	ds := make([]float64, 0, n)
	for i := range n {
		t0 := time.Now()
		env, err := harness.New(context.Background(), cfg)
		if err != nil {
			return startResult{}, fmt.Errorf("start %d: %w", i, err)
		}
		if err := env.Close(); err != nil {
			return startResult{}, fmt.Errorf("close %d: %w", i, err)
		}
		ds = append(ds, float64(time.Since(t0)))
	}
	med, _ := bench.Median(ds)
	p90, _ := bench.Percentile(ds, 90)
	return startResult{N: n, MedianNS: int64(med), P90NS: int64(p90)}, nil
}

// scaleZones returns one zone per domain (MX to host i%hosts, a TXT) and
// the names of the hosts, all under hosts.test.
func scaleZones(domains, hosts int) ([]fakedns.Zone, []string) {
	names := make([]string, hosts)
	for k := range names {
		names[k] = "mx" + strconv.Itoa(k) + ".hosts.test"
	}
	zones := make([]fakedns.Zone, 0, domains+1)
	for i := range domains {
		zones = append(zones, fakedns.Zone{
			Name: "d" + strconv.Itoa(i) + ".test",
			Records: map[string][]string{"@": {
				"MX 10 " + names[i%hosts] + ".",
				`TXT "v=spf1 -all"`,
			}},
		})
	}
	zones = append(zones, fakedns.Zone{Name: "hosts.test", Records: map[string][]string{}})
	return zones, names
}

// network is what a scale run started, either way.
type network struct {
	dnsAddr string
	close   func() error
}

func scaleMode(domains, hosts, queries int, viaHarness bool, memprofile string) (scaleResult, error) {
	res := scaleResult{Via: "components", Domains: domains, Hosts: hosts, Queries: queries}
	if viaHarness {
		res.Via = "harness"
	}
	zones, names := scaleZones(domains, hosts)
	t0 := time.Now()
	var nw network
	var err error
	if viaHarness {
		nw, err = startHarness(zones, names)
	} else {
		nw, err = startComponents(zones, names)
	}
	if err != nil {
		return res, err
	}
	res.StartNS = int64(time.Since(t0))
	res.RSS = procStatus("VmRSS")
	if memprofile != "" {
		if err := writeHeap(memprofile); err != nil {
			nw.close()
			return res, err
		}
	}
	lat, answered, qerr := lookups(nw.dnsAddr, domains, queries)
	t1 := time.Now()
	cerr := nw.close()
	res.CloseNS = int64(time.Since(t1))
	res.HWM = procStatus("VmHWM")
	if err := errors.Join(qerr, cerr); err != nil {
		return res, err
	}
	res.Answered = answered
	p50, _ := bench.Percentile(lat, 50)
	p99, _ := bench.Percentile(lat, 99)
	res.P50NS, res.P99NS = int64(p50), int64(p99)
	return res, nil
}

func startHarness(zones []fakedns.Zone, names []string) (network, error) {
	hs := make([]harness.Host, len(names))
	for i, n := range names {
		hs[i] = harness.Host{Name: n}
	}
	env, err := harness.New(context.Background(), harness.Config{Zones: zones, Hosts: hs})
	if err != nil {
		return network{}, fmt.Errorf("harness: %w", err)
	}
	return network{dnsAddr: env.DNSAddr(), close: env.Close}, nil
}

// hostsPerSubnet is how many hosts startComponents puts in one /24
// (.10 to .249), like harness's plan.
const hostsPerSubnet = 240

// startComponents starts len(names) fakesmtp hosts on one port across
// consecutive /24s of 127.A.0.0/16 and a fakedns server with the zones
// plus an A record per host, all writing into one journal.
func startComponents(zones []fakedns.Zone, names []string) (network, error) {
	j := journal.New()
	ca, err := fakesmtp.NewCA()
	if err != nil {
		return network{}, fmt.Errorf("ca: %w", err)
	}
	a := byte(100 + rand.IntN(150))
	b0 := rand.IntN(256 - (len(names)/hostsPerSubnet + 2))
	addr := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{127, a, byte(b0 + i/hostsPerSubnet), byte(10 + i%hostsPerSubnet)})
	}
	var started []*fakesmtp.Host
	closeAll := func() error {
		var errs []error
		for _, h := range started {
			errs = append(errs, h.Close())
		}
		return errors.Join(errs...)
	}
	port := 0
	hostsZone := zones[len(zones)-1]
	for i, n := range names {
		h, err := fakesmtp.NewHost(fakesmtp.Config{
			Name:    n,
			Addr:    netip.AddrPortFrom(addr(i), uint16(port)).String(),
			CA:      ca,
			Journal: j,
		})
		if err != nil {
			closeAll()
			return network{}, fmt.Errorf("host %d: %w", i, err)
		}
		started = append(started, h)
		if port == 0 {
			port = int(netip.MustParseAddrPort(h.Addr()).Port())
		}
		hostsZone.Records[n+"."] = []string{"A " + addr(i).String()}
	}
	dnsIP := netip.AddrFrom4([4]byte{127, a, byte(b0), 53})
	s, err := fakedns.NewServer(fakedns.Config{Addr: netip.AddrPortFrom(dnsIP, 0).String(), Zones: zones, Journal: j})
	if err != nil {
		closeAll()
		return network{}, fmt.Errorf("dns: %w", err)
	}
	return network{dnsAddr: s.Addr(), close: func() error { return errors.Join(closeAll(), s.Close()) }}, nil
}

// lookups sends n MX queries for random domains, one at a time over one
// UDP socket, and returns each round trip in nanoseconds and how many got
// NOERROR with an answer.
func lookups(addr string, domains, n int) ([]float64, int, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, 0, fmt.Errorf("lookups: %w", err)
	}
	defer conn.Close()
	buf := make([]byte, 1232)
	lat := make([]float64, 0, n)
	ok := 0
	for i := range n {
		m := new(dns.Msg)
		m.SetQuestion("d"+strconv.Itoa(rand.IntN(domains))+".test.", dns.TypeMX)
		q, err := m.Pack()
		if err != nil {
			return nil, 0, fmt.Errorf("lookups: pack: %w", err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		t0 := time.Now()
		if _, err := conn.Write(q); err != nil {
			return nil, 0, fmt.Errorf("lookups: query %d: %w", i, err)
		}
		k, err := conn.Read(buf)
		if err != nil {
			return nil, 0, fmt.Errorf("lookups: query %d: %w", i, err)
		}
		lat = append(lat, float64(time.Since(t0)))
		var a dns.Msg
		if a.Unpack(buf[:k]) == nil && a.Rcode == dns.RcodeSuccess && len(a.Answer) > 0 {
			ok++
		}
	}
	return lat, ok, nil
}

// procStatus returns a "kB" field of /proc/self/status in bytes, or 0.
func procStatus(key string) int64 {
	runtime.GC() // count what is live, not garbage waiting for the next cycle
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		return kb * 1024
	}
	return 0
}

func writeHeap(path string) error {
	runtime.GC()
	return bench.WriteProfile(path, "heap")
}
