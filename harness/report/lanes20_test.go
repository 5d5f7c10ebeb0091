package report

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/journal"
)

// manyHostsResult: the relay tries 20 hosts with long names, one after
// the other; each refuses but the last, which takes the message.
func manyHostsResult(n int) Result {
	l := &eventLog{start: t0()}
	sub := &journal.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, Headers: map[string][]string{"X-Mxsim-Submission": {"s1"}}}
	l.at(1, journal.Event{Kind: journal.KindClientSend, Source: "client", Remote: "127.0.5.2:2525", Text: "from alice@origin.test to bob@example.test", Message: sub})
	l.at(2, journal.Event{Kind: journal.KindClientSubmit, Source: "client", Remote: "127.0.5.2:2525", Text: "from alice@origin.test to bob@example.test", Message: sub})
	var hosts []Host
	for i := range n {
		name := fmt.Sprintf("mx%02d.a-rather-long-subdomain.example.test", i+1)
		addr := fmt.Sprintf("127.0.5.%d:2525", 11+i)
		hosts = append(hosts, Host{Name: name, Addr: addr, Behavior: "down"})
		ms := 3 + float64(i)
		l.at(ms, dnsA(name+".", addr))
		if i < n-1 {
			l.at(ms+0.5, journal.Event{Kind: journal.KindSMTPRefused, Source: name, Fault: "down", Text: "connection refused"})
			continue
		}
		l.smtp(ms+0.5, name, 1, journal.KindSMTPConnect, "connect from 127.0.5.1:40112", 0)
		l.smtp(ms+0.6, name, 1, journal.KindSMTPReply, "220 "+name+" ESMTP mxsim", 220)
	}
	return Result{Name: "twenty-hosts", Verdict: Pass, Started: t0(), Relay: "reference relay with a long name", Events: l.events, Hosts: hosts}
}

// TestDiagramTwentyLanes: with 20 hosts of long names, every lane keeps
// its fixed width (the diagram scrolls sideways instead of shrinking),
// no two lane boxes overlap, names and addresses fit their boxes
// (shortened, in full in the tooltip), and everything drawn is inside
// the viewBox.
func TestDiagramTwentyLanes(t *testing.T) {
	r := manyHostsResult(20)
	d := buildDiagram(r)
	if len(d.Lanes) != 23 {
		t.Fatalf("%d lanes, want 23", len(d.Lanes))
	}
	inside := func(what string, x0, x1 int) {
		t.Helper()
		if x0 < 0 || x1 > d.Width || x1 < x0 {
			t.Errorf("%s spans %d..%d, outside 0..%d", what, x0, x1, d.Width)
		}
	}
	for i, l := range d.Lanes {
		inside("lane "+l.Full, l.BoxX, l.BoxX+l.BoxW)
		if nameW := int(float64(len([]rune(l.Name)))*nameCharW) + 20; nameW > l.BoxW {
			t.Errorf("lane %q: name %d wide in a box of %d", l.Name, nameW, l.BoxW)
		}
		if subW := int(float64(len([]rune(l.Sub)))*subCharW) + 10; subW > l.BoxW {
			t.Errorf("lane %q: address %q %d wide in a box of %d", l.Name, l.Sub, subW, l.BoxW)
		}
		if i > 0 {
			prev := d.Lanes[i-1]
			if l.X-prev.X != laneGap {
				t.Errorf("lanes %d and %d are %d apart, want %d", i-1, i, l.X-prev.X, laneGap)
			}
			if prev.BoxX+prev.BoxW >= l.BoxX {
				t.Errorf("lane boxes %q (%d..%d) and %q (%d..) overlap", prev.Name, prev.BoxX, prev.BoxX+prev.BoxW, l.Name, l.BoxX)
			}
		}
		if i >= 3 {
			h := r.Hosts[i-3]
			if !strings.HasSuffix(l.Name, "…") || l.Full != h.Name || !strings.Contains(l.Tip, h.Name) || !strings.Contains(l.Tip, h.Addr) {
				t.Errorf("lane %d: name %q, tooltip %q; want it shortened, the tooltip with %s and %s", i, l.Name, l.Tip, h.Name, h.Addr)
			}
		}
	}
	for _, it := range d.Items {
		if it.Y <= 0 || it.Y >= d.Height {
			t.Errorf("%s %q at y %d, outside 0..%d", it.Kind, it.Label, it.Y, d.Height)
		}
		lw := int(float64(len([]rune(it.Label))) * charW)
		switch it.Kind {
		case "arrow":
			inside("arrow "+it.Label, min(it.X1, it.X2), max(it.X1, it.X2))
			inside("label "+it.Label, it.LabelX-lw/2, it.LabelX+lw/2)
		case "note", "band":
			inside("box "+it.Label, it.BoxX, it.BoxX+it.BoxW)
		}
	}
	// The last refusal's label is next to its host, not in the middle of
	// the arrow, 18 lanes away.
	var last seqItem
	for _, it := range d.Items {
		if it.Label == "refused (down)" {
			last = it
		}
	}
	if host := d.Lanes[21].X; last.X2 != host || host-last.LabelX > laneGap {
		t.Errorf("last refusal: arrow to %d, label at %d; want the label within %d of the host at %d", last.X2, last.LabelX, laneGap, host)
	}

	// The SVG as written: drawn at its own size (the page scrolls it), the
	// lane boxes as laid out, each with its tooltip.
	var b bytes.Buffer
	if err := WriteHTML(&b, "", []Result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ".diagram{overflow-x:auto") {
		t.Error("the diagram does not scroll sideways")
	}
	doc := parse(t, b.Bytes())
	svgs := findAll(doc, tagClass("svg", "seq"))
	if len(svgs) != 1 {
		t.Fatalf("%d diagrams", len(svgs))
	}
	svg := svgs[0]
	if vb, w := attr(svg, "viewBox"), attr(svg, "width"); vb != fmt.Sprintf("0 0 %d %d", d.Width, d.Height) || w != strconv.Itoa(d.Width) {
		t.Errorf("svg width %q viewBox %q, want %d and 0 0 %d %d", w, vb, d.Width, d.Width, d.Height)
	}
	type box struct{ x0, x1 int }
	rows := map[string][]box{}
	for _, g := range findAll(svg, tagClass("g", "lane")) {
		rect := findAll(g, tag("rect"))[0]
		x, _ := strconv.Atoi(attr(rect, "x"))
		w, _ := strconv.Atoi(attr(rect, "width"))
		if x < 0 || x+w > d.Width {
			t.Errorf("lane box %d..%d outside the viewBox 0..%d", x, x+w, d.Width)
		}
		y := attr(rect, "y")
		for _, o := range rows[y] {
			if x < o.x1 && o.x0 < x+w {
				t.Errorf("lane boxes %d..%d and %d..%d overlap at y %s", x, x+w, o.x0, o.x1, y)
			}
		}
		rows[y] = append(rows[y], box{x, x + w})
	}
	if len(rows["12"]) != 23 {
		t.Errorf("%d lane boxes at the top, want 23", len(rows["12"]))
	}
	titles := 0
	for _, g := range findAll(svg, tagClass("g", "lane")) {
		if ts := findAll(g, tag("title")); len(ts) == 1 && strings.Contains(text(ts[0]), "a-rather-long-subdomain.example.test") {
			titles++
		}
	}
	if titles != 20 {
		t.Errorf("%d host lanes with their full name as tooltip, want 20", titles)
	}

	// The lane names and the times stay in view as the diagram scrolls:
	// copies of them, sticky at the top and at the left, drawn where the
	// diagram has them.
	for _, rule := range []string{".seqhead{display:block;position:sticky;top:0", ".seqgut{display:block;position:sticky;left:0"} {
		if !strings.Contains(b.String(), rule) {
			t.Errorf("CSS rule %s… missing", rule)
		}
	}
	heads, guts := findAll(doc, tagClass("svg", "seqhead")), findAll(doc, tagClass("svg", "seqgut"))
	if len(heads) != 1 || len(guts) != 1 {
		t.Fatalf("%d lane headers and %d time gutters, want 1 each", len(heads), len(guts))
	}
	var top []string
	for _, g := range findAll(heads[0], tagClass("g", "lane")) {
		top = append(top, attr(findAll(g, tag("rect"))[0], "x"))
	}
	var want []string
	for _, l := range d.Lanes {
		want = append(want, strconv.Itoa(l.BoxX))
	}
	if strings.Join(top, " ") != strings.Join(want, " ") || attr(heads[0], "width") != strconv.Itoa(d.Width) {
		t.Errorf("lane header boxes at %v (width %s), want %v (%d)", top, attr(heads[0], "width"), want, d.Width)
	}
	times := 0
	for _, it := range d.Items {
		if it.Kind != "gap" {
			times++
		}
	}
	if n := len(findAll(guts[0], tagClass("text", "tm"))); n != times || attr(guts[0], "height") != strconv.Itoa(d.Height) {
		t.Errorf("time gutter: %d times, height %s; want %d, %d", n, attr(guts[0], "height"), times, d.Height)
	}
}
