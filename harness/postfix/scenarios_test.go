package postfix_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// runScenario runs one scenario file against the shared Postfix.
func runScenario(t *testing.T, pf *postfix.Postfix, path string) report.Result {
	t.Helper()
	sc, err := scenarios.LoadFile(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	opts, err := pf.RunOptions(sc)
	if err != nil {
		t.Fatalf("relay for %s: %v", path, err)
	}
	return harness.Run(context.Background(), sc, opts)
}

func describe(res report.Result) string {
	var b strings.Builder
	b.WriteString(string(res.Verdict) + ": " + res.Reason + "\n")
	for _, f := range res.Failures {
		b.WriteString(f.Pos + ": " + f.Step + "\n    expected: " + f.Expected + "\n    actual:   " + f.Actual + "\n")
	}
	for _, e := range res.Events {
		b.WriteString(e.Format(res.Started) + "\n")
	}
	return b.String()
}

// TestScenarios runs the scenarios that a real Postfix must pass: MX
// priority, failover on a refused connection and on a 4xx greeting,
// greylisting then delivery after postqueue -f, a smarthost on 587 with
// STARTTLS and AUTH, TLS verification against a wrong-name certificate, and
// Postfix's own submission services, a host's rate limit then recovery,
// a retry no sooner than the configured wait, and the provider scenarios
// (gmail-, microsoft- and yahoo-like deferrals, sendgrid- and ses-like
// smarthosts), and Postfix with OpenDKIM signing for a host that
// enforces DMARC, and an SPF refusal.
func TestScenarios(t *testing.T) {
	pf := needPostfix(t)
	files := []string{
		"../../testdata/scenarios/mx-priority.yaml",
		"../../testdata/scenarios/mx-failover-greeting-421.yaml",
		"../../testdata/scenarios/greylist-flush.yaml",
		"../../testdata/scenarios/smarthost-auth-starttls.yaml",
		"../../testdata/scenarios/tls-verify-wrong-name.yaml",
		"../../testdata/scenarios/rate-limit-recovery.yaml",
		"../../testdata/scenarios/retry-not-too-soon.yaml",
		// Provider profiles (docs/profiles.md).
		"../../testdata/scenarios/provider-gmail-rate-limit.yaml",
		"../../testdata/scenarios/provider-microsoft-server-busy.yaml",
		"../../testdata/scenarios/provider-yahoo-deferral.yaml",
		"../../testdata/scenarios/provider-sendgrid-smarthost.yaml",
		"../../testdata/scenarios/provider-ses-throttling.yaml",
		// Message authentication (docs/authentication.md).
		"../../testdata/scenarios/dkim-dmarc-enforced.yaml",
		"../../testdata/scenarios/spf-fail-refused.yaml",
		"testdata/submission-services.yaml",
	}
	own, err := filepath.Glob("../../testdata/postfix/*.yaml")
	if err != nil || len(own) == 0 {
		t.Fatalf("no scenarios in testdata/postfix: %v", err)
	}
	for _, f := range append(files, own...) {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			res := runScenario(t, pf, f)
			if res.Verdict != report.Pass {
				t.Fatalf("%s", describe(res))
			}
			if len(filterEvents(res.Events, journal.KindRelayLog)) == 0 {
				t.Errorf("no Postfix log line in the journal")
			}
		})
	}
}

func filterEvents(evs []journal.Event, kinds ...journal.Kind) []journal.Event {
	var out []journal.Event
	for _, e := range evs {
		for _, k := range kinds {
			if e.Kind == k {
				out = append(out, e)
			}
		}
	}
	return out
}

// TestRefusedConnectionInJournal checks that Postfix's "connect to …:
// Connection refused" becomes a relay.attempt naming the host, the only
// trace a down host leaves.
func TestRefusedConnectionInJournal(t *testing.T) {
	for i := 0; i < repeat(); i++ {
		refusedConnectionInJournal(t)
	}
}

func refusedConnectionInJournal(t *testing.T) {
	pf := needPostfix(t)
	res := runScenario(t, pf, "../../testdata/postfix/mx-failover-refused.yaml")
	if res.Verdict != report.Pass {
		t.Fatalf("%s", describe(res))
	}
	var found bool
	for _, e := range filterEvents(res.Events, journal.KindRelayAttempt) {
		if e.Peer == "mx1.example.test" && strings.Contains(e.Err, "Connection refused") {
			found = true
		}
	}
	if !found {
		t.Errorf("no relay.attempt for mx1.example.test with Connection refused:\n%s", describe(res))
	}
	if n := len(filterEvents(res.Events, journal.KindRelayDeliver)); n < 2 {
		t.Errorf("relay.deliver events: %d, want 2 (one per message)", n)
	}
}

// TestWrongExpectationFails shows that a scenario whose expectation is
// wrong fails against Postfix too.
func TestWrongExpectationFails(t *testing.T) {
	pf := needPostfix(t)
	res := runScenario(t, pf, "../../testdata/failing/wrong-expectation.yaml")
	if res.Verdict != report.Fail {
		t.Fatalf("verdict %s, want fail:\n%s", res.Verdict, describe(res))
	}
}

// repeat is how many times order-sensitive tests run (MXSIM_REPEAT, for
// hunting races; default 1).
func repeat() int {
	n, err := strconv.Atoi(os.Getenv("MXSIM_REPEAT"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}
