package harness

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

// The conformance runner, in the manner of Autobahn|Testsuite and h2spec:
//
//  1. each case of the library (scenarios.LoadConformance) is checked
//     against the relay Profile: a case meant for another configuration
//     (a smarthost case for a relay that delivers direct, a TLS-verify
//     case for an opportunistic relay) is not applicable, with its reason;
//  2. the others run as ordinary scenarios (Run), in parallel, against the
//     relay under test; the reference relay is configured for each case
//     from the case's relay section and the profile;
//  3. the scenario's verdict becomes the case's by its level: a failed
//     MUST is a failure, a failed SHOULD is non-strict, an INFO case is
//     informational whatever happened.

// Profile says what the relay under test is configured to do. For the
// reference relay it also configures it; for an external relay it only
// describes it. An empty field means "not said": for the reference relay
// each case then uses its own setting; for an external relay a case that
// needs the setting is not applicable.
type Profile struct {
	Route             scenarios.Route     `yaml:"route"`              // direct or smarthost
	TLS               scenarios.TLSPolicy `yaml:"tls"`                // none, may, encrypt, verify
	Smarthost         string              `yaml:"smarthost"`          // relayhost syntax, "[smtp.example.test]:587"
	SmarthostUser     string              `yaml:"smarthost_user"`     // AUTH credentials to the smarthost
	SmarthostPassword string              `yaml:"smarthost_password"` // …
	Hostname          string              `yaml:"hostname"`           // the relay's own name (EHLO, MX sets)
	RetryInterval     time.Duration       `yaml:"retry_interval"`     // how long the relay waits before it retries deferred mail
	// The relay's own submission services, "host:port" (an external relay
	// only; the reference relay's are on free ports): 587-style
	// (STARTTLS, AUTH required) and 465-style (TLS from connect). The
	// valid credentials there are the relay's -submit-user/-submit-password.
	Submission  string `yaml:"submission"`
	Submissions string `yaml:"submissions"`
}

// ErrProfile is wrapped by every error about a bad Profile.
var ErrProfile = errors.New("bad relay profile")

// ParseProfile reads a profile from YAML, strictly: an unknown key is an
// error. name is used in messages.
func ParseProfile(name string, data []byte) (Profile, error) {
	var p Profile
	if len(bytes.TrimSpace(data)) == 0 {
		return p, nil
	}
	if err := yaml.UnmarshalWithOptions(data, &p, yaml.Strict()); err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
			pos := ye.GetToken().Position
			// The source excerpt, under the position given once.
			_, src, _ := strings.Cut(yaml.FormatError(err, false, true), "\n")
			return p, fmt.Errorf("harness: %w: %s:%d:%d: %s\n%s", ErrProfile, name, pos.Line, pos.Column, ye.GetMessage(), src)
		}
		return p, fmt.Errorf("harness: %w %s: %s", ErrProfile, name, yaml.FormatError(err, false, true))
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// Validate checks every field of p.
func (p Profile) Validate() error {
	var errs []error
	switch p.Route {
	case "", scenarios.RouteDirect, scenarios.RouteSmarthost:
	default:
		errs = append(errs, fmt.Errorf("harness: %w: route %q: want direct or smarthost", ErrProfile, p.Route))
	}
	switch p.TLS {
	case "", scenarios.TLSNone, scenarios.TLSMay, scenarios.TLSEncrypt, scenarios.TLSVerify, scenarios.TLSDane:
	default:
		errs = append(errs, fmt.Errorf("harness: %w: tls %q: want none, may, encrypt, verify or dane", ErrProfile, p.TLS))
	}
	if p.Smarthost != "" {
		if _, err := scenarios.ParseSmarthost(p.Smarthost); err != nil {
			errs = append(errs, fmt.Errorf("harness: %w: %w", ErrProfile, err))
		}
		if p.Route == scenarios.RouteDirect {
			errs = append(errs, fmt.Errorf("harness: %w: smarthost %q with route direct", ErrProfile, p.Smarthost))
		}
	}
	if (p.SmarthostUser == "") != (p.SmarthostPassword == "") {
		errs = append(errs, fmt.Errorf("harness: %w: smarthost user and password go together", ErrProfile))
	}
	if p.SmarthostUser != "" && p.Route == scenarios.RouteDirect {
		errs = append(errs, fmt.Errorf("harness: %w: smarthost credentials with route direct", ErrProfile))
	}
	for _, s := range []struct{ key, addr string }{{"submission", p.Submission}, {"submissions", p.Submissions}} {
		if s.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(s.addr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("harness: %w: %s %q: want host:port", ErrProfile, s.key, s.addr))
		}
	}
	if p.Hostname != "" && !validDomain(canonical(p.Hostname)) {
		errs = append(errs, fmt.Errorf("harness: %w: hostname %q is not a host name", ErrProfile, p.Hostname))
	}
	if p.RetryInterval < 0 {
		errs = append(errs, fmt.Errorf("harness: %w: retry_interval %s: want a positive duration", ErrProfile, p.RetryInterval))
	}
	return errors.Join(errs...)
}

// Applies reports whether a conformance case can run against a relay
// with this profile, and why not. reference says whether the relay is the
// reference relay, which each case configures itself where p is silent.
func (p Profile) Applies(sc *scenarios.Scenario, reference bool) (ok bool, reason string) {
	var a scenarios.Applies
	if sc.Conformance != nil && sc.Conformance.Applies != nil {
		a = *sc.Conformance.Applies
	}
	// A case without a route is about direct delivery unless its relay
	// section names a smarthost.
	route := a.Route
	if route == "" {
		route = scenarios.RouteDirect
		if sc.Relay.Smarthost != "" {
			route = scenarios.RouteSmarthost
		}
	}
	for _, why := range []string{
		p.needRoute(route, reference),
		p.needSmarthost(route, sc.Relay.Smarthost, reference),
		p.needTLS(a.TLS, reference),
		p.needSmarthostAuth(authWanted(a, sc), reference),
		p.needRetryInterval(0, needsRetryInterval(sc), reference),
		p.needServices(sc, reference),
		p.needHostname(a.Hostname, reference),
		needDKIM(sc.Relay.DKIM, reference),
	} {
		if why != "" {
			return false, why
		}
	}
	return true, ""
}

// authWanted is the smarthost credentials a case needs: its relay
// section's, when its applies says it is about AUTH.
func authWanted(a scenarios.Applies, sc *scenarios.Scenario) *scenarios.Credentials {
	if a.Auth {
		return sc.Relay.SmarthostAuth
	}
	return nil
}

// needsRetryInterval reports whether a case judges by the relay's retry
// interval: a retry_gap without its own at_least.
func needsRetryInterval(sc *scenarios.Scenario) bool {
	for _, st := range sc.Steps {
		if c := stepConditions(st); c != nil && c.RetryGap != nil && c.RetryGap.AtLeast == 0 {
			return true
		}
	}
	return false
}

// sendsVia reports whether a send step of sc goes to the relay's service via.
func sendsVia(sc *scenarios.Scenario, via scenarios.Via) bool {
	for _, s := range sc.Steps {
		if s.Send != nil && s.Send.Via == via {
			return true
		}
	}
	return false
}

// flushes reports whether sc has a flush step.
func flushes(sc *scenarios.Scenario) bool {
	for _, s := range sc.Steps {
		if s.Flush != nil {
			return true
		}
	}
	return false
}

// stepConditions returns the conditions of an expect or wait step, or nil.
func stepConditions(st *scenarios.Step) *scenarios.Conditions {
	switch {
	case st.Expect != nil:
		return &st.Expect.Conditions
	case st.Wait != nil:
		return st.Wait.Until
	}
	return nil
}

// withServices is a relay configured by its operator, with the
// submission services the profile names.
type withServices struct {
	Relay
	p Profile
}

func (w withServices) Submission() Submission {
	s := w.Relay.Submission()
	s.SubmissionAddr = cmp.Or(s.SubmissionAddr, w.p.Submission)
	s.SubmissionsAddr = cmp.Or(s.SubmissionsAddr, w.p.Submissions)
	return s
}

func describeRoute(r scenarios.Route) string {
	if r == scenarios.RouteSmarthost {
		return "a smarthost"
	}
	return "direct delivery"
}

func orList(ps []scenarios.TLSPolicy) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, " or ")
}

func contains(ps []scenarios.TLSPolicy, p scenarios.TLSPolicy) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// configure returns the reference relay's settings for a case under p:
// the case's own, with what the profile says on top.
func (p Profile) configure(sc *scenarios.Scenario) ReferenceConfig {
	return referenceConfig(p.relaySection(sc))
}

// relaySection returns the case's relay section with what the profile
// says on top: how the harness configures a relay for the case (the
// reference relay, Postfix).
func (p Profile) relaySection(sc *scenarios.Scenario) scenarios.Relay {
	r := sc.Relay
	if p.TLS != "" {
		r.TLS = p.TLS
	}
	if p.Hostname != "" {
		r.Hostname = canonical(p.Hostname)
	}
	// A relay configured with credentials logs in to its smarthost in
	// every case that goes through it (adaptCase gives the smarthost AUTH).
	if p.SmarthostUser != "" && r.Smarthost != "" {
		r.SmarthostAuth = &scenarios.Credentials{User: p.SmarthostUser, Password: p.SmarthostPassword}
	}
	if p.RetryInterval != 0 {
		r.RetryInterval = p.RetryInterval
	}
	return r
}

// ConformanceOptions say how to run the conformance library.
type ConformanceOptions struct {
	// Relay returns the relay under test for one case; an error (a
	// setting the relay cannot take) makes the case an error. Nil: the
	// reference relay, configured from the case and the profile.
	Relay func(sc *scenarios.Scenario) (Relay, error)
	// Reference tells Profile.Applies that the relay under test is set up
	// for each case from the case's relay section (the reference relay,
	// or a Postfix the harness configures), rather than configured once
	// by its operator; true when Relay is nil.
	Reference bool
	// Configure adjusts the reference relay's configuration of each case
	// (mxsim's own tests plant bugs with it). Only used when Relay is nil.
	Configure func(*ReferenceConfig)
	// RelayName names the relay in reports.
	RelayName string
	// Parallel is how many cases run at once; default 1. Forced to 1 when
	// Plan fixes addresses.
	Parallel int
	// Plan is the address plan of every case; the zero value gives each
	// case a fresh /24. A plan with a fixed Subnet gives case k (its index
	// in the cases given) Plan.ForCase(k): the same DNS address and
	// ports, host addresses no other case of the run uses.
	Plan Plan
	// Progress, when set, gets one line per finished case.
	Progress io.Writer
	// CA signs the hosts' certificates of every case (Config.CA); nil: a
	// fresh one per case, which only a relay the harness starts is told to
	// trust.
	CA *fakesmtp.CA
}

// Conformance runs conformance cases against a relay with profile p and
// returns one result per case, in the order of cases. A case without
// conformance metadata is run as a MUST case with its name as ID.
func Conformance(ctx context.Context, cases []*scenarios.Scenario, p Profile, opts ConformanceOptions) []report.Result {
	if opts.Relay == nil {
		opts.Reference = true
	}
	n := max(opts.Parallel, 1)
	if opts.Plan.Subnet.IsValid() || opts.Plan.SMTPPort != 0 || opts.Plan.DNSPort != 0 {
		n = 1 // fixed addresses serve one network at a time
	}
	results := make([]report.Result, len(cases))
	var mu sync.Mutex // serialises progress lines
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range min(n, len(cases)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := runCase(ctx, cases[i], p, opts, opts.Plan.ForCase(i))
				results[i] = r
				mu.Lock()
				report.Progress(opts.Progress, r)
				mu.Unlock()
			}
		}()
	}
	for i := range cases {
		select {
		case jobs <- i:
		case <-ctx.Done():
			results[i] = caseResult(cases[i], opts.RelayName)
			results[i].Verdict, results[i].Reason = report.Error, "not run: interrupted"
		}
	}
	close(jobs)
	wg.Wait()
	return results
}

// caseResult is a Result with a case's metadata and no verdict yet.
func caseResult(sc *scenarios.Scenario, relayName string) report.Result {
	r := report.Result{Name: sc.Name, File: sc.File, Description: strings.TrimSpace(sc.Description), Tags: sc.Tags,
		Relay: relayName, Started: time.Now(), ID: sc.Name, Level: string(scenarios.LevelMust)}
	if c := sc.Conformance; c != nil {
		r.ID, r.Level, r.Clause, r.Name = c.ID, string(c.Level), c.Clause, c.Title
		r.Description = strings.TrimSpace(c.Requirement)
	}
	return r
}

// runCase runs one case and grades its verdict by level.
func runCase(ctx context.Context, sc *scenarios.Scenario, p Profile, opts ConformanceOptions, plan Plan) report.Result {
	ok, why := p.Applies(sc, opts.Reference)
	var note string
	if ok {
		// The one place where the case's network adapts to the profile,
		// for every kind of relay (adapt.go).
		sc, note, ok, why = p.adaptCase(sc, opts.Reference)
	}
	if !ok {
		res := caseResult(sc, opts.RelayName)
		res.Verdict, res.Reason = report.NotApplicable, why
		return res
	}
	var relay Relay
	if opts.Relay != nil {
		rsc := sc
		if opts.Reference {
			// A relay the harness configures for each case (Postfix) is
			// configured with the profile on top, as the reference relay.
			cp := *sc
			cp.Relay = p.relaySection(sc)
			rsc = &cp
		}
		var err error
		if relay, err = opts.Relay(rsc); err != nil {
			res := caseResult(sc, opts.RelayName)
			res.Verdict, res.Reason = report.Error, err.Error()
			if errors.Is(err, ErrUnsupported) {
				res.Verdict = report.NotApplicable
			}
			return res
		}
		if f, ok := relay.(flushReporter); ok && !f.CanFlush() && flushes(sc) {
			res := caseResult(sc, opts.RelayName)
			res.Verdict, res.Reason = report.NotApplicable, "needs a way to make the relay retry its queue now; none is given (--flush-cmd)"
			return res
		}
		if !opts.Reference && (p.Submission != "" || p.Submissions != "") {
			relay = withServices{Relay: relay, p: p}
		}
	} else {
		cfg := p.configure(sc)
		if opts.Configure != nil {
			opts.Configure(&cfg)
		}
		relay = Reference(cfg)
	}
	// The smarthost listens on the port the relay is configured with: the
	// profile's for a relay configured once, else the case's.
	smarthost := p.relaySection(sc).Smarthost
	if !opts.Reference && opts.Relay != nil && p.Smarthost != "" {
		smarthost = p.Smarthost
	}
	res := Run(ctx, sc, RunOptions{Relay: relay, RelayName: opts.RelayName, Plan: plan, CA: opts.CA, RetryInterval: p.RetryInterval, Smarthost: smarthost})
	meta := caseResult(sc, res.Relay)
	res.ID, res.Level, res.Clause, res.Name, res.Description = meta.ID, meta.Level, meta.Clause, meta.Name, meta.Description
	level := scenarios.Level(res.Level)
	if brokeInvariant(res) {
		// Losing or duplicating mail is never a matter of a case's level.
		level = scenarios.LevelMust
	}
	res.Verdict, res.Reason = Grade(level, res.Verdict, res.Reason)
	if note != "" {
		// Visible in every report: the case did not run as written.
		res.Notes = append([]string{note}, res.Notes...)
	}
	return res
}

// brokeInvariant reports whether one of res's failures is a delivery
// invariant (at most once, accounted for), which fails a case whatever
// its level.
func brokeInvariant(res report.Result) bool {
	for _, f := range res.Failures {
		if strings.HasPrefix(f.Step, "invariant ") {
			return true
		}
	}
	return false
}

// Grade turns the verdict of a case's scenario into the case's verdict by
// its level: a failed MUST fails, a failed SHOULD is non-strict, an INFO
// case is informational whatever happened (its reason says what). Pass,
// error and not-applicable stay as they are.
func Grade(level scenarios.Level, v report.Verdict, reason string) (report.Verdict, string) {
	switch {
	case level == scenarios.LevelInfo && v == report.Pass:
		return report.Informational, "behaved as described"
	case level == scenarios.LevelInfo && v == report.Fail:
		return report.Informational, reason
	case level == scenarios.LevelShould && v == report.Fail:
		return report.NonStrict, reason
	}
	return v, reason
}
