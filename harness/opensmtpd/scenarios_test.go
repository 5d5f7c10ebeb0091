package opensmtpd_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/opensmtpd"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// runScenario runs one scenario file against the shared OpenSMTPD.
func runScenario(t *testing.T, o *opensmtpd.OpenSMTPD, path string) report.Result {
	t.Helper()
	sc, err := scenarios.LoadFile(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	opts, err := o.RunOptions(sc)
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

// TestScenarios runs scenarios that OpenSMTPD passes: MX priority,
// failover on a refused connection and on a 4xx greeting, greylisting
// then delivery after smtpctl schedule all, a smarthost on 587 with
// STARTTLS and AUTH, and TLS verification against a wrong-name
// certificate.
func TestScenarios(t *testing.T) {
	o := needOpenSMTPD(t)
	files := []string{
		"../../testdata/scenarios/mx-priority.yaml",
		"../../testdata/scenarios/mx-failover-greeting-421.yaml",
		"../../testdata/scenarios/greylist-flush.yaml",
		"../../testdata/scenarios/smarthost-auth-starttls.yaml",
		"../../testdata/scenarios/tls-verify-wrong-name.yaml",
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			res := runScenario(t, o, f)
			if res.Verdict != report.Pass {
				t.Fatalf("%s", describe(res))
			}
			if len(filterEvents(res.Events, journal.KindRelayLog)) == 0 {
				t.Errorf("no OpenSMTPD log line in the journal")
			}
		})
	}
}
