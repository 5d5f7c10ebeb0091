package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
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
	// onStep, when set, hears which step the i-th scenario is at (the
	// heartbeat on a terminal names it).
	onStep func(i, n int, kind, pos string)
	ca     *fakesmtp.CA // signs the hosts' certificates; nil: a fresh CA per scenario
	// profile describes a relay configured by its operator (external):
	// a scenario it does not fit is not applicable. Nil: none.
	profile *harness.Profile
	// variant plants a bug in the reference relay (-variant); "": none.
	variant string
	// probe checks, before any scenario, that the relay can be reached
	// (an external relay: its submission address); nil: nothing to check.
	probe func(ctx context.Context) error
}

// open starts what the run's relay needs (a Postfix container is started
// once, not per scenario).
func (f *relayFlags) open(ctx context.Context, stderr io.Writer) (*relaySuite, error) {
	switch f.kind {
	case "external":
		cfg := harness.ExternalConfig{Submit: f.submit, User: f.user, Password: f.password, FlushCmd: f.flushCmd,
			ResetCmd: f.resetCmd, CmdTimeout: f.cmdTimeout}
		return &relaySuite{name: "external " + f.submit, plan: f.plan(),
			relay: func(*scenarios.Scenario) (harness.Relay, error) { return harness.External(cfg), nil },
			probe: func(ctx context.Context) error { return probeSubmit(ctx, f.submit) }}, nil
	}
	if containerMTAs[f.kind] != nil {
		return openContainer(ctx, f, stderr)
	}
	return &relaySuite{plan: f.plan(), configurable: true}, nil
}

// probeTimeout bounds the connection to an external relay before a run,
// and the wait for its greeting.
var probeTimeout = 10 * time.Second

// probeSubmit connects once to an external relay's submission address,
// so that a relay nobody listens for is one error before any scenario
// rather than a failure of each. It reads the greeting and says QUIT: a
// greeting that refuses (4xx, 5xx) is an error too; one that does not come
// in time is not (some MTAs pause before greeting).
func probeSubmit(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("the relay does not answer at its submission address (-submit): %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	tp := textproto.NewConn(conn)
	_, _, err = tp.ReadResponse(2)
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Errorf("the relay refuses connections at its submission address %s (-submit): %d %s", addr, te.Code, te.Msg)
	}
	if err == nil {
		if tp.PrintfLine("QUIT") == nil {
			_, _, _ = tp.ReadResponse(0)
		}
	}
	return nil
}

// reachable probes the relay, if it has a probe, telling prog (nil: no
// progress) what it waits for.
func (s *relaySuite) reachable(ctx context.Context, prog *progress) error {
	if s.probe == nil {
		return nil
	}
	if prog != nil {
		prog.waitFor("relay " + s.name + " to answer")
	}
	return s.probe(ctx)
}

// End releases the run's relay.
func (s *relaySuite) End() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// reportFlags are the report files a run writes; "-" is stdout (at most
// one of them), and the run's own text then goes to stderr.
type reportFlags struct {
	junit, json, html string
	jsonRaw           bool // -json-raw: the JSON report keeps the bytes of the messages
}

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.junit, "junit", "", "write a JUnit XML report to `FILE` (- for stdout)")
	fs.StringVar(&f.json, "json", "", "write a JSON report to `FILE` (- for stdout)")
	fs.StringVar(&f.html, "html", "", "write a self-contained HTML report to `FILE` (- for stdout)")
	fs.BoolVar(&f.jsonRaw, "json-raw", false, "the JSON report keeps the bytes of every message (base64); default: their size and SHA-256 only")
}

// check: only one report can go to stdout.
func (f *reportFlags) check() error {
	var std []string
	for _, r := range []struct{ flag, path string }{{"-junit", f.junit}, {"-json", f.json}, {"-html", f.html}} {
		if r.path == "-" {
			std = append(std, r.flag+" -")
		}
	}
	if len(std) > 1 {
		return fmt.Errorf("%s: only one report can go to stdout", strings.Join(std, " and "))
	}
	return nil
}

// toStdout reports whether a report goes to stdout.
func (f *reportFlags) toStdout() bool { return f.junit == "-" || f.json == "-" || f.html == "-" }

// write writes every report asked for, the one named "-" to stdout; a
// report that cannot be written is an error, and the others are still
// written.
func (f *reportFlags) write(title string, results []report.Result, stdout io.Writer) error {
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
		switch r.path {
		case "":
		case "-":
			if err := r.write(stdout); err != nil {
				errs = append(errs, fmt.Errorf("write stdout: %w", err))
			}
		default:
			errs = append(errs, writeFile(r.path, r.write))
		}
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
	var sel selectFlags
	sel.register(fs, "scenarios")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if err := out.check(); err != nil {
		fmt.Fprintf(stderr, "mxsim run: %v\n", err)
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

	human, prog := textOut(&out, stdout, stderr)
	if prog != nil {
		defer prog.close()
	}

	scs, err := scenarios.LoadAllOptions(ctx, scenarios.LoadOptions{Skipped: func(file string) {
		fmt.Fprintf(stderr, "mxsim run: %s skipped: not a scenario (no scenario key); name the file to check it\n", file)
	}}, fs.Args()...)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(stderr, "mxsim run: interrupted (%v)\n", err)
		return exitFail
	}
	// A file that does not load is an error of its own in every report;
	// the others still run.
	var broken []report.Result
	if err != nil {
		fmt.Fprintln(stderr, err)
		broken = brokenFiles(err)
	}
	if len(scs) == 0 && len(broken) == 0 {
		fmt.Fprintf(stderr, "mxsim run: no scenarios found in %v\n", fs.Args())
		return exitFail
	}
	if sel.filtered() {
		n := len(scs)
		if scs = sel.filter(scs); len(scs) == 0 {
			fmt.Fprintf(stderr, "mxsim run: no scenario matches %s (of %d loaded)\n", sel.describe(), n)
			return exitFail
		}
	}
	if sel.shard.n > 0 {
		var keys []string
		for _, sc := range scs {
			keys = append(keys, sc.File)
		}
		for _, b := range broken {
			keys = append(keys, b.File)
		}
		var mine []*scenarios.Scenario
		var mineBroken []report.Result
		for _, i := range sel.shard.take(keys) {
			if i < len(scs) {
				mine = append(mine, scs[i])
			} else {
				mineBroken = append(mineBroken, broken[i-len(scs)])
			}
		}
		if len(mine)+len(mineBroken) == 0 {
			fmt.Fprintf(stderr, "mxsim run: -shard %s: no scenario in this share (%d in all)\n", sel.shard.String(), len(keys))
		}
		scs, broken = mine, mineBroken
	}
	for _, b := range broken {
		line := progressLine(b)
		if prog != nil {
			fmt.Fprint(stderr, line)
		} else {
			fmt.Fprint(human, line)
		}
	}

	start := time.Now()
	results := broken
	// finish prints the summary, writes the reports and returns the
	// exit status.
	finish := func() int {
		elapsed := time.Since(start)
		fmt.Fprintln(human)
		report.Summary(human, results, elapsed)
		code := exitOK
		for _, r := range results {
			if !r.Verdict.OK(false) {
				code = exitFail
			}
		}
		if err := out.write("mxsim run", results, stdout); err != nil {
			fmt.Fprintf(stderr, "mxsim run: %v\n", err)
			code = exitFail
		}
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "mxsim run: interrupted; %d of %d scenarios finished\n", countFinished(results), len(results))
			code = exitFail
		}
		return code
	}
	if len(scs) == 0 {
		return finish()
	}
	if prog != nil && rf.kind != "" && rf.kind != "reference" {
		prog.waitFor("relay " + rf.kind + " to start")
	}
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
	if err := suite.reachable(ctx, prog); err != nil {
		// Every scenario would fail the same way: one error says it.
		r := relayError(suite.name, err, len(scs))
		fmt.Fprint(human, progressLine(r))
		results = append(results, r)
		if err := suite.End(); err != nil {
			fmt.Fprintf(stderr, "mxsim run: relay %s: %v\n", rf.kind, err)
		}
		return finish()
	}
	var each func(i int, r report.Result)
	if prog != nil {
		names := make([]string, len(scs))
		for i, sc := range scs {
			names[i] = sc.Name
		}
		prog.begin(names, min(*parallel, len(scs)))
		suite.onStep = prog.step
		each = func(i int, r report.Result) { prog.finished(i, progressLine(r)) }
	} else {
		each = func(_ int, r report.Result) { fmt.Fprint(human, progressLine(r)) }
	}
	results = append(results, runAll(ctx, scs, *parallel, suite, each)...)
	if err := suite.End(); err != nil {
		fmt.Fprintf(stderr, "mxsim run: relay %s: %v\n", rf.kind, err)
	}
	return finish()
}

// textOut says where a run's text goes: human, the lines and the
// summary, is stdout, or stderr when a report takes stdout; prog, the
// progress, is on stderr when it is a terminal, else nil (the caller
// closes it).
func textOut(out *reportFlags, stdout, stderr io.Writer) (human io.Writer, prog *progress) {
	human = stdout
	if out.toStdout() {
		human = stderr
	}
	if isTerminal(stderr) {
		prog = newProgress(stderr)
	}
	return human, prog
}

// progressLine is report.Progress's line for r.
func progressLine(r report.Result) string {
	var b strings.Builder
	report.Progress(&b, r)
	return b.String()
}

// brokenFiles turns the error of loading scenarios into one error result
// per file, with its every mistake ("file:line:col: message", one a line;
// the source excerpts are on stderr) as the reason.
func brokenFiles(err error) []report.Result {
	now := time.Now()
	var l scenarios.ErrorList
	if !errors.As(err, &l) {
		return []report.Result{{Name: "load scenarios", Verdict: report.Error, Reason: err.Error(), Started: now}}
	}
	var out []report.Result
	at := map[string]int{}
	for _, e := range l {
		i, ok := at[e.File]
		if !ok {
			i = len(out)
			at[e.File] = i
			out = append(out, report.Result{Name: e.File, File: e.File, Verdict: report.Error, Started: now})
		}
		if out[i].Reason != "" {
			out[i].Reason += "\n"
		}
		m := *e
		m.Source = ""
		out[i].Reason += m.Error()
	}
	return out
}

// relayError is the one result of a run whose relay cannot be reached.
func relayError(name string, err error, n int) report.Result {
	return report.Result{Name: "relay " + name, Relay: name, Verdict: report.Error, Started: time.Now(),
		Reason: fmt.Sprintf("%v; none of the %d scenario(s) was run", err, n)}
}

// runAll runs scenarios on n workers, telling each (its index and result)
// as it finishes, and returns the results in the scenarios' order. After
// ctx is cancelled, scenarios not yet started are reported as errors.
func runAll(ctx context.Context, scs []*scenarios.Scenario, n int, suite *relaySuite, each func(i int, r report.Result)) []report.Result {
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
				each(i, r)
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
	if suite.onStep != nil {
		opts.OnStep = func(n int, kind, pos string) { suite.onStep(i, n, kind, pos) }
	}
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
	scs, err := scenarios.LoadAllOptions(ctx, scenarios.LoadOptions{Skipped: func(file string) {
		fmt.Fprintf(stderr, "mxsim validate: %s skipped: not a scenario (no scenario key); name the file to check it\n", file)
	}}, fs.Args()...)
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
