package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestHTMLCollapsible: each result is one <details> with its verdict and
// name in the <summary> and everything else inside, so that the page
// works without script; results that did not pass are open, passes
// closed, and a run of one result shows it open.
func TestHTMLCollapsible(t *testing.T) {
	results := conformanceResults()
	for i := range 30 { // a long run of passes
		r := failoverResult()
		r.ID, r.Name = fmt.Sprintf("PASS-%03d", i), fmt.Sprintf("passing case %d", i)
		results = append(results, r)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, "", results); err != nil {
		t.Fatal(err)
	}
	doc := parse(t, b.Bytes())
	sections := findAll(doc, tagClass("section", "scenario"))
	if len(sections) != len(results) {
		t.Fatalf("%d sections, want %d", len(sections), len(results))
	}
	open, problems := 0, 0
	for i, s := range sections {
		r := results[i]
		var kids []*html.Node
		for c := s.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode {
				kids = append(kids, c)
			}
		}
		if len(kids) != 1 || kids[0].Data != "details" || !hasClass(kids[0], "case") {
			t.Fatalf("section %s: want one <details class=case> holding it all, got %d children", r.Name, len(kids))
		}
		d := kids[0]
		sum := d.FirstChild
		for sum != nil && sum.Type != html.ElementNode {
			sum = sum.NextSibling
		}
		if sum == nil || sum.Data != "summary" || !strings.Contains(text(sum), r.Name) || !strings.Contains(text(sum), r.Verdict.Label()) {
			t.Errorf("section %s: the first child of its <details> is not a <summary> with the verdict and name", r.Name)
		}
		_, isOpen := attrOK(d, "open")
		if want := r.Verdict != Pass; isOpen != want {
			t.Errorf("section %s (%s): open %v, want %v", r.Name, r.Verdict, isOpen, want)
		}
		if isOpen {
			open++
		}
		if r.Verdict != Pass {
			problems++
		}
		// The diagram and the transcripts are inside, hidden with it.
		if len(r.Events) > 0 && len(findAll(d, tagClass("svg", "seq"))) != 1 {
			t.Errorf("section %s: diagram not inside its <details>", r.Name)
		}
	}
	if open != problems || open == 0 || open == len(sections) {
		t.Errorf("%d sections open, want the %d that did not pass", open, problems)
	}

	// One result, passed: open.
	b.Reset()
	if err := WriteHTML(&b, "", []Result{failoverResult()}); err != nil {
		t.Fatal(err)
	}
	cases := findAll(parse(t, b.Bytes()), tagClass("details", "case"))
	if _, ok := attrOK(cases[0], "open"); len(cases) != 1 || !ok {
		t.Error("the only result of a run is not open")
	}
}

// attrOK returns n's attribute key and whether it has it.
func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}
