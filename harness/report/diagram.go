package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// Sequence diagram layout, in SVG user units (pixels at 100%).
const (
	maxDiagramItems = 400 // arrows, notes and bands drawn before the diagram is cut
	gutterW         = 64  // left column with the times
	laneGap         = 176 // distance between two lifelines
	laneBoxH        = 34  // height of a lifeline's name box
	rowH            = 26  // vertical space per arrow
	charW           = 6.7 // width of one character of a label (11px monospace), for layout only
	replyLabelMax   = 40  // runes of a reply shown on its arrow
	commandLabelMax = 44  // runes of a command shown on its arrow
	noteLabelMax    = 60  // runes of a note
	bottomHeadsMin  = 24  // repeat the lifeline names at the bottom from this many rows
	gapMS           = 500 // a quiet time this long between two rows is marked
)

// Lanes that are not hosts.
const (
	laneClient = "client"
	laneRelay  = "relay"
	laneDNS    = "dns"
)

// diagram is a laid-out sequence diagram, ready for the SVG template.
type diagram struct {
	Width, Height int
	Lanes         []seqLane
	Items         []seqItem
	LifeTop       int // where lifelines start
	LifeBottom    int // and end
	BottomY       int // y of the repeated name boxes, 0 for none
	Truncated     int // events not drawn
	TruncY        int
	GutterX       int // right edge of the time gutter
	HeadY         int // y of the "ms" caption
	Empty         bool
}

// seqLane is one lifeline.
type seqLane struct {
	X          int
	BoxX, BoxW int
	Name       string // shown, maybe shortened
	Full       string // tooltip
	Sub        string // address or role, under the name
	Class      string // "actor", "dns", "host"
}

// seqItem is one row of the diagram: an arrow, a note or a band.
type seqItem struct {
	Kind   string // "arrow", "note", "band"
	Y      int
	Time   string // ms since start, for the gutter
	Class  string // "", "err", "ok", "warn", "dns", "info"
	Tip    string // tooltip: the full text
	Label  string
	LabelX int
	LabelY int
	TimeY  int

	// Arrows.
	X1, X2 int
	Dashed bool
	Head   string // arrowhead polygon points
	Cross  string // path of an X at the end ("refused"), "" for none

	// Notes and bands.
	BoxX, BoxY, BoxW int
}

// laneSet maps names to lifeline positions.
type laneSet struct {
	index map[string]int
	names []string
	subs  []string
}

func (l *laneSet) add(name, sub string) {
	if name == "" {
		return
	}
	if _, ok := l.index[name]; ok {
		return
	}
	l.index[name] = len(l.names)
	l.names = append(l.names, name)
	l.subs = append(l.subs, sub)
}

func (l *laneSet) x(name string) (int, bool) {
	i, ok := l.index[name]
	if !ok {
		return 0, false
	}
	return gutterW + 70 + i*laneGap, true
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

// buildDiagram lays out the sequence diagram of r: lifelines for the
// client, the relay, DNS and each host (r.Hosts first, then any host the
// events name), and one row per drawn event, in journal order.
func buildDiagram(r Result) *diagram {
	res := newHostResolver(r.Hosts)
	lanes := laneSet{index: map[string]int{}}
	lanes.add(laneClient, "harness")
	lanes.add(laneRelay, r.Relay)
	lanes.add(laneDNS, "fake DNS")
	if lanes.subs[1] == "" {
		lanes.subs[1] = "under test"
	}
	for _, h := range r.Hosts {
		lanes.add(canonicalHost(h.Name), h.Addr)
	}
	for _, e := range r.Events {
		if h := res.host(e); h != "" {
			lanes.add(h, "")
		}
	}

	d := &diagram{GutterX: gutterW - 10, HeadY: 12 + laneBoxH - 4}
	nl := len(lanes.names)
	d.Width = gutterW + 70 + (nl-1)*laneGap + 100
	for i, name := range lanes.names {
		x, _ := lanes.x(name)
		class := "host"
		switch i {
		case 0, 1:
			class = "actor"
		case 2:
			class = "dns"
		}
		show := name
		if i > 2 {
			show = truncate(name, 22)
		}
		w := int(float64(len([]rune(show)))*7.2) + 20
		w = max(w, 80)
		d.Lanes = append(d.Lanes, seqLane{X: x, BoxX: x - w/2, BoxW: w, Name: show, Full: name,
			Sub: truncate(lanes.subs[i], 26), Class: class})
	}

	start := origin(r)
	y := 12 + laneBoxH + 14
	d.LifeTop = 12 + laneBoxH
	relayX, _ := lanes.x(laneRelay)
	clientX, _ := lanes.x(laneClient)
	dnsX, _ := lanes.x(laneDNS)
	last := -1.0
	add := func(e journal.Event, it seqItem) bool {
		if len(d.Items) >= maxDiagramItems {
			return false
		}
		ms := sinceMS(e, start)
		if last >= 0 && ms-last >= gapMS && len(d.Items)+1 < maxDiagramItems {
			// A long quiet time (a greylist window, a retry backoff) gets
			// a marker, so the eye does not read the rows as back to back.
			y += rowH * 3 / 4
			d.Items = append(d.Items, seqItem{Kind: "gap", Y: y, Label: "⋮ " + quiet(ms-last) + " later",
				LabelX: gutterW + 4, LabelY: y + 4})
		}
		last = ms
		y += rowH
		it.Y = y
		it.Time = strconv.FormatFloat(ms, 'f', 1, 64)
		d.layout(&it)
		d.Items = append(d.Items, it)
		return true
	}
	arrow := func(x1, x2 int, label, class string, dashed bool) seqItem {
		return seqItem{Kind: "arrow", X1: x1, X2: x2, Label: label, Class: class, Dashed: dashed}
	}
	note := func(x1, x2 int, label, class string) seqItem {
		return seqItem{Kind: "note", X1: min(x1, x2), X2: max(x1, x2), Label: truncate(label, noteLabelMax), Class: class}
	}

	drawn := 0
	for i, e := range r.Events {
		hostX, hasHost := lanes.x(res.host(e))
		var items []seqItem
		switch e.Kind {
		case journal.KindClientSubmit:
			label := "submit"
			if _, to, ok := strings.Cut(e.Text, " to "); ok {
				label += " → " + to
			}
			class := ""
			if e.Err != "" {
				class = "err"
				label += " ✗"
			}
			items = append(items, arrow(clientX, relayX, truncate(label, commandLabelMax), class, false))
		case journal.KindDNSQuery:
			q := strings.TrimSpace(e.Text)
			ans, class, cross := "answer", "dns", false
			if e.DNS != nil && e.DNS.Name != "" {
				q = e.DNS.Type + " " + strings.TrimSuffix(e.DNS.Name, ".") + "?"
				switch {
				case e.DNS.Dropped:
					ans, class, cross = "no answer", "err", true
				case e.DNS.Rcode == "NOERROR":
					ans = fmt.Sprintf("NOERROR (%d)", len(e.DNS.Answer))
					if len(e.DNS.Answer) == 0 {
						ans = "NOERROR (no records)"
					}
				case e.DNS.Rcode != "":
					ans, class = e.DNS.Rcode, "err"
				}
				if e.DNS.TC {
					ans += " TC"
				}
				if e.DNS.AD {
					ans += " AD"
				}
			}
			if e.Fault != "" {
				ans += " · fault " + e.Fault
			}
			qi := arrow(relayX, dnsX, truncate(q, commandLabelMax), "dns", false)
			qi.Tip = e.Text
			ai := arrow(dnsX, relayX, truncate(ans, replyLabelMax), class, true)
			ai.Tip = dnsTip(e)
			if cross {
				ai.Cross = "x"
			}
			items = append(items, qi, ai)
		case journal.KindSMTPConnect:
			if hasHost {
				items = append(items, arrow(relayX, hostX, "connect", "", false))
			}
		case journal.KindSMTPRefused:
			if hasHost {
				label := "refused"
				if e.Fault != "" {
					label += " (" + e.Fault + ")"
				}
				it := arrow(relayX, hostX, truncate(label, replyLabelMax), "err", false)
				it.Cross, it.Tip = "x", e.Text
				items = append(items, it)
			}
		case journal.KindRelayAttempt:
			if hasHost {
				if label, refused := attemptOutcome(r.Events, i, res); refused {
					it := arrow(relayX, hostX, label, "err", false)
					it.Cross, it.Tip = "x", e.Text
					items = append(items, it)
				}
			}
		case journal.KindSMTPCommand:
			if hasHost {
				it := arrow(relayX, hostX, truncate(oneLine(e.Text), commandLabelMax), "", false)
				it.Tip = e.Text
				items = append(items, it)
			}
		case journal.KindSMTPReply:
			if hasHost {
				// A multi-line reply ("250-…" lines, then "250 …") is one
				// arrow: its first line, the others in the tooltip. Hosts
				// journal one event per line, so the continuation lines
				// before the last are folded into it.
				if continuation(e.Text) && nextIsSameReply(r.Events, i) {
					continue
				}
				first, _, multi := strings.Cut(strings.TrimSpace(e.Text), "\n")
				first = strings.TrimSpace(first)
				if start := replyStart(r.Events, i); start < i {
					first, multi = strings.TrimSpace(r.Events[start].Text), true
				}
				if multi {
					first += " …"
				}
				class := ""
				if replyCode(e) >= 400 {
					class = "err"
				}
				it := arrow(hostX, relayX, truncate(first, replyLabelMax), class, true)
				it.Tip = e.Text
				items = append(items, it)
			}
		case journal.KindSMTPTLS:
			if hasHost {
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
				it := note(relayX, hostX, label, class)
				it.Tip = tlsTip(e)
				items = append(items, it)
			}
		case journal.KindSMTPAuth:
			if hasHost && e.Auth != nil {
				label, class := "AUTH "+e.Auth.Mechanism+" "+e.Auth.User, "ok"
				switch {
				case !e.Auth.OK:
					label, class = label+": rejected", "err"
				case !e.Auth.TLS:
					label, class = label+": ok, without TLS", "warn"
				default:
					label += ": ok"
				}
				items = append(items, note(relayX, hostX, label, class))
			}
		case journal.KindSMTPMessage:
			if hasHost {
				label := "message accepted"
				if e.Message != nil && e.Message.Size > 0 {
					label += " (" + byteSize(e.Message.Size) + ")"
				}
				it := note(relayX, hostX, label, "ok")
				it.Tip = e.Text
				items = append(items, it)
			}
		case journal.KindSMTPDisconnect:
			if hasHost && (e.Fault != "" || e.Err != "") {
				label := "disconnected"
				if e.Fault != "" {
					label += " (" + e.Fault + ")"
				}
				it := note(hostX, hostX, label, "err")
				it.Tip = strings.TrimSpace(e.Text + " " + e.Err)
				items = append(items, it)
			}
		case journal.KindRelayDefer:
			it := note(relayX, relayX, "deferred: "+oneLine(e.Text), "warn")
			it.Tip = e.Text
			items = append(items, it)
		case journal.KindRelayBounce:
			it := note(relayX, relayX, "bounced: "+oneLine(e.Text), "err")
			it.Tip = e.Text
			items = append(items, it)
		case journal.KindControl:
			items = append(items, seqItem{Kind: "band", Label: truncate(oneLine(e.Text), 120), Class: "info", Tip: e.Text})
		}
		ok := true
		for _, it := range items {
			if ok = add(e, it); !ok {
				break
			}
		}
		if !ok {
			d.Truncated = len(r.Events) - drawn
			break
		}
		drawn++
	}
	if len(d.Items) == 0 {
		d.Empty = true
		y += rowH
	}
	y += rowH / 2
	if d.Truncated > 0 {
		y += rowH
		d.TruncY = y
	}
	d.LifeBottom = y + 8
	if len(d.Items) >= bottomHeadsMin {
		d.BottomY = d.LifeBottom
		d.Height = d.BottomY + laneBoxH + 12
	} else {
		d.Height = d.LifeBottom + 12
	}
	return d
}

// layout fills the drawing coordinates of it from its ends.
func (d *diagram) layout(it *seqItem) {
	lw := int(float64(len([]rune(it.Label)))*charW) + 4
	it.TimeY = it.Y + 4
	it.LabelY = it.Y - 6
	it.BoxY = it.Y - 11
	switch it.Kind {
	case "arrow":
		dir := 1
		if it.X2 < it.X1 {
			dir = -1
		}
		x2 := it.X2 - dir
		it.Head = fmt.Sprintf("%d,%d %d,%d %d,%d", x2, it.Y, x2-dir*9, it.Y-4, x2-dir*9, it.Y+4)
		if it.Cross != "" {
			cx := it.X2 - dir*6
			it.Head = ""
			it.Cross = fmt.Sprintf("M%d %dL%d %dM%d %dL%d %d", cx-5, it.Y-5, cx+5, it.Y+5, cx-5, it.Y+5, cx+5, it.Y-5)
		}
		it.LabelX = d.clampLabel((it.X1+it.X2)/2, lw)
	case "note":
		w := lw + 16
		mid := (it.X1 + it.X2) / 2
		it.BoxW = w
		it.BoxX = d.clampBox(mid-w/2, w)
		it.LabelX = it.BoxX + w/2
		it.LabelY = it.Y + 4
	case "band":
		it.BoxX = gutterW
		it.BoxW = d.Width - gutterW - 8
		it.LabelX = it.BoxX + it.BoxW/2
		it.LabelY = it.Y + 4
	}
}

// clampLabel keeps a centred label of width w inside the drawing, right of
// the time gutter.
func (d *diagram) clampLabel(cx, w int) int {
	lo, hi := gutterW+4+w/2, d.Width-4-w/2
	if hi < lo {
		return lo
	}
	return min(max(cx, lo), hi)
}

// clampBox keeps a box of width w starting at x inside the drawing.
func (d *diagram) clampBox(x, w int) int {
	return max(gutterW+4, min(x, d.Width-4-w))
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

// quiet renders a quiet time in milliseconds: "740 ms", "2.0 s".
func quiet(ms float64) string {
	if ms < 1000 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
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
