package harness_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

const ownRelayScenario = "testdata/own-relay-smarthost.yaml"

// edited starts its relay with the network changed by edit: what a
// harness that did not pass the relay settings on (or only part of them)
// would do.
type edited struct {
	*ownRelay
	edit func(*harness.Network)
}

func (e edited) Start(ctx context.Context, n harness.Network) error {
	e.edit(&n)
	return e.ownRelay.Start(ctx, n)
}

// TestOwnRelayPassesBecauseOfTheRelaySection: the scenario of the own
// relay example passes with the settings as the scenario gives them, and
// does not when any part it needs is missing.
func TestOwnRelayPassesBecauseOfTheRelaySection(t *testing.T) {
	t.Parallel()
	harness.RunScenario(t, ownRelayScenario, &ownRelay{})

	sc, err := scenarios.LoadFile(ownRelayScenario)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		edit    func(*harness.Network)
		verdict report.Verdict
		reason  string
	}{
		{"section dropped", func(n *harness.Network) { n.Relay = harness.RelaySettings{} }, report.Error, "no smarthost in the relay settings"},
		{"credentials dropped", func(n *harness.Network) { n.Relay.Smarthost.Auth = nil }, report.Fail, "delivered"},
		{"TLS policy none", func(n *harness.Network) { n.Relay.TLS = scenarios.TLSNone }, report.Fail, "delivered"},
		{"no MX lookup", func(n *harness.Network) { n.Relay.Smarthost.MXLookup = false }, report.Fail, "SMTP error 451 4.4.1"},
		// Without its reports the down host smtp1 is not seen as attempted.
		{"attempts not reported", func(n *harness.Network) { n.Journal = nil }, report.Fail, "attempted in order [smtp2.example.test]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := harness.Run(context.Background(), sc, harness.RunOptions{Relay: edited{&ownRelay{}, c.edit}})
			if res.Verdict != c.verdict || !strings.Contains(res.Reason, c.reason) {
				t.Errorf("verdict %s (%s), want %s with %q", res.Verdict, res.Reason, c.verdict, c.reason)
			}
		})
	}
}

// TestOwnRelayScenarioWithReference: the reference relay, configured by
// the same section, passes the scenario too.
func TestOwnRelayScenarioWithReference(t *testing.T) {
	t.Parallel()
	harness.RunScenario(t, ownRelayScenario, nil)
}

// TestGoDocWalkThroughIsTheExample: docs/go.md shows the own relay of
// ownrelay_example_test.go as it is, so the walk-through is tested code.
func TestGoDocWalkThroughIsTheExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/go.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("ownrelay_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	code := string(src)
	start := strings.Index(code, "// ownRelay is a small relay")
	if start < 0 {
		t.Fatal("ownrelay_example_test.go: the relay's comment moved")
	}
	if !strings.Contains(string(doc), "```go\n"+code[start:]+"```\n") {
		t.Errorf("docs/go.md does not show ownrelay_example_test.go from %q to its end in one go block: copy it again", "// ownRelay is a small relay")
	}
	yaml, err := os.ReadFile(ownRelayScenario)
	if err != nil {
		t.Fatal(err)
	}
	body := string(yaml[strings.Index(string(yaml), "name:"):])
	if !strings.Contains(string(doc), "```yaml\n"+body+"```\n") {
		t.Errorf("docs/go.md does not show %s from name: to its end in one yaml block: copy it again", ownRelayScenario)
	}
}
