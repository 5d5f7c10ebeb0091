package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/mxsim/mxsim/journal"
)

// writeSample renders the sample run and keeps it: under t.TempDir(), and
// at $MXSIM_KEEP_REPORT when set, so a person can open it.
func writeSample(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, "mxsim run — sample", sampleResults()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "report.html"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("MXSIM_KEEP_REPORT"); keep != "" {
		if err := os.WriteFile(keep, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		var c bytes.Buffer
		if err := WriteHTML(&c, "mxsim conformance — sample", conformanceResults()); err != nil {
			t.Fatal(err)
		}
		conf := strings.TrimSuffix(keep, ".html") + "-conformance.html"
		if err := os.WriteFile(conf, c.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("reports kept at %s and %s", keep, conf)
	}
	return b.Bytes()
}

// Helpers over a parsed document.

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

// findAll returns the element nodes under n for which match is true.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func tagClass(name, class string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name && hasClass(n, class) }
}

// text is the text content of n.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func byID(doc *html.Node, id string) *html.Node {
	if n := findAll(doc, func(n *html.Node) bool { return attr(n, "id") == id }); len(n) == 1 {
		return n[0]
	}
	return nil
}

func parse(t *testing.T, page []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

func TestHTMLStructure(t *testing.T) {
	page := writeSample(t)
	doc := parse(t, page)
	results := sampleResults()

	if got := text(findAll(doc, tag("title"))[0]); got != "mxsim run — sample" {
		t.Errorf("title = %q", got)
	}
	sections := findAll(doc, tagClass("section", "scenario"))
	if len(sections) != len(results) {
		t.Fatalf("got %d scenario sections, want %d", len(sections), len(results))
	}
	// The overview links to every section.
	rows := findAll(doc, func(n *html.Node) bool {
		return n.Data == "tr" && n.Parent != nil && n.Parent.Data == "tbody" && hasClass(n.Parent.Parent, "results")
	})
	if len(rows) != len(results) {
		t.Fatalf("overview has %d rows, want %d", len(rows), len(results))
	}
	for i, row := range rows {
		a := findAll(row, tag("a"))
		if len(a) != 1 || !strings.HasPrefix(attr(a[0], "href"), "#") {
			t.Fatalf("row %d has no anchor link", i)
		}
		target := byID(doc, strings.TrimPrefix(attr(a[0], "href"), "#"))
		if target == nil || target != sections[i] {
			t.Errorf("row %d links to %q, which is not section %d", i, attr(a[0], "href"), i)
		}
		badge := findAll(row, tagClass("span", "badge"))
		if len(badge) != 1 || !hasClass(badge[0], string(results[i].Verdict)) || text(badge[0]) != results[i].Verdict.Label() {
			t.Errorf("row %d verdict badge wrong", i)
		}
	}
	chips := text(findAll(doc, tagClass("div", "chips"))[0])
	for _, want := range []string{"1 passed", "1 failed", "1 error", "1 not applicable"} {
		if !strings.Contains(chips, want) {
			t.Errorf("totals %q lack %q", chips, want)
		}
	}

	// Failover: one lifeline per host plus client, relay, dns; a refused
	// arrow with an X at mx1; transcript of mx2's session; DNS table.
	fo := sections[0]
	svgs := findAll(fo, tagClass("svg", "seq"))
	if len(svgs) != 1 {
		t.Fatalf("failover section has %d <svg>, want 1", len(svgs))
	}
	var lanes []string
	for _, g := range findAll(svgs[0], tagClass("g", "lane")) {
		name, _, _ := strings.Cut(text(findAll(g, tag("title"))[0]), "\n") // then the address or role
		lanes = append(lanes, name)
	}
	if want := "client relay dns mx1.example.test mx2.example.test"; strings.Join(lanes, " ") != want {
		t.Errorf("lanes = %v, want %s", lanes, want)
	}
	if n := len(findAll(svgs[0], tagClass("line", "life"))); n != 5 {
		t.Errorf("%d lifelines, want 5", n)
	}
	crosses := findAll(svgs[0], tagClass("path", "x"))
	if len(crosses) != 1 || !hasClass(crosses[0].Parent, "err") || !strings.Contains(text(crosses[0].Parent), "connection refused") {
		t.Errorf("want one red refused arrow with an X, got %d", len(crosses))
	}
	labels := text(svgs[0])
	for _, want := range []string{"MX example.test?", "NOERROR (2)", "connect", "EHLO relay.test", "250-mx2.example.test Hello relay.test …",
		"MAIL FROM:<alice@origin.test>", "DATA", "message accepted (412 B)", "submit → bob@example.test"} {
		if !strings.Contains(labels, want) {
			t.Errorf("diagram lacks label %q", want)
		}
	}
	var drawn []string
	for _, n := range findAll(svgs[0], tagClass("text", "lb")) {
		drawn = append(drawn, text(n))
	}
	if strings.Contains(strings.Join(drawn, "\n"), "250-PIPELINING") {
		t.Errorf("multi-line EHLO reply is not collapsed in the diagram")
	}
	tr := findAll(fo, tagClass("pre", "transcript"))
	if len(tr) != 1 {
		t.Fatalf("%d transcripts in failover, want 1 (mx2's session)", len(tr))
	}
	for _, want := range []string{"C:EHLO relay.test", "S:250-PIPELINING", "*message from alice@origin.test"} {
		if !strings.Contains(text(tr[0]), want) {
			t.Errorf("transcript lacks %q:\n%s", want, text(tr[0]))
		}
	}
	if n := len(findAll(tr[0], tagClass("span", "msg"))); n != 1 {
		t.Errorf("message line not marked: %d", n)
	}
	attempts := findAll(fo, tagClass("div", "attempt"))
	if len(attempts) != 1 || !strings.Contains(text(attempts[0]), "mx1.example.test[127.0.5.11]:2525") {
		t.Errorf("mx1's refused attempt not listed in its transcript")
	}
	dnsRows := findAll(fo, func(n *html.Node) bool {
		return n.Data == "tr" && n.Parent.Data == "tbody" && hasClass(n.Parent.Parent, "dns")
	})
	if len(dnsRows) != 3 || !strings.Contains(text(dnsRows[0]), "example.test.MXNOERROR") {
		t.Errorf("DNS table: %d rows; first %q", len(dnsRows), text(dnsRows[0]))
	}

	// Greylist: two expected|actual boxes with positions, TLS marked.
	gl := sections[1]
	fails := findAll(gl, tagClass("div", "failure"))
	if len(fails) != 2 {
		t.Fatalf("%d failure boxes, want 2", len(fails))
	}
	for i, pos := range []string{"scenario.yaml:14:5", "scenario.yaml:15:5"} {
		if p := findAll(fails[i], tagClass("code", "pos")); len(p) != 1 || text(p[0]) != pos {
			t.Errorf("failure %d position wrong", i)
		}
		if len(findAll(fails[i], tagClass("div", "exp"))) != 1 || len(findAll(fails[i], tagClass("div", "act"))) != 1 {
			t.Errorf("failure %d is not an expected | actual box", i)
		}
	}
	if !strings.Contains(text(fails[1]), "expect attempted [mx3.example.test, mx3.example.test]") {
		t.Errorf("step text missing: %s", text(fails[1]))
	}
	if len(findAll(gl, tagClass("span", "tls"))) != 1 {
		t.Error("TLS line not marked in the transcript")
	}
	svg := findAll(gl, tagClass("svg", "seq"))[0]
	if !strings.Contains(text(svg), "TLS 1.3") || len(findAll(svg, tagClass("rect", "band"))) != 1 {
		t.Error("diagram lacks the TLS note or the control band")
	}
	if g := findAll(svg, tagClass("text", "gap")); len(g) != 1 || text(g[0]) != "⋮ 2.0 s later" {
		t.Errorf("the quiet time before the control event is not marked")
	}
	red := findAll(svg, func(n *html.Node) bool {
		return n.Data == "g" && hasClass(n, "err") && strings.Contains(text(n), "451 4.7.1")
	})
	if len(red) != 1 {
		t.Errorf("the 451 reply is not drawn red")
	}

	// Error and not-applicable: reason shown, diagram says it is empty.
	for i, s := range sections[2:] {
		if r := findAll(s, tagClass("p", "reason")); len(r) != 1 || text(r[0]) != results[i+2].Reason {
			t.Errorf("section %d: reason not shown", i+2)
		}
		if len(findAll(s, tagClass("p", "empty"))) != 1 || len(findAll(s, tag("svg"))) != 0 {
			t.Errorf("section %d: no events, yet a diagram or no explanation", i+2)
		}
	}
}

func TestHTMLEscapesHostileText(t *testing.T) {
	r := greylistResult()
	r.Name = hostile
	r.Description = `"><img src=x onerror=alert(2)>`
	r.Hosts[0].Behavior = hostile
	r.Events = append(r.Events, journal.Event{Kind: journal.KindControl, Text: hostile, Time: r.Started})
	var b bytes.Buffer
	if err := WriteHTML(&b, hostile, []Result{r}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "<script>alert") || strings.Contains(out, "<img") {
		t.Fatalf("hostile markup comes out unescaped")
	}
	doc := parse(t, b.Bytes())
	scripts := findAll(doc, tag("script"))
	if len(scripts) != 1 || strings.Contains(text(scripts[0]), "alert") {
		t.Errorf("want only the report's own script, got %d", len(scripts))
	}
	if n := len(findAll(doc, tag("img"))); n != 0 {
		t.Errorf("%d <img> elements from text", n)
	}
	// The text is there, readable, as text.
	body := text(doc)
	if c := strings.Count(body, hostile); c < 5 {
		t.Errorf("hostile text shown %d times as text, want it in title, name, reply, band, failure…", c)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	page := string(writeSample(t))
	const xmlns = `xmlns="http://www.w3.org/2000/svg"`
	if !strings.Contains(page, xmlns) {
		t.Fatal("SVG has no xmlns")
	}
	rest := strings.ReplaceAll(page, xmlns, "")
	for _, bad := range []string{"http://", "https://", "//cdn", "<link", "@import", "url(", " src=", "<img", "<iframe", "fetch(", "XMLHttpRequest"} {
		if strings.Contains(rest, bad) {
			i := strings.Index(rest, bad)
			t.Errorf("report refers to outside resources: %q near %q", bad, rest[max(0, i-60):min(len(rest), i+60)])
		}
	}
}

func TestDiagramLanesAndCap(t *testing.T) {
	r := failoverResult()
	// A host the scenario did not list shows up as a lane after the others.
	r.Events = append(r.Events, journal.Event{Kind: journal.KindSMTPConnect, Source: "MX9.Example.Test.", Session: "mx9.example.test#1", Time: t0().Add(time.Second)})
	d := buildDiagram(r)
	var names []string
	for _, l := range d.Lanes {
		names = append(names, l.Full)
	}
	if got := strings.Join(names, " "); got != "client relay dns mx1.example.test mx2.example.test mx9.example.test" {
		t.Errorf("lanes = %s", got)
	}
	for i := 1; i < len(d.Lanes); i++ {
		if d.Lanes[i].X <= d.Lanes[i-1].X {
			t.Errorf("lane %d not right of lane %d", i, i-1)
		}
	}
	for i := 1; i < len(d.Items); i++ {
		if d.Items[i].Y <= d.Items[i-1].Y {
			t.Errorf("item %d not below item %d", i, i-1)
		}
	}

	// A long run is cut at maxDiagramItems, with a note.
	long := failoverResult()
	for i := range 1000 {
		long.Events = append(long.Events, journal.Event{Kind: journal.KindSMTPCommand, Source: "mx2.example.test",
			Session: "mx2.example.test#2", Text: fmt.Sprintf("NOOP %d", i), Time: t0().Add(time.Duration(i) * time.Millisecond)})
	}
	d = buildDiagram(long)
	if len(d.Items) != maxDiagramItems || d.Truncated == 0 {
		t.Errorf("items = %d truncated = %d, want %d and some", len(d.Items), d.Truncated, maxDiagramItems)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, "", []Result{long}); err != nil {
		t.Fatal(err)
	}
	doc := parse(t, b.Bytes())
	if tr := findAll(doc, tagClass("text", "trunc")); len(tr) != 1 || !strings.Contains(text(tr[0]), fmt.Sprintf("%d more events", d.Truncated)) {
		t.Error("truncation note missing")
	}
	if got := text(findAll(doc, tag("title"))[0]); got != "mxsim report" {
		t.Errorf("default title = %q", got)
	}
}

func TestHTMLEmptyRun(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, "nothing", nil); err != nil {
		t.Fatal(err)
	}
	doc := parse(t, b.Bytes())
	if n := len(findAll(doc, tagClass("section", "scenario"))); n != 0 {
		t.Errorf("%d sections for no results", n)
	}
	if !strings.Contains(text(doc), "No results.") {
		t.Error("empty run not explained")
	}
}
