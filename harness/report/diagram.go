package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// A sequence diagram is built in two steps, kept apart so that each reads
// (and changes) without the other:
//
//  1. Classify (this file): which lifelines there are — the client, the
//     relay, DNS, then each host — and what each journal event shows: an
//     arrow from one lane to another, a note over one or two lanes, a band
//     across all of them, or nothing; with its label, class and tooltip.
//     Lanes are named here, never placed.
//  2. Lay out (diagram_layout.go): where each lane and mark goes — lane x
//     positions, one row per mark down the page, a marker for a long quiet
//     time, the cut at maxDiagramItems — and the coordinates of
//     arrowheads, labels and boxes that the SVG template draws.

// Label lengths, in runes: what an arrow or a note says of its event.
const (
	replyLabelMax   = 40  // a reply shown on its arrow
	commandLabelMax = 44  // a command shown on its arrow
	noteLabelMax    = 60  // a note
	bandLabelMax    = 120 // a band (a live change to the network)
)

// Lanes that are not hosts.
const (
	laneClient = "client"
	laneRelay  = "relay"
	laneDNS    = "dns"
)

// Lane classes, which the template styles.
const (
	classActor = "actor" // the client and the relay
	classDNS   = "dns"
	classHost  = "host"
)

// buildDiagram returns the sequence diagram of r: lifelines for the
// client, the relay, DNS and each host (r.Hosts first, then any host the
// events name), and one row per drawn event, in journal order.
func buildDiagram(r Result) *diagram {
	res := newHostResolver(r.Hosts)
	return layoutDiagram(diagramLanes(r, res), classify(r.Events, res), origin(r))
}

// laneSet is the diagram's lifelines, in order, by name.
type laneSet struct {
	index   map[string]int
	names   []string
	subs    []string // shown under the name: an address or a role
	classes []string
}

// add appends a lane, unless name is empty or already a lane.
func (l *laneSet) add(name, sub, class string) {
	if name == "" {
		return
	}
	if _, ok := l.index[name]; ok {
		return
	}
	l.index[name] = len(l.names)
	l.names = append(l.names, name)
	l.subs = append(l.subs, sub)
	l.classes = append(l.classes, class)
}

// diagramLanes returns the lifelines of r: the client, the relay, DNS, the
// hosts of r.Hosts, then every other host an event concerns. Every host
// that res finds for an event of r is a lane.
func diagramLanes(r Result, res hostResolver) laneSet {
	lanes := laneSet{index: map[string]int{}}
	relay := r.Relay
	if relay == "" {
		relay = "under test"
	}
	lanes.add(laneClient, "harness", classActor)
	lanes.add(laneRelay, relay, classActor)
	lanes.add(laneDNS, "fake DNS", classDNS)
	for _, h := range r.Hosts {
		lanes.add(canonicalHost(h.Name), h.Addr, classHost)
	}
	for _, e := range r.Events {
		lanes.add(res.host(e), "", classHost)
	}
	return lanes
}

// mark is what an event shows, before layout. From and To name lanes: an
// arrow goes from one to the other, a note spans them (the same lane for a
// note over one), a band spans every lane and names none.
type mark struct {
	Kind     string // "arrow", "note", "band"
	From, To string
	Label    string
	Class    string // "", "err", "ok", "warn", "dns", "info"
	Tip      string // tooltip: the full text
	Dashed   bool   // arrows: an answer or a reply
	Cross    bool   // arrows: ends in an X (refused, no answer)
}

// step is one journal event and the marks it shows, none for an event the
// diagram leaves out. A folded step is a line of a multi-line reply that
// the reply's last line draws.
type step struct {
	Event  journal.Event
	Marks  []mark
	Folded bool
}

// arrow is a solid arrow from one lane to another.
func arrow(from, to, label, class string) mark {
	return mark{Kind: "arrow", From: from, To: to, Label: label, Class: class}
}

// note is a note over the lanes from..to, its label shortened to
// noteLabelMax.
func note(from, to, label, class string) mark {
	return mark{Kind: "note", From: from, To: to, Label: truncate(label, noteLabelMax), Class: class}
}

// classify returns what each of events shows, in journal order.
func classify(events []journal.Event, res hostResolver) []step {
	steps := make([]step, len(events))
	answered := answers(events)
	for i, e := range events {
		steps[i].Event = e
		steps[i].Marks, steps[i].Folded = eventMarks(events, i, res, answered[i])
	}
	return steps
}

// eventMarks returns what events[i] shows, or folded when it is a reply
// line that a later line of the same reply draws. Answer says that
// events[i] is a client.submit whose client.send drew the submission.
func eventMarks(events []journal.Event, i int, res hostResolver, answer bool) (marks []mark, folded bool) {
	e := events[i]
	var m mark
	switch e.Kind {
	case journal.KindClientSend:
		m := arrow(laneClient, laneRelay, truncate(submitLabel(e), commandLabelMax), "")
		m.Tip = e.Text
		return []mark{m}, false
	case journal.KindClientSubmit:
		if answer {
			// The client.send before it drew the submission: this is
			// the relay's answer.
			label, class := "accepted", ""
			if e.Err != "" {
				label, class = submitRefusal(e.Err), "err"
			}
			m := arrow(laneRelay, laneClient, truncate(label, replyLabelMax), class)
			m.Dashed, m.Tip = true, strings.TrimSpace(e.Text+"\n"+e.Err)
			return []mark{m}, false
		}
		label := submitLabel(e)
		class := ""
		if e.Err != "" {
			class = "err"
			label += " ✗"
		}
		m := arrow(laneClient, laneRelay, truncate(label, commandLabelMax), class)
		m.Tip = strings.TrimSpace(e.Text + "\n" + e.Err)
		return []mark{m}, false
	case journal.KindDNSQuery:
		q := arrow(laneRelay, laneDNS, truncate(dnsQuestion(e), commandLabelMax), "dns")
		q.Tip = e.Text
		ans, class, cross := dnsAnswer(e)
		a := arrow(laneDNS, laneRelay, truncate(ans, replyLabelMax), class)
		a.Dashed, a.Cross, a.Tip = true, cross, dnsTip(e)
		return []mark{q, a}, false
	case journal.KindRelayDefer:
		m = note(laneRelay, laneRelay, "deferred: "+oneLine(e.Text), "warn")
	case journal.KindRelayBounce:
		m = note(laneRelay, laneRelay, "bounced: "+oneLine(e.Text), "err")
	case journal.KindControl:
		m = mark{Kind: "band", Label: truncate(oneLine(e.Text), bandLabelMax), Class: "info"}
	default:
		// The rest happens at a host. An event of no known host, and the
		// relay's submit and log events, show nothing.
		if host := res.host(e); host != "" {
			return hostMarks(events, i, host, res)
		}
		return nil, false
	}
	m.Tip = e.Text
	return []mark{m}, false
}

// hostMarks returns what events[i], an event at host, shows (see
// eventMarks).
func hostMarks(events []journal.Event, i int, host string, res hostResolver) (marks []mark, folded bool) {
	e := events[i]
	switch e.Kind {
	case journal.KindSMTPConnect:
		return []mark{arrow(laneRelay, host, "connect", "")}, false
	case journal.KindSMTPRefused:
		label := "refused"
		if e.Fault != "" {
			label += " (" + e.Fault + ")"
		}
		m := arrow(laneRelay, host, truncate(label, replyLabelMax), "err")
		m.Cross, m.Tip = true, e.Text
		return []mark{m}, false
	case journal.KindRelayAttempt:
		// An attempt is drawn only when it never reached the host: a
		// session draws it otherwise.
		if label, refused := attemptOutcome(events, i, res); refused {
			m := arrow(laneRelay, host, label, "err")
			m.Cross, m.Tip = true, e.Text
			return []mark{m}, false
		}
	case journal.KindSMTPCommand:
		m := arrow(laneRelay, host, truncate(oneLine(e.Text), commandLabelMax), "")
		m.Tip = e.Text
		return []mark{m}, false
	case journal.KindSMTPReply:
		// A multi-line reply ("250-…" lines, then "250 …") is one arrow:
		// its first line, the others in the tooltip. Hosts journal one
		// event per line, so the continuation lines before the last are
		// folded into it.
		if continuation(e.Text) && nextIsSameReply(events, i) {
			return nil, true
		}
		first, _, multi := strings.Cut(strings.TrimSpace(e.Text), "\n")
		first = strings.TrimSpace(first)
		if start := replyStart(events, i); start < i {
			first, multi = strings.TrimSpace(events[start].Text), true
		}
		if multi {
			first += " …"
		}
		class := ""
		if replyCode(e) >= 400 {
			class = "err"
		}
		m := arrow(host, laneRelay, truncate(first, replyLabelMax), class)
		m.Dashed, m.Tip = true, e.Text
		return []mark{m}, false
	case journal.KindSMTPTLS:
		label, class := "TLS", "info"
		if e.TLS != nil && e.TLS.Version != "" {
			label = e.TLS.Version
			if e.TLS.Implicit {
				label += " (implicit)"
			}
		}
		if e.Err != "" {
			label, class = "TLS failed: "+oneLine(e.Err), "err"
		}
		m := note(laneRelay, host, label, class)
		m.Tip = tlsTip(e)
		return []mark{m}, false
	case journal.KindSMTPAuth:
		if e.Auth == nil {
			return nil, false
		}
		label, class := "AUTH "+e.Auth.Mechanism+" "+e.Auth.User, "ok"
		switch {
		case !e.Auth.OK:
			label, class = label+": rejected", "err"
		case !e.Auth.TLS:
			label, class = label+": ok, without TLS", "warn"
		default:
			label += ": ok"
		}
		return []mark{note(laneRelay, host, label, class)}, false
	case journal.KindSMTPMessage:
		label := "message accepted"
		if e.Message != nil && e.Message.Size > 0 {
			label += " (" + byteSize(e.Message.Size) + ")"
		}
		m := note(laneRelay, host, label, "ok")
		m.Tip = e.Text
		return []mark{m}, false
	case journal.KindSMTPDisconnect:
		// An orderly end is not drawn; a fault or an error is.
		if e.Fault == "" && e.Err == "" {
			return nil, false
		}
		label := "disconnected"
		if e.Fault != "" {
			label += " (" + e.Fault + ")"
		}
		m := note(host, host, label, "err")
		m.Tip = strings.TrimSpace(e.Text + " " + e.Err)
		return []mark{m}, false
	}
	return nil, false
}

// submitLabel is the label of a submission's arrow: "submit → b@y".
func submitLabel(e journal.Event) string {
	label := "submit"
	if _, to, ok := strings.Cut(e.Text, " to "); ok {
		label += " → " + to
	}
	return label
}

// submitRefusal is the label of a refused or failed submission's answer:
// the reply ("550 5.7.1: relaying denied") when there is one, else the
// error's last part.
func submitRefusal(err string) string {
	if _, reply, ok := strings.Cut(err, "SMTP error "); ok {
		return oneLine(reply)
	}
	if k := strings.LastIndex(err, ": "); k >= 0 {
		err = err[k+2:]
	}
	return "failed: " + oneLine(err)
}

// answers returns the indexes of the client.submit events that have
// their client.send before them: one with the same text and message
// headers (the submission's identifier), not already answered by an
// earlier client.submit.
func answers(events []journal.Event) map[int]bool {
	out := map[int]bool{}
	open := map[string]int{}
	for i, e := range events {
		switch e.Kind {
		case journal.KindClientSend:
			open[submissionKey(e)]++
		case journal.KindClientSubmit:
			if k := submissionKey(e); open[k] > 0 {
				open[k]--
				out[i] = true
			}
		}
	}
	return out
}

// submissionKey tells one submission from another: its text, remote and
// message headers.
func submissionKey(e journal.Event) string {
	key := e.Text + "\x00" + e.Remote
	if e.Message != nil {
		keys := slices.Sorted(maps.Keys(e.Message.Headers))
		for _, k := range keys {
			key += "\x00" + k + "=" + strings.Join(e.Message.Headers[k], ",")
		}
	}
	return key
}

// dnsQuestion is the label of a query: "MX example.test?", else its text.
func dnsQuestion(e journal.Event) string {
	if e.DNS == nil || e.DNS.Name == "" {
		return strings.TrimSpace(e.Text)
	}
	return e.DNS.Type + " " + strings.TrimSuffix(e.DNS.Name, ".") + "?"
}

// dnsAnswer is the label and class of a query's answer, and whether none
// came (an X at the end of the arrow).
func dnsAnswer(e journal.Event) (label, class string, cross bool) {
	label, class = "answer", "dns"
	if e.DNS != nil && e.DNS.Name != "" {
		switch {
		case e.DNS.Dropped:
			label, class, cross = "no answer", "err", true
		case e.DNS.Rcode == "NOERROR":
			label = fmt.Sprintf("NOERROR (%d)", len(e.DNS.Answer))
			if len(e.DNS.Answer) == 0 {
				label = "NOERROR (no records)"
			}
		case e.DNS.Rcode != "":
			label, class = e.DNS.Rcode, "err"
		}
		if e.DNS.TC {
			label += " TC"
		}
		if e.DNS.AD {
			label += " AD"
		}
	}
	if e.Fault != "" {
		label += " · fault " + e.Fault
	}
	return label, class, cross
}

// hostResolver finds which simulated host an event concerns.
type hostResolver struct {
	byAddr map[string]string // "127.0.5.11" and "127.0.5.11:2525" → name
	known  map[string]bool
}

func newHostResolver(hosts []Host) hostResolver {
	h := hostResolver{byAddr: map[string]string{}, known: map[string]bool{}}
	for _, x := range hosts {
		name := canonicalHost(x.Name)
		h.known[name] = true
		if x.Addr == "" {
			continue
		}
		h.byAddr[x.Addr] = name
		if ip, _, ok := strings.Cut(x.Addr, ":"); ok && !strings.Contains(x.Addr, "[") {
			h.byAddr[ip] = name
		}
	}
	return h
}

// host returns the host e concerns, "" when it concerns none.
func (h hostResolver) host(e journal.Event) string {
	switch {
	case strings.HasPrefix(string(e.Kind), "smtp."):
		if e.Source != "" {
			return canonicalHost(e.Source)
		}
		name, _, _ := strings.Cut(e.Session, "#")
		return canonicalHost(name)
	case e.Kind == journal.KindRelayAttempt || e.Kind == journal.KindRelayDeliver:
		if e.Peer != "" {
			return canonicalHost(e.Peer)
		}
		if n, ok := h.byAddr[e.Remote]; ok {
			return n
		}
		if ip, _, ok := strings.Cut(e.Remote, ":"); ok {
			if n, ok := h.byAddr[ip]; ok {
				return n
			}
		}
		// The reference relay writes "mx1.example.test[127.0.5.11]:2525 id=…".
		name, _, _ := strings.Cut(e.Text, "[")
		name, _, _ = strings.Cut(name, " ")
		if strings.Contains(name, ".") && !strings.Contains(name, "=") {
			return canonicalHost(name)
		}
	}
	return ""
}

// canonicalHost lowercases a host name and drops its trailing dot.
func canonicalHost(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// attemptOutcome tells whether the relay's attempt events[i] reached its
// host: a connect at that host before the relay's next attempt there means
// it did. When it did not, label says how it failed, from the relay's log
// line about the same address ("refused", "timeout").
func attemptOutcome(events []journal.Event, i int, res hostResolver) (label string, refused bool) {
	at := events[i]
	host := res.host(at)
	label = "refused"
	for _, e := range events[i+1:] {
		switch {
		case e.Kind == journal.KindSMTPConnect && res.host(e) == host:
			return "", false
		case e.Kind == journal.KindSMTPRefused && res.host(e) == host:
			return "", false // the host's own event draws it
		case e.Kind == journal.KindRelayAttempt && res.host(e) == host:
			return label, true
		case e.Kind == journal.KindRelayLog && e.Remote != "" && e.Remote == at.Remote && label == "refused":
			text := strings.ToLower(e.Err + " " + e.Text)
			switch {
			case strings.Contains(text, "refused"):
				label = "connection refused"
			case strings.Contains(text, "timeout"), strings.Contains(text, "timed out"):
				label = "timeout"
			}
		}
	}
	return label, true
}

// replyCode is the reply's code: Code, or the first three digits of Text.
func replyCode(e journal.Event) int {
	if e.Code != 0 {
		return e.Code
	}
	t := strings.TrimSpace(e.Text)
	if len(t) >= 3 {
		if n, err := strconv.Atoi(t[:3]); err == nil {
			return n
		}
	}
	return 0
}

// dnsTip is the tooltip of a DNS answer: every record.
func dnsTip(e journal.Event) string {
	if e.DNS == nil {
		return e.Text
	}
	parts := []string{e.Text}
	parts = append(parts, e.DNS.Answer...)
	return strings.Join(parts, "\n")
}

// tlsTip is the tooltip of a TLS note.
func tlsTip(e journal.Event) string {
	parts := []string{e.Text}
	if t := e.TLS; t != nil {
		parts = append(parts, "cipher: "+t.Cipher, "certificate: "+t.CertKind, "SNI: "+t.ServerName)
	}
	if e.Err != "" {
		parts = append(parts, "error: "+e.Err)
	}
	return strings.Join(parts, "\n")
}

// byteSize renders n bytes for people: "812 B", "1.2 kB".
func byteSize(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// continuation reports whether a reply line is not the last of its reply:
// "250-PIPELINING" (RFC 5321 §4.2.1).
func continuation(line string) bool {
	return len(line) >= 4 && line[3] == '-' && strings.IndexFunc(line[:3], func(c rune) bool { return c < '0' || c > '9' }) < 0
}

// nextIsSameReply reports whether the next event of e's session is another
// line of the same reply.
func nextIsSameReply(events []journal.Event, i int) bool {
	for _, n := range events[i+1:] {
		if n.Session != events[i].Session {
			continue
		}
		return n.Kind == journal.KindSMTPReply
	}
	return false
}

// replyStart returns the index of the first line of the reply that ends at
// events[i]: the earliest of the continuation lines right before it in the
// same session.
func replyStart(events []journal.Event, i int) int {
	start := i
	for j := i - 1; j >= 0; j-- {
		e := events[j]
		if e.Session != events[i].Session {
			continue
		}
		if e.Kind != journal.KindSMTPReply || !continuation(e.Text) {
			break
		}
		start = j
	}
	return start
}
