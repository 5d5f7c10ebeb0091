package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/internal/relay"
	"github.com/mxsim/mxsim/scenarios"
)

// relayFlags are the flags that choose the relay under test, shared by
// run and the commands to come.
type relayFlags struct {
	kind       string
	submit     string
	user       string
	password   string
	flushCmd   string
	resetCmd   string        // -reset-cmd
	cmdTimeout time.Duration // -cmd-timeout: bounds -flush-cmd and -reset-cmd
	dnsAddr    string
	smtpPort   int
	caDir      string       // -ca
	ca         *fakesmtp.CA // loaded from caDir by loadCA
}

func (f *relayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "relay", "", "relay under test, `kind`: reference (in process), external (an MTA already running: -submit), or postfix, exim, opensmtpd\n"+
		"(that MTA in a container; needs Docker). Default: what each scenario's relay section says, reference unless set")
	fs.StringVar(&f.submit, "submit", "", "external relay: `HOST:PORT` where it accepts submissions")
	fs.StringVar(&f.user, "submit-user", "", "external relay: AUTH `user` for submission")
	fs.StringVar(&f.password, "submit-password", "", "external relay: AUTH `password` for submission")
	fs.StringVar(&f.flushCmd, "flush-cmd", "", "external relay: shell `command` that makes it retry its queue (e.g. \"postqueue -f\")")
	fs.StringVar(&f.resetCmd, "reset-cmd", "", "external relay: shell `command` run before each scenario that empties its queue and what it keeps per host or domain")
	f.cmdTimeout = harness.DefaultCmdTimeout
	fs.Var((*positiveDuration)(&f.cmdTimeout), "cmd-timeout", "external relay: time `limit` of -flush-cmd and -reset-cmd; a command still running is killed, and its scenario is an error")
	fs.StringVar(&f.dnsAddr, "dns-addr", "", "fixed DNS address `IP:PORT` (e.g. 127.0.0.53:53); the k-th scenario's hosts get the k-th /24 after its /24 (127.0.1.10 and up, then 127.0.2.10, …); -relay postfix, exim and opensmtpd need port 53")
	fs.IntVar(&f.smtpPort, "smtp-port", 0, "fixed SMTP `port` of every simulated host (e.g. 25); not used by -relay postfix, whose hosts are on port 25")
	fs.StringVar(&f.caDir, "ca", "", caFlagUsage)
}

// positiveDuration is a flag.Value for a duration above zero.
type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }

func (d *positiveDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return errors.New("want a positive duration such as 30s")
	}
	*d = positiveDuration(v)
	return nil
}

// loadCA loads the CA -ca names, if any; the error names the flag.
func (f *relayFlags) loadCA() (err error) {
	f.ca, err = loadCAFlag(f.caDir)
	return err
}

// check validates the combination; the error names the flag.
func (f *relayFlags) check() error {
	switch f.kind {
	case "", "reference":
		if f.submit != "" || f.flushCmd != "" || f.resetCmd != "" {
			return errors.New("-submit, -flush-cmd and -reset-cmd go with -relay external")
		}
	case "external":
		if f.submit == "" {
			return errors.New("-relay external needs -submit HOST:PORT")
		}
		if _, err := netip.ParseAddrPort(f.submit); err != nil {
			return fmt.Errorf("-submit %q: want IP:PORT", f.submit)
		}
	default:
		if containerMTAs[f.kind] == nil {
			return fmt.Errorf("-relay %q: want reference, external, %s", f.kind, strings.Join(containerKinds(), ", "))
		}
		if err := checkContainerFlags(f); err != nil {
			return err
		}
	}
	if f.smtpPort < 0 || f.smtpPort > 65535 {
		return fmt.Errorf("-smtp-port %d: out of range", f.smtpPort)
	}
	if f.dnsAddr != "" {
		ap, err := netip.ParseAddrPort(f.dnsAddr)
		if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
			return fmt.Errorf("-dns-addr %q: want a loopback IPv4 IP:PORT such as 127.0.0.53:53", f.dnsAddr)
		}
	}
	return nil
}

// fixed reports whether the addresses are fixed, so scenarios must run one
// at a time.
func (f *relayFlags) fixed() bool { return f.dnsAddr != "" || f.smtpPort != 0 }

func (f *relayFlags) plan() harness.Plan {
	var p harness.Plan
	if f.dnsAddr != "" {
		ap := netip.MustParseAddrPort(f.dnsAddr)
		p.Subnet = netip.PrefixFrom(ap.Addr(), 24).Masked()
		p.DNSPort = int(ap.Port())
	}
	p.SMTPPort = f.smtpPort
	return p
}

// relaySuite is the relay under test for a whole run.
type relaySuite struct {
	name string       // for reports; "" lets each scenario name its own
	plan harness.Plan // address plan of every scenario
	// configurable: the relay is set up for each scenario from the
	// scenario's relay section (the reference relay, Postfix), rather
	// than configured once by its operator (an external relay).
	configurable bool
	// relay returns the relay for one scenario; nil lets the scenario
	// choose (the reference relay, configured from the scenario).
	relay func(sc *scenarios.Scenario) (harness.Relay, error)
	close func() error // ends the run's relay; nil: nothing to end
	ca    *fakesmtp.CA // signs the hosts' certificates; nil: a fresh CA per scenario
	// profile describes a relay configured by its operator (external):
	// a scenario it does not fit is not applicable. Nil: none.
	profile *harness.Profile
	// variant plants a bug in the reference relay (-variant); "": none.
	variant string
}

// open starts what the run's relay needs (a Postfix container is started
// once, not per scenario).
func (f *relayFlags) open(ctx context.Context, stderr io.Writer) (*relaySuite, error) {
	switch f.kind {
	case "external":
		cfg := harness.ExternalConfig{Submit: f.submit, User: f.user, Password: f.password, FlushCmd: f.flushCmd,
			ResetCmd: f.resetCmd, CmdTimeout: f.cmdTimeout}
		return &relaySuite{name: "external " + f.submit, plan: f.plan(),
			relay: func(*scenarios.Scenario) (harness.Relay, error) { return harness.External(cfg), nil }}, nil
	}
	if containerMTAs[f.kind] != nil {
		return openContainer(ctx, f, stderr)
	}
	return &relaySuite{plan: f.plan(), configurable: true}, nil
}

// End releases the run's relay.
func (s *relaySuite) End() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// reportFlags are the report files a run writes.
type reportFlags struct {
	junit, json, html string
	jsonRaw           bool // -json-raw: the JSON report keeps the bytes of the messages
}

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.junit, "junit", "", "write a JUnit XML report to `FILE`")
	fs.StringVar(&f.json, "json", "", "write a JSON report to `FILE`")
	fs.StringVar(&f.html, "html", "", "write a self-contained HTML report to `FILE`")
	fs.BoolVar(&f.jsonRaw, "json-raw", false, "the JSON report keeps the bytes of every message (base64); default: their size and SHA-256 only")
}

// write writes every report asked for; a report that cannot be written is
// an error, and the others are still written.
func (f *reportFlags) write(title string, results []report.Result) error {
	var errs []error
	for _, r := range []struct {
		path  string
		write func(io.Writer) error
	}{
		{f.junit, func(w io.Writer) error { return report.WriteJUnit(w, "mxsim", results) }},
		{f.json, func(w io.Writer) error {
			return report.WriteJSONWith(w, results, report.JSONOptions{Raw: f.jsonRaw})
		}},
		{f.html, func(w io.Writer) error { return report.WriteHTML(w, title, results) }},
	} {
		if r.path == "" {
			continue
		}
		errs = append(errs, writeFile(r.path, r.write))
	}
	return errors.Join(errs...)
}

// writeFile writes through a temporary file and renames it, so that a
// report is never left half-written.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(dirOf(path), ".mxsim-report-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// A report is for reading (CreateTemp makes it private).
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			if i == 0 {
				return "/"
			}
			return path[:i]
		}
	}
	return "."
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim run [flags] FILE|DIR...")
		fmt.Fprintln(stderr, "\nRuns scenarios (YAML files; directories are searched for *.yaml) and reports what the network did.")
		fmt.Fprintln(stderr, "Against an MTA already running (-relay external, with -dns-addr and -smtp-port), the relay profile")
		fmt.Fprintln(stderr, "flags (-route, -tls, -smarthost, … or -profile FILE) say how it is configured: a scenario whose relay")
		fmt.Fprintln(stderr, "section asks for another configuration is not applicable. See docs/scenarios.md.")
		fmt.Fprintln(stderr, "Exit status: 0 all passed, 1 any failed or could not run, 2 usage error.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	parallel := fs.Int("p", runtime.GOMAXPROCS(0)*2, "run up to `N` scenarios at once")
	var rf relayFlags
	rf.register(fs)
	var pf profileFlags
	pf.register(fs)
	var out reportFlags
	out.register(fs)
	variant := fs.String("variant", "", "run the reference relay with a planted bug (`NAME`; see mxsim conformance -list-variants), to see a scenario catch it")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "mxsim run: no scenario given (want FILE or DIR)")
		fs.Usage()
		return exitUsage
	}
	if *parallel < 1 {
		fmt.Fprintf(stderr, "mxsim run: -p %d: want 1 or more\n", *parallel)
		return exitUsage
	}
	if err := rf.check(); err != nil {
		fmt.Fprintf(stderr, "mxsim run: %v\n", err)
		return exitUsage
	}
	if *variant != "" {
		if _, ok := relay.LookupVariant(*variant); !ok {
			fmt.Fprintf(stderr, "mxsim run: -variant %q: no such variant (mxsim conformance -list-variants)\n", *variant)
			return exitUsage
		}
		if rf.kind != "" && rf.kind != "reference" {
			fmt.Fprintf(stderr, "mxsim run: -variant goes with the reference relay, not -relay %s\n", rf.kind)
			return exitUsage
		}
	}
	if err := rf.loadCA(); err != nil {
		fmt.Fprintf(stderr, "mxsim run: %v\n", err)
		return exitUsage
	}
	profile, err := pf.profile()
	if err != nil {
		fmt.Fprintf(stderr, "mxsim run: %v\n", err)
		return exitUsage
	}
	if rf.kind != "external" && profile != (harness.Profile{}) {
		fmt.Fprintf(stderr, "mxsim run: %s\n", errProfileNotExternal)
		return exitUsage
	}
	if err := checkExternalAddrs(&rf); err != nil {
		fmt.Fprintf(stderr, "mxsim run: %v\n", err)
		return exitUsage
	}
	if rf.fixed() && *parallel > 1 {
		// Fixed addresses can serve one network at a time.
		*parallel = 1
	}

	scs, err := scenarios.LoadAllContext(ctx, fs.Args()...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	if len(scs) == 0 {
		fmt.Fprintf(stderr, "mxsim run: no scenarios found in %v\n", fs.Args())
		return exitFail
	}

	start := time.Now()
	suite, err := rf.open(ctx, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim run: relay %s: %v\n", rf.kind, err)
		return exitFail
	}
	suite.ca = rf.ca
	suite.variant = *variant
	if rf.kind == "external" {
		suite.profile = &profile
	}
	if suite.plan.DNSPort != 0 || suite.plan.SMTPPort != 0 {
		*parallel = 1 // fixed addresses serve one network at a time
	}
	results := runAll(ctx, scs, *parallel, suite, stdout)
	if err := suite.End(); err != nil {
		fmt.Fprintf(stderr, "mxsim run: relay %s: %v\n", rf.kind, err)
	}
	elapsed := time.Since(start)
	fmt.Fprintln(stdout)
	report.Summary(stdout, results, elapsed)

	code := exitOK
	for _, r := range results {
		if !r.Verdict.OK(false) {
			code = exitFail
		}
	}
	if err := out.write("mxsim run", results); err != nil {
		fmt.Fprintf(stderr, "mxsim run: %v\n", err)
		code = exitFail
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "mxsim run: interrupted; %d of %d scenarios finished\n", countFinished(results), len(scs))
		code = exitFail
	}
	return code
}

// runAll runs scenarios on n workers, printing a progress line as each
// finishes, and returns the results in the scenarios' order. After ctx is
// cancelled, scenarios not yet started are reported as errors.
func runAll(ctx context.Context, scs []*scenarios.Scenario, n int, suite *relaySuite, progress io.Writer) []report.Result {
	results := make([]report.Result, len(scs))
	jobs := make(chan int)
	var mu sync.Mutex // serialises progress lines
	var wg sync.WaitGroup
	for w := 0; w < n && w < len(scs); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := runOne(ctx, scs[i], i, suite)
				results[i] = r
				mu.Lock()
				report.Progress(progress, r)
				mu.Unlock()
			}
		}()
	}
	for i := range scs {
		if ctx.Err() != nil {
			results[i] = report.Result{Name: scs[i].Name, File: scs[i].File, Verdict: report.Error, Reason: "not run: interrupted", Started: time.Now()}
			continue
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			results[i] = report.Result{Name: scs[i].Name, File: scs[i].File, Verdict: report.Error, Reason: "not run: interrupted", Started: time.Now()}
		}
	}
	close(jobs)
	wg.Wait()
	return results
}

// runOne runs the i-th scenario of the run against the run's relay. On
// fixed addresses it has host addresses of its own (Plan.ForCase).
func runOne(ctx context.Context, sc *scenarios.Scenario, i int, suite *relaySuite) report.Result {
	opts := harness.RunOptions{RelayName: suite.name, Plan: suite.plan.ForCase(i), CA: suite.ca, Profile: suite.profile}
	if v := suite.variant; v != "" {
		opts.Configure = func(c *harness.ReferenceConfig) { c.Variant = v }
		opts.RelayName = "reference (variant " + v + ")"
	}
	if suite.relay != nil {
		r, err := suite.relay(sc)
		if err != nil {
			// A setting this relay cannot take at all (OpenSMTPD has no
			// retry interval) makes the scenario not applicable, as in
			// conformance; any other refusal is an error.
			v := report.Error
			if errors.Is(err, harness.ErrUnsupported) {
				v = report.NotApplicable
			}
			return report.Result{Name: sc.Name, File: sc.File, Relay: suite.name, Verdict: v,
				Reason: err.Error(), Started: time.Now()}
		}
		opts.Relay = r
	}
	return harness.Run(ctx, sc, opts)
}

func countFinished(results []report.Result) int {
	n := 0
	for _, r := range results {
		if r.Reason != "not run: interrupted" && r.Verdict != "" {
			n++
		}
	}
	return n
}

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "mxsim validate: no scenario given (want FILE or DIR)")
		return exitUsage
	}
	// An interrupt (SIGINT, SIGTERM: see main) stops the loading between
	// files and within a large file.
	scs, err := scenarios.LoadAllContext(ctx, fs.Args()...)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(stderr, "mxsim validate: interrupted (%v)\n", err)
		return exitFail
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	names := make([]string, 0, len(scs))
	for _, s := range scs {
		names = append(names, s.File)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(stdout, "ok  %s\n", n)
	}
	fmt.Fprintf(stdout, "%d scenario(s) valid\n", len(scs))
	return exitOK
}

func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "mxsim schema: unexpected argument %q\n", args[0])
		return exitUsage
	}
	stdout.Write(scenarios.Schema())
	return exitOK
}
