package exim_test

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

var update = flag.Bool("update", false, "rewrite the Exim scorecard in docs/exim.md")

const (
	scorecardDoc   = "../../docs/exim.md"
	scorecardBegin = "<!-- conformance-scorecard:exim begin (go test ./harness/exim -run TestConformanceScorecard -update) -->"
	scorecardEnd   = "<!-- conformance-scorecard:exim end -->"
)

// known are verdicts that say something about Exim or the adapter and
// must not change unnoticed: a case Exim passes because the adapter
// configures it right, and Exim's documented deviations.
var known = map[string]report.Verdict{
	"MX-001":     report.Pass,      // CNAME at the domain: the resolver through the fake DNS works
	"AUTH-001":   report.Pass,      // smarthost on its own port, AUTH under TLS
	"TLS-005":    report.Pass,      // tls verify with the environment's CA
	"RETRY-010":  report.Pass,      // retry_interval is Exim's retry rule
	"SUBMIT-004": report.Pass,      // tls_on_connect_ports
	"MX-011":     report.Fail,      // self = freeze (Exim's default): the message is frozen, not bounced
	"MX-013":     report.NonStrict, // a null MX bounces without 556 5.1.10
	"SUBMIT-003": report.NonStrict, // Exim answers a bad password "535 Incorrect authentication data", no 5.7.8
}

// TestConformanceScorecard runs the whole conformance library against
// Exim, each case with Exim configured from the case's relay section, and
// checks the verdicts against the scorecard in docs/exim.md, so that the
// doc says what Exim really does.
func TestConformanceScorecard(t *testing.T) {
	x := needExim(t)
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	results := harness.Conformance(context.Background(), cases, harness.Profile{}, harness.ConformanceOptions{
		Relay:     func(sc *scenarios.Scenario) (harness.Relay, error) { return x.Relay(sc.Relay) },
		Reference: true, // the adapter configures Exim from each case
		Plan:      x.Plan(),
		RelayName: "exim " + x.Version(),
	})
	t.Logf("conformance library against Exim %s: %d cases in %v (container started in %v)",
		x.Version(), len(results), time.Since(start).Round(time.Millisecond), shared.started.Round(time.Millisecond))

	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", scorecardBegin)
	fmt.Fprintf(&b, "%s\n\n", report.Count(results))
	b.WriteString("| ID | level | verdict | title |\n|---|---|---|---|\n")
	for _, r := range results {
		if r.Verdict == report.Error {
			t.Errorf("%s could not run: %s", r.ID, r.Reason)
		}
		if want, ok := known[r.ID]; ok && r.Verdict != want {
			t.Errorf("%s: verdict %s, want %s: %s", r.ID, r.Verdict, want, r.Reason)
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
		t.Errorf("Exim's scorecard differs from %s (rerun with -update if Exim's behaviour is meant to change):\n%s", scorecardDoc, table)
	}
}
