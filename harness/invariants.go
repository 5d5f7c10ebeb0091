package harness

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// Invariants are judged at the end of every scenario and conformance case,
// whatever its steps say (a scenario may opt out of one by name, with a
// reason; see docs/scenarios.md):
//
//   - at most once: a message reaches each of its recipients at most once,
//     across all simulated hosts (CheckAtMostOnce);
//   - accounted for: each recipient the relay accepted at submission is
//     delivered, bounced, or still in the relay's queue (CheckAccountedFor).

// SubmissionHeader is the header Env.Send adds to every message it
// submits, with a value of its own: it tells one submitted message from
// another wherever the relay delivers it.
const SubmissionHeader = "X-Mxsim-Submission"

// Names of the invariants, as a scenario's invariants section writes them.
const (
	InvariantAtMostOnce   = "at_most_once"
	InvariantAccountedFor = "accounted_for"
)

// submissionID returns a new identifier for a message Send submits: the
// journal's start (one network from another, should a relay keep mail
// from an earlier run) and a counter.
func (e *Env) submissionID() string {
	n := e.submissions.Add(1)
	return fmt.Sprintf("%s%d@mxsim.test", idPrefix(e.journal), n)
}

// idPrefix is what the identifiers of the submissions made into j begin
// with: its start, in hex, and a dot.
func idPrefix(j *journal.Journal) string {
	return fmt.Sprintf("%x.", j.Start().UnixNano())
}

// submissionIDRE matches an identifier made by submissionID, in any
// network.
var submissionIDRE = regexp.MustCompile(`^[0-9a-f]+\.[0-9]+@mxsim\.test$`)

// submissionHeaderRE finds the SubmissionHeader lines in a message's
// bytes: a DSN quotes the headers of the message it is about.
var submissionHeaderRE = regexp.MustCompile(`(?im)^` + SubmissionHeader + `:[ \t]*([0-9a-f]+\.[0-9]+@mxsim\.test)\b`)

// Strays: a relay that keeps its queue from one scenario to the next (an
// MTA that mxsim does not start) may deliver, in a later scenario's
// network, a message submitted in an earlier one, or a bounce about it.
// Such a message is a stray: it carries a SubmissionHeader (itself, or in
// the headers a DSN quotes) made by another network, and none made by
// this one. The checks never count a stray, nor anything of a session
// that carried strays only (its connection, commands and replies): a
// delivery, a bounce, an attempt or a reply of this scenario is about
// its own messages. A session that ended before the relay sent a message
// cannot be told apart and counts. The runner names each stray in the
// result's notes (Strays).

// Stray is a message delivered in a network that did not submit it.
type Stray struct {
	Seq     int64  // its smtp.message event
	Host    string // the host that took it
	Session string
	From    string   // envelope sender; "" for a bounce
	IDs     []string // the submission identifiers it carries (a DSN may quote several)
}

// strayInfo is what the checks need of a journal's strays.
type strayInfo struct {
	messages map[int64]bool  // smtp.message events that are strays
	sessions map[string]bool // sessions that carried strays only
	list     []Stray
}

// strayCache keeps the strays of the journal checked last: the checks of
// a wait read the same journal again and again, and it changes only by
// growing.
var strayCache struct {
	sync.Mutex
	j    *journal.Journal
	n    int // j.Len() when info was found
	info *strayInfo
}

// strays finds the strays of j; nil when there are none.
func strays(j *journal.Journal) *strayInfo {
	n := j.Len() // findStrays reads as many events or more
	strayCache.Lock()
	if strayCache.j == j && strayCache.n == n {
		info := strayCache.info
		strayCache.Unlock()
		return info
	}
	strayCache.Unlock()
	info := findStrays(j)
	strayCache.Lock()
	strayCache.j, strayCache.n, strayCache.info = j, n, info
	strayCache.Unlock()
	return info
}

// findStrays finds the strays of j; nil when there are none.
func findStrays(j *journal.Journal) *strayInfo {
	own := idPrefix(j)
	var info *strayInfo
	ownSession := map[string]bool{}
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPMessage)) {
		ids := submissionIDs(e.Message)
		if len(ids) == 0 {
			continue
		}
		mine := slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, own) })
		if mine {
			ownSession[e.Session] = true
			continue
		}
		if info == nil {
			info = &strayInfo{messages: map[int64]bool{}, sessions: map[string]bool{}}
		}
		info.messages[e.Seq] = true
		info.sessions[e.Session] = true
		info.list = append(info.list, Stray{Seq: e.Seq, Host: canonical(e.Source), Session: e.Session, From: e.Message.From, IDs: ids})
	}
	if info != nil {
		for s := range ownSession {
			delete(info.sessions, s)
		}
	}
	return info
}

// submissionIDs returns the identifiers made by submissionID (in any
// network) that m carries: its own SubmissionHeader, else, for a bounce,
// those in the headers it quotes.
func submissionIDs(m *journal.Message) []string {
	if m == nil {
		return nil
	}
	var ids []string
	for _, v := range m.Headers[SubmissionHeader] {
		if v = strings.TrimSpace(v); submissionIDRE.MatchString(v) {
			ids = append(ids, v)
		}
	}
	if len(ids) > 0 || m.From != "" {
		return ids
	}
	for _, sm := range submissionHeaderRE.FindAllSubmatch(m.Raw, -1) {
		if id := strings.ToLower(string(sm[1])); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Strays returns the messages delivered in j's network that were
// submitted in another network (see above), in journal order.
func Strays(j *journal.Journal) []Stray {
	if s := strays(j); s != nil {
		return s.list
	}
	return nil
}

// caseEvents is j.Events(filters...) without the strays and the sessions
// that carried strays only: what every check reads.
func caseEvents(j *journal.Journal, filters ...func(journal.Event) bool) []journal.Event {
	events := j.Events(filters...)
	// The strays are found after the events are read, from as many events
	// or more: a stray among them is known as one.
	s := strays(j)
	if s == nil {
		return events
	}
	return slices.DeleteFunc(events, func(e journal.Event) bool {
		return s.messages[e.Seq] || e.Session != "" && s.sessions[e.Session]
	})
}

// Delivery is one recipient of a message a simulated host accepted.
type Delivery struct {
	Host    string    // the host that accepted it
	Session string    // its SMTP session ("mx1.example.test#3")
	Seq     int64     // the smtp.message event
	Time    time.Time // when the host accepted it
	To      string    // the recipient
	// Message identifies the message: the SubmissionHeader's value, else
	// its Message-ID (a DSN the relay made); "" when it has neither.
	Message string
	From    string // envelope sender; "" for a bounce (null reverse-path)
}

// format describes d for failure messages, its time relative to start.
func (d Delivery) format(start time.Time) string {
	return fmt.Sprintf("at %s in session %s at +%.3fs (event %d)", d.Host, d.Session, d.Time.Sub(start).Seconds(), d.Seq)
}

// messageIdentity returns what identifies the message of a delivery.
func messageIdentity(m *journal.Message) string {
	if m == nil {
		return ""
	}
	if v := m.Headers[SubmissionHeader]; len(v) > 0 {
		return v[0]
	}
	return m.ID
}

// Deliveries returns the deliveries the simulated hosts made, one per
// message and recipient, in journal order. A message counts only when the
// relay could know it was delivered: the host journals a message before
// its reply to the final dot, so the message counts when that reply was a
// 2yz and the relay did not then leave without a word. After the 250 the
// session must go on (a next command: QUIT, RSET, MAIL), be ended by the
// host, or still be open. When the relay closed the connection right
// after, timed out, or the host could not write its 250, the relay may
// never have seen the 250: it gave up on the message, and sending it again
// later is what RFC 5321 §4.1.1.4 and RFC 1047 expect, not a duplicate. A
// message whose host refused it at the final dot, or that the host never
// took because the relay left during an end-of-data delay, is no delivery.
func Deliveries(j *journal.Journal) []Delivery {
	type cand struct {
		e       journal.Event
		replied bool // the host's 2yz to the final dot is journaled
		refuted bool
	}
	var cands []*cand
	open := map[string]*cand{} // session -> its last message, while undecided
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage, journal.KindSMTPReply, journal.KindSMTPCommand, journal.KindSMTPDisconnect)) {
		c := open[e.Session]
		switch e.Kind {
		case journal.KindSMTPMessage:
			c = &cand{e: e}
			cands = append(cands, c)
			open[e.Session] = c
			continue
		case journal.KindSMTPReply:
			if c != nil && !c.replied {
				c.replied = e.Code >= 200 && e.Code < 300
				c.refuted = !c.replied
				if c.refuted {
					delete(open, e.Session)
				}
			}
			continue
		case journal.KindSMTPCommand:
			// The relay talks on after the 250: it saw it.
		case journal.KindSMTPDisconnect:
			if c != nil && clientLeft(e.Text) {
				c.refuted = true
			}
		}
		delete(open, e.Session)
	}
	var out []Delivery
	for _, c := range cands {
		if !c.replied || c.refuted {
			continue
		}
		id := messageIdentity(c.e.Message)
		for _, to := range c.e.Message.To {
			out = append(out, Delivery{Host: canonical(c.e.Source), Session: c.e.Session, Seq: c.e.Seq, Time: c.e.Time,
				To: to, Message: id, From: c.e.Message.From})
		}
	}
	return out
}

// clientLeft tells, from a disconnect's reason, that the client went
// away (or stopped reading) rather than the host closing the session.
func clientLeft(reason string) bool {
	reason = strings.ToLower(reason)
	for _, s := range []string{"client closed", "idle timeout", "write failed", "unexpected eof", "reset by peer", "broken pipe"} {
		if strings.Contains(reason, s) {
			return true
		}
	}
	return false
}

// CheckAtMostOnce checks that no message reached one recipient twice,
// across all simulated hosts (the deliveries that count are those of
// Deliveries). A failure names both deliveries: host, session, time.
func CheckAtMostOnce(j *journal.Journal) error {
	type key struct{ msg, to string }
	first := map[key]Delivery{}
	var dups []string
	for _, d := range Deliveries(j) {
		if d.Message == "" {
			continue
		}
		k := key{d.Message, strings.ToLower(d.To)}
		f, seen := first[k]
		if !seen {
			first[k] = d
			continue
		}
		what := fmt.Sprintf("the message from <%s> (%s)", d.From, d.Message)
		if d.From == "" {
			what = fmt.Sprintf("the bounce %s", d.Message)
		}
		dups = append(dups, fmt.Sprintf("%s delivered to %s twice: first %s, again %s", what, d.To, f.format(j.Start()), d.format(j.Start())))
	}
	if len(dups) > 0 {
		return checkFailed("%s", strings.Join(dups, "; "))
	}
	return nil
}

// CheckDeliveredCount checks that exactly n deliveries to recipient to
// happened at host at (any host when at is empty), counted as Deliveries
// counts them.
func CheckDeliveredCount(j *journal.Journal, to, at string, n int) error {
	return checkDeliveredCount(j, to, at, "", n)
}

// checkDeliveredCount is CheckDeliveredCount limited to the message of a
// send id ("" any).
func checkDeliveredCount(j *journal.Journal, to, at, sendID string, n int) error {
	var where []string
	for _, d := range Deliveries(j) {
		if !strings.EqualFold(d.To, to) || at != "" && !sameHost(d.Host, at) {
			continue
		}
		if sendID != "" {
			e, ok := j.At(d.Seq)
			if !ok || !hasID(e, sendID) {
				continue
			}
		}
		where = append(where, d.format(j.Start()))
	}
	if len(where) == n {
		return nil
	}
	what := to + atHost(at) + ofMessage(sendID)
	if len(where) == 0 {
		return checkFailed("%s delivered 0 times, want %d: %s", what, n, attemptSummary(j, to))
	}
	return checkFailed("%s delivered %d times, want %d: %s", what, len(where), n, strings.Join(where, "; "))
}

// QueuedRecipient is one recipient a relay under test still holds: a
// deferred message, or one whose delivery attempt is in progress.
type QueuedRecipient struct {
	ID   string // the relay's queue ID
	From string // envelope sender; "" for a bounce
	To   string // the recipient
	// Submission is the message's SubmissionHeader, when the relay can
	// tell; "" stands for any message from From to To.
	Submission string
	// InFlight says a delivery attempt for it is in progress: its
	// outcome is about to be known.
	InFlight bool
}

// Submitted is one submission the relay under test accepted, as the
// client.submit events of the journal record it.
type Submitted struct {
	ID   string // its SubmissionHeader value
	From string
	To   []string
	Seq  int64 // the client.submit event
}

// Submissions returns the submissions the relay accepted (250 after the
// final dot), in order. A submission refused at any stage is left out:
// the relay never took its recipients.
func Submissions(j *journal.Journal) []Submitted {
	var out []Submitted
	for _, e := range j.Events(journal.OfKind(journal.KindClientSubmit)) {
		if e.Err != "" || e.Message == nil || len(e.Message.Headers[SubmissionHeader]) == 0 {
			continue
		}
		out = append(out, Submitted{ID: e.Message.Headers[SubmissionHeader][0], From: e.Message.From, To: e.Message.To, Seq: e.Seq})
	}
	return out
}

// CheckAccountedFor checks that every recipient of every accepted
// submission is accounted for: delivered (a host accepted the message for
// it, whether or not the relay saw the 250), bounced (a relay.bounce event
// for it, or a DSN that names it and the message), or in queue, the relay's
// queue as listed (read the queue before the journal: a recipient leaves
// the queue only after its outcome is journaled).
func CheckAccountedFor(j *journal.Journal, queue []QueuedRecipient) error {
	missing := unaccounted(j, queue, true)
	if len(missing) == 0 {
		return nil
	}
	return checkFailed("accepted at submission, then neither delivered, bounced nor queued: %s", strings.Join(missing, "; "))
}

// unaccounted lists the recipients CheckAccountedFor misses; a recipient
// in an attempt in progress counts as queued only when inFlight is set.
func unaccounted(j *journal.Journal, queue []QueuedRecipient, inFlight bool) []string {
	type key struct{ msg, to string }
	done := map[key]bool{}
	anyMsg := map[string]bool{} // recipients delivered a message without an identifier
	var dsns, bounces []journal.Event
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage, journal.KindRelayBounce)) {
		if e.Kind == journal.KindRelayBounce {
			bounces = append(bounces, e)
			continue
		}
		if e.Message == nil {
			continue
		}
		if e.Message.From == "" {
			dsns = append(dsns, e)
		}
		id := ""
		if v := e.Message.Headers[SubmissionHeader]; len(v) > 0 {
			id = v[0]
		}
		for _, to := range e.Message.To {
			if id == "" {
				anyMsg[strings.ToLower(to)] = true
			} else {
				done[key{id, strings.ToLower(to)}] = true
			}
		}
	}
	var missing []string
	for _, s := range Submissions(j) {
		for _, to := range s.To {
			lto := strings.ToLower(to)
			switch {
			case done[key{s.ID, lto}], anyMsg[lto]:
			case slices.ContainsFunc(queue, func(q QueuedRecipient) bool {
				return strings.EqualFold(q.To, to) && (q.Submission == "" && strings.EqualFold(q.From, s.From) || q.Submission == s.ID) &&
					(inFlight || !q.InFlight)
			}):
			case slices.ContainsFunc(bounces, func(e journal.Event) bool { return bounceNames(e, s.ID, to) }):
			case slices.ContainsFunc(dsns, func(e journal.Event) bool {
				raw := string(e.Message.Raw)
				return strings.Contains(raw, s.ID) && mentions(raw, to)
			}):
			default:
				missing = append(missing, fmt.Sprintf("%s (message %s from %s, submitted at event %d)", to, s.ID, s.From, s.Seq))
			}
		}
	}
	return missing
}

// bounceNames tells whether a relay.bounce event is about recipient to of
// submission id. An event that does not carry the message is taken to be
// about any message to that recipient.
func bounceNames(e journal.Event, id, to string) bool {
	if m := e.Message; m != nil && len(m.To) > 0 {
		if !hasRecipient(m, to) {
			return false
		}
		return len(m.Raw) == 0 || strings.Contains(strings.ToLower(string(m.Raw)), strings.ToLower(id))
	}
	return mentions(e.Text, to)
}

// accountGrace bounds how long the end of a scenario waits for every
// accepted recipient to be accounted for: the network may still be
// moving (a delivery in flight, a relay's log not read yet).
const accountGrace = 3 * time.Second

// ErrNoQueue is returned by Env.Queue and Env.AccountedFor when the relay
// under test cannot list its queue (it is no QueueReporter).
var ErrNoQueue = errors.New("the relay under test cannot list its queue")

// Queue lists the queue of the relay under test.
func (e *Env) Queue(ctx context.Context) ([]QueuedRecipient, error) {
	qr, ok := e.relay.(QueueReporter)
	if !ok {
		return nil, fmt.Errorf("harness: %w", ErrNoQueue)
	}
	return qr.Queue(ctx)
}

// AccountedFor checks the accounted-for invariant now, as the end of a
// scenario does: every recipient the relay accepted from Send is
// delivered, bounced or still in the relay's queue, allowing up to 3
// seconds for the network to settle. It returns ErrNoQueue (wrapped) when
// the relay cannot list its queue.
func (e *Env) AccountedFor(ctx context.Context) error {
	if _, ok := e.relay.(QueueReporter); !ok {
		return fmt.Errorf("harness: %w", ErrNoQueue)
	}
	return e.judgeAccountedFor(ctx, func(why string) { e.Control("%s", why) })
}

// judgeAccountedFor is the accounted-for invariant at the end of a run:
// it polls, the queue first and then the journal, until every recipient
// is accounted for or accountGrace is over. Until then a recipient whose
// attempt is in progress is not taken as queued: its attempt may end in
// the relay losing it. At the end of the grace it is. A relay that cannot list its
// queue is not judged: notJudged gets why (it journals it), and the result
// does not fail.
func (e *Env) judgeAccountedFor(ctx context.Context, notJudged func(why string)) error {
	if len(Submissions(e.journal)) == 0 {
		return nil
	}
	qr, ok := e.relay.(QueueReporter)
	if !ok {
		notJudged(fmt.Sprintf("invariant %s not judged: this relay cannot list its queue", InvariantAccountedFor))
		return nil
	}
	if d := e.journal.Dropped(); d.Events > 0 {
		notJudged(fmt.Sprintf("invariant %s not judged: the journal dropped %d events", InvariantAccountedFor, d.Events))
		return nil
	}
	deadline := time.Now().Add(accountGrace)
	for {
		changed := e.journal.Changed()
		q, err := qr.Queue(ctx)
		if err != nil {
			notJudged(fmt.Sprintf("invariant %s not judged: the relay's queue could not be listed: %v", InvariantAccountedFor, err))
			return nil
		}
		last := !time.Now().Before(deadline)
		missing := unaccounted(e.journal, q, last)
		if len(missing) == 0 {
			return nil
		}
		if last {
			return checkFailed("accepted at submission, then neither delivered, bounced nor queued (after a grace of %v): %s", accountGrace, strings.Join(missing, "; "))
		}
		select {
		case <-changed:
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// headerValue returns the first value of header name in the header
// section of raw ("" when absent).
func headerValue(raw []byte, name string) string {
	text := string(raw)
	if i := strings.Index(text, "\r\n\r\n"); i >= 0 {
		text = text[:i]
	}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
