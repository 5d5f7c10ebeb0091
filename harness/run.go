package harness

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// RunOptions say how to run a scenario.
type RunOptions struct {
	// Relay is the relay under test. Nil: the one the scenario's relay
	// section describes (the reference relay unless it says otherwise).
	Relay Relay
	// RelayName names the relay in reports; default the scenario's kind.
	RelayName string
	// Plan is the address plan; the zero value picks a fresh /24.
	Plan Plan
	// CA signs the hosts' certificates (Config.CA); nil: a fresh one.
	CA *fakesmtp.CA
	// RetryInterval is the relay's retry interval, from which retry_gap
	// takes its default at_least; zero: the scenario's relay.retry_interval.
	RetryInterval time.Duration
	// Configure adjusts the reference relay's configuration when Relay is
	// nil and the scenario's relay is the reference relay (mxsim run
	// -variant plants a bug with it).
	Configure func(*ReferenceConfig)
	// Smarthost is the smarthost the relay under test uses, in relayhost
	// syntax ("[smtp.example.test]:587"); "": the scenario's
	// relay.smarthost. When the plan fixes the SMTP port, the host it
	// names listens on its port (smarthostPort).
	Smarthost string
	// Profile, when set, describes Relay as its operator configured it
	// (an external relay): a scenario whose relay section asks for
	// another configuration is not applicable (Profile.Compatible), with
	// the relay's submission credentials as those it takes; the relay
	// gets the submission services the profile names, and its retry
	// interval is the profile's unless RetryInterval is set.
	Profile *Profile
	// VirtualClock runs the scenario on a virtual clock, as `clock:
	// virtual` does (Config.VirtualClock): long waits pass without
	// sleeping. The relay must be the reference relay.
	VirtualClock bool
	// OnStep, when set, is called before each step with its number
	// (from 1), its kind ("send", "expect", "wait"…) and its position
	// ("file.yaml:12:5"): progress reports name what a run waits for.
	OnStep func(n int, kind, pos string)
}

// RunScenario loads the YAML scenario at path and runs it inside a test,
// against relay (nil: the scenario's own relay setting). Each failed
// expectation is reported with t.Errorf at its file:line:col, followed by
// the journal; the result is returned for further checks.
func RunScenario(t TB, path string, relay Relay) report.Result {
	t.Helper()
	sc, err := scenarios.LoadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
		return report.Result{}
	}
	res := Run(context.Background(), sc, RunOptions{Relay: relay})
	switch res.Verdict {
	case report.Pass, report.NotApplicable, report.Informational:
		return res
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s: %s", res.Name, res.Verdict)
	if res.Reason != "" {
		fmt.Fprintf(&b, ": %s", res.Reason)
	}
	for _, f := range res.Failures {
		fmt.Fprintf(&b, "\n%s: %s\n    expected: %s\n    actual:   %s", f.Pos, f.Step, f.Expected, f.Actual)
	}
	b.WriteString("\njournal:\n")
	for _, e := range res.Events {
		b.WriteString(e.Format(res.Started))
		b.WriteByte('\n')
	}
	if e, ok := t.(interface{ Errorf(string, ...any) }); ok {
		e.Errorf("%s", b.String())
	} else {
		t.Fatalf("%s", b.String())
	}
	return res
}

// Run runs one scenario: it starts its network and relay, runs its steps
// in order, stops at the first failed expectation, and returns the result
// with the whole journal. Cancelling ctx stops the run; the result then
// says so and holds what happened until then.
func Run(ctx context.Context, sc *scenarios.Scenario, opts RunOptions) (res report.Result) {
	res = report.Result{
		Name:        sc.Name,
		File:        sc.File,
		Description: strings.TrimSpace(sc.Description),
		Tags:        sc.Tags,
		Relay:       opts.RelayName,
		Started:     time.Now(),
	}
	defer func() { res.Duration = time.Since(res.Started) }()
	if res.Relay == "" {
		res.Relay = string(sc.Relay.Kind)
	}

	relay := opts.Relay
	if relay == nil {
		var err error
		if relay, err = RelayFor(sc.Relay); err != nil {
			res.Verdict, res.Reason = report.Error, err.Error()
			return res
		}
		if ref, ok := relay.(*reference); ok && opts.Configure != nil {
			opts.Configure(&ref.cfg)
		}
	}
	retryInterval := cmp.Or(opts.RetryInterval, sc.Relay.RetryInterval)
	var profileNotes []string
	if p := opts.Profile; p != nil {
		var submit *scenarios.Credentials
		if s := relay.Submission(); s.User != "" {
			submit = &scenarios.Credentials{User: s.User, Password: s.Password}
		}
		if ok, why := p.Compatible(sc, submit); !ok {
			res.Verdict, res.Reason = report.NotApplicable, why
			return res
		}
		if p.Submission != "" || p.Submissions != "" {
			relay = withServices{Relay: relay, p: *p}
		}
		retryInterval = cmp.Or(opts.RetryInterval, p.RetryInterval, sc.Relay.RetryInterval)
		profileNotes = notJudged(sc)
	}
	cfg, err := ConfigFor(sc)
	if err != nil {
		res.Verdict, res.Reason = report.Error, err.Error()
		return res
	}
	cfg.Relay = relay
	cfg.Plan = opts.Plan
	cfg.VirtualClock = cfg.VirtualClock || opts.VirtualClock
	if _, ok := relay.(quietReporter); cfg.VirtualClock && !ok {
		res.Verdict, res.Reason = report.NotApplicable, fmt.Sprintf("the scenario runs on a virtual clock (clock: virtual), which only the reference relay keeps; %s keeps the real time (see docs/time.md)", res.Relay)
		return res
	}
	smarthost := opts.Smarthost
	if smarthost == "" && opts.Profile != nil {
		smarthost = opts.Profile.Smarthost // where the operator's relay sends
	}
	if smarthost == "" {
		smarthost = sc.Relay.Smarthost
	}
	smarthostPort(&cfg, smarthost)
	cfg.CA = opts.CA
	env, err := New(ctx, cfg)
	if err != nil {
		res.Verdict, res.Reason = report.Error, err.Error()
		return res
	}
	var r *runner
	defer func() {
		// Close stops the relay before the hosts and the DNS, and the
		// relay lets its sessions in flight end first: the journal read
		// below is final. A teardown that fails is no pass.
		if err := env.Close(); err != nil {
			env.journal.Append(journal.Event{Kind: journal.KindControl, Source: "harness", Text: "close the environment", Err: err.Error()})
			switch res.Verdict {
			case report.Pass:
				res.Verdict, res.Reason = report.Error, "the environment did not close cleanly: "+err.Error()
			case report.Fail, report.Error:
				res.Reason += "; and the environment did not close cleanly: " + err.Error()
			}
		}
		if res.Verdict == report.Pass && r != nil {
			// Judged once the environment is closed: the relay's sessions
			// have ended, and the journal moves no more.
			if f := r.atMostOnce(); f != nil {
				res.Failures = append(res.Failures, *f)
				res.Verdict, res.Reason = report.Fail, fmt.Sprintf("%s: %s", f.Pos, f.Actual)
			}
		}
		res.Notes = append(res.Notes, profileNotes...)
		if r != nil {
			r.noteStrays()
			res.Notes = append(res.Notes, r.notes...)
		}
		res.Events = env.Journal().Events()
	}()
	for _, h := range env.Hosts() {
		res.Hosts = append(res.Hosts, report.Host{Name: h.Name(), Addr: h.Addr(), Behavior: Describe(h.Behavior())})
	}
	res.Started = env.Journal().Start()

	r = &runner{sc: sc, env: env, retryInterval: retryInterval}
	r.noteOptOuts()
	for i, step := range sc.Steps {
		if err := ctx.Err(); err != nil {
			res.Verdict, res.Reason = report.Error, fmt.Sprintf("interrupted before step %d", i+1)
			return res
		}
		if opts.OnStep != nil {
			opts.OnStep(i+1, step.Kind(), r.pos(step.Pos))
		}
		f := r.step(ctx, step)
		if f == nil {
			continue
		}
		res.Failures = append(res.Failures, *f)
		res.Verdict = report.Fail
		res.Reason = fmt.Sprintf("%s: %s", f.Pos, f.Actual)
		if f.Inconclusive {
			res.Verdict = report.Informational
		}
		if r.broken {
			// The set-up failed, not the relay.
			res.Verdict = report.Error
		}
		if ctx.Err() != nil {
			res.Verdict, res.Reason = report.Error, "interrupted: "+f.Actual
		}
		return res
	}
	if f := r.accountedFor(ctx); f != nil {
		res.Failures = append(res.Failures, *f)
		res.Verdict, res.Reason = report.Fail, fmt.Sprintf("%s: %s", f.Pos, f.Actual)
		if ctx.Err() != nil {
			res.Verdict, res.Reason = report.Error, "interrupted: "+f.Actual
		}
		return res
	}
	res.Verdict = report.Pass
	return res
}

// noteOptOuts journals the invariants the scenario turns off, with why.
func (r *runner) noteOptOuts() {
	in := r.sc.Invariants
	if in == nil {
		return
	}
	if o := in.AtMostOnce; o != nil && o.Off {
		r.note(fmt.Sprintf("invariant %s turned off by the scenario: %s", InvariantAtMostOnce, o.Reason))
	}
	if o := in.AccountedFor; o != nil && o.Off {
		r.note(fmt.Sprintf("invariant %s turned off by the scenario: %s", InvariantAccountedFor, o.Reason))
	}
}

// maxStrayNotes bounds the strays a result names one by one.
const maxStrayNotes = 5

// noteStrays names the strays of the run (messages submitted in another
// network: see Strays), which no check counted.
func (r *runner) noteStrays() {
	list := Strays(r.env.Journal())
	for i, s := range list {
		if i == maxStrayNotes {
			r.note(fmt.Sprintf("stray: and %d more", len(list)-i))
			return
		}
		what := fmt.Sprintf("message %s from <%s>", s.IDs[0], s.From)
		if s.From == "" {
			what = "a bounce about message " + strings.Join(s.IDs, ", ")
		}
		r.note(fmt.Sprintf("stray: %s, submitted by an earlier case or run, delivered at %s in session %s (event %d): not counted by any expectation or invariant of this one; the relay kept it in its queue (see -reset-cmd in docs/conformance.md)",
			what, s.Host, s.Session, s.Seq))
	}
}

// note journals a remark about the run and keeps it for the result's
// notes, which every report shows.
func (r *runner) note(text string) {
	r.env.Control("%s", text)
	r.notes = append(r.notes, text)
}

// invariantPos is where an invariant's failure points: the scenario's
// invariants section when it has one, else the scenario itself.
func (r *runner) invariantPos() string {
	if in := r.sc.Invariants; in != nil && in.Pos.IsValid() {
		return r.pos(in.Pos)
	}
	return r.pos(r.sc.Pos)
}

// accountedFor judges the accounted-for invariant after the last step.
func (r *runner) accountedFor(ctx context.Context) *report.Failure {
	if o := r.sc.Invariants; o != nil && o.AccountedFor != nil && o.AccountedFor.Off {
		return nil
	}
	if err := r.env.judgeAccountedFor(ctx, r.note); err != nil {
		return &report.Failure{Pos: r.invariantPos(), Step: "invariant " + InvariantAccountedFor,
			Expected: "every recipient the relay accepted at submission is delivered, bounced or still queued when the scenario ends",
			Actual:   r.networkNote(trimCheck(err))}
	}
	return nil
}

// atMostOnce judges the at-most-once invariant on the final journal.
func (r *runner) atMostOnce() *report.Failure {
	if o := r.sc.Invariants; o != nil && o.AtMostOnce != nil && o.AtMostOnce.Off {
		return nil
	}
	if err := CheckAtMostOnce(r.env.Journal()); err != nil {
		return &report.Failure{Pos: r.invariantPos(), Step: "invariant " + InvariantAtMostOnce,
			Expected: "each message delivered at most once to each recipient, across all hosts",
			Actual:   trimCheck(err)}
	}
	return nil
}

// runner runs the steps of one scenario against a running Env.
type runner struct {
	sc            *scenarios.Scenario
	env           *Env
	sends         int
	retryInterval time.Duration // the relay's, for retry_gap
	notes         []string      // remarks for the result (report.Result.Notes)
	broken        bool          // a step failed for want of the set-up (a flush command): an error, not a failure
}

func (r *runner) pos(p scenarios.Pos) string {
	if !p.IsValid() {
		return r.sc.File
	}
	return fmt.Sprintf("%s:%s", r.sc.File, p)
}

// step runs one step and returns a failure, or nil.
func (r *runner) step(ctx context.Context, s *scenarios.Step) *report.Failure {
	fail := func(what string, err error) *report.Failure {
		return &report.Failure{Pos: r.pos(s.Pos), Step: what, Expected: what + " succeeds", Actual: err.Error()}
	}
	switch {
	case s.Send != nil:
		what := fmt.Sprintf("send from %s to %s", s.Send.From, strings.Join(s.Send.To, ", "))
		if s.Send.Count > 0 {
			what += fmt.Sprintf(" (%d messages)", s.Send.Count)
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for n := 1; n <= max(s.Send.Count, 1); n++ {
			m := message(s.Send, r.sc.Relay)
			if s.Send.Count > 0 {
				m.To = numbered(s.Send.To, n)
			}
			if s.Send.Client == scenarios.ClientOutside {
				// A stranger: no AUTH, unless it tries the credentials the
				// send gives (at a submission service).
				m.NoAuth, m.User, m.Password = s.Send.Auth == nil, "", ""
				if s.Send.Auth != nil {
					m.User, m.Password = s.Send.Auth.User, s.Send.Auth.Password
				}
				m.LocalAddr = r.env.plan.at(outsideHost).String()
			}
			r.sends++
			err := r.env.Send(sctx, m)
			if err != nil && s.Send.Client != scenarios.ClientOutside {
				return fail(what, err)
			}
		}
	case s.Flush != nil:
		if err := r.env.Flush(ctx); err != nil {
			// A flush that cannot be done (its command fails or times
			// out) is no verdict on the relay.
			r.broken = true
			return fail("flush", err)
		}
	case s.Set != nil:
		what, err := r.set(s.Set)
		if err != nil {
			return fail(what, err)
		}
	case s.Wait != nil:
		if s.Wait.Until == nil {
			r.env.Control("wait %v", s.Wait.Duration)
			if err := r.env.await(ctx, nil, r.env.now().Add(s.Wait.Duration)); err != nil {
				return fail(fmt.Sprintf("wait %v", s.Wait.Duration), err)
			}
			return nil
		}
		return r.expect(ctx, s.Pos, s.Wait.Until, s.Wait.Timeout, 0, "wait until")
	case s.Expect != nil:
		return r.expect(ctx, s.Pos, &s.Expect.Conditions, s.Expect.Within, s.Expect.For, "expect")
	}
	return nil
}

// outsideHost is the last byte of the address a `client: outside`
// submission comes from: in the network's /24, away from its hosts, and
// outside the reference relay's trusted networks.
const outsideHost = 250

// numbered returns the recipients with scenarios.CountMarker replaced by n.
func numbered(to []string, n int) []string {
	out := make([]string, len(to))
	for i, t := range to {
		out[i] = strings.ReplaceAll(t, scenarios.CountMarker, strconv.Itoa(n))
	}
	return out
}

// message turns a send step into a Message.
func message(s *scenarios.Send, relay scenarios.Relay) Message {
	m := Message{From: s.From, To: s.To, Subject: s.Subject, Body: s.Body, Size: s.Size, StartTLS: s.TLS}
	if s.Via != scenarios.ViaSubmit {
		m.Via = s.Via
	}
	m.Headers = map[string]string{}
	for k, v := range s.Headers {
		m.Headers[k] = v
	}
	if s.ID != "" {
		m.Headers[idHeader] = s.ID
	}
	switch {
	case s.Auth != nil:
		m.User, m.Password = s.Auth.User, s.Auth.Password
	case relay.SubmitAuth != nil && m.Via == "":
		// At a submission service, Env.Send uses the relay's own valid
		// credentials (for an external relay, not the case's).
		m.User, m.Password = relay.SubmitAuth.User, relay.SubmitAuth.Password
	}
	return m
}

// set applies a set step to the running network.
func (r *runner) set(s *scenarios.Set) (string, error) {
	switch {
	case s.DNS != nil:
		d := s.DNS
		what := fmt.Sprintf("set dns %s %s to [%s]", d.Name, d.Type, strings.Join(d.Records, "; "))
		r.env.Control("%s", what)
		return what, r.env.DNS().SetRecords(d.Name, d.Type, d.Records...)
	case s.Fault != nil:
		f := s.Fault
		what := fmt.Sprintf("set fault %s on %s %s", f.Kind, f.Name, f.Type)
		r.env.Control("%s", what)
		return what, r.env.DNS().SetFault(dnsFault(f, f.Name, false))
	case s.MTASTS != nil:
		p := s.MTASTS
		what := fmt.Sprintf("set mta_sts %s to %s", p.Domain, &p.ZoneMTASTS)
		return what, r.env.SetMTASTS(p.Domain, mtastsOf(p.Domain, &p.ZoneMTASTS))
	case s.ClearFault != nil:
		what := fmt.Sprintf("clear fault on %s %s", s.ClearFault.Name, s.ClearFault.Type)
		r.env.Control("%s", what)
		// ClearFault removes the zone-wide fault of that name too.
		if !r.env.DNS().ClearFault(s.ClearFault.Name, s.ClearFault.Type) {
			return what, fmt.Errorf("no fault set on %s %s", s.ClearFault.Name, s.ClearFault.Type)
		}
		return what, nil
	default:
		h := r.env.Host(s.Host)
		what := "set host " + s.Host
		if h == nil {
			return what, fmt.Errorf("no host %s", s.Host)
		}
		b, err := s.Apply(h.Behavior())
		if err != nil {
			return what, err
		}
		r.env.Control("%s: %s", what, Describe(b))
		return what, h.SetBehavior(b)
	}
}

// smarthostPort makes the host that smarthost names ("[host]:port",
// relayhost syntax) listen on that port when the plan fixes the SMTP
// port and the host does not list it (Host.Ports): a relay configured
// once with "[smtp.example.test]:2525" (an external relay's profile)
// connects to 2525, whatever port the scenario names. A host that lists
// no ports then listens on that port only, as a host listing it alone
// would. A scenario's own smarthost port is listed by the host it names
// (Scenario.Validate), on every plan; with a port picked at random the
// listed ports are mapped, and the reference relay is told
// (Network.PortFor).
func smarthostPort(cfg *Config, smarthost string) {
	if cfg.Plan.SMTPPort == 0 || smarthost == "" {
		return
	}
	sh, err := scenarios.ParseSmarthost(smarthost)
	if err != nil || sh.Port == cfg.Plan.SMTPPort || sh.Port == 25 {
		return
	}
	for i := range cfg.Hosts {
		h := &cfg.Hosts[i]
		if canonical(h.Name) != sh.Host || h.Port == sh.Port || slices.Contains(h.Ports, sh.Port) {
			continue
		}
		switch {
		case len(h.Ports) == 0 && h.Port == 0:
			h.Ports = []int{sh.Port}
		case len(h.Ports) == 0:
			h.Ports = []int{25, sh.Port} // 25: Port
		default:
			h.Ports = append(slices.Clone(h.Ports), sh.Port)
		}
	}
}
