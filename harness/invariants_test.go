package harness

import (
	"context"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

// TestInvariantCatchesResend runs testdata/failing/resends-to-accepted.yaml
// against the correct reference relay, which must pass it, and against the
// variant that re-sends to recipients already accepted, which must fail on
// the at-most-once invariant with both deliveries named.
func TestInvariantCatchesResend(t *testing.T) {
	sc, err := scenarios.LoadFile("../testdata/failing/resends-to-accepted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if res := Run(context.Background(), sc, RunOptions{Relay: Reference(ReferenceConfig{})}); res.Verdict != report.Pass {
		t.Fatalf("correct relay: %s: %s", res.Verdict, res.Reason)
	}
	res := Run(context.Background(), sc, RunOptions{Relay: Reference(ReferenceConfig{Variant: "resends-accepted"})})
	if res.Verdict != report.Fail || len(res.Failures) != 1 {
		t.Fatalf("variant: %s: %s (%d failures), want one failure", res.Verdict, res.Reason, len(res.Failures))
	}
	f := res.Failures[0]
	t.Logf("%s: %s: %s", f.Pos, f.Step, f.Actual)
	for _, want := range []string{"invariant at_most_once", "delivered to ok@example.test twice",
		"first at mx1.example.test in session mx1.example.test#1", "again at mx1.example.test in session mx1.example.test#2"} {
		if !strings.Contains(f.Step+" "+f.Actual, want) {
			t.Errorf("failure lacks %q:\n%s: %s", want, f.Step, f.Actual)
		}
	}
	if !strings.HasPrefix(f.Pos, "../testdata/failing/resends-to-accepted.yaml") {
		t.Errorf("failure at %q, want the scenario file", f.Pos)
	}
}
