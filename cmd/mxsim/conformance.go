package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/internal/relay"
	"github.com/mxsim/mxsim/scenarios"
)

// profileFlags are the relay profile given on the command line; set
// flags override the profile file.
type profileFlags struct {
	file              string
	route, tls        string
	smarthost         string
	smarthostUser     string
	smarthostPassword string
	hostname          string
	retryInterval     time.Duration
	submission        string
	submissions       string
}

func (f *profileFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "profile", "", "relay profile `FILE` (YAML: route, tls, smarthost, smarthost_user, smarthost_password, hostname, retry_interval, submission, submissions)")
	fs.StringVar(&f.route, "route", "", "how the relay sends mail on: direct or smarthost")
	fs.StringVar(&f.tls, "tls", "", "the relay's outbound TLS policy: none, may, encrypt, verify or dane")
	fs.StringVar(&f.smarthost, "smarthost", "", "the relay's smarthost, `[HOST]:PORT` (implies -route smarthost)")
	fs.StringVar(&f.smarthostUser, "smarthost-user", "", "the relay's AUTH user at its smarthost")
	fs.StringVar(&f.smarthostPassword, "smarthost-password", "", "the relay's AUTH password at its smarthost")
	fs.StringVar(&f.hostname, "hostname", "", "the relay's own host name")
	fs.DurationVar(&f.retryInterval, "retry-interval", 0, "how long the relay waits before it retries deferred mail (`DURATION`, e.g. 5m; Postfix: minimal_backoff_time)")
	fs.StringVar(&f.submission, "submission", "", "external relay: its own submission service, `HOST:PORT` (587-style: STARTTLS, AUTH required; credentials -submit-user)")
	fs.StringVar(&f.submissions, "submissions", "", "external relay: its implicit-TLS submission service, `HOST:PORT` (465-style; credentials -submit-user)")
}

// profile reads the file, if any, and lays the flags over it.
func (f *profileFlags) profile() (harness.Profile, error) {
	var p harness.Profile
	if f.file != "" {
		data, err := os.ReadFile(f.file)
		if err != nil {
			return p, fmt.Errorf("-profile: %w", err)
		}
		if p, err = harness.ParseProfile(f.file, data); err != nil {
			return p, err
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	route, tls := string(p.Route), string(p.TLS)
	set(&route, f.route)
	set(&tls, f.tls)
	p.Route, p.TLS = scenarios.Route(route), scenarios.TLSPolicy(tls)
	set(&p.Smarthost, f.smarthost)
	set(&p.SmarthostUser, f.smarthostUser)
	set(&p.SmarthostPassword, f.smarthostPassword)
	set(&p.Hostname, f.hostname)
	if f.retryInterval != 0 {
		p.RetryInterval = f.retryInterval
	}
	set(&p.Submission, f.submission)
	set(&p.Submissions, f.submissions)
	if p.Smarthost != "" && p.Route == "" {
		p.Route = scenarios.RouteSmarthost
	}
	return p, p.Validate()
}

// errProfileNotExternal: the profile describes a relay configured by its
// operator; the others are configured from each scenario.
const errProfileNotExternal = "-profile, -route, -tls, -smarthost, -smarthost-user, -smarthost-password, -hostname, -retry-interval, -submission and -submissions describe an external relay (-relay external); the reference relay and Postfix are configured from each scenario's relay section"

// checkExternalAddrs: an external relay runs on its own, configured once
// to resolve through mxsim's DNS and to deliver to its hosts' port; it
// cannot know addresses chosen afresh for each scenario.
func checkExternalAddrs(f *relayFlags) error {
	if f.kind != "external" || (f.dnsAddr != "" && f.smtpPort != 0) {
		return nil
	}
	var missing []string
	if f.dnsAddr == "" {
		missing = append(missing, "-dns-addr IP:PORT")
	}
	if f.smtpPort == 0 {
		missing = append(missing, "-smtp-port PORT")
	}
	return fmt.Errorf("-relay external needs %s: the MTA is configured once to resolve through mxsim's DNS (-dns-addr) and to deliver to the hosts' port (-smtp-port), and cannot know addresses chosen at random for each scenario", strings.Join(missing, " and "))
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set adds the comma-separated values of v.
func (l *listFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

var _ flag.Value = (*listFlag)(nil)

func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim conformance [flags]")
		fmt.Fprintln(stderr, "\nChecks a relay against the built-in conformance library (MX routing, retries, TLS, AUTH, relaying)")
		fmt.Fprintln(stderr, "and prints a scorecard. See docs/conformance.md.")
		fmt.Fprintln(stderr, "Exit status: 0 every MUST case passed (and every SHOULD case with -strict), 1 otherwise, 2 usage error.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	var patterns listFlag
	fs.Var(&patterns, "cases", "run only the cases whose ID matches a glob `PATTERN` (\"MX-*\"); comma-separated or repeated")
	strict := fs.Bool("strict", false, "a SHOULD case not met fails the run too")
	list := fs.Bool("list", false, "list the cases (ID, level, clause, title) and exit")
	verbose := fs.Bool("v", false, "print a line per case as it finishes")
	variant := fs.String("variant", "", "run the reference relay with a planted bug (`NAME`; see -list-variants), to see the library catch it")
	listVariants := fs.Bool("list-variants", false, "list the reference relay's buggy variants and exit")
	parallel := fs.Int("p", runtime.GOMAXPROCS(0)*2, "run up to `N` cases at once")
	var rf relayFlags
	rf.register(fs)
	var pf profileFlags
	pf.register(fs)
	var out reportFlags
	out.register(fs)
	var sel selectFlags
	sel.register(fs, "cases")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if err := out.check(); err != nil {
		fmt.Fprintf(stderr, "mxsim conformance: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mxsim conformance: unexpected argument %q (cases are chosen with -cases)\n", fs.Arg(0))
		return exitUsage
	}
	if *parallel < 1 {
		fmt.Fprintf(stderr, "mxsim conformance: -p %d: want 1 or more\n", *parallel)
		return exitUsage
	}
	if *listVariants {
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		for _, v := range relay.Variants() {
			fmt.Fprintf(tw, "%s\t%s\n", v.Name, v.Bug)
		}
		tw.Flush()
		return exitOK
	}
	if err := rf.check(); err != nil {
		fmt.Fprintf(stderr, "mxsim conformance: %v\n", err)
		return exitUsage
	}
	if err := rf.loadCA(); err != nil {
		fmt.Fprintf(stderr, "mxsim conformance: %v\n", err)
		return exitUsage
	}
	profile, err := pf.profile()
	if err != nil {
		fmt.Fprintf(stderr, "mxsim conformance: %v\n", err)
		return exitUsage
	}
	reference := rf.kind == "" || rf.kind == "reference"
	if rf.kind != "external" && (profile.Submission != "" || profile.Submissions != "") {
		fmt.Fprintln(stderr, "mxsim conformance: -submission and -submissions describe an external relay (-relay external); the reference relay and Postfix get their services from each case")
		return exitUsage
	}
	if *variant != "" {
		if _, ok := relay.LookupVariant(*variant); !ok {
			fmt.Fprintf(stderr, "mxsim conformance: -variant %q: no such variant (mxsim conformance -list-variants)\n", *variant)
			return exitUsage
		}
		if !reference {
			fmt.Fprintf(stderr, "mxsim conformance: -variant goes with the reference relay, not -relay %s\n", rf.kind)
			return exitUsage
		}
	}

	if err := checkExternalAddrs(&rf); err != nil {
		fmt.Fprintf(stderr, "mxsim conformance: %v\n", err)
		return exitUsage
	}

	all, err := scenarios.LoadConformance(nil)
	if err != nil {
		// The library is built in: a broken case is a bug of mxsim.
		fmt.Fprintf(stderr, "mxsim conformance: built-in library: %v\n", err)
		return exitFail
	}
	cases, err := scenarios.SelectCases(all, patterns...)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim conformance: -cases: %v\n", err)
		return exitUsage
	}
	if sel.filtered() {
		n := len(cases)
		if cases = sel.filter(cases); len(cases) == 0 {
			fmt.Fprintf(stderr, "mxsim conformance: no case matches %s (of %d)\n", sel.describe(), n)
			return exitFail
		}
	}
	if sel.shard.n > 0 {
		ids := make([]string, len(cases))
		for i, c := range cases {
			ids[i] = caseID(c)
		}
		var mine []*scenarios.Scenario
		for _, i := range sel.shard.take(ids) {
			mine = append(mine, cases[i])
		}
		if len(mine) == 0 {
			fmt.Fprintf(stderr, "mxsim conformance: -shard %s: no case in this share (%d in all)\n", sel.shard.String(), len(cases))
		}
		cases = mine
	}
	if *list {
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tLEVEL\tCLAUSE\tTITLE")
		for _, c := range cases {
			m := c.Conformance
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ID, m.Level, m.Clause, m.Title)
		}
		tw.Flush()
		return exitOK
	}

	human, prog := textOut(&out, stdout, stderr)
	if prog != nil {
		defer prog.close()
	}
	name := rf.kind
	if name == "" {
		name = "reference"
	}
	if *variant != "" {
		name += " (variant " + *variant + ")"
	}
	start := time.Now()
	var results []report.Result
	if len(cases) > 0 {
		if prog != nil && !reference {
			prog.waitFor("relay " + rf.kind + " to start")
		}
		suite, err := rf.open(ctx, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "mxsim conformance: relay %s: %v\n", rf.kind, err)
			return exitFail
		}
		defer suite.End()
		if suite.name != "" {
			name = suite.name
		}
		if probeErr := suite.reachable(ctx, prog); probeErr != nil {
			// Every case would fail the same way: one error says it.
			r := relayError(name, probeErr, len(cases))
			fmt.Fprint(human, progressLine(r))
			results = []report.Result{r}
		} else {
			opts := harness.ConformanceOptions{
				Parallel:  *parallel,
				Plan:      suite.plan,
				RelayName: name,
				Reference: suite.configurable,
				Relay:     suite.relay,
				Configure: func(c *harness.ReferenceConfig) { c.Variant = *variant },
				CA:        rf.ca,
			}
			switch {
			case prog != nil:
				ids := make([]string, len(cases))
				for i, c := range cases {
					ids[i] = caseID(c)
				}
				n := *parallel
				if fixed := suite.plan; fixed.Subnet.IsValid() || fixed.SMTPPort != 0 || fixed.DNSPort != 0 {
					n = 1 // as harness.Conformance does
				}
				prog.begin(ids, min(n, len(cases)))
				opts.Progress = &caseLines{p: prog, ids: ids}
			case *verbose:
				opts.Progress = human
			}
			results = harness.Conformance(ctx, cases, profile, opts)
			if *verbose && prog == nil {
				fmt.Fprintln(human)
			}
		}
	}
	elapsed := time.Since(start)
	report.Summary(human, results, elapsed)

	code := exitOK
	var failed []string
	for _, r := range results {
		if !r.Verdict.OK(*strict) {
			code = exitFail
			failed = append(failed, r.ID)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(human, "not conforming: %s\n", strings.Join(failed, " "))
	}
	if err := out.write("mxsim conformance: "+name, results, stdout); err != nil {
		fmt.Fprintf(stderr, "mxsim conformance: %v\n", err)
		code = exitFail
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "mxsim conformance: interrupted")
		code = exitFail
	}
	return code
}

// caseID is a case's conformance ID, or its name when it has none (as
// harness.Conformance names it).
func caseID(sc *scenarios.Scenario) string {
	if sc.Conformance != nil {
		return sc.Conformance.ID
	}
	return sc.Name
}
