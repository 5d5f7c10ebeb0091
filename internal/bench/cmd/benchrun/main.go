// Command benchrun runs every measurement of `make bench` and writes
// docs/benchmarks.md (see package bench for the flow), keeping the
// hand-written part at its end (bench.KeptMarker). It expects the
// reference tools (smtp-sink, smtp-source, nsd, dnsperf) on PATH and the
// drivers built into -bin (sink, dnsserve, envbench, mxsim); scripts/bench.sh
// sees to both.
//
// Every process it starts runs in a process group of its own and is
// stopped when its measurement ends, when a measurement fails, and on
// SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/mxsim/mxsim/internal/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config holds the flags.
type config struct {
	bin, out, work, scenarios, command string
	runs                               int
	only                               map[string]bool

	smtpSessions, smtpMsgs, smtpBigMsgs int
	pin                                 bool // SMTP targets with the server and smtp-source on a core each
	cpus                                int  // CPUs this process may use

	dnsSeconds, dnsClients, dnsDomains int
	dnsLatencyQPS, dnsLatencySeconds   int

	envCycles, scaleDomains, scaleHosts int

	mtaRuns   int      // conformance runs per relay
	mtaRelays []string // relay kinds, reference first

	// The sink section (sink.go).
	sinkMsgs, sinkSessions int          // Postfix comparison: messages per side per run, smtp-source sessions
	sinkSubnet             netip.Prefix // Postfix comparison: the /24 of its resolver and smtp-sink; zero: random
	netHosts, netMsgs      int          // harness limit: hosts (and smtp-source processes), messages per run
	sinkProfile            string       // CPU profile of this process during the Postfix comparison
}

// sections in the order of the issue.
var sectionNames = []string{"smtp", "dns", "env", "scale", "suite", "mta", "sink"}

func run(args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.bin, "bin", "", "`dir` holding the built drivers: sink, dnsserve, envbench, mxsim (required)")
	fs.StringVar(&c.out, "out", "docs/benchmarks.md", "Markdown `file` to write")
	fs.StringVar(&c.work, "work", "", "scratch `dir` (zone files, profiles); default a new temporary one")
	fs.StringVar(&c.scenarios, "scenarios", "testdata/scenarios", "built-in scenario `dir`")
	fs.StringVar(&c.command, "command", "make bench", "how the report says to reproduce it")
	fs.IntVar(&c.runs, "runs", 5, "`runs` per figure; figures are medians")
	only := fs.String("only", "", "comma-separated `sections` to run (smtp,dns,env,scale,suite,mta,sink); default all")
	fs.IntVar(&c.smtpSessions, "smtp-sessions", 20, "smtp-source parallel `sessions`")
	fs.IntVar(&c.smtpMsgs, "smtp-msgs", 20000, "`messages` per run with 1 KiB bodies")
	fs.BoolVar(&c.pin, "pin", true, "with 2+ CPUs, measure the SMTP targets with the server on CPU 1 and smtp-source on CPU 0 (taskset); -pin=false: shared cores only")
	fs.IntVar(&c.smtpBigMsgs, "smtp-big-msgs", 5000, "`messages` per run with 100 KiB bodies")
	fs.IntVar(&c.dnsSeconds, "dns-seconds", 10, "dnsperf throughput run `seconds`")
	fs.IntVar(&c.dnsClients, "dns-clients", 8, "dnsperf `clients` (sockets)")
	fs.IntVar(&c.dnsDomains, "dns-domains", 10000, "mail `domains` in the DNS benchmark zone")
	fs.IntVar(&c.dnsLatencyQPS, "dns-latency-qps", 10000, "offered `qps` of the latency run")
	fs.IntVar(&c.dnsLatencySeconds, "dns-latency-seconds", 3, "latency run `seconds`")
	fs.IntVar(&c.envCycles, "env-cycles", 200, "environment start+close `cycles` per run")
	fs.IntVar(&c.scaleDomains, "scale-domains", 10000, "scale run `domains`")
	fs.IntVar(&c.scaleHosts, "scale-hosts", 1000, "scale run `hosts`")
	fs.IntVar(&c.mtaRuns, "mta-runs", 1, "conformance `runs` per relay in the mta section (each MTA run starts a container)")
	mtaRelays := fs.String("mta-relays", "reference,postfix,exim,opensmtpd", "comma-separated relay `kinds` of the mta section; kinds this mxsim does not support are listed as skipped")
	fs.IntVar(&c.sinkMsgs, "sink-msgs", 2000, "sink section: `messages` per side per run that Postfix relays into smtp-sink and into mxsim")
	fs.IntVar(&c.sinkSessions, "sink-sessions", 10, "sink section: smtp-source `sessions` submitting to Postfix")
	sinkSubnet := fs.String("sink-subnet", "", "sink section: the 127.A.B.0/24 `prefix` of Postfix's resolver and smtp-sink (port 25 of .250); default a random one")
	fs.StringVar(&c.sinkProfile, "sink-cpuprofile", "", "sink section: write a CPU profile of this process (the mxsim network, the Postfix log reader) during the Postfix comparison to `file`")
	fs.IntVar(&c.netHosts, "sink-hosts", 100, "sink section: fakesmtp `hosts` (and smtp-source processes) of the harness-limit rows")
	fs.IntVar(&c.netMsgs, "sink-net-msgs", 20000, "sink section: `messages` per run of the harness-limit rows")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *sinkSubnet != "" {
		p, err := netip.ParsePrefix(*sinkSubnet)
		if err != nil || !p.Addr().Is4() || !p.Addr().IsLoopback() || p.Bits() != 24 {
			fmt.Fprintf(stderr, "benchrun: -sink-subnet: %q: want a 127.A.B.0/24\n", *sinkSubnet)
			return 2
		}
		c.sinkSubnet = p.Masked()
	}
	if c.sinkMsgs < 1 || c.sinkSessions < 1 || c.netHosts < 1 || c.netMsgs < c.netHosts {
		fmt.Fprintln(stderr, "benchrun: -sink-msgs, -sink-sessions and -sink-hosts must be at least 1, -sink-net-msgs at least -sink-hosts")
		return 2
	}
	if c.bin == "" || fs.NArg() > 0 || c.runs < 1 || c.mtaRuns < 1 {
		fmt.Fprintln(stderr, "usage: benchrun -bin DIR [-out FILE] [-runs N] [-only smtp,dns,env,scale,suite,mta,sink] [...]")
		return 2
	}
	c.mtaRelays = []string{"reference"}
	for k := range strings.SplitSeq(*mtaRelays, ",") {
		if k = strings.TrimSpace(k); k != "" && k != "reference" {
			if strings.ContainsAny(k, " \t/") || k == "external" {
				fmt.Fprintf(stderr, "benchrun: -mta-relays: %q is not a relay kind mxsim runs itself (reference, postfix, exim, opensmtpd)\n", k)
				return 2
			}
			c.mtaRelays = append(c.mtaRelays, k)
		}
	}
	c.cpus = runtime.NumCPU()
	if _, err := exec.LookPath("taskset"); c.pin && c.cpus > 1 && err != nil {
		fmt.Fprintln(stderr, "benchrun: taskset (util-linux) not found: SMTP servers and smtp-source run on shared cores only")
		c.pin = false
	}
	c.only = make(map[string]bool)
	for s := range strings.SplitSeq(*only, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		known := false
		for _, n := range sectionNames {
			known = known || n == s
		}
		if !known {
			fmt.Fprintf(stderr, "benchrun: -only: unknown section %q (want %s)\n", s, strings.Join(sectionNames, ","))
			return 2
		}
		c.only[s] = true
	}
	if c.work == "" {
		dir, err := os.MkdirTemp("", "mxsim-bench-")
		if err != nil {
			fmt.Fprintf(stderr, "benchrun: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		c.work = dir
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g := &bench.Group{}
	defer g.StopAll()

	r := &runner{c: c, g: g, log: stderr}
	rep, err := r.all(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "benchrun: %v\n", err)
		return 1
	}
	// The hand-written end of the old report (its History) is kept.
	old, err := os.ReadFile(c.out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "benchrun: %v\n", err)
		return 1
	}
	rep.Kept = bench.KeptPart(old)
	// Written aside and renamed, so that a failed run leaves the old report.
	f, err := os.CreateTemp(filepath.Dir(c.out), ".benchmarks-*.md")
	if err != nil {
		fmt.Fprintf(stderr, "benchrun: %v\n", err)
		return 1
	}
	err = errors.Join(rep.Render(f), f.Close())
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), c.out)
	}
	if err != nil {
		os.Remove(f.Name())
		fmt.Fprintf(stderr, "benchrun: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "benchrun: wrote %s (%d targets missed)\n", c.out, len(rep.Missed()))
	return 0
}

// runner carries what every measurement needs.
type runner struct {
	c   config
	g   *bench.Group
	log io.Writer
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

func (r *runner) want(section string) bool {
	return len(r.c.only) == 0 || r.c.only[section]
}

func (r *runner) binary(name string) string { return filepath.Join(r.c.bin, name) }

func (r *runner) all(ctx context.Context) (*bench.Report, error) {
	t0 := time.Now()
	rep := &bench.Report{Machine: bench.ReadMachine(), Date: t0, Runs: r.c.runs, Command: r.c.command}
	r.logf("machine: %s; load %s", rep.Machine, rep.Machine.Load)
	steps := []struct {
		name string
		fn   func(context.Context) (bench.Section, error)
	}{
		{"smtp", r.smtp},
		{"dns", r.dns},
		{"env", r.env},
		{"scale", r.scale},
		{"suite", r.suite},
		{"mta", r.mta},
		{"sink", r.sink},
	}
	for _, st := range steps {
		if !r.want(st.name) {
			continue
		}
		r.logf("== %s", st.name)
		sec, err := st.fn(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.name, err)
		}
		rep.Sections = append(rep.Sections, sec)
	}
	rep.Duration = time.Since(t0)
	return rep, nil
}

// pprofTop renders the top of a profile, trimmed to the table.
func (r *runner) pprofTop(ctx context.Context, binary, profile string, extra ...string) string {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=25"}, extra...)
	args = append(args, binary, profile)
	out, _, err := r.g.Run(ctx, "go", args...)
	if err != nil {
		return "pprof failed: " + err.Error()
	}
	var keep []string
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// Formatting helpers.

func ms(ns float64) string { return fmt.Sprintf("%.2f ms", ns/1e6) }
func us(ns float64) string { return fmt.Sprintf("%.0f µs", ns/1e3) }
func mb(b float64) string  { return fmt.Sprintf("%.0f MB", b/1e6) }
func ratio(x float64) string {
	return fmt.Sprintf("%.2f×", x)
}

func med(xs []float64) float64 {
	m, _ := bench.Median(xs)
	return m
}

func list(xs []float64, f func(float64) string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = f(x)
	}
	return strings.Join(parts, ", ")
}
