package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// WriteHTML writes one self-contained HTML file for a whole run: inline CSS,
// a few lines of inline JavaScript (open every collapsed section before
// printing, and the one a link leads to), no fetch of any kind. It shows
// the title, the relay, the totals and a table of all results at the top,
// then per result a section that opens and closes (a <details>, which
// needs no script): open when the result is not a pass or is the only
// one, so that a long run opens short, on its problems. A section has the
// verdict and reason, each failed expectation as expected | actual with
// its position and step, the hosts, a sequence diagram drawn as inline
// SVG, the transcript of every SMTP session per host, the relay's events,
// the DNS queries and the full journal.
//
// All text is escaped by html/template. It returns an error, writing
// nothing, when w is nil or a result has an unknown verdict. An empty title
// becomes "mxsim report".
func WriteHTML(w io.Writer, title string, results []Result) error {
	if w == nil {
		return fmt.Errorf("report: html: %w", ErrNilWriter)
	}
	if err := checkResults(results); err != nil {
		return err
	}
	if title == "" {
		title = "mxsim report"
	}
	t, err := template.New("page").Parse(pageTemplate)
	if err != nil {
		return fmt.Errorf("report: html: parse template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, buildPage(title, results)); err != nil {
		return fmt.Errorf("report: html: render %q: %w", title, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report: html: write: %w", err)
	}
	return nil
}

// page is what the HTML template renders.
type page struct {
	Title       string
	Relays      string
	Started     string
	Duration    string
	Totals      Totals
	Chips       []chip
	Scenarios   []scenarioView
	Problems    bool // some result did not pass
	Conformance bool // some result is a conformance case
}

// chip is one count in the totals bar.
type chip struct {
	N     int
	Label string
	Class string
}

// scenarioView is one result, prepared for the template.
type scenarioView struct {
	Anchor   string
	Class    string // verdict class: "pass", "fail", …
	Label    string // "PASS"
	Problem  bool   // not a pass
	Open     bool   // shown open: a problem, or the only result
	R        Result
	Why      string
	Duration string
	Started  string
	Failures []Failure
	Hosts    []hostView
	Diagram  *diagram
	Events   []eventRow // relay, client and control events
	DNS      []dnsRow
	Journal  string
}

// hostView is one host with its sessions.
type hostView struct {
	Anchor   string
	Name     string
	Addr     string
	Behavior string
	Extra    bool // not in Result.Hosts, seen in events only
	Sessions []sessionView
	Attempts []eventRow // relay attempts that never reached a session
	Messages int
}

// sessionView is the transcript of one SMTP session.
type sessionView struct {
	ID     string
	Remote string
	At     string
	Lines  []lineView
}

// lineView is one transcript line.
type lineView struct {
	At     string
	Prefix string // "C:", "S:", "*"
	Text   string
	Class  string // "c", "s", "s err", "note tls", …
}

// eventRow is one journal event in a table.
type eventRow struct {
	At    string
	Kind  string
	Peer  string
	Text  string
	Code  string
	Err   string
	Class string
}

// dnsRow is one DNS query.
type dnsRow struct {
	At      string
	Name    string
	Type    string
	Rcode   string
	Class   string
	Answers []string
	Fault   string
	Flags   string
}

// buildPage prepares the template data.
func buildPage(title string, results []Result) page {
	p := page{Title: title, Totals: Count(results)}
	var relays []string
	var first, last time.Time
	var sum time.Duration
	for i, r := range results {
		if r.Relay != "" && !slices.Contains(relays, r.Relay) {
			relays = append(relays, r.Relay)
		}
		if !r.Started.IsZero() {
			if first.IsZero() || r.Started.Before(first) {
				first = r.Started
			}
			if end := r.Started.Add(r.Duration); end.After(last) {
				last = end
			}
		}
		sum += r.Duration
		sv := buildScenario(i, r)
		sv.Open = sv.Problem || len(results) == 1
		p.Problems = p.Problems || sv.Problem
		p.Conformance = p.Conformance || r.ID != ""
		p.Scenarios = append(p.Scenarios, sv)
	}
	p.Relays = strings.Join(relays, ", ")
	if !first.IsZero() {
		p.Started = first.Format("2006-01-02 15:04:05 MST")
	}
	if !last.IsZero() {
		sum = last.Sub(first)
	}
	p.Duration = fmt.Sprintf("%.2fs", sum.Seconds())
	t := p.Totals
	errs := "errors"
	if t.Errors == 1 {
		errs = "error"
	}
	for _, c := range []chip{
		{t.Passed, "passed", "pass"}, {t.Failed, "failed", "fail"}, {t.Errors, errs, "error"},
		{t.NonStrict, "non-strict", "non-strict"}, {t.Informational, "informational", "informational"},
		{t.NotApplicable, "not applicable", "not-applicable"},
	} {
		if c.N > 0 || c.Class == "pass" || c.Class == "fail" {
			p.Chips = append(p.Chips, c)
		}
	}
	return p
}

// buildScenario prepares one result.
func buildScenario(i int, r Result) scenarioView {
	start := origin(r)
	at := func(e journal.Event) string { return strconv.FormatFloat(sinceMS(e, start), 'f', 1, 64) }
	sv := scenarioView{
		Anchor:   fmt.Sprintf("r%d-%s", i+1, slug(r.Name)),
		Class:    verdictClass(r.Verdict),
		Label:    r.Verdict.Label(),
		Problem:  r.Verdict != Pass,
		R:        r,
		Why:      r.Why(),
		Duration: seconds(r.Duration),
		Failures: r.Failures,
		Journal:  journalText(r),
	}
	if !r.Started.IsZero() {
		sv.Started = r.Started.Format("2006-01-02 15:04:05.000 MST")
	}
	if len(r.Events) > 0 {
		sv.Diagram = buildDiagram(r)
	}

	// Hosts, in the order the report was given, then any the events name.
	res := newHostResolver(r.Hosts)
	index := map[string]int{}
	addHost := func(h hostView) {
		if _, ok := index[h.Name]; ok || h.Name == "" {
			return
		}
		h.Anchor = fmt.Sprintf("%s-h%d", sv.Anchor, len(sv.Hosts)+1)
		index[h.Name] = len(sv.Hosts)
		sv.Hosts = append(sv.Hosts, h)
	}
	for _, h := range r.Hosts {
		addHost(hostView{Name: canonicalHost(h.Name), Addr: h.Addr, Behavior: h.Behavior})
	}
	sessions := map[string]*sessionView{}
	var order []string // session IDs, as they appear
	for j, e := range r.Events {
		host := res.host(e)
		if host != "" {
			addHost(hostView{Name: host, Extra: true})
		}
		switch {
		case e.Kind == journal.KindDNSQuery:
			sv.DNS = append(sv.DNS, dnsView(e, at(e)))
		case strings.HasPrefix(string(e.Kind), "relay.") || strings.HasPrefix(string(e.Kind), "client.") || e.Kind == journal.KindControl:
			row := eventView(e, at(e), host)
			if e.Kind == journal.KindRelayAttempt && host != "" {
				if label, refused := attemptOutcome(r.Events, j, res); refused {
					row.Text += " — " + label
					row.Class = "err"
					h := &sv.Hosts[index[host]]
					h.Attempts = append(h.Attempts, row)
				}
			}
			sv.Events = append(sv.Events, row)
		case e.Kind == journal.KindSMTPRefused && host != "":
			h := &sv.Hosts[index[host]]
			h.Attempts = append(h.Attempts, eventRow{At: at(e), Kind: "refused", Text: strings.TrimSpace(e.Text + " " + e.Fault), Class: "err"})
		}
		if e.Session == "" || !strings.HasPrefix(string(e.Kind), "smtp.") {
			continue
		}
		s, ok := sessions[e.Session]
		if !ok {
			s = &sessionView{ID: e.Session, At: at(e)}
			sessions[e.Session] = s
			order = append(order, e.Session)
		}
		if e.Kind == journal.KindSMTPConnect && s.Remote == "" {
			s.Remote = e.Remote
		}
		s.Lines = append(s.Lines, transcriptLines(e, at(e))...)
		if e.Kind == journal.KindSMTPMessage && host != "" {
			sv.Hosts[index[host]].Messages++
		}
	}
	for _, id := range order {
		s := sessions[id]
		host, _, _ := strings.Cut(id, "#")
		host = canonicalHost(host)
		if n, ok := index[host]; ok {
			sv.Hosts[n].Sessions = append(sv.Hosts[n].Sessions, *s)
			continue
		}
		// A session whose ID does not name a host: file it under the
		// host of its first event.
		for _, e := range r.Events {
			if e.Session == id {
				if n, ok := index[res.host(e)]; ok {
					sv.Hosts[n].Sessions = append(sv.Hosts[n].Sessions, *s)
				}
				break
			}
		}
	}
	return sv
}

// transcriptLines renders one session event as transcript lines; a
// multi-line reply gives one line each.
func transcriptLines(e journal.Event, at string) []lineView {
	switch e.Kind {
	case journal.KindSMTPCommand:
		return []lineView{{At: at, Prefix: "C:", Text: e.Text, Class: "c"}}
	case journal.KindSMTPReply:
		class := "s"
		if replyCode(e) >= 400 {
			class = "s err"
		}
		var out []lineView
		for k, l := range strings.Split(strings.TrimRight(e.Text, "\r\n"), "\n") {
			lv := lineView{Prefix: "S:", Text: strings.TrimRight(l, "\r"), Class: class}
			if k == 0 {
				lv.At = at
			}
			out = append(out, lv)
		}
		return out
	}
	class := "note"
	text := e.Text
	switch e.Kind {
	case journal.KindSMTPConnect:
		class = "note conn"
		if text == "" {
			text = "connect from " + e.Remote
		}
	case journal.KindSMTPTLS:
		class = "note tls"
		if e.Err != "" {
			class = "note tls err"
		}
		if text == "" && e.TLS != nil {
			text = strings.TrimSpace(e.TLS.Version + " " + e.TLS.Cipher)
		}
	case journal.KindSMTPAuth:
		class = "note auth"
		if e.Auth != nil && !e.Auth.OK {
			class = "note auth err"
		}
		if text == "" && e.Auth != nil {
			text = "AUTH " + e.Auth.Mechanism + " " + e.Auth.User
		}
	case journal.KindSMTPMessage:
		class = "note msg"
		if text == "" {
			text = "message accepted"
		}
		if e.Message != nil && e.Message.AuthResults != "" {
			text += "; Authentication-Results: " + e.Message.AuthResults
		}
	case journal.KindSMTPDisconnect:
		class = "note conn"
		if text == "" {
			text = "disconnect"
		}
	}
	if e.Fault != "" {
		text += " [fault: " + e.Fault + "]"
	}
	if e.Err != "" {
		text += " (error: " + e.Err + ")"
	}
	return []lineView{{At: at, Prefix: "*", Text: text, Class: class}}
}

// eventView renders a relay, client or control event as a table row.
func eventView(e journal.Event, at, host string) eventRow {
	row := eventRow{At: at, Kind: string(e.Kind), Peer: host, Text: e.Text, Err: e.Err}
	if e.Code != 0 {
		row.Code = strconv.Itoa(e.Code)
	}
	switch {
	case e.Kind == journal.KindRelayBounce || e.Err != "":
		row.Class = "err"
	case e.Kind == journal.KindRelayDefer:
		row.Class = "warn"
	case e.Kind == journal.KindRelayDeliver:
		row.Class = "ok"
	case e.Kind == journal.KindControl:
		row.Class = "info"
	case e.Kind == journal.KindRelayLog:
		row.Class = "muted"
	}
	if e.Fault != "" {
		row.Text += " [fault: " + e.Fault + "]"
	}
	return row
}

// dnsView renders a DNS query as a table row.
func dnsView(e journal.Event, at string) dnsRow {
	row := dnsRow{At: at, Fault: e.Fault, Name: e.Text}
	d := e.DNS
	if d == nil {
		return row
	}
	row.Name, row.Type, row.Rcode, row.Answers = d.Name, d.Type, d.Rcode, d.Answer
	switch {
	case d.Dropped:
		row.Rcode, row.Class = "no answer", "err"
	case d.Rcode != "NOERROR":
		row.Class = "err"
	}
	var flags []string
	if d.Proto != "" {
		flags = append(flags, d.Proto)
	}
	if d.AD {
		flags = append(flags, "AD")
	}
	if d.TC {
		flags = append(flags, "TC")
	}
	row.Flags = strings.Join(flags, " ")
	return row
}

// verdictClass is the CSS class of a verdict.
func verdictClass(v Verdict) string {
	if v.Known() {
		return string(v)
	}
	return "error"
}

// slug turns a name into an anchor fragment: lowercase letters, digits and
// dashes only.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
