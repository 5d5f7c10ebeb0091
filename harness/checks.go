package harness

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// The checks below are predicates over a journal. They return nil when the
// network behaved as expected, and otherwise an error that says what was
// expected and what happened instead, in words a reader of the scenario
// understands. They take no *testing.T, so go test, Ginkgo (through the
// matchers) and the CLI share them, like fstest.TestFS.

// ErrCheck is wrapped by every error a check returns.
var ErrCheck = errors.New("expectation not met")

func checkFailed(format string, args ...any) error {
	return fmt.Errorf("harness: %w: %s", ErrCheck, fmt.Sprintf(format, args...))
}

// ErrInconclusive is wrapped, with ErrCheck, by the error of a check that
// could not see enough to judge: the scenario is then informational, not
// failed (the relay did nothing wrong that the case could see).
var ErrInconclusive = errors.New("inconclusive")

func checkInconclusive(format string, args ...any) error {
	return fmt.Errorf("harness: %w: %w: %s", ErrCheck, ErrInconclusive, fmt.Sprintf(format, args...))
}

// spreadMinSessions is how many sessions a spread check needs before all
// of them at one host is a failure: a fair random choice puts 20 sessions
// at one of two hosts with probability 2 x 2^-20, about 1.9e-6. With
// fewer, the relay chose too seldom for the check to judge.
const spreadMinSessions = 20

// CheckDelivered checks that a message to recipient to was accepted at
// host at (any host when at is empty).
func CheckDelivered(j *journal.Journal, to, at string) error {
	var where []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage)) {
		if !hasRecipient(e.Message, to) {
			continue
		}
		if at == "" || sameHost(e.Source, at) {
			return nil
		}
		where = append(where, e.Source)
	}
	if len(where) > 0 {
		return checkFailed("%s delivered at %s, want at %s", to, strings.Join(uniq(where), ", "), at)
	}
	return checkFailed("%s not delivered%s: %s", to, atHost(at), attemptSummary(j, to))
}

// CheckNotDelivered checks that no message to recipient to was accepted
// at host at (at any host when at is empty).
func CheckNotDelivered(j *journal.Journal, to, at string) error {
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage)) {
		if hasRecipient(e.Message, to) && (at == "" || sameHost(e.Source, at)) {
			return checkFailed("%s was delivered at %s (event %d), want it not delivered%s", to, e.Source, e.Seq, atHost(at))
		}
	}
	return nil
}

// DeliveryCount returns how many times a message to to was accepted at
// host at (any host when at is empty).
func DeliveryCount(j *journal.Journal, to, at string) int {
	n := 0
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage)) {
		if hasRecipient(e.Message, to) && (at == "" || sameHost(e.Source, at)) {
			n++
		}
	}
	return n
}

// Attempts returns the hosts the relay tried, in the order of their first
// attempt. A host that is down leaves no trace of its own, so the relay's
// own reports (relay.attempt, and the host named by its delivery reports)
// come first, in their order: a relay reports an attempt as it makes it,
// but a report read from a log (Postfix) may reach the journal after the
// session that the next attempt opened at another host. Hosts the relay
// did not report follow, in the order they saw a connection.
func Attempts(j *journal.Journal) []string {
	var order []string
	seen := map[string]bool{}
	add := func(host string) {
		host = canonical(host)
		if host != "" && !seen[host] {
			seen[host] = true
			order = append(order, host)
		}
	}
	for _, e := range caseEvents(j, journal.OfKind(journal.KindRelayAttempt, journal.KindRelayDeliver, journal.KindRelayDefer, journal.KindRelayBounce)) {
		if e.Kind == journal.KindRelayAttempt {
			add(attemptHost(e))
		} else {
			add(e.Peer)
		}
	}
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPConnect, journal.KindSMTPRefused)) {
		add(e.Source)
	}
	return order
}

// CheckAttemptedInOrder checks that the relay's first attempts went to
// hosts in this order (other hosts may come after them).
func CheckAttemptedInOrder(j *journal.Journal, hosts ...string) error {
	got := Attempts(j)
	want := make([]string, len(hosts))
	for i, h := range hosts {
		want[i] = canonical(h)
	}
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		return checkFailed("hosts attempted in order [%s], want [%s] first", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	return nil
}

// CheckUsedTLS checks that a session at host completed a TLS handshake.
func CheckUsedTLS(j *journal.Journal, host string) error {
	var failures []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPTLS), sourceIs(host)) {
		if e.Err == "" {
			return nil
		}
		failures = append(failures, e.Err)
	}
	if len(failures) > 0 {
		return checkFailed("TLS at %s never completed: %s", host, strings.Join(failures, "; "))
	}
	return checkFailed("no TLS at %s: %d session(s), none issued STARTTLS", host, len(j.Sessions(canonical(host))))
}

// CheckAuthenticated checks that a client authenticated at host as user
// (any user when user is empty).
func CheckAuthenticated(j *journal.Journal, host, user string) error {
	var tried []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPAuth), sourceIs(host)) {
		if e.Auth == nil {
			continue
		}
		if e.Auth.OK && (user == "" || e.Auth.User == user) {
			return nil
		}
		tried = append(tried, fmt.Sprintf("%s as %q ok=%v", e.Auth.Mechanism, e.Auth.User, e.Auth.OK))
	}
	if len(tried) > 0 {
		return checkFailed("no successful AUTH as %q at %s; attempts: %s", user, host, strings.Join(tried, "; "))
	}
	return checkFailed("no AUTH at %s", host)
}

// CheckNoAuthBeforeTLS checks that no client sent AUTH at host outside TLS.
func CheckNoAuthBeforeTLS(j *journal.Journal, host string) error {
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPAuth), sourceIs(host)) {
		if e.Auth != nil && !e.Auth.TLS {
			return checkFailed("AUTH %s sent in plaintext at %s (session %s)", e.Auth.Mechanism, host, e.Session)
		}
	}
	return nil
}

// CheckSTARTTLSRules checks, in every session at host, that the client
// sent STARTTLS only when the host's EHLO reply in that session had
// advertised it (RFC 3207 §3: the keyword is how the server says it can
// negotiate TLS; a STARTTLS with no EHLO before it was advertised nothing),
// and that after a STARTTLS answered 220 its next command was EHLO (RFC
// 3207 §4.2: the session starts over; HELO does not count, it would leave
// the client without the extensions). What was learned before TLS counts
// for nothing after it: only an EHLO reply under TLS can advertise again.
func CheckSTARTTLSRules(j *journal.Journal, host string) error {
	type state struct {
		lastVerb   string // verb of the last command
		advertised bool   // the last EHLO reply listed STARTTLS
		ehloSent   bool   // an EHLO or HELO since the start (or since TLS)
		afterTLS   bool   // STARTTLS got 220; the next command must be EHLO
		flagged    int    // 1 + index in problems of a command whose reply is still to be quoted
	}
	sessions := map[string]*state{}
	var problems []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPCommand, journal.KindSMTPReply), sourceIs(host)) {
		s := sessions[e.Session]
		if s == nil {
			s = &state{}
			sessions[e.Session] = s
		}
		if e.Kind == journal.KindSMTPReply {
			if s.flagged > 0 {
				problems[s.flagged-1] += fmt.Sprintf("; the host answered %q", e.Text)
				s.flagged = 0
			}
			switch {
			case s.lastVerb == "EHLO" && e.Code == codeEHLOOK:
				kw, _, _ := strings.Cut(strings.TrimSpace(e.Text[min(4, len(e.Text)):]), " ")
				s.advertised = s.advertised || strings.EqualFold(kw, "STARTTLS")
			case s.lastVerb == "STARTTLS" && e.Code == codeStartTLSReady:
				s.afterTLS, s.advertised, s.ehloSent = true, false, false
			}
			continue
		}
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(e.Text)), " ")
		if s.afterTLS {
			s.afterTLS = false
			if verb != "EHLO" {
				problems = append(problems, fmt.Sprintf("session %s: after STARTTLS (220) the next command was %q, not EHLO", e.Session, e.Text))
				s.flagged = len(problems)
			}
		}
		switch verb {
		case "EHLO", "HELO":
			s.advertised, s.ehloSent = false, true
		case "STARTTLS":
			why := "the host's EHLO reply did not advertise STARTTLS"
			if !s.ehloSent {
				why = "no EHLO came before it"
			}
			if !s.advertised {
				problems = append(problems, fmt.Sprintf("session %s: STARTTLS sent, but %s", e.Session, why))
				s.flagged = len(problems)
			}
		}
		s.lastVerb = verb
	}
	if len(problems) > 0 {
		return checkFailed("STARTTLS rules broken at %s: %s", host, strings.Join(problems, "; "))
	}
	return nil
}

// Reply codes the checks read (RFC 5321 §4.2.3, RFC 3207 §4).
const (
	codeEHLOOK        = 250
	codeStartTLSReady = 220
)

// CheckReplied checks that host sent a reply with this code ("" host: any).
func CheckReplied(j *journal.Journal, host string, code int) error {
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPReply)) {
		if e.Code == code && (host == "" || sameHost(e.Source, host)) {
			return nil
		}
	}
	return checkFailed("no %d reply%s", code, atHost(host))
}

// CheckBounced checks that the relay gave up on a message and that a
// bounce reached sender, with the given status: a reply code ("550") or an
// enhanced status code ("5.1.10"); empty status matches any. A bounce is a
// message with a null reverse-path delivered to sender, or failing that
// the relay's own bounce event for a message from sender.
func CheckBounced(j *journal.Journal, sender, status string) error {
	var seen []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage)) {
		if e.Message == nil || e.Message.From != "" || !hasRecipient(e.Message, sender) {
			continue
		}
		if status == "" || strings.Contains(string(e.Message.Raw), status) {
			return nil
		}
		seen = append(seen, "a bounce without "+status+" at "+e.Source)
	}
	for _, e := range caseEvents(j, journal.OfKind(journal.KindRelayBounce)) {
		if status != "" && !strings.Contains(e.Text, status) && strconv.Itoa(e.Code) != status {
			seen = append(seen, "relay bounce: "+e.Text)
			continue
		}
		if e.Message != nil && strings.EqualFold(e.Message.From, sender) {
			return nil
		}
		seen = append(seen, "relay bounce: "+e.Text)
	}
	if len(seen) > 0 {
		return checkFailed("no bounce with status %q to %s; saw %s", status, sender, strings.Join(seen, "; "))
	}
	return checkFailed("no bounce to %s", sender)
}

// CheckQueried checks that the DNS server was asked for name with type
// typ (any type when typ is empty).
func CheckQueried(j *journal.Journal, name, typ string) error {
	for _, e := range caseEvents(j, journal.OfKind(journal.KindDNSQuery)) {
		if e.DNS != nil && sameHost(e.DNS.Name, name) && (typ == "" || strings.EqualFold(e.DNS.Type, typ)) {
			return nil
		}
	}
	return checkFailed("no DNS query for %s %s", typ, name)
}

func hasRecipient(m *journal.Message, to string) bool {
	if m == nil {
		return false
	}
	for _, r := range m.To {
		if strings.EqualFold(r, to) {
			return true
		}
	}
	return false
}

func sameHost(a, b string) bool { return canonical(a) == canonical(b) }

func sourceIs(host string) func(journal.Event) bool {
	return func(e journal.Event) bool { return sameHost(e.Source, host) }
}

func atHost(at string) string {
	if at == "" {
		return ""
	}
	return " at " + at
}

// attemptHost is the host a relay.attempt event concerns: its Peer, or
// the text before "[" ("mx1.example.test[127.0.0.11]:25").
func attemptHost(e journal.Event) string {
	if e.Peer != "" {
		return e.Peer
	}
	h, _, _ := strings.Cut(e.Text, "[")
	h, _, _ = strings.Cut(h, " ")
	return h
}

// attemptSummary tells in one line what the relay tried for recipient
// to, for failure messages. When no host saw it, it says how far the
// relay got, from what the simulated DNS saw: it asked nothing (it is not
// using this DNS, or has not tried yet), asked about other names only, or
// asked about the recipient's domain and then reached no host (a wrong
// port, or an address the relay will not use). When hosts saw it but took
// no message, it names the connections refused and the TLS handshakes
// that failed.
func attemptSummary(j *journal.Journal, to string) string {
	hosts := Attempts(j)
	msgs := len(caseEvents(j, journal.OfKind(journal.KindSMTPMessage)))
	var last string
	if d := caseEvents(j, journal.OfKind(journal.KindRelayDefer, journal.KindRelayBounce)); len(d) > 0 {
		last = fmt.Sprintf("; last relay report: %s %s", d[len(d)-1].Kind, d[len(d)-1].Text)
	}
	if len(hosts) == 0 {
		return "no host was attempted: " + dnsProgress(j, to) + last
	}
	s := fmt.Sprintf("hosts attempted [%s], %d message(s) accepted in all", strings.Join(hosts, ", "), msgs)
	if msgs == 0 {
		s += sessionTrouble(j)
	}
	return s + last
}

// The sentences of dnsProgress that the runner completes with where the
// network is (runner.networkNote).
const (
	dnsNeverAsked = "the relay asked the simulated DNS nothing"
	connectedNone = "no host saw a connection from it"
)

// dnsProgress says how far a relay that reached no host got, from the
// queries the simulated DNS answered.
func dnsProgress(j *journal.Journal, to string) string {
	_, domain, _ := strings.Cut(to, "@")
	domain = canonical(domain)
	var about, other []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindDNSQuery)) {
		if e.DNS == nil {
			continue
		}
		name := canonical(e.DNS.Name)
		switch {
		case domain != "" && name == domain:
			if len(about) < 3 && !slices.Contains(about, e.Text) {
				about = append(about, e.Text)
			}
		case !slices.Contains(other, name):
			other = append(other, name)
		}
	}
	switch {
	case len(about) > 0:
		return fmt.Sprintf("the relay asked the simulated DNS about %s (%s), but %s", domain, strings.Join(about, "; "), connectedNone)
	case len(other) > 0:
		if len(other) > 5 {
			other = append(other[:5], "…")
		}
		return fmt.Sprintf("the relay asked the simulated DNS about [%s] but never about %s, and %s", strings.Join(other, ", "), domain, connectedNone)
	}
	return dnsNeverAsked + ": it resolves elsewhere, or has not tried yet (a retry wait of its own)"
}

// sessionTrouble names the connections the hosts refused and the TLS
// handshakes that failed, at most three, as "; <what>, <what>".
func sessionTrouble(j *journal.Journal) string {
	var seen []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPRefused, journal.KindSMTPTLS)) {
		var s string
		switch {
		case e.Kind == journal.KindSMTPRefused:
			s = e.Source + " " + e.Text
		case e.Err != "":
			s = e.Source + ": " + e.Text + ": " + e.Err
		default:
			continue
		}
		if !slices.Contains(seen, s) {
			seen = append(seen, s)
		}
	}
	if len(seen) == 0 {
		return ""
	}
	if len(seen) > 3 {
		seen = append(seen[len(seen)-3:], "and more before")
	}
	return "; " + strings.Join(seen, ", ")
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// CheckSpread checks that every one of hosts had at least atLeast
// sessions that carried mail. A session is one TCP connection, and the
// host of a new session is the relay's choice of host for it: with
// hosts that all accept, each session that carries mail is one choice of
// the first host to try (RFC 5321 §5.1: equal preferences are
// randomised). A relay that reuses a session for many messages chooses
// once for all of them, so sessions are counted, not messages.
func CheckSpread(j *journal.Journal, atLeast int, hosts ...string) error {
	sessions := make([]map[string]bool, len(hosts))
	messages := make([]int, len(hosts))
	for i := range sessions {
		sessions[i] = map[string]bool{}
	}
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage)) {
		if e.Message == nil || e.Message.From == "" {
			continue
		}
		for i, h := range hosts {
			if sameHost(e.Source, h) {
				messages[i]++
				// An event without a session id (none today) counts alone.
				id := e.Session
				if id == "" {
					id = fmt.Sprintf("#%d", len(sessions[i]))
				}
				sessions[i][id] = true
			}
		}
	}
	var parts []string
	short := false
	total := 0
	for i, h := range hosts {
		parts = append(parts, fmt.Sprintf("%s %d (%d messages)", h, len(sessions[i]), messages[i]))
		short = short || len(sessions[i]) < atLeast
		total += len(sessions[i])
	}
	if short && total < spreadMinSessions*max(atLeast, 1) {
		return checkInconclusive("sessions that carried mail per host: %s; the relay chose a host only %d times (it carried several messages per session), too few to tell a random order from a fixed one (%d needed)", strings.Join(parts, ", "), total, spreadMinSessions*max(atLeast, 1))
	}
	if short {
		return checkFailed("sessions that carried mail per host: %s; want at least %d at each (a session is one choice of host, however many messages it carries)", strings.Join(parts, ", "), atLeast)
	}
	return nil
}

// CheckSubmitRefused checks that the relay under test refused a
// submission of the harness client with a 4yz or 5yz reply, at stage
// ("mail", "rcpt", "data"; "" any), with code (0 any) and with the RFC
// 3463 status ("5.7.8"; "" any).
func CheckSubmitRefused(j *journal.Journal, stage string, code int, status string) error {
	var seen []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindClientSubmit)) {
		if e.Err == "" {
			seen = append(seen, "accepted: "+e.Text)
			continue
		}
		st := submitStage(e.Err)
		if e.Code >= 400 && (stage == "" || st == stage) && (code == 0 || e.Code == code) && (status == "" || statusOf(e.Err) == status) {
			return nil
		}
		seen = append(seen, fmt.Sprintf("%d at %s: %s", e.Code, st, e.Err))
	}
	want := "a refusal"
	if stage != "" {
		want += " at " + stage
	}
	if code != 0 {
		want += fmt.Sprintf(" with %d", code)
	}
	if status != "" {
		want += " status " + status
	}
	if len(seen) == 0 {
		return checkFailed("no submission was made, want %s", want)
	}
	return checkFailed("want %s; submissions: %s", want, strings.Join(seen, "; "))
}

// replyStatusRE finds the enhanced status of a refusal in a submission
// error ("SMTP error 535 5.7.8: …").
var replyStatusRE = regexp.MustCompile(`SMTP error \d{3} ([245]\.\d{1,3}\.\d{1,3}):`)

// statusOf returns the enhanced status in a submission error, or "".
func statusOf(err string) string {
	if m := replyStatusRE.FindStringSubmatch(err); m != nil {
		return m[1]
	}
	return ""
}

// submitStage names the stage a submission error of Submit happened at.
func submitStage(err string) string {
	for _, s := range []struct{ marker, stage string }{
		{": TLS at connect", "connect"}, {": EHLO:", "ehlo"}, {": STARTTLS:", "starttls"}, {": AUTH ", "auth"}, {": MAIL FROM:", "mail"},
		{": RCPT TO:", "rcpt"}, {": DATA:", "data"}, {": end of data:", "end_of_data"},
	} {
		if strings.Contains(err, s.marker) {
			return s.stage
		}
	}
	return "connect"
}

// CheckQueued checks that the relay's queue listing holds recipient to.
func CheckQueued(queue []QueuedRecipient, to string) error {
	var held []string
	for _, q := range queue {
		if strings.EqualFold(q.To, to) {
			return nil
		}
		held = append(held, q.To)
	}
	if len(held) == 0 {
		return checkFailed("%s not queued: the relay's queue is empty", to)
	}
	return checkFailed("%s not queued; the relay's queue holds %s", to, strings.Join(uniq(held), ", "))
}

// CheckDeferred checks that the relay deferred recipient to, with reply
// code (0 any), and that to is neither delivered (as Deliveries counts)
// nor bounced. A deferral is the relay's relay.defer event naming to, or
// a 4yz reply at a host to the RCPT for to, or to the DATA or final dot
// of a transaction that included to.
func CheckDeferred(j *journal.Journal, to string, code int) error {
	for _, d := range Deliveries(j) {
		if strings.EqualFold(d.To, to) {
			return checkFailed("%s was delivered %s, not deferred", to, d.format(j.Start()))
		}
	}
	for _, e := range caseEvents(j, journal.OfKind(journal.KindRelayBounce, journal.KindSMTPMessage)) {
		if e.Kind == journal.KindRelayBounce && bounceNames(e, "", to) {
			return checkFailed("%s was bounced (event %d: %s), not deferred", to, e.Seq, e.Text)
		}
		if e.Kind == journal.KindSMTPMessage && e.Message != nil && e.Message.From == "" &&
			mentions(string(e.Message.Raw), to) {
			return checkFailed("a bounce naming %s was delivered at %s (event %d), not deferred", to, e.Source, e.Seq)
		}
	}
	var codes []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindRelayDefer)) {
		if !mentions(e.Text, to) {
			continue
		}
		if code == 0 || e.Code == code {
			return nil
		}
		codes = append(codes, fmt.Sprintf("%d (relay)", e.Code))
	}
	type tx struct {
		rcpts []string
		last  string // stage of the last command
		rcpt  string // the recipient of the last RCPT
	}
	sessions := map[string]*tx{}
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPCommand, journal.KindSMTPReply)) {
		s := sessions[e.Session]
		if s == nil {
			s = &tx{}
			sessions[e.Session] = s
		}
		if e.Kind == journal.KindSMTPCommand {
			s.last = commandStage(e.Text)
			switch s.last {
			case "mail":
				s.rcpts = nil
			case "rcpt":
				s.rcpt = rcptOf(e.Text)
			}
			continue
		}
		switch {
		case s.last == "rcpt" && e.Code >= 200 && e.Code < 300:
			s.rcpts = append(s.rcpts, s.rcpt)
		case e.Code < 400 || e.Code >= 500:
		case s.last == "rcpt" && strings.EqualFold(s.rcpt, to),
			s.last == "data" && slices.ContainsFunc(s.rcpts, func(r string) bool { return strings.EqualFold(r, to) }):
			if code == 0 || e.Code == code {
				return nil
			}
			codes = append(codes, fmt.Sprintf("%d at %s", e.Code, e.Source))
		}
	}
	if len(codes) > 0 {
		return checkFailed("%s deferred with %s, want %d", to, strings.Join(uniq(codes), ", "), code)
	}
	return checkFailed("%s not deferred: no relay.defer names it and no host answered 4yz for it; %s", to, attemptSummary(j, to))
}

// rcptOf returns the address of a RCPT TO:<addr> command line.
func rcptOf(line string) string {
	_, rest, ok := strings.Cut(line, "<")
	if !ok {
		return ""
	}
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}

// mentions reports whether text names the address addr (any case), not
// as the tail of a longer address ("ob@example.test" is not named by
// "bob@example.test").
func mentions(text, addr string) bool {
	text, addr = strings.ToLower(text), strings.ToLower(addr)
	for i := 0; addr != ""; {
		k := strings.Index(text[i:], addr)
		if k < 0 {
			return false
		}
		k += i
		end := k + len(addr)
		if (k == 0 || !addrChar(text[k-1])) && (end == len(text) || !addrChar(text[end]) && text[end] != '@' || text[end] == '.' && (end+1 == len(text) || !addrChar(text[end+1]))) {
			return true
		}
		i = k + 1
	}
	return false
}

// addrChar reports whether c may continue an address around a mention:
// letters, digits and the punctuation addresses commonly hold ("=" and
// ":" are taken as separators: "to=bob@example.test").
func addrChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("+-_.", c) >= 0
}
