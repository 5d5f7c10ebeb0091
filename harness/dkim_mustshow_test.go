package harness

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// The reference relay signs and the receiving host records dkim=pass;
// the variant that changes the body after signing gets dkim=fail where
// the host only records (DKIM-001), and 550 5.7.26 where it enforces the
// sender's DMARC p=reject (dkim-dmarc-enforced.yaml).
func TestDKIMSignedVerifiedAndBroken(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a failing expectation")
	}
	lib, err := scenarios.Load(os.DirFS("../scenarios/conformance"), "dkim-001-signature-verifies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := func(sc *scenarios.Scenario, variant string) report.Result {
		return Run(context.Background(), sc, RunOptions{Configure: func(cfg *ReferenceConfig) { cfg.Variant = variant }})
	}
	if res := run(lib, ""); res.Verdict != report.Pass {
		t.Fatalf("DKIM-001, reference relay: %s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
	res := run(lib, "breaks-dkim-body")
	if res.Verdict != report.Fail || len(res.Failures) == 0 {
		t.Fatalf("DKIM-001, breaks-dkim-body: %s (%s), want a failure", res.Verdict, res.Reason)
	}
	if got := res.Failures[0].Actual; !strings.Contains(got, "dkim=fail") {
		t.Errorf("DKIM-001 failure does not show dkim=fail: %s", got)
	}

	if res := runScenario(t, "dkim-dmarc-enforced.yaml", ""); res.Verdict != report.Pass {
		t.Fatalf("enforced, reference relay: %s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
	res = runScenario(t, "dkim-dmarc-enforced.yaml", "breaks-dkim-body")
	if res.Verdict != report.Fail {
		t.Fatalf("enforced, breaks-dkim-body: %s (%s), want a failure", res.Verdict, res.Reason)
	}
	refused := false
	for _, e := range res.Events {
		if e.Kind == journal.KindSMTPReply && e.Source == "mx1.example.test" && e.Code == 550 && strings.Contains(e.Text, "5.7.26") {
			refused = true
		}
	}
	if !refused {
		t.Errorf("mx1.example.test never answered 550 5.7.26 to the broken signature")
	}
}
