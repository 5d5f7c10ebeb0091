package harness

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// Checks about time. Times are those of the journal's events: when the
// harness or a simulated host wrote them. A submission's time is when the
// relay accepted it (the harness client's event follows the relay's 250
// to the final dot); a delivery's, when the host accepted the message; a
// connection's, when the host accepted it.

// settledError is a check's failure that no later event can undo: a
// delivery that came too soon stays too soon. A wait ends at once on one.
type settledError struct{ error }

func (e settledError) Unwrap() error { return e.error }

// checkSettled is checkFailed for a failure that is settled.
func checkSettled(format string, args ...any) error {
	return settledError{checkFailed(format, args...)}
}

// isSettled reports whether err is a failure no later event can undo.
func isSettled(err error) bool {
	var s settledError
	return errors.As(err, &s)
}

// journaledHeaders are the headers of a submission the client's journal
// event keeps: the submission identifier and, when the scenario named the
// message, its send id, by which the checks about time find when a
// message was submitted.
func journaledHeaders(sent map[string]string, id string) map[string][]string {
	h := map[string][]string{SubmissionHeader: {id}}
	if v, ok := sent[idHeader]; ok {
		h[idHeader] = []string{v}
	}
	return h
}

// submission is one submission the relay accepted.
type submission struct {
	id     string // SubmissionHeader
	sendID string // idHeader: the scenario's send id, or ""
	at     time.Time
}

// submissions returns the submissions the relay accepted, in order.
func submissions(events []journal.Event) []submission {
	var out []submission
	for _, e := range events {
		if e.Kind != journal.KindClientSubmit || e.Err != "" || e.Message == nil {
			continue
		}
		out = append(out, submission{id: first(e.Message.Headers[SubmissionHeader]), sendID: first(e.Message.Headers[idHeader]), at: e.Time})
	}
	return out
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// seconds renders d for messages: "0.41s", "2s", "1m30s".
func seconds(d time.Duration) string {
	if d < time.Minute && d > -time.Minute {
		return fmt.Sprintf("%.2gs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// CheckDeliveredNotBefore checks that a message to recipient to was
// accepted at host at (any host when at is empty), and that every such
// delivery came notBefore or more after the relay accepted the message's
// submission: "the retry came no sooner than the relay's configured
// wait". A delivery that came too soon fails it for good (no wait helps).
func CheckDeliveredNotBefore(j *journal.Journal, to, at string, notBefore time.Duration) error {
	return checkDeliveredTiming(j, to, at, "", notBefore)
}

// checkDeliveredTiming is CheckDeliveredNotBefore limited to the message
// of a send id ("" any).
func checkDeliveredTiming(j *journal.Journal, to, at, id string, notBefore time.Duration) error {
	if err := checkDeliveredMessage(j, to, at, id); err != nil {
		return err
	}
	events := caseEvents(j, journal.OfKind(journal.KindClientSubmit, journal.KindSMTPMessage))
	return deliveredNotBefore(events, to, at, id, notBefore)
}

// deliveredNotBefore judges the deliveries among events (client.submit
// and smtp.message, in order) for CheckDeliveredNotBefore.
func deliveredNotBefore(events []journal.Event, to, at, id string, notBefore time.Duration) error {
	subs := map[string]time.Time{}
	for _, s := range submissions(events) {
		subs[s.id] = s.at
	}
	for _, e := range events {
		if e.Kind != journal.KindSMTPMessage || !hasRecipient(e.Message, to) || (at != "" && !sameHost(e.Source, at)) || !hasID(e, id) {
			continue
		}
		sub := first(e.Message.Headers[SubmissionHeader])
		t0, ok := subs[sub]
		if !ok {
			return checkSettled("cannot tell when the message to %s delivered at %s (event %d) was submitted: it carries no %s header of a submission the harness made", to, e.Source, e.Seq, SubmissionHeader)
		}
		if gap := e.Time.Sub(t0); gap < notBefore {
			return checkSettled("the message to %s%s was delivered at %s %s after the relay accepted its submission, expected not before %s", to, ofMessage(id), e.Source, seconds(gap), notBefore)
		}
	}
	return nil
}

// CheckAttempts checks that host saw at most max connections (accepted
// or refused at connect) in any span of within, or in all when within
// is 0: no hammering after a 421. A host that is down sees no connection.
func CheckAttempts(j *journal.Journal, host string, max int, within time.Duration) error {
	return attemptsAtMost(caseEvents(j, journal.OfKind(journal.KindSMTPConnect, journal.KindSMTPRefused), sourceIs(host)), j.Start(), host, max, within)
}

// attemptsAtMost judges the connections among events (all at host, in
// order) for CheckAttempts; times are shown from start.
func attemptsAtMost(events []journal.Event, start time.Time, host string, max int, within time.Duration) error {
	var conns []journal.Event
	for _, e := range events {
		if (e.Kind == journal.KindSMTPConnect || e.Kind == journal.KindSMTPRefused) && sameHost(e.Source, host) {
			conns = append(conns, e)
		}
	}
	if within <= 0 {
		if len(conns) > max {
			return checkFailed("%d connections to %s (%s), more than the %d allowed", len(conns), host, connTimes(conns, start), max)
		}
		return nil
	}
	// The span with the most connections starts at one of them.
	lo := 0
	for hi := range conns {
		for conns[hi].Time.Sub(conns[lo].Time) >= within {
			lo++
		}
		if n := hi - lo + 1; n > max {
			span := conns[lo : hi+1]
			return checkFailed("%d connections to %s within %s (%s), more than the %d allowed in %s", n, host,
				seconds(span[len(span)-1].Time.Sub(span[0].Time)), connTimes(span, start), max, within)
		}
	}
	return nil
}

// connTimes lists when connections came, from start: "at 0.01s, 0.12s
// and 0.23s", the first ten at most.
func connTimes(conns []journal.Event, start time.Time) string {
	var ts []string
	for i, e := range conns {
		if i == 10 {
			ts = append(ts, "…")
			break
		}
		ts = append(ts, seconds(e.Time.Sub(start)))
	}
	return "at " + strings.Join(ts, ", ") + " into the run"
}

// CheckAttemptsNotBefore checks that no connection to host (accepted or
// refused at connect) came sooner than notBefore after a submission: the
// submission of the scenario's send id, or, with id "", the last
// submission the relay accepted before the connection. Connections
// before that submission are not about it and do not count.
func CheckAttemptsNotBefore(j *journal.Journal, host, id string, notBefore time.Duration) error {
	return attemptsNotBefore(caseEvents(j, journal.OfKind(journal.KindClientSubmit, journal.KindSMTPConnect, journal.KindSMTPRefused)), host, id, notBefore)
}

// attemptsNotBefore judges events (client.submit and connections, in
// order) for CheckAttemptsNotBefore.
func attemptsNotBefore(events []journal.Event, host, id string, notBefore time.Duration) error {
	var from time.Time // the submission measured from; zero: none yet
	for _, e := range events {
		switch {
		case e.Kind == journal.KindClientSubmit:
			for _, s := range submissions([]journal.Event{e}) {
				if id == "" || strings.EqualFold(s.sendID, id) {
					from = s.at
				}
			}
		case !sameHost(e.Source, host) || from.IsZero():
		case e.Time.Sub(from) < notBefore:
			what := "submission"
			if id != "" {
				what = "submission of message " + id
			}
			return checkFailed("a connection to %s (%s) came %s after the %s, expected not before %s", host, connName(e), seconds(e.Time.Sub(from)), what, notBefore)
		}
	}
	return nil
}
