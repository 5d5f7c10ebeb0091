package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/mxsim/mxsim/journal"
)

// TestTimeMatchers: HaveDeliveredNotBefore fails for a delivery that came
// too soon, and Eventually stops polling at once (the failure is for
// good); HaveAttemptedAtMost counts connections in a span.
func TestTimeMatchers(t *testing.T) {
	var failure string
	g := gomega.NewGomega(func(msg string, _ ...int) { failure = msg })

	j := journal.New()
	j.Append(submitted(0, "s1", ""))
	d := delivered(0, "mx1.example.test", "s1", "")
	j.Append(d) // Append stamps it now: a few microseconds after the submission
	start := time.Now()
	ok := g.Eventually(j).WithTimeout(30 * time.Second).WithPolling(10 * time.Millisecond).
		Should(HaveDeliveredNotBefore("bob@example.test", "", time.Hour))
	if ok || !strings.Contains(failure, "expected not before 1h0m0s") {
		t.Fatalf("ok %v, failure %q: want a failure naming the bound", ok, failure)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("Eventually polled for %v: a settled failure should stop it", el)
	}
	failure = ""
	if !g.Expect(j).To(HaveDeliveredNotBefore("bob@example.test", "mx1.example.test", 0)) {
		t.Errorf("not_before 0: %s", failure)
	}

	for range 3 {
		j.Append(connected(0, "mx2.example.test", "mx2#1"))
	}
	if !g.Expect(j).To(HaveAttemptedAtMost("mx2.example.test", 3, time.Hour)) {
		t.Errorf("3 connections, at most 3: %s", failure)
	}
	if g.Expect(j).To(HaveAttemptedAtMost("mx2.example.test", 2, time.Hour)) || !strings.Contains(failure, "more than the 2 allowed in 1h0m0s") {
		t.Errorf("3 connections, at most 2: failure %q", failure)
	}
}
