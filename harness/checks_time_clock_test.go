package harness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// runTimed runs a scenario file of testdata/scenarios like runScenario,
// under a generous timeout, and logs how long it took (indicative only:
// the machine may be loaded).
func runTimed(t *testing.T, file, variant string) report.Result {
	t.Helper()
	start := time.Now()
	res := runScenario(t, file, variant)
	t.Logf("%s (variant %q): %s in %v of real time", file, variant, res.Verdict, time.Since(start).Round(time.Millisecond))
	return res
}

// TestVirtualClockGreylist: greylist-virtual-clock (a 10-minute
// greylist window, a relay that retries every 5 minutes, clock:
// virtual) passes against the reference relay without waiting the
// minutes out; the journal's times are the clock's: three connections
// 5 minutes apart, the delivery 10 minutes after the submission.
func TestVirtualClockGreylist(t *testing.T) {
	start := time.Now()
	res := runTimed(t, "greylist-virtual-clock.yaml", "")
	if res.Verdict != report.Pass {
		t.Fatalf("%s (%s), want pass", res.Verdict, res.Reason)
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("took %v of real time: the waits were not skipped", d)
	}
	var conns []journal.Event
	var sub, delivered time.Time
	for _, e := range res.Events {
		switch {
		case e.Kind == journal.KindSMTPConnect && e.Source == "mx1.example.test":
			conns = append(conns, e)
		case e.Kind == journal.KindClientSubmit:
			sub = e.Time
		case e.Kind == journal.KindSMTPMessage:
			delivered = e.Time
		}
	}
	if len(conns) != 3 {
		t.Fatalf("%d connections to mx1, want 3 (refused, refused, accepted)", len(conns))
	}
	for i := 1; i < len(conns); i++ {
		if gap := conns[i].Time.Sub(conns[i-1].Time); gap < 5*time.Minute || gap > 5*time.Minute+10*time.Second {
			t.Errorf("connections %d and %d are %v apart in the journal, want the retry interval, 5m", i, i+1, gap)
		}
	}
	if gap := delivered.Sub(sub); gap < 10*time.Minute || gap > 11*time.Minute {
		t.Errorf("delivered %v after the submission, want 10m and a little", gap)
	}
}

// TestVirtualClockCatchesEarlyRetry: the same scenario's timing
// expectations fail, at once, for the planted variant that retries a
// tenth of a second after a refusal: the failure names the connections
// and how soon they came, in the clock's time.
func TestVirtualClockCatchesEarlyRetry(t *testing.T) {
	res := runTimed(t, "greylist-virtual-clock.yaml", "retries-at-once")
	if res.Verdict != report.Fail || len(res.Failures) == 0 {
		t.Fatalf("retries-at-once: %s (%s), want a failure", res.Verdict, res.Reason)
	}
	f := res.Failures[0]
	t.Logf("failure at %s:\n  expected: %s\n  actual:   %s", f.Pos, f.Expected, f.Actual)
	// Within about 0.1s: the variant's delay, and the session's real time.
	if want := "2 connections to mx1.example.test within 0."; !strings.Contains(f.Actual, want) || !strings.Contains(f.Actual, "more than the 1 allowed in 4m0s") {
		t.Errorf("failure %q does not say %q and how many are allowed", f.Actual, want)
	}
	if !strings.HasSuffix(f.Pos, ":26:5") {
		t.Errorf("failure at %s, want the attempts step at line 26", f.Pos)
	}
}

// TestVirtualClockWaits: under clock: virtual a wait step of two hours
// and a condition's within are measured in the clock's time: the wait
// ends at once, journaled as a jump of the clock, and a delivery the
// relay would make only at its next retry, 5 minutes away, fails its
// within of 1 minute without a minute going by.
func TestVirtualClockWaits(t *testing.T) {
	const src = `name: virtual-waits
clock: virtual
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test:
    replies:
      rcpt: {reply: "451 4.3.0 busy", times: 1}
relay:
  retry_interval: 5m
steps:
  - wait: 2h
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect:
      delivered: {to: bob@example.test, within: 1m}
`
	sc, err := scenarios.Parse("virtual-waits.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	res := Run(ctx, sc, RunOptions{})
	t.Logf("%s in %v of real time: %s", res.Verdict, time.Since(start).Round(time.Millisecond), res.Reason)
	if res.Verdict != report.Fail || len(res.Failures) == 0 {
		t.Fatalf("%s (%s), want a failure", res.Verdict, res.Reason)
	}
	if f := res.Failures[0]; !strings.HasSuffix(f.Pos, ":15:5") || f.Expected != "delivered to bob@example.test within 1m0s" {
		t.Errorf("failure %s %q, want the delivered step's within of 1m", f.Pos, f.Expected)
	}
	var jumps []string
	for _, e := range res.Events {
		if e.Kind == journal.KindControl && strings.HasPrefix(e.Text, "clock: ") {
			jumps = append(jumps, e.Text)
		}
	}
	if len(jumps) == 0 || jumps[0] != "clock: moved on 2h0m0s, to the end of the step's wait" {
		t.Errorf("clock moves %q, want the wait's 2h first", jumps)
	}
	if last := res.Events[len(res.Events)-1].Time; last.Sub(res.Started) < 2*time.Hour {
		t.Errorf("last event %v into the run, want past the 2h wait", last.Sub(res.Started))
	}
}

// TestVirtualClockOption: RunOptions.VirtualClock runs a scenario
// written for the real time on the virtual clock (retry-not-too-soon,
// whose relay retries after 2s), and its expectations still hold.
func TestVirtualClockOption(t *testing.T) {
	sc, err := scenarios.LoadFile("../testdata/scenarios/retry-not-too-soon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), sc, RunOptions{VirtualClock: true})
	if res.Verdict != report.Pass {
		t.Fatalf("%s (%s), want pass", res.Verdict, res.Reason)
	}
	moved := false
	for _, e := range res.Events {
		moved = moved || e.Kind == journal.KindControl && strings.HasPrefix(e.Text, "clock: moved on")
	}
	if !moved {
		t.Error("the clock never moved: the option was not applied")
	}
}

// TestVirtualClockNeedsReference: only the reference relay runs under a
// virtual clock. Run says a scenario asking for it is not applicable to
// another relay; New refuses a Config that asks for it with another
// relay, naming the field.
func TestVirtualClockNeedsReference(t *testing.T) {
	sc, err := scenarios.LoadFile("../testdata/scenarios/greylist-virtual-clock.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ext := External(ExternalConfig{Submit: "127.0.0.1:1"})
	res := Run(context.Background(), sc, RunOptions{Relay: ext, RelayName: "external"})
	if res.Verdict != report.NotApplicable || !strings.Contains(res.Reason, "only the reference relay") {
		t.Errorf("%s (%s), want not applicable: only the reference relay keeps a virtual clock", res.Verdict, res.Reason)
	}
	_, err = New(context.Background(), Config{VirtualClock: true, Relay: ext})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "VirtualClock") {
		t.Errorf("New: %v, want a bad config naming VirtualClock", err)
	}
}

// TestVirtualClockFromGo: Config.VirtualClock in Go. A host that
// greylists for 30 minutes and a relay that retries every 20: Env.Wait
// (WaitDelivered) moves the clock, so the delivery comes at the second
// retry, 40 minutes in the network's time, at once in real time. A
// host's rate window is on the same clock: of two messages in a row to
// a host that takes one an hour, the second is refused until the hour
// has passed.
func TestVirtualClockFromGo(t *testing.T) {
	env := Start(t, Config{
		Zones: []fakedns.Zone{
			{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test."}}},
			{Name: "rate.test", Records: map[string][]string{"@": {"MX 10 mx1.rate.test."}}},
		},
		Hosts: []Host{
			{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{Greylist: &fakesmtp.Greylist{Window: 30 * time.Minute}}},
			{Name: "mx1.rate.test", Behavior: fakesmtp.Behavior{Limits: fakesmtp.Limits{MessagesPerClient: &fakesmtp.RateLimit{Count: 1, Per: time.Hour}}}},
		},
		Relay:        Reference(ReferenceConfig{RetryInterval: 20 * time.Minute, MaxLifetime: 24 * time.Hour}),
		VirtualClock: true,
	})
	if env.Clock() == nil {
		t.Fatal("no virtual clock")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	send := func(from, to string) time.Time {
		t.Helper()
		at := env.Clock().Now()
		if err := env.Send(ctx, Message{From: from, To: []string{to}}); err != nil {
			t.Fatal(err)
		}
		return at
	}
	deliveredAt := func(to string, n int) time.Time {
		t.Helper()
		var times []time.Time
		for _, e := range env.Journal().Events(journal.OfKind(journal.KindSMTPMessage)) {
			if hasRecipient(e.Message, to) {
				times = append(times, e.Time)
			}
		}
		if len(times) != n {
			t.Fatalf("%d messages to %s, want %d", len(times), to, n)
		}
		return times[n-1]
	}

	start := time.Now()
	submitted := send("alice@origin.test", "bob@example.test")
	if err := env.WaitDelivered(ctx, 2*time.Hour, "bob@example.test", "mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	at := deliveredAt("bob@example.test", 1).Sub(submitted)
	if at < 40*time.Minute || at > 41*time.Minute {
		t.Errorf("delivered %v after the submission, want at the second retry, 40m", at)
	}
	t.Logf("greylisted: delivered at %v of the network's time, in %v of real time", at.Round(time.Second), time.Since(start).Round(time.Millisecond))

	send("alice@origin.test", "carol@rate.test")
	if err := env.WaitDelivered(ctx, time.Minute, "carol@rate.test", "mx1.rate.test"); err != nil {
		t.Fatal(err)
	}
	first := deliveredAt("carol@rate.test", 1)
	send("alice@origin.test", "dave@rate.test")
	if err := env.WaitDelivered(ctx, 3*time.Hour, "dave@rate.test", "mx1.rate.test"); err != nil {
		t.Fatal(err)
	}
	if gap := deliveredAt("dave@rate.test", 1).Sub(first); gap < time.Hour || gap > time.Hour+time.Minute {
		t.Errorf("second message %v after the first, want at the first retry after the 1h window, 1h", gap)
	}
	if err := CheckReplied(env.Journal(), "mx1.rate.test", 421); err != nil {
		t.Errorf("the rate limit never refused: %v", err)
	}
	t.Logf("in all %v of the network's time in %v of real time", env.Clock().Skipped().Round(time.Second), time.Since(start).Round(time.Millisecond))
}

// TestVirtualClockStopsHammering: under a virtual clock a step's
// negative condition that fails ends its wait for the positive ones: the
// variant that retries every tenth of a second fails on attempts after
// its first retry, rather than being moved on through the 6000 retries
// of a 10-minute greylist window.
func TestVirtualClockStopsHammering(t *testing.T) {
	const src = `name: one-step
clock: virtual
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test:
    greylist: {window: 10m}
relay:
  retry_interval: 5m
  max_lifetime: 1h
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect:
      delivered: {to: bob@example.test, not_before: 10m, within: 15m}
      attempts: {at: mx1.example.test, max: 1, within: 4m}
`
	sc, err := scenarios.Parse("one-step.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if res := Run(ctx, sc, RunOptions{}); res.Verdict != report.Pass {
		t.Fatalf("reference relay: %s (%s), want pass", res.Verdict, res.Reason)
	}
	res := Run(ctx, sc, RunOptions{Configure: func(cfg *ReferenceConfig) { cfg.Variant = "retries-at-once" }})
	if res.Verdict != report.Fail || len(res.Failures) == 0 {
		t.Fatalf("retries-at-once: %s (%s), want a failure", res.Verdict, res.Reason)
	}
	if f := res.Failures[0]; f.Expected != "at most 1 connections to mx1.example.test within 4m0s" {
		t.Errorf("failure %q: %s, want the attempts condition", f.Expected, f.Actual)
	}
	n := 0
	for _, e := range res.Events {
		if e.Kind == journal.KindSMTPConnect {
			n++
		}
	}
	if n > 5 {
		t.Errorf("%d connections before the step failed, want it to end at the second", n)
	}
}
