package exim_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/exim"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// runScenario runs one scenario file against the shared Exim.
func runScenario(t *testing.T, x *exim.Exim, path string) report.Result {
	t.Helper()
	sc, err := scenarios.LoadFile(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	opts, err := x.RunOptions(sc)
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

// repeat is how many times order-sensitive tests run (MXSIM_REPEAT, for
// hunting races; default 1).
func repeat() int {
	n, err := strconv.Atoi(os.Getenv("MXSIM_REPEAT"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// TestScenarios runs scenarios that a real Exim must pass: MX priority,
// failover, greylisting then delivery after exim -qff, a smarthost on 587
// with STARTTLS and AUTH, TLS verification against a wrong-name
// certificate, and the two scenarios where Exim speaks BDAT to hosts that
// defer after the last chunk or drop the connection in it.
func TestScenarios(t *testing.T) {
	x := needExim(t)
	files := []string{
		"../../testdata/scenarios/mx-priority.yaml",
		"../../testdata/scenarios/mx-failover-greeting-421.yaml",
		"../../testdata/scenarios/greylist-flush.yaml",
		"../../testdata/scenarios/smarthost-auth-starttls.yaml",
		"../../testdata/scenarios/tls-verify-wrong-name.yaml",
		"../../testdata/scenarios/defer-4xx-retry.yaml",
		"../../testdata/scenarios/hangup-disconnect.yaml",
	}
	if f := os.Getenv("MXSIM_SCENARIOS"); f != "" {
		files = strings.Split(f, ",")
	}
	for _, f := range files {
		name := strings.TrimSuffix(f[strings.LastIndexByte(f, '/')+1:], ".yaml")
		t.Run(name, func(t *testing.T) {
			for i := 0; i < repeat(); i++ {
				res := runScenario(t, x, f)
				if res.Verdict != report.Pass {
					t.Fatalf("%s", describe(res))
				}
				if len(filterEvents(res.Events, journal.KindRelayLog)) == 0 {
					t.Errorf("no Exim log line in the journal")
				}
				if os.Getenv("MXSIM_SHOW") != "" {
					t.Logf("%s", describe(res))
				}
			}
		})
	}
}
