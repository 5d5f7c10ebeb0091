package harness_test

import (
	"bytes"
	"context"
	"html"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

// silent is a relay that does not declare that it reports its decisions,
// as an external MTA: the reference relay, its ReportsDecisions hidden.
type silent struct{ harness.Relay }

// runYAML runs a scenario written inline and returns its result, which
// must be a failure.
func runYAML(t *testing.T, src string, relay harness.Relay) report.Result {
	t.Helper()
	sc, err := scenarios.Parse("explain.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res := harness.Run(context.Background(), sc, harness.RunOptions{Relay: relay})
	if res.Verdict != report.Fail || len(res.Failures) == 0 {
		t.Fatalf("verdict %s (%s), want a failure", res.Verdict, res.Reason)
	}
	return res
}

const servfailBounce = `
name: explain-servfail
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
    faults: [{name: example.test, type: MX, kind: servfail}]
hosts:
  mx1.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {dns_query: {name: example.test, type: MX}, within: 5s}
  - expect: {bounce: {to: alice@origin.test}, within: 3s}
`

// TestFailureSaysRelayDeferred: a bounce expected where the DNS answers
// SERVFAIL fails against the reference relay, which defers; the reason
// says so with the relay's code and text, and the same reason reaches
// the progress line, the JUnit message and the HTML report.
func TestFailureSaysRelayDeferred(t *testing.T) {
	t.Parallel()
	res := runYAML(t, servfailBounce, harness.Reference(harness.ReferenceConfig{}))
	t.Logf("reason: %s", res.Why())
	f := res.Failures[0]
	want := "bob@example.test: the relay deferred it: 451 4.4.3"
	if !strings.Contains(f.Actual, want) || !strings.Contains(f.Actual, "no bounce to alice@origin.test") {
		t.Fatalf("actual %q, want it to say %q", f.Actual, want)
	}
	if strings.Contains(f.Actual, "does not report") {
		t.Errorf("the reference relay reports its decisions: %q", f.Actual)
	}
	var progress, junit, page bytes.Buffer
	report.Progress(&progress, res)
	if err := report.WriteJUnit(&junit, "explain", []report.Result{res}); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteHTML(&page, "explain", []report.Result{res}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"progress": progress.String(), "junit": junit.String(), "html": html.UnescapeString(page.String())} {
		if !strings.Contains(out, want) {
			t.Errorf("%s output does not carry the relay's decision %q:\n%s", name, want, out)
		}
	}
	if !strings.Contains(junit.String(), `message="explain.yaml:`) || !strings.Contains(junit.String(), "the relay deferred it") {
		t.Errorf("JUnit failure message: %s", junit.String())
	}
}

// TestFailureSaysRelayDoesNotReport: the same failure against a relay
// that does not report its decisions says so honestly, and tells what the
// hosts saw (here nothing).
func TestFailureSaysRelayDoesNotReport(t *testing.T) {
	t.Parallel()
	res := runYAML(t, servfailBounce, silent{harness.Reference(harness.ReferenceConfig{})})
	f := res.Failures[0]
	if !strings.Contains(f.Actual, "bob@example.test: this relay does not report its decisions, and no host saw this recipient") {
		t.Fatalf("actual %q", f.Actual)
	}
	if strings.Contains(f.Actual, "deferred") {
		t.Errorf("reads the relay's decision although it does not declare reporting: %q", f.Actual)
	}
}

// TestFailureSaysRelayBouncedOrDelivered: the relay's last decision, a
// bounce with the host's reply or a delivery and where; a silent relay
// gets what the hosts saw.
func TestFailureSaysRelayBouncedOrDelivered(t *testing.T) {
	t.Parallel()
	const bounced = `
name: explain-bounced
dns:
  example.test: {mx: [{pref: 10, host: mx1.example.test}]}
hosts:
  mx1.example.test: {replies: {rcpt: [{reply: "550 5.1.1 no such user"}]}}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {bounce: {to: alice@origin.test}, within: 5s}
  - expect: {delivered: {to: bob@example.test}, within: 100ms}
`
	res := runYAML(t, bounced, harness.Reference(harness.ReferenceConfig{}))
	if a := res.Failures[0].Actual; !strings.Contains(a, "bob@example.test: the relay bounced it: 550 5.1.1 no such user") {
		t.Errorf("bounced: actual %q", a)
	}
	res = runYAML(t, bounced, silent{harness.Reference(harness.ReferenceConfig{})})
	if a := res.Failures[0].Actual; !strings.Contains(a, "this relay does not report its decisions; at the hosts: mx1.example.test answered 550 5.1.1 no such user to RCPT") {
		t.Errorf("bounced, silent relay: actual %q", a)
	}

	const delivered = `
name: explain-delivered
dns:
  example.test: {mx: [{pref: 10, host: mx1.example.test}, {pref: 20, host: mx2.example.test}]}
hosts:
  mx1.example.test: {state: down}
  mx2.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test}, within: 5s}
  # The relay reports the delivery before its QUIT: after the 221, the
  # journal holds the decision.
  - expect: {reply: {code: 221, at: mx2.example.test}, within: 5s}
  - expect: {not_delivered: {to: bob@example.test}, for: 100ms}
`
	res = runYAML(t, delivered, harness.Reference(harness.ReferenceConfig{}))
	if a := res.Failures[0].Actual; !strings.Contains(a, "bob@example.test: the relay delivered it at mx2.example.test") {
		t.Errorf("delivered: actual %q", a)
	}
}

// TestDownHostNoteOnlyForSilentRelays: the note that a host that is down
// is seen only through the relay's reports appears for a relay that does
// not report, never for one that does.
func TestDownHostNoteOnlyForSilentRelays(t *testing.T) {
	t.Parallel()
	const src = `
name: explain-down
dns:
  example.test: {mx: [{pref: 10, host: mx1.example.test}, {pref: 20, host: mx2.example.test}]}
hosts:
  mx1.example.test: {state: down}
  mx2.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test}, within: 5s}
  - expect: {attempted: [mx2.example.test, mx1.example.test], within: 200ms}
`
	res := runYAML(t, src, harness.Reference(harness.ReferenceConfig{}))
	if a := res.Failures[0].Actual; strings.Contains(a, "note:") || strings.Contains(a, "does not report") {
		t.Errorf("reference relay: actual %q has the note for relays that report nothing", a)
	}
	res = runYAML(t, src, silent{harness.Reference(harness.ReferenceConfig{})})
	if a := res.Failures[0].Actual; !strings.Contains(a, "note: mx1.example.test is down") || !strings.Contains(a, "this relay does not report its decisions") {
		t.Errorf("silent relay: actual %q, want the note", a)
	}
}
