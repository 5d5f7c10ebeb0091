package harness

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/internal/relay"
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
	}
	cfg, err := ConfigFor(sc)
	if err != nil {
		res.Verdict, res.Reason = report.Error, err.Error()
		return res
	}
	cfg.Relay = relay
	cfg.Plan = opts.Plan
	env, err := New(ctx, cfg)
	if err != nil {
		res.Verdict, res.Reason = report.Error, err.Error()
		return res
	}
	defer func() {
		env.Close()
		res.Events = env.Journal().Events()
	}()
	for _, h := range env.Hosts() {
		res.Hosts = append(res.Hosts, report.Host{Name: h.Name(), Addr: h.Addr(), Behavior: Describe(h.Behavior())})
	}
	res.Started = env.Journal().Start()

	r := &runner{sc: sc, env: env}
	for i, step := range sc.Steps {
		if err := ctx.Err(); err != nil {
			res.Verdict, res.Reason = report.Error, fmt.Sprintf("interrupted before step %d", i+1)
			return res
		}
		f := r.step(ctx, step)
		if f == nil {
			continue
		}
		res.Failures = append(res.Failures, *f)
		res.Verdict = report.Fail
		res.Reason = fmt.Sprintf("%s: %s", f.Pos, f.Actual)
		if ctx.Err() != nil {
			res.Verdict, res.Reason = report.Error, "interrupted: "+f.Actual
		}
		return res
	}
	res.Verdict = report.Pass
	return res
}

// RelayFor returns the adapter for a scenario's relay section.
func RelayFor(r scenarios.Relay) (Relay, error) {
	switch r.Kind {
	case scenarios.RelayReference, "":
		return Reference(referenceConfig(r)), nil
	case scenarios.RelayExternal:
		return External(ExternalConfig{Submit: r.Submit, FlushCmd: r.FlushCmd}), nil
	default:
		return nil, fmt.Errorf("relay kind %q is not supported yet", r.Kind)
	}
}

// ReferenceConfigFor returns the reference relay's configuration for a
// scenario's relay section: TLS policy, smarthost and its credentials,
// submission users, retry and lifetime, a 3 s timeout, and trusted networks
// 127.0.0.1/32 (where the harness client submits from, unless a send says
// `client: outside`).
func ReferenceConfigFor(r scenarios.Relay) ReferenceConfig { return referenceConfig(r) }

// trustedClients are the reference relay's Mynetworks under a scenario:
// the harness client's usual source address.
func trustedClients() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} }

func referenceConfig(r scenarios.Relay) ReferenceConfig {
	cfg := ReferenceConfig{
		Mynetworks:    trustedClients(),
		Hostname:      r.Hostname,
		TLS:           relayTLS(r.TLS),
		RetryInterval: r.RetryInterval,
		MaxLifetime:   r.MaxLifetime,
		MaxMXHosts:    r.MaxMXHosts,
		// Scenarios wait for timeouts (blackholes, stalls) in real time:
		// a short one keeps suites fast while staying above any delay a
		// scenario is likely to set.
		Timeout: 3 * time.Second,
	}
	if r.Smarthost != "" {
		if sh, err := scenarios.ParseSmarthost(r.Smarthost); err == nil {
			// Every simulated host listens on the network's one SMTP port,
			// so the port of the relayhost only says how to speak to it.
			cfg.Smarthost = sh.Host
			if !sh.MXLookup {
				cfg.Smarthost = "[" + sh.Host + "]"
			}
			// …except that 465 means TLS from connect (RFC 8314).
			cfg.SmarthostImplicitTLS = sh.Port == 465
		}
	}
	if r.SmarthostAuth != nil {
		cfg.SmarthostAuth = &ReferenceCredentials{User: r.SmarthostAuth.User, Password: r.SmarthostAuth.Password}
	}
	if r.SubmitAuth != nil {
		cfg.SubmitUsers = map[string]string{r.SubmitAuth.User: r.SubmitAuth.Password}
	}
	return cfg
}

func relayTLS(p scenarios.TLSPolicy) relay.TLSPolicy {
	if p == "" {
		return relay.TLSMay
	}
	return relay.TLSPolicy(p)
}

// ConfigFor turns a scenario's dns and hosts sections into a Config.
// Domains that send mail in the scenario but have no zone get one, with a
// host that accepts everything, so that bounces have somewhere to go.
func ConfigFor(sc *scenarios.Scenario) (Config, error) {
	var cfg Config
	var errs []error
	for _, z := range sc.DNS {
		fz := fakedns.Zone{Name: z.Name, Secure: z.Secure, Records: map[string][]string{}}
		for _, line := range z.ZoneFile() {
			owner, rest, _ := strings.Cut(line, " ")
			fz.Records[owner] = append(fz.Records[owner], rest)
		}
		cfg.Zones = append(cfg.Zones, fz)
		if z.Fault != nil {
			cfg.Faults = append(cfg.Faults, dnsFault(z.Fault, z.Name, true))
		}
		for _, f := range z.Faults {
			cfg.Faults = append(cfg.Faults, dnsFault(f, f.Name, false))
		}
	}
	for _, h := range sc.Hosts {
		b, err := behavior(h.Behavior, fakesmtp.Behavior{})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%s: host %s: %w", sc.File, h.Pos, h.Name, err))
			continue
		}
		cfg.Hosts = append(cfg.Hosts, Host{Name: h.Name, Behavior: b})
	}
	for _, d := range senderDomains(sc) {
		if sc.ZoneOf(d) != nil || sc.Host(d) != nil {
			continue
		}
		mx := "mx." + d
		cfg.Zones = append(cfg.Zones, fakedns.Zone{Name: d, Records: map[string][]string{"@": {"MX 10 " + mx + "."}}})
		cfg.Hosts = append(cfg.Hosts, Host{Name: mx})
	}
	return cfg, errors.Join(errs...)
}

func dnsFault(f *scenarios.Fault, name string, zone bool) fakedns.Fault {
	return fakedns.Fault{Name: name, Type: f.Type, Zone: zone, Kind: fakedns.FaultKind(f.Kind), Delay: f.Delay, Times: f.Times}
}

// senderDomains lists the domains of every sender and every bounce
// recipient of the scenario, sorted.
func senderDomains(sc *scenarios.Scenario) []string {
	set := map[string]bool{}
	add := func(addr string) {
		if _, d, ok := strings.Cut(addr, "@"); ok && d != "" {
			set[strings.ToLower(d)] = true
		}
	}
	var conds func(c *scenarios.Conditions)
	conds = func(c *scenarios.Conditions) {
		if c != nil && c.Bounce != nil {
			add(c.Bounce.To)
		}
	}
	for _, s := range sc.Steps {
		switch {
		case s.Send != nil:
			add(s.Send.From)
		case s.Expect != nil:
			conds(&s.Expect.Conditions)
		case s.Wait != nil:
			conds(s.Wait.Until)
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// runner runs the steps of one scenario against a running Env.
type runner struct {
	sc    *scenarios.Scenario
	env   *Env
	sends int
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
				m.NoAuth, m.User, m.Password = true, "", ""
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
			select {
			case <-time.After(s.Wait.Duration):
			case <-ctx.Done():
				return fail(fmt.Sprintf("wait %v", s.Wait.Duration), ctx.Err())
			}
			return nil
		}
		return r.expect(ctx, s.Pos, s.Wait.Until, s.Wait.Timeout, 0, "wait until")
	case s.Expect != nil:
		return r.expect(ctx, s.Pos, &s.Expect.Conditions, s.Expect.Within, s.Expect.For, "expect")
	}
	return nil
}

// expect waits up to within for the positive conditions, then checks the
// negative ones (holding them for hold).
func (r *runner) expect(ctx context.Context, pos scenarios.Pos, c *scenarios.Conditions, within, hold time.Duration, verb string) *report.Failure {
	pos2 := pos
	positive, negative := conditionChecks(c)
	if within <= 0 {
		within = scenarios.DefaultWithin
	}
	if len(positive) > 0 {
		err := r.env.Wait(ctx, within, func(j *journal.Journal) error {
			for _, ch := range positive {
				if err := ch.check(j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			var w *WaitError
			if errors.As(err, &w) {
				err = w.Last
			}
			// Name the first condition that does not hold.
			for _, ch := range positive {
				if e := ch.check(r.env.Journal()); e != nil {
					return &report.Failure{Pos: r.pos(pos2), Step: verb + " " + ch.what + " within " + within.String(),
						Expected: ch.what + " within " + within.String(), Actual: trimCheck(e) + r.unseenDownHosts(c) + brokenAlready(r.env.Journal(), negative)}
				}
			}
			return &report.Failure{Pos: r.pos(pos2), Step: verb, Expected: "all conditions within " + within.String(), Actual: trimCheck(err)}
		}
	}
	if len(negative) == 0 {
		return nil
	}
	deadline := time.Now().Add(hold)
	for {
		for _, ch := range negative {
			if err := ch.check(r.env.Journal()); err != nil {
				return &report.Failure{Pos: r.pos(pos2), Step: verb + " " + ch.what, Expected: ch.what, Actual: trimCheck(err)}
			}
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-r.env.Journal().Changed():
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return &report.Failure{Pos: r.pos(pos2), Step: verb, Expected: "conditions hold", Actual: ctx.Err().Error()}
		}
	}
}

// unseenDownHosts explains a failed attempted condition that names a host
// that is down when the relay reports no attempts of its own: a refused
// connection leaves no trace at the host, so only the relay can tell.
func (r *runner) unseenDownHosts(c *scenarios.Conditions) string {
	if len(c.Attempted) == 0 || len(r.env.Journal().Events(journal.OfKind(journal.KindRelayAttempt))) > 0 {
		return ""
	}
	var down []string
	for _, name := range c.Attempted {
		if h := r.env.Host(name); h != nil && h.Behavior().State == fakesmtp.Down {
			down = append(down, name)
		}
	}
	if len(down) == 0 {
		return ""
	}
	return fmt.Sprintf(" (note: %s is down, and a connection to a host that is down is seen only when the relay reports its attempts; this relay reports none — judge from the hosts that are up, or use a relay adapter that reads the relay's log)", strings.Join(down, ", "))
}

// brokenAlready names the negative conditions of a failed expect that do
// not hold either, since they often say why the positive one failed: a
// relay that skips the EHLO after STARTTLS gets 503 to MAIL and delivers
// nothing.
func brokenAlready(j *journal.Journal, negative []namedCheck) string {
	var b strings.Builder
	for _, ch := range negative {
		if err := ch.check(j); err != nil {
			fmt.Fprintf(&b, "; also not met: %s: %s", ch.what, trimCheck(err))
		}
	}
	return b.String()
}

func trimCheck(err error) string {
	return strings.TrimPrefix(err.Error(), ErrCheck.Error()+": ")
}

type namedCheck struct {
	what  string
	check func(*journal.Journal) error
}

// conditionChecks turns conditions into checks: the positive ones, which
// may take time to come true, and the negative ones.
func conditionChecks(c *scenarios.Conditions) (positive, negative []namedCheck) {
	if d := c.Delivered; d != nil {
		positive = append(positive, namedCheck{
			what:  "delivered to " + d.To + atHost(d.At) + ofMessage(d.Message),
			check: func(j *journal.Journal) error { return checkDeliveredMessage(j, d.To, d.At, d.Message) },
		})
	}
	if len(c.Attempted) > 0 {
		hosts := c.Attempted
		positive = append(positive, namedCheck{
			what:  "attempted [" + strings.Join(hosts, ", ") + "] in this order",
			check: func(j *journal.Journal) error { return CheckAttemptedInOrder(j, hosts...) },
		})
	}
	if t := c.TLS; t != nil {
		positive = append(positive, namedCheck{what: "TLS used at " + t.At, check: func(j *journal.Journal) error { return CheckUsedTLS(j, t.At) }})
	}
	if a := c.Auth; a != nil {
		who := ""
		if a.User != "" {
			who = " as " + a.User
		}
		positive = append(positive, namedCheck{what: "AUTH at " + a.At + who, check: func(j *journal.Journal) error { return CheckAuthenticated(j, a.At, a.User) }})
	}
	if rp := c.Reply; rp != nil {
		what := fmt.Sprintf("reply %d%s", rp.Code, atHost(rp.At))
		if rp.Stage != "" {
			what += " at stage " + string(rp.Stage)
		}
		positive = append(positive, namedCheck{what: what, check: func(j *journal.Journal) error { return checkReplyAtStage(j, rp.At, rp.Code, string(rp.Stage)) }})
	}
	if b := c.Bounce; b != nil {
		what := "bounce to " + b.To
		var statuses []string
		if b.Code != 0 {
			statuses = append(statuses, fmt.Sprint(b.Code))
		}
		if b.Status != "" {
			statuses = append(statuses, b.Status)
		}
		if len(statuses) > 0 {
			what += " with " + strings.Join(statuses, " ")
		}
		positive = append(positive, namedCheck{what: what, check: func(j *journal.Journal) error {
			if len(statuses) == 0 {
				return CheckBounced(j, b.To, "")
			}
			for _, s := range statuses {
				if err := CheckBounced(j, b.To, s); err != nil {
					return err
				}
			}
			return nil
		}})
	}
	if sp := c.Spread; sp != nil {
		hosts, n := sp.Hosts, max(sp.AtLeast, 1)
		positive = append(positive, namedCheck{
			what:  fmt.Sprintf("spread over [%s], at least %d each", strings.Join(hosts, ", "), n),
			check: func(j *journal.Journal) error { return CheckSpread(j, n, hosts...) },
		})
	}
	if rf := c.Refused; rf != nil {
		what := "submission refused"
		if rf.Stage != "" {
			what += " at " + string(rf.Stage)
		}
		if rf.Code != 0 {
			what += fmt.Sprintf(" with %d", rf.Code)
		}
		positive = append(positive, namedCheck{what: what, check: func(j *journal.Journal) error { return CheckSubmitRefused(j, string(rf.Stage), rf.Code) }})
	}
	if pa := c.NoPlaintextAuth; pa != nil {
		negative = append(negative, namedCheck{what: "no AUTH before TLS at " + pa.At, check: func(j *journal.Journal) error { return CheckNoAuthBeforeTLS(j, pa.At) }})
	}
	if st := c.STARTTLSRules; st != nil {
		negative = append(negative, namedCheck{what: "STARTTLS only when advertised, then EHLO, at " + st.At, check: func(j *journal.Journal) error { return CheckSTARTTLSRules(j, st.At) }})
	}
	if q := c.DNSQuery; q != nil {
		positive = append(positive, namedCheck{what: strings.TrimSpace("DNS query " + q.Type + " " + q.Name), check: func(j *journal.Journal) error { return CheckQueried(j, q.Name, q.Type) }})
	}
	if d := c.NotDelivered; d != nil {
		negative = append(negative, namedCheck{
			what:  "not delivered to " + d.To + atHost(d.At) + ofMessage(d.Message),
			check: func(j *journal.Journal) error { return checkNotDeliveredMessage(j, d.To, d.At, d.Message) },
		})
	}
	return positive, negative
}

func ofMessage(id string) string {
	if id == "" {
		return ""
	}
	return " (message " + id + ")"
}

// idHeader marks each message the scenario sends with its send id, so
// that expectations can name a message.
const idHeader = "X-Mxsim-Id"

func hasID(e journal.Event, id string) bool {
	if id == "" {
		return true
	}
	return e.Message != nil && strings.Contains(strings.ToLower(string(e.Message.Raw)), strings.ToLower("\n"+idHeader+": "+id+"\r"))
}

func checkDeliveredMessage(j *journal.Journal, to, at, id string) error {
	if id == "" {
		return CheckDelivered(j, to, at)
	}
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPMessage)) {
		if hasRecipient(e.Message, to) && (at == "" || sameHost(e.Source, at)) && hasID(e, id) {
			return nil
		}
	}
	return checkFailed("message %s to %s not delivered%s: %s", id, to, atHost(at), attemptSummary(j))
}

func checkNotDeliveredMessage(j *journal.Journal, to, at, id string) error {
	if id == "" {
		return CheckNotDelivered(j, to, at)
	}
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPMessage)) {
		if hasRecipient(e.Message, to) && (at == "" || sameHost(e.Source, at)) && hasID(e, id) {
			return checkFailed("message %s to %s was delivered at %s (event %d)", id, to, e.Source, e.Seq)
		}
	}
	return nil
}

// checkReplyAtStage is CheckReplied limited to one stage of the session,
// told by the command the reply answers.
func checkReplyAtStage(j *journal.Journal, host string, code int, stage string) error {
	if stage == "" {
		return CheckReplied(j, host, code)
	}
	last := map[string]string{} // session -> stage of the last command
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPCommand, journal.KindSMTPReply, journal.KindSMTPConnect)) {
		switch e.Kind {
		case journal.KindSMTPConnect:
			last[e.Session] = "greeting"
		case journal.KindSMTPCommand:
			last[e.Session] = commandStage(e.Text)
		case journal.KindSMTPReply:
			st := last[e.Session]
			if st == "data" && e.Code != 354 && e.Code < 400 {
				st = "end_of_data"
			}
			if e.Code == code && st == stage && (host == "" || sameHost(e.Source, host)) {
				return nil
			}
			if st == "data" && e.Code == 354 {
				last[e.Session] = "end_of_data"
			}
		}
	}
	return checkFailed("no %d reply at stage %s%s", code, stage, atHost(host))
}

func commandStage(line string) string {
	verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
	switch verb {
	case "EHLO", "HELO", "LHLO":
		return "ehlo"
	case "STARTTLS":
		return "starttls"
	case "AUTH":
		return "auth"
	case "MAIL":
		return "mail"
	case "RCPT":
		return "rcpt"
	case "DATA", "BDAT":
		return "data"
	}
	return strings.ToLower(verb)
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
	case relay.SubmitAuth != nil:
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
		base := h.Behavior()
		for _, part := range s.Clear {
			base = clearPart(base, part)
		}
		b, err := behavior(s.Behavior, base)
		if err != nil {
			return what, err
		}
		r.env.Control("%s: %s", what, Describe(b))
		return what, h.SetBehavior(b)
	}
}

// External is a relay that is already running: mxsim only submits to it
// and, when told how, asks it to flush its queue.
func External(cfg ExternalConfig) Relay { return &external{cfg: cfg} }

// ExternalConfig configures an external relay.
type ExternalConfig struct {
	Submit   string // "host:port" where it accepts submissions
	User     string // AUTH credentials for submission, if it requires them
	Password string
	FlushCmd string // shell command that makes it retry its queue ("postqueue -f"); empty: flush does nothing
}

type external struct{ cfg ExternalConfig }

var _ Relay = (*external)(nil)

func (x *external) Start(ctx context.Context, n Network) error {
	if x.cfg.Submit == "" {
		return errors.New("external relay: no submission address")
	}
	return nil
}

func (x *external) Submission() Submission {
	return Submission{Addr: x.cfg.Submit, User: x.cfg.User, Password: x.cfg.Password}
}

func (x *external) Flush(ctx context.Context) error {
	if x.cfg.FlushCmd == "" {
		return nil
	}
	out, err := exec.CommandContext(ctx, "sh", "-c", x.cfg.FlushCmd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("external relay: flush command %q: %w: %s", x.cfg.FlushCmd, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (x *external) Stop(ctx context.Context) error { return nil }
