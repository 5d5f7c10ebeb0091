package harness_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

// Run two cases of the conformance library against the reference relay
// configured for opportunistic TLS: the TLS-verify case does not apply.
func ExampleConformance() {
	all, err := scenarios.LoadConformance(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	cases, err := scenarios.SelectCases(all, "MX-006", "TLS-004")
	if err != nil {
		fmt.Println(err)
		return
	}
	profile := harness.Profile{TLS: scenarios.TLSMay}
	for _, r := range harness.Conformance(context.Background(), cases, profile, harness.ConformanceOptions{Parallel: 2}) {
		fmt.Println(strings.TrimSpace(fmt.Sprint(r.ID, " ", r.Level, " ", r.Verdict, " ", r.Reason)))
	}
	// Output:
	// MX-006 MUST pass
	// TLS-004 MUST not-applicable needs TLS policy verify; the relay is configured for may
}
