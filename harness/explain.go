package harness

import (
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// Why a condition about a recipient failed, in the words of the journal:
// the relay's last decision about the recipient ("the relay deferred it:
// 451 4.4.3 …"), or, for a relay that does not report its decisions, what
// the hosts saw of it. A failure message that only says "no bounce" sends
// the reader to the journal; this says there what happened instead.

// noReports is said of a relay that does not report its decisions
// (DecisionReporter).
const noReports = "this relay does not report its decisions"

// reportsDecisions reports whether rl journals its own decisions.
func reportsDecisions(rl Relay) bool {
	d, ok := rl.(DecisionReporter)
	return ok && d.ReportsDecisions()
}

// explainFailure returns what to add to the reason of the failed check
// ch: for each recipient it is about, "; <rcpt>: <what became of it>".
// Empty for a condition about no recipient.
func (r *runner) explainFailure(ch namedCheck) string {
	if ch.about == nil {
		return ""
	}
	j := r.env.Journal()
	rcpts := ch.about(j)
	if len(rcpts) == 0 {
		return ""
	}
	reports := reportsDecisions(r.env.Relay())
	var b strings.Builder
	for _, rc := range rcpts {
		b.WriteString("; ")
		b.WriteString(rc)
		b.WriteString(": ")
		b.WriteString(explainRecipient(j, rc, reports))
	}
	return b.String()
}

// recipient is a namedCheck's about for a condition on one recipient.
func recipient(to string) func(*journal.Journal) []string {
	return func(*journal.Journal) []string { return []string{to} }
}

// submittedBy returns the recipients of the messages from sender that the
// harness submitted (client.submit: "from a@x to b@y, c@z") or the relay
// reports as accepted (relay.submit), in order, without repeats.
func submittedBy(j *journal.Journal, sender string) []string {
	var out []string
	add := func(rc string) {
		for _, o := range out {
			if strings.EqualFold(o, rc) {
				return
			}
		}
		out = append(out, rc)
	}
	for _, e := range caseEvents(j, journal.OfKind(journal.KindClientSubmit, journal.KindRelaySubmit)) {
		// A refused submission (client.submit with an error) submitted nothing.
		if e.Message == nil || (e.Kind == journal.KindClientSubmit && e.Err != "") || !strings.EqualFold(e.Message.From, sender) {
			continue
		}
		for _, rc := range e.Message.To {
			add(rc)
		}
	}
	return out
}

// explainRecipient says in a few words what became of rcpt: the relay's
// last decision about it when the relay reports them, else what the hosts
// saw.
func explainRecipient(j *journal.Journal, rcpt string, reports bool) string {
	hosts := hostsSaw(j, rcpt)
	if !reports {
		if hosts == "" {
			return noReports + ", and no host saw this recipient"
		}
		return noReports + "; at the hosts: " + hosts
	}
	var last *journal.Event
	var tried []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindRelayAttempt, journal.KindRelayDeliver, journal.KindRelayDefer, journal.KindRelayBounce)) {
		if !concerns(e, rcpt) {
			continue
		}
		if e.Kind == journal.KindRelayAttempt {
			if h := attemptHost(e); h != "" && !containsFold(tried, h) {
				tried = append(tried, h)
			}
			continue
		}
		last = &e
	}
	switch {
	case last != nil && last.Kind == journal.KindRelayDeliver:
		at := last.Peer
		if at == "" {
			at = attemptHost(*last)
		}
		return "the relay delivered it at " + at
	case last != nil && last.Kind == journal.KindRelayDefer:
		return "the relay deferred it: " + decisionText(*last)
	case last != nil:
		return "the relay bounced it: " + decisionText(*last)
	case len(tried) > 0:
		s := "the relay attempted " + strings.Join(tried, ", ") + " and reported no decision yet"
		if hosts != "" {
			s += "; at the hosts: " + hosts
		}
		return s
	case hosts != "":
		return "no attempt reported by the relay; at the hosts: " + hosts
	}
	return "no attempt seen"
}

// concerns reports whether a relay event is about rcpt: its message
// lists it, or its text does ("to=a@x,b@y" in the reference relay's
// reports, "to=<a@x>" in Postfix's log).
func concerns(e journal.Event, rcpt string) bool {
	if e.Message != nil && hasRecipient(e.Message, rcpt) {
		return true
	}
	text := e.Text
	for {
		i := strings.Index(text, "to=")
		if i < 0 {
			return false
		}
		text = text[i+3:]
		list := text
		if k := strings.IndexAny(list, ": ;"); k >= 0 {
			list = list[:k]
		}
		for _, rc := range strings.Split(list, ",") {
			if strings.EqualFold(strings.Trim(rc, "<>"), rcpt) {
				return true
			}
		}
	}
}

// decisionText is the reason a relay gave for a defer or a bounce: the
// reference relay's text after "to=…: " ("451 4.4.3 …"), the part in
// parentheses after status= of a Postfix log line, else the whole text;
// with the code in front when the text does not start with it.
func decisionText(e journal.Event) string {
	text := e.Text
	if i := strings.Index(text, "status="); i >= 0 {
		if k := strings.Index(text[i:], " ("); k >= 0 {
			text = strings.TrimSuffix(text[i+k+2:], ")")
		}
	} else if i := strings.Index(text, "to="); i >= 0 {
		if k := strings.Index(text[i:], ": "); k >= 0 {
			text = text[i+k+2:]
		}
	}
	text = strings.TrimSpace(text)
	if e.Code != 0 {
		if code := strconv.Itoa(e.Code); !strings.HasPrefix(text, code) {
			text = code + " " + text
		}
	}
	return text
}

// hostsSaw says what the hosts saw of rcpt: which accepted a message for
// it, else the last reply a host gave to a RCPT for it ("mx1.example.test
// answered 451 4.7.1 … to RCPT"). Empty when no host saw it.
func hostsSaw(j *journal.Journal, rcpt string) string {
	var accepted []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage)) {
		if hasRecipient(e.Message, rcpt) && !containsFold(accepted, e.Source) {
			accepted = append(accepted, e.Source)
		}
	}
	if len(accepted) > 0 {
		return strings.Join(accepted, ", ") + " accepted a message for it"
	}
	pending := map[string]bool{} // session -> its last command was a RCPT for rcpt
	var last string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPCommand, journal.KindSMTPReply)) {
		switch e.Kind {
		case journal.KindSMTPCommand:
			pending[e.Session] = rcptCommandFor(e.Text, rcpt)
		case journal.KindSMTPReply:
			if pending[e.Session] {
				last = e.Source + " answered " + e.Text + " to RCPT"
				pending[e.Session] = false
			}
		}
	}
	return last
}

// rcptCommandFor reports whether line is "RCPT TO:<rcpt>…".
func rcptCommandFor(line, rcpt string) bool {
	if len(line) < 8 || !strings.EqualFold(line[:8], "RCPT TO:") {
		return false
	}
	addr := strings.TrimSpace(line[8:])
	addr, _, _ = strings.Cut(addr, " ")
	return strings.EqualFold(strings.Trim(addr, "<>"), rcpt)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if sameHost(x, s) {
			return true
		}
	}
	return false
}
