package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// expect waits up to within for the positive conditions, then checks the
// negative ones (holding them for hold).
func (r *runner) expect(ctx context.Context, pos scenarios.Pos, c *scenarios.Conditions, within, hold time.Duration, verb string) *report.Failure {
	pos2 := pos
	positive, negative := conditionChecks(c, r.retryInterval)
	if q := c.Queued; q != nil {
		what := "queued " + q.To
		qr, ok := r.env.relay.(QueueReporter)
		if !ok {
			return &report.Failure{Pos: r.pos(pos2), Step: verb + " " + what, Expected: what,
				Actual: "this relay cannot list its queue, so queued cannot be judged (the reference and postfix relays can; an external one cannot)"}
		}
		positive = append(positive, namedCheck{what: what, within: q.Within, check: func(*journal.Journal) error {
			list, err := qr.Queue(ctx)
			if err != nil {
				return checkFailed("the relay's queue could not be listed: %v", err)
			}
			return CheckQueued(list, q.To)
		}})
	}
	if within <= 0 {
		within = scenarios.DefaultWithin
	}
	if f := r.waitPositive(ctx, pos2, c, positive, negative, within, verb); f != nil {
		return f
	}
	if len(negative) == 0 {
		return nil
	}
	deadline := r.env.now().Add(hold)
	for {
		changed := r.env.Journal().Changed() // before the checks: an event during them wakes the wait
		for _, ch := range negative {
			if err := ch.check(r.env.Journal()); err != nil {
				return &report.Failure{Pos: r.pos(pos2), Step: verb + " " + ch.what, Expected: ch.what, Actual: trimCheck(err) + r.explainFailure(ch)}
			}
		}
		if !r.env.now().Before(deadline) {
			return nil
		}
		if err := r.env.await(ctx, changed, deadline); err != nil {
			return &report.Failure{Pos: r.pos(pos2), Step: verb, Expected: "conditions hold", Actual: err.Error()}
		}
	}
}

// waitPositive waits until every positive condition holds, each within
// its own time (namedCheck.within) or the step's, measured from now; a
// condition that fails for good (a delivery that came too soon) ends the
// wait at once. It returns the failure of the first condition that did
// not hold in time, or nil.
func (r *runner) waitPositive(ctx context.Context, pos scenarios.Pos, c *scenarios.Conditions, positive, negative []namedCheck, within time.Duration, verb string) *report.Failure {
	start := r.env.now()
	limit := func(ch namedCheck) time.Duration {
		if ch.within > 0 {
			return ch.within
		}
		return within
	}
	fail := func(ch namedCheck, e error, note string) *report.Failure {
		lim := limit(ch)
		return &report.Failure{Pos: r.pos(pos), Step: verb + " " + ch.what + " within " + lim.String(),
			Expected: ch.what + " within " + lim.String(), Actual: r.networkNote(trimCheck(e)) + note + r.explainFailure(ch) + r.unseenDownHosts(c) + brokenAlready(r.env.Journal(), negative),
			Inconclusive: errors.Is(e, ErrInconclusive)}
	}
	held := make([]bool, len(positive))
	for {
		j := r.env.Journal()
		changed := j.Changed() // before the checks: an event during them wakes the wait
		now := r.env.now()
		next := time.Duration(-1)
		for i, ch := range positive {
			if held[i] {
				continue
			}
			err := ch.check(j)
			if err == nil {
				held[i] = true
				continue
			}
			left := limit(ch) - now.Sub(start)
			if isSettled(err) || left <= 0 {
				return fail(ch, err, "")
			}
			if next < 0 || left < next {
				next = left
			}
		}
		if r.env.Clock() != nil && next >= 0 {
			// Under a virtual clock a negative condition that fails ends
			// the wait: it stays failed, and a relay that hammers a host
			// would otherwise be moved on through thousands of attempts.
			for _, ch := range negative {
				if err := ch.check(j); err != nil {
					return &report.Failure{Pos: r.pos(pos), Step: verb + " " + ch.what, Expected: ch.what, Actual: trimCheck(err) + r.explainFailure(ch)}
				}
			}
		}
		if next < 0 {
			// Each held once; together now? (delivered count: exactly N
			// can hold, then not.)
			for i, ch := range positive {
				held[i] = ch.check(j) == nil
				if !held[i] {
					next = 0
				}
			}
			if next < 0 {
				return nil
			}
			continue
		}
		if err := r.env.await(ctx, changed, now.Add(next)); err != nil {
			for i, ch := range positive {
				if err := ch.check(j); !held[i] && err != nil {
					return fail(ch, err, " ("+ctx.Err().Error()+")")
				}
			}
			return &report.Failure{Pos: r.pos(pos), Step: verb, Expected: "all conditions within " + within.String(), Actual: ctx.Err().Error()}
		}
	}
}

// networkNote completes a check's failure that says the relay reached no
// host (attemptSummary) with where the simulated network is: the journal
// does not know it, and a relay configured for another DNS address or
// port leaves no trace there.
func (r *runner) networkNote(failure string) string {
	switch {
	case strings.Contains(failure, dnsNeverAsked):
		return failure + fmt.Sprintf("; the simulated DNS is at %s", r.env.Network().DNSAddr)
	case strings.Contains(failure, connectedNone):
		return failure + fmt.Sprintf("; the hosts listen on port %d, and a connection to another port leaves no trace", r.env.plan.SMTPPort)
	}
	return failure
}

// unseenDownHosts explains a failed attempted condition that names a host
// that is down when the relay does not report its decisions and attempts
// (DecisionReporter): a refused connection leaves no trace at the host,
// so only the relay can tell.
func (r *runner) unseenDownHosts(c *scenarios.Conditions) string {
	if len(c.Attempted) == 0 || reportsDecisions(r.env.Relay()) {
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
	return fmt.Sprintf(" (note: %s is down, and a connection to a host that is down is seen only when the relay reports its attempts; %s — judge from the hosts that are up, or use a relay adapter that reads the relay's log)", strings.Join(down, ", "), noReports)
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
	return strings.TrimPrefix(err.Error(), "harness: "+ErrCheck.Error()+": ")
}

type namedCheck struct {
	what  string
	check func(*journal.Journal) error
	// within is how long a positive condition may take to hold, when it
	// says so itself (its within key); 0: the step's.
	within time.Duration
	// about returns the recipients the condition is about, whose fate a
	// failure explains (explain.go); nil for a condition about none.
	about func(*journal.Journal) []string
}

// conditionChecks turns conditions into checks: the positive ones, which
// may take time to come true, and the negative ones. retryInterval is the
// relay's, for retry_gap's default.
func conditionChecks(c *scenarios.Conditions, retryInterval time.Duration) (positive, negative []namedCheck) {
	if d := c.Delivered; d != nil && d.Count > 0 {
		positive = append(positive, namedCheck{
			what:   fmt.Sprintf("delivered to %s%s%s exactly %d times", d.To, atHost(d.At), ofMessage(d.Message), d.Count),
			check:  func(j *journal.Journal) error { return checkDeliveredCount(j, d.To, d.At, d.Message, d.Count) },
			about:  recipient(d.To),
			within: d.Within,
		})
	} else if d != nil {
		positive = append(positive, namedCheck{
			what:   "delivered to " + d.To + atHost(d.At) + ofMessage(d.Message),
			check:  func(j *journal.Journal) error { return checkDeliveredMessage(j, d.To, d.At, d.Message) },
			about:  recipient(d.To),
			within: d.Within,
		})
	}
	if d := c.Delivered; d != nil && d.NotBefore > 0 {
		positive = append(positive, namedCheck{
			what:   fmt.Sprintf("delivered to %s%s%s not before %s after its submission", d.To, atHost(d.At), ofMessage(d.Message), d.NotBefore),
			check:  func(j *journal.Journal) error { return checkDeliveredTiming(j, d.To, d.At, d.Message, d.NotBefore) },
			about:  recipient(d.To),
			within: d.Within,
		})
	}
	if a := c.Attempts; a != nil && a.Max != nil {
		at, n, span := a.At, *a.Max, a.Within
		what := fmt.Sprintf("at most %d connections to %s", n, at)
		if span > 0 {
			what += " within " + span.String()
		}
		negative = append(negative, namedCheck{what: what, check: func(j *journal.Journal) error { return CheckAttempts(j, at, n, span) }})
	}
	if a := c.Attempts; a != nil && a.NotBefore > 0 {
		at, id, least := a.At, a.Message, a.NotBefore
		what := fmt.Sprintf("no connection to %s sooner than %s after the submission%s", at, least, ofMessage(id))
		negative = append(negative, namedCheck{what: what, check: func(j *journal.Journal) error { return CheckAttemptsNotBefore(j, at, id, least) }})
	}
	if len(c.Attempted) > 0 {
		hosts := c.Attempted
		positive = append(positive, namedCheck{
			what:  "attempted [" + strings.Join(hosts, ", ") + "] in this order",
			check: func(j *journal.Journal) error { return CheckAttemptedInOrder(j, hosts...) },
		})
	}
	if t := c.TLS; t != nil {
		positive = append(positive, namedCheck{what: "TLS used at " + t.At, within: t.Within, check: func(j *journal.Journal) error { return CheckUsedTLS(j, t.At) }})
	}
	if a := c.Auth; a != nil {
		who := ""
		if a.User != "" {
			who = " as " + a.User
		}
		positive = append(positive, namedCheck{what: "AUTH at " + a.At + who, within: a.Within, check: func(j *journal.Journal) error { return CheckAuthenticated(j, a.At, a.User) }})
	}
	if rp := c.Reply; rp != nil {
		what := fmt.Sprintf("reply %d%s", rp.Code, atHost(rp.At))
		if rp.Stage != "" {
			what += " at stage " + string(rp.Stage)
		}
		positive = append(positive, namedCheck{what: what, within: rp.Within, check: func(j *journal.Journal) error { return checkReplyAtStage(j, rp.At, rp.Code, string(rp.Stage)) }})
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
		positive = append(positive, namedCheck{what: what, within: b.Within, about: func(j *journal.Journal) []string { return submittedBy(j, b.To) }, check: func(j *journal.Journal) error {
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
			what:   fmt.Sprintf("spread over [%s], at least %d each", strings.Join(hosts, ", "), n),
			check:  func(j *journal.Journal) error { return CheckSpread(j, n, hosts...) },
			within: sp.Within,
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
		if rf.Status != "" {
			what += " status " + rf.Status
		}
		positive = append(positive, namedCheck{what: what, within: rf.Within, check: func(j *journal.Journal) error {
			return CheckSubmitRefused(j, string(rf.Stage), rf.Code, rf.Status)
		}})
	}
	if pa := c.NoPlaintextAuth; pa != nil {
		negative = append(negative, namedCheck{what: "no AUTH before TLS at " + pa.At, check: func(j *journal.Journal) error { return CheckNoAuthBeforeTLS(j, pa.At) }})
	}
	if st := c.STARTTLSRules; st != nil {
		negative = append(negative, namedCheck{what: "STARTTLS only when advertised, then EHLO, at " + st.At, check: func(j *journal.Journal) error { return CheckSTARTTLSRules(j, st.At) }})
	}
	if rg := c.RetryGap; rg != nil {
		at, least := rg.At, rg.AtLeast
		if least == 0 {
			least = retryGapDefault(retryInterval)
		}
		negative = append(negative, namedCheck{what: fmt.Sprintf("no retry at %s sooner than %s after a 4yz", at, least), check: func(j *journal.Journal) error { return CheckRetryGap(j, at, least) }})
	}
	if q := c.DNSQuery; q != nil {
		positive = append(positive, namedCheck{what: strings.TrimSpace("DNS query " + q.Type + " " + q.Name), within: q.Within, check: func(j *journal.Journal) error { return CheckQueried(j, q.Name, q.Type) }})
	}
	if df := c.Deferred; df != nil {
		what := "deferred " + df.To
		if df.Code != 0 {
			what += fmt.Sprintf(" with %d", df.Code)
		}
		positive = append(positive, namedCheck{what: what, within: df.Within, check: func(j *journal.Journal) error { return CheckDeferred(j, df.To, df.Code) }})
	}
	if a := c.AuthResults; a != nil {
		positive = append(positive, authResultsCheck(a))
	}
	if d := c.NotDelivered; d != nil {
		negative = append(negative, namedCheck{
			what:  "not delivered to " + d.To + atHost(d.At) + ofMessage(d.Message),
			check: func(j *journal.Journal) error { return checkNotDeliveredMessage(j, d.To, d.At, d.Message) },
			about: recipient(d.To),
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
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage)) {
		if hasRecipient(e.Message, to) && (at == "" || sameHost(e.Source, at)) && hasID(e, id) {
			return nil
		}
	}
	return checkFailed("message %s to %s not delivered%s: %s", id, to, atHost(at), attemptSummary(j, to))
}

func checkNotDeliveredMessage(j *journal.Journal, to, at, id string) error {
	if id == "" {
		return CheckNotDelivered(j, to, at)
	}
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage)) {
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
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPCommand, journal.KindSMTPReply, journal.KindSMTPConnect)) {
		switch e.Kind {
		case journal.KindSMTPConnect:
			last[e.Session] = "greeting"
		case journal.KindSMTPCommand:
			last[e.Session] = replyStage(e.Text)
		case journal.KindSMTPReply:
			st := last[e.Session]
			switch {
			case st == stageChunk:
				st = "data"
			case st == "end_of_data" && e.Fault == fakesmtp.FaultData:
				// A forced data reply answers the first BDAT chunk, a
				// message's only one included ("BDAT n LAST").
				st = "data"
			case st == "data" && e.Code != 354 && e.Code < 400:
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

// stageChunk is replyStage's mark for a BDAT chunk before the last: its
// reply is at stage data, a 250 included (the go-ahead for the next
// chunk, as 354 is for the body).
const stageChunk = "bdat"

// replyStage is the stage of the reply to a command line: commandStage,
// except that BDAT is told apart by LAST (RFC 3030 §2). The reply to BDAT
// LAST ends the message, as the reply to DATA's final dot does: stage
// end_of_data. The replies to the chunks before it are at stage data.
func replyStage(line string) string {
	st := commandStage(line)
	if f := strings.Fields(line); st == "data" && strings.EqualFold(f[0], "BDAT") {
		if len(f) == 3 && strings.EqualFold(f[2], "LAST") {
			return "end_of_data"
		}
		return stageChunk
	}
	return st
}

// commandStage is the stage a command line belongs to: BDAT, LAST or not,
// is data, as DATA is, for the checks that follow a transaction through
// its commands (the replies to BDAT are staged by replyStage).
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
