package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/load"
	"github.com/mxsim/mxsim/internal/relay"
	"github.com/mxsim/mxsim/scenarios"
)

// loadFlags are the flags of mxsim load beyond the relay's.
type loadFlags struct {
	variant    string
	scenario   string
	network    load.Network
	rate       float64
	conns      int
	perSession int
	messages   int
	duration   time.Duration
	rcpts      int
	sizes      load.Sizes
	chaos      string
	seed       uint64
	drain      time.Duration
	retry      time.Duration
	printChaos bool
	json, html string
	metrics    string
}

func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.variant, "variant", "", "run the reference relay with a planted bug (`NAME`; see mxsim conformance -list-variants), to see the check catch it")
	fs.StringVar(&f.scenario, "scenario", "", "take the network from scenario `FILE` (its zones and hosts; its steps are not run) instead of generating one")
	f.network = load.Network{Domains: 200, Hosts: 20, NullMX: 0.02, NXDomain: 0.02}
	fs.Var(countValue{&f.network.Domains, 1}, "domains", "generated network: `N` mail domains")
	fs.Var(countValue{&f.network.Hosts, 1}, "hosts", "generated network: `M` MX hosts")
	fs.Var(shareValue{&f.network.NullMX}, "null-mx", "generated network: `SHARE` (0 to 1) of the domains with a null MX, whose mail bounces")
	fs.Var(shareValue{&f.network.NXDomain}, "nxdomain", "generated network: `SHARE` (0 to 1) of the domains that do not exist (NXDOMAIN), whose mail bounces")
	f.rate = 100
	fs.Var(rateValue{&f.rate}, "rate", "submit `N` messages per second")
	f.conns = 4
	fs.Var(countValue{&f.conns, 1}, "c", "submit over `C` connections at once")
	f.perSession = 100
	fs.Var(countValue{&f.perSession, 1}, "per-session", "send up to `N` messages per connection, then QUIT and connect again (keeps new connections few)")
	f.messages = 1000
	fs.Var(countValue{&f.messages, 1}, "messages", "submit `N` messages (or see -duration)")
	fs.Var((*positiveDuration)(&f.duration), "duration", "submit for `DURATION` at -rate, instead of -messages")
	f.rcpts = 2
	fs.Var(countValue{&f.rcpts, 1}, "rcpts", "`K` recipients per message (three in four in the first one's domain)")
	f.sizes = load.Sizes{Min: 1000}
	fs.Var(sizeValue{&f.sizes}, "size", "message body `SIZE` in bytes (1000, 4k, 1m) or a range MIN-MAX, drawn log-uniform (1k-64k)")
	fs.StringVar(&f.chaos, "chaos", "none", "chaos `SCHEDULE`: none, flaky, storm (drawn from -seed over the run's length), or a YAML file (docs/load.md)")
	f.seed = 1
	fs.Var(seedValue{&f.seed}, "seed", "`SEED` that draws the network, the messages and the chaos: the same seed, the same run")
	f.drain = 2 * time.Minute
	fs.Var((*positiveDuration)(&f.drain), "drain", "after submission, flush the relay until its queue is empty or `DURATION` passes")
	f.retry = load.DefaultRetryInterval
	fs.Var((*positiveDuration)(&f.retry), "retry-interval", "ask the relay (reference, postfix, exim, opensmtpd) to retry deferred mail every `DURATION`")
	fs.BoolVar(&f.printChaos, "print-chaos", false, "print the chaos schedule and exit")
	fs.StringVar(&f.json, "json", "", "write the result as JSON to `FILE` (- for stdout)")
	fs.StringVar(&f.html, "html", "", "write an HTML report with charts to `FILE` (- for stdout)")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus counters at http://`ADDR`/metrics while the run goes on (loopback only, such as 127.0.0.1:9464; docs/metrics.md)")
}

// countValue is an int flag of at least min.
type countValue struct {
	p   *int
	min int
}

func (v countValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v countValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < v.min {
		return fmt.Errorf("want a whole number, %d or more", v.min)
	}
	*v.p = n
	return nil
}

// shareValue is a float flag from 0 to 1.
type shareValue struct{ p *float64 }

func (v shareValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v shareValue) Set(s string) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(x >= 0 && x <= 1) {
		return errors.New("want a share from 0 to 1, such as 0.02")
	}
	*v.p = x
	return nil
}

// rateValue is a rate above 0.
type rateValue struct{ p *float64 }

func (v rateValue) String() string { return shareValue(v).String() }

func (v rateValue) Set(s string) error {
	x, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "/s"), 64)
	if err != nil || !(x > 0) || math.IsInf(x, 0) || x > 1e6 {
		return errors.New("want messages per second above 0, such as 200")
	}
	*v.p = x
	return nil
}

type seedValue struct{ p *uint64 }

func (v seedValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatUint(*v.p, 10)
}

func (v seedValue) Set(s string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return errors.New("want a whole number, 0 or more")
	}
	*v.p = n
	return nil
}

// sizeValue is a size or a range of sizes.
type sizeValue struct{ p *load.Sizes }

func (v sizeValue) String() string {
	if v.p == nil {
		return ""
	}
	if v.p.Max > v.p.Min {
		return fmt.Sprintf("%d-%d", v.p.Min, v.p.Max)
	}
	return strconv.Itoa(v.p.Min)
}

func (v sizeValue) Set(s string) error {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err1 := parseSize(lo)
	b := a
	var err2 error
	if isRange {
		b, err2 = parseSize(hi)
	}
	if err1 != nil || err2 != nil || b < a {
		return errors.New("want a size in bytes (1000, 4k, 1m) or a range MIN-MAX such as 1k-64k")
	}
	*v.p = load.Sizes{Min: a, Max: b}
	return nil
}

func parseSize(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1<<10, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		mult, s = 1<<20, strings.TrimSuffix(s, "m")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > (64<<20)/mult {
		return 0, errors.New("bad size")
	}
	return n * mult, nil
}

var (
	_ flag.Value = countValue{}
	_ flag.Value = shareValue{}
	_ flag.Value = rateValue{}
	_ flag.Value = seedValue{}
	_ flag.Value = sizeValue{}
)

// runLoad is mxsim load.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim load [flags]")
		fmt.Fprintln(stderr, "\nSubmits many messages to a relay at a target rate while a chaos schedule makes the network fail,")
		fmt.Fprintln(stderr, "flushes the relay, then checks from the journal that every recipient was delivered exactly once,")
		fmt.Fprintln(stderr, "bounced where the network said 5yz, or is still queued; prints rates, latencies and costs. See docs/load.md.")
		fmt.Fprintln(stderr, "Exit status: 0 nothing lost or duplicated, 1 anything lost, duplicated or not checkable, 2 usage error.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	var rf relayFlags
	rf.register(fs)
	var lf loadFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usageErr := func(err error) int {
		fmt.Fprintf(stderr, "mxsim load: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["duration"] {
		if set["messages"] {
			return usageErr(errors.New("-messages and -duration: give one of them"))
		}
		lf.messages = max(1, int(math.Ceil(lf.rate*lf.duration.Seconds())))
	}
	if lf.json == "-" && lf.html == "-" {
		return usageErr(errors.New("-json - and -html -: only one report can go to stdout"))
	}
	if lf.metrics != "" {
		if err := checkMetricsAddr(lf.metrics); err != nil {
			return usageErr(fmt.Errorf("-metrics %q: %w", lf.metrics, err))
		}
	}
	if lf.network.NullMX+lf.network.NXDomain > 1 {
		return usageErr(errors.New("-null-mx and -nxdomain: together more than all the domains"))
	}
	if lf.scenario != "" {
		for _, name := range []string{"domains", "hosts", "null-mx", "nxdomain"} {
			if set[name] {
				return usageErr(fmt.Errorf("-%s describes a generated network, not -scenario", name))
			}
		}
	}
	if err := rf.check(); err != nil {
		return usageErr(err)
	}
	if lf.variant != "" {
		if _, ok := relay.LookupVariant(lf.variant); !ok {
			return usageErr(fmt.Errorf("-variant %q: no such variant (mxsim conformance -list-variants)", lf.variant))
		}
		if rf.kind != "" && rf.kind != "reference" {
			return usageErr(fmt.Errorf("-variant goes with the reference relay, not -relay %s", rf.kind))
		}
	}
	if err := rf.loadCA(); err != nil {
		return usageErr(err)
	}
	if err := checkExternalAddrs(&rf); err != nil {
		return usageErr(err)
	}

	cfg := load.Config{Rate: lf.rate, Conns: lf.conns, PerSession: lf.perSession, Messages: lf.messages,
		Recipients: lf.rcpts, Sizes: lf.sizes, Seed: lf.seed, Drain: lf.drain, Network: lf.network, CA: rf.ca,
		RelaySettings: harness.RelaySettings{RetryInterval: lf.retry}}
	if lf.scenario != "" {
		sc, err := scenarios.LoadFile(lf.scenario)
		if err != nil {
			fmt.Fprintf(stderr, "mxsim load: -scenario: %v\n", err)
			return exitUsage
		}
		cfg.Scenario = sc
	}
	sched, err := chaosSchedule(lf, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim load: -chaos: %v\n", err)
		return exitUsage
	}
	cfg.Chaos = sched
	if lf.printChaos {
		fmt.Fprint(stdout, sched.String())
		return exitOK
	}

	human := stdout
	if lf.json == "-" || lf.html == "-" {
		human = stderr
	}
	kind := rf.kind
	if kind == "" {
		kind = "reference"
	}
	if lf.metrics != "" {
		// Bound before the relay starts: a port in use is a usage error
		// and nothing has started. Closed after the reports are written,
		// so that a scrape at the end sees the whole run.
		m, err := listenMetrics(lf.metrics)
		if err != nil {
			return usageErr(fmt.Errorf("-metrics %q: %w", lf.metrics, err))
		}
		defer func() {
			if err := m.Close(); err != nil {
				fmt.Fprintf(stderr, "mxsim load: %v\n", err)
			}
		}()
		cfg.Journal = m.attach
		fmt.Fprintf(human, "metrics: %s\n", m.URL())
	}
	if kind != "reference" {
		fmt.Fprintf(stderr, "mxsim load: starting relay %s…\n", kind)
	}
	suite, err := rf.open(ctx, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim load: relay %s: %v\n", kind, err)
		return exitFail
	}
	defer func() {
		if err := suite.End(); err != nil {
			fmt.Fprintf(stderr, "mxsim load: relay %s: %v\n", kind, err)
		}
	}()
	if err := suite.reachable(ctx, nil); err != nil {
		fmt.Fprintf(stderr, "mxsim load: relay %s: %v\n", suite.name, err)
		return exitFail
	}
	cfg.Plan = suite.plan.ForCase(0)
	cfg.RelayName = suite.name
	if suite.relay != nil {
		r, err := suite.relay(&scenarios.Scenario{})
		if err != nil {
			fmt.Fprintf(stderr, "mxsim load: relay %s: %v\n", kind, err)
			return exitFail
		}
		cfg.Relay = r
	} else {
		cfg.Relay = harness.Reference(harness.ReferenceConfig{Variant: lf.variant})
		cfg.RelayName = "reference"
		if lf.variant != "" {
			cfg.RelayName = "reference (variant " + lf.variant + ")"
		}
	}

	fmt.Fprint(human, sched.String())
	lines := newLoadProgress(stderr)
	cfg.Progress = lines.show
	res, err := load.Run(ctx, cfg)
	lines.close()
	if err != nil {
		fmt.Fprintf(stderr, "mxsim load: %v\n", err)
		if errors.Is(err, load.ErrConfig) || errors.Is(err, load.ErrSchedule) {
			return exitUsage
		}
		return exitFail
	}
	load.WriteSummary(human, res)
	code := exitOK
	if !res.OK() {
		code = exitFail
	}
	for _, r := range []struct {
		path  string
		write func(io.Writer) error
	}{
		{lf.json, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}},
		{lf.html, func(w io.Writer) error { return load.WriteHTML(w, res) }},
	} {
		var err error
		switch r.path {
		case "":
			continue
		case "-":
			err = r.write(stdout)
		default:
			err = writeFile(r.path, r.write)
			if err == nil {
				fmt.Fprintf(human, "report written: %s\n", r.path)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "mxsim load: %v\n", err)
			code = exitFail
		}
	}
	return code
}

// chaosSchedule returns the schedule -chaos names: a built-in one drawn
// from the seed over the run's planned length, or a YAML file.
func chaosSchedule(lf loadFlags, cfg load.Config) (load.Schedule, error) {
	if slices.Contains(load.Builtins(), lf.chaos) {
		hosts, domains, err := cfg.Targets()
		if err != nil {
			return load.Schedule{}, err
		}
		return load.Builtin(lf.chaos, lf.seed, cfg.Length(), hosts, domains)
	}
	data, err := os.ReadFile(lf.chaos)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return load.Schedule{}, fmt.Errorf("%q: want %s, or a YAML file", lf.chaos, strings.Join(load.Builtins(), ", "))
		}
		return load.Schedule{}, err
	}
	s, err := load.ParseSchedule(lf.chaos, data)
	if err != nil {
		return s, err
	}
	return s, cfg.CheckChaos(s)
}

// loadProgress shows how far a run is: on a terminal one line rewritten
// every second, else a plain line every heartbeatEvery.
type loadProgress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	last time.Time
	wide int
}

func newLoadProgress(w io.Writer) *loadProgress {
	return &loadProgress{w: w, tty: isTerminal(w)}
}

func (p *loadProgress) show(s load.Stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	final := s.Phase == "done"
	if !p.tty && !final && time.Since(p.last) < heartbeatEvery {
		return
	}
	p.last = time.Now()
	queued := ""
	if s.Queued >= 0 && (s.Phase == "drain" || final) {
		queued = fmt.Sprintf(", %d queued", s.Queued)
	}
	line := fmt.Sprintf("%6s  submitted %d/%d (%d accepted, %.0f/s)  delivered %d  deferred %d  bounced %d%s  [%s]",
		s.Elapsed.Truncate(time.Second), s.Submitted, s.Planned, s.Accepted, float64(s.Accepted)/max(s.Elapsed.Seconds(), 0.001),
		s.Delivered, s.Deferred, s.Bounced, queued, s.Phase)
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := ""
	if n := p.wide - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.wide = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	if final {
		fmt.Fprintln(p.w)
		p.wide = 0
	}
}

// close ends a terminal line left open.
func (p *loadProgress) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.wide > 0 {
		fmt.Fprintln(p.w)
		p.wide = 0
	}
}
