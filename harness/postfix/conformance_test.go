package postfix_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

var update = flag.Bool("update", false, "rewrite the Postfix scorecard in docs/postfix.md")

const (
	scorecardDoc   = "../../docs/postfix.md"
	scorecardBegin = "<!-- conformance-scorecard:postfix begin (go test ./harness/postfix -run TestConformanceScorecard -update) -->"
	scorecardEnd   = "<!-- conformance-scorecard:postfix end -->"
)

// TestConformanceScorecard runs the whole conformance library against
// Postfix, each case with Postfix configured from the case's relay
// section, and checks the verdicts against the scorecard in
// docs/postfix.md, so that the doc says what Postfix really does.
func TestConformanceScorecard(t *testing.T) {
	pf := needPostfix(t)
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	results := harness.Conformance(context.Background(), cases, harness.Profile{}, harness.ConformanceOptions{
		Relay:     func(sc *scenarios.Scenario) (harness.Relay, error) { return pf.Relay(sc.Relay) },
		Reference: true, // the adapter configures Postfix from each case
		Plan:      pf.Plan(),
		RelayName: "postfix " + pf.Version(),
	})
	t.Logf("conformance library against Postfix %s: %d cases in %v (container started in %v)",
		pf.Version(), len(results), time.Since(start).Round(time.Millisecond), shared.started.Round(time.Millisecond))

	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", scorecardBegin)
	fmt.Fprintf(&b, "%s\n\n", report.Count(results))
	b.WriteString("| ID | level | verdict | title |\n|---|---|---|---|\n")
	for _, r := range results {
		if r.Verdict == report.Error {
			t.Errorf("%s could not run: %s", r.ID, r.Reason)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.ID, r.Level, r.Verdict.Label(), r.Name)
	}
	fmt.Fprintf(&b, "\n%s", scorecardEnd)
	table := b.String()

	doc, err := os.ReadFile(scorecardDoc)
	if err != nil {
		t.Fatal(err)
	}
	i, j := strings.Index(string(doc), scorecardBegin), strings.Index(string(doc), scorecardEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no scorecard markers", scorecardDoc)
	}
	current := string(doc[i : j+len(scorecardEnd)])
	if *update {
		out := string(doc[:i]) + table + string(doc[j+len(scorecardEnd):])
		if err := os.WriteFile(scorecardDoc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if current != table {
		t.Errorf("Postfix's scorecard differs from %s (rerun with -update if Postfix's behaviour is meant to change):\n%s", scorecardDoc, table)
	}
}
