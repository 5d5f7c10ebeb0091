package repotest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/scenarios"
)

// ruleRow is a row of the rules tables in docs/conformance.md:
// "| 6 | try MX hosts by preference… | MX-006 |".
var ruleRow = regexp.MustCompile(`^\| (\d+) \| .* \| ([^|]*) \|$`)

// caseID is a conformance case ID as it appears in those rows.
var caseID = regexp.MustCompile(`\b[A-Z]+-\d{3}\b`)

// TestConformanceRulesTable: the rules of docs/conformance.md are numbered
// 1 to 31 in order, and the cases each row names are exactly the built-in
// cases whose `rule:` is that number.
func TestConformanceRulesTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root(t), "docs", "conformance.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rules, ok := strings.Cut(string(doc), "\n## The rules\n")
	if !ok {
		t.Fatal(`docs/conformance.md: no "## The rules" section`)
	}
	rules, _, _ = strings.Cut(rules, "\n## ")
	documented := map[int][]string{}
	n := 0
	for line := range strings.SplitSeq(rules, "\n") {
		m := ruleRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rule, _ := strconv.Atoi(m[1])
		if n++; rule != n {
			t.Errorf("docs/conformance.md: rule %d where rule %d was due", rule, n)
		}
		documented[rule] = caseID.FindAllString(m[2], -1)
	}
	if n != 31 {
		t.Errorf("docs/conformance.md: %d rules, want 31", n)
	}

	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	library := map[int][]string{}
	for _, c := range cases {
		library[c.Conformance.Rule] = append(library[c.Conformance.Rule], c.Conformance.ID)
	}
	for rule := 1; rule <= max(n, 31); rule++ {
		want, got := library[rule], documented[rule]
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("docs/conformance.md: rule %d lists cases %v; the library's cases for it are %v", rule, got, want)
		}
	}
	for rule, ids := range library {
		if rule < 1 || rule > 31 {
			t.Errorf("cases %v check rule %d, which docs/conformance.md does not have", ids, rule)
		}
	}
}
