package harness

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// t0 is the start of the synthetic journals below; at(d) is d after it.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func submitted(d time.Duration, sub, sendID string) journal.Event {
	h := map[string][]string{SubmissionHeader: {sub}}
	if sendID != "" {
		h[idHeader] = []string{sendID}
	}
	return journal.Event{Kind: journal.KindClientSubmit, Time: at(d), Source: "client", Message: &journal.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, Headers: h}}
}

func delivered(d time.Duration, host, sub, sendID string) journal.Event {
	raw := "From: alice@origin.test\r\n" + SubmissionHeader + ": " + sub + "\r\n"
	if sendID != "" {
		raw += idHeader + ": " + sendID + "\r\n"
	}
	return journal.Event{Kind: journal.KindSMTPMessage, Time: at(d), Source: host, Message: &journal.Message{
		From: "alice@origin.test", To: []string{"bob@example.test"}, Raw: []byte(raw + "\r\nhi\r\n"),
		Headers: map[string][]string{SubmissionHeader: {sub}},
	}}
}

func connected(d time.Duration, host, session string) journal.Event {
	return journal.Event{Kind: journal.KindSMTPConnect, Time: at(d), Source: host, Session: session}
}

func refusedAt(d time.Duration, host string) journal.Event {
	return journal.Event{Kind: journal.KindSMTPRefused, Time: at(d), Source: host}
}

// wantErr fails t unless err matches want: "" for nil, else a part of
// its text.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}

func TestDeliveredNotBefore(t *testing.T) {
	const mx1 = "mx1.example.test"
	for _, c := range []struct {
		name   string
		events []journal.Event
		id     string
		want   string
	}{
		{"after the wait", []journal.Event{submitted(0, "s1", ""), delivered(2500*time.Millisecond, mx1, "s1", "")}, "", ""},
		{"exactly at the bound", []journal.Event{submitted(time.Second, "s1", ""), delivered(3*time.Second, mx1, "s1", "")}, "", ""},
		{"too soon", []journal.Event{submitted(0, "s1", ""), delivered(410*time.Millisecond, mx1, "s1", "")}, "",
			"the message to bob@example.test was delivered at mx1.example.test 0.41s after the relay accepted its submission, expected not before 2s"},
		// Each delivery is measured from its own submission.
		{"two messages, the second too soon", []journal.Event{submitted(0, "s1", ""), submitted(3*time.Second, "s2", ""),
			delivered(3100*time.Millisecond, mx1, "s2", ""), delivered(3200*time.Millisecond, mx1, "s1", "")}, "", "0.1s after"},
		{"only the named message counts", []journal.Event{submitted(0, "s1", "first"), submitted(0, "s2", "second"),
			delivered(100*time.Millisecond, mx1, "s2", "second"), delivered(2*time.Second, mx1, "s1", "first")}, "first", ""},
		{"the named message too soon", []journal.Event{submitted(0, "s1", "first"), delivered(time.Second, mx1, "s1", "first")}, "first",
			"(message first) was delivered at mx1.example.test 1s after"},
		{"submitted elsewhere", []journal.Event{delivered(3*time.Second, mx1, "other", "")}, "", "cannot tell when"},
		{"a refused submission is none", []journal.Event{func() journal.Event {
			e := submitted(0, "s1", "")
			e.Err = "SMTP error 554"
			return e
		}(), delivered(3*time.Second, mx1, "s1", "")}, "", "cannot tell when"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := deliveredNotBefore(c.events, "bob@example.test", "", c.id, 2*time.Second)
			wantErr(t, err, c.want)
			if err != nil && !isSettled(err) {
				t.Errorf("a delivery too soon is settled: no later event undoes it")
			}
		})
	}
	// Through the journal: nothing delivered yet is not settled (the
	// wait goes on).
	j := journal.New()
	err := CheckDeliveredNotBefore(j, "bob@example.test", "", time.Second)
	wantErr(t, err, "not delivered")
	if isSettled(err) {
		t.Errorf("not delivered yet: %v is settled, want a wait", err)
	}
}

func TestAttemptsAtMost(t *testing.T) {
	const mx1, mx2 = "mx1.example.test", "mx2.example.test"
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	hammer := []journal.Event{connected(0, mx1, "#1"), connected(ms(100), mx1, "#2"), refusedAt(ms(200), mx1), connected(ms(300), mx1, "#3")}
	paced := []journal.Event{connected(0, mx1, "#1"), connected(ms(1000), mx1, "#2"), connected(ms(2000), mx1, "#3")}
	for _, c := range []struct {
		name   string
		events []journal.Event
		max    int
		within time.Duration
		want   string
	}{
		{"hammering", hammer, 2, time.Second, "3 connections to mx1.example.test within 0.2s (at 0s, 0.1s, 0.2s into the run), more than the 2 allowed in 1s"},
		{"paced", paced, 1, time.Second, ""},
		{"a span is half-open", paced, 1, 1000*time.Millisecond + 1, "2 connections"},
		{"in all", paced, 2, 0, "3 connections to mx1.example.test (at 0s, 1s, 2s into the run), more than the 2 allowed"},
		{"none allowed", []journal.Event{connected(0, mx1, "#1")}, 0, 0, "1 connections"},
		{"another host", append([]journal.Event{}, connected(0, mx2, "#1"), connected(ms(1), mx2, "#2")), 1, time.Second, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, attemptsAtMost(c.events, t0, mx1, c.max, c.within), c.want)
		})
	}
}

func TestAttemptsNotBefore(t *testing.T) {
	const mx1, mx2 = "mx1.example.test", "mx2.example.test"
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, c := range []struct {
		name   string
		events []journal.Event
		id     string
		want   string
	}{
		{"failover too soon", []journal.Event{submitted(0, "s1", ""), connected(ms(10), mx1, "mx1#1"), connected(ms(400), mx2, "mx2#1")}, "",
			"a connection to mx2.example.test (session mx2#1) came 0.4s after the submission, expected not before 2s"},
		{"failover after the wait", []journal.Event{submitted(0, "s1", ""), connected(ms(10), mx1, "mx1#1"), connected(ms(2100), mx2, "mx2#1")}, "", ""},
		{"refused counts", []journal.Event{submitted(0, "s1", ""), refusedAt(ms(5), mx2)}, "", "(refused) came"},
		{"before any submission", []journal.Event{connected(0, mx2, "mx2#1"), submitted(ms(10), "s1", "")}, "", ""},
		// Without a message: from the last submission before the connection.
		{"the last submission", []journal.Event{submitted(0, "s1", ""), submitted(ms(2500), "s2", ""), connected(ms(2600), mx2, "mx2#1")}, "", "0.1s after the submission"},
		{"from the named message", []journal.Event{submitted(0, "s1", "first"), submitted(ms(2500), "s2", "second"), connected(ms(2600), mx2, "mx2#1")}, "first", ""},
		{"the named message too soon", []journal.Event{submitted(0, "s1", "first"), connected(ms(600), mx2, "mx2#1")}, "first", "after the submission of message first"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, attemptsNotBefore(c.events, mx2, c.id, 2*time.Second), c.want)
		})
	}
}

// runScenario runs a scenario file of testdata/scenarios against the
// reference relay, with a planted bug when variant is not "".
func runScenario(t *testing.T, file, variant string) report.Result {
	t.Helper()
	sc, err := scenarios.Load(os.DirFS("../testdata/scenarios"), file)
	if err != nil {
		t.Fatal(err)
	}
	// The relay the scenario describes (its retry interval), with the bug.
	return Run(context.Background(), sc, RunOptions{Configure: func(cfg *ReferenceConfig) { cfg.Variant = variant }})
}

// TestTimingCatchesEarlyRetry: the timing expectations of
// retry-not-too-soon hold for the reference relay and fail for its
// variant that retries at once, naming how soon the delivery came.
func TestTimingCatchesEarlyRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the relay for seconds")
	}
	if res := runScenario(t, "retry-not-too-soon.yaml", ""); res.Verdict != report.Pass {
		t.Fatalf("reference relay: %s (%s), want pass", res.Verdict, res.Reason)
	}
	res := runScenario(t, "retry-not-too-soon.yaml", "retries-at-once")
	if res.Verdict != report.Fail || len(res.Failures) == 0 {
		t.Fatalf("retries-at-once: %s (%s), want a failure", res.Verdict, res.Reason)
	}
	f := res.Failures[0]
	for _, want := range []string{"after the relay accepted its submission, expected not before 1s", "more than the 1 allowed in 1s"} {
		if !strings.Contains(f.Actual, want) {
			t.Errorf("failure %q does not say %q", f.Actual, want)
		}
	}
	if !strings.HasSuffix(f.Pos, ":24:5") {
		t.Errorf("failure at %s, want the delivered step at line 24", f.Pos)
	}
}

// TestConditionWithin: a condition's own within bounds its wait, not the
// step's, and the failure names it.
func TestConditionWithin(t *testing.T) {
	const src = `name: own-within
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect:
      delivered: {to: bob@example.test, within: 5s}
      reply: {at: mx1.example.test, code: 554, within: 300ms}
      within: 1m
`
	sc, err := scenarios.Parse("own-within.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := Run(context.Background(), sc, RunOptions{})
	if res.Verdict != report.Fail || len(res.Failures) == 0 {
		t.Fatalf("%s (%s), want a failure", res.Verdict, res.Reason)
	}
	if f := res.Failures[0]; f.Expected != "reply 554 at mx1.example.test within 300ms" {
		t.Errorf("expected %q, want the reply's own within", f.Expected)
	}
	if d := time.Since(start); d > 50*time.Second {
		t.Errorf("took %v: the step's within (1m) was waited out", d)
	}
}
