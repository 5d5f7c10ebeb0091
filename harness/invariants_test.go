package harness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// TestInvariantCatchesResend runs testdata/failing/resends-to-accepted.yaml
// against the correct reference relay, which must pass it, and against the
// variant that re-sends to recipients already accepted, which must fail on
// the at-most-once invariant with both deliveries named.
func TestInvariantCatchesResend(t *testing.T) {
	sc, err := scenarios.LoadFile("../testdata/failing/resends-to-accepted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if res := Run(context.Background(), sc, RunOptions{Relay: Reference(ReferenceConfig{})}); res.Verdict != report.Pass {
		t.Fatalf("correct relay: %s: %s", res.Verdict, res.Reason)
	}
	res := Run(context.Background(), sc, RunOptions{Relay: Reference(ReferenceConfig{Variant: "resends-accepted"})})
	if res.Verdict != report.Fail || len(res.Failures) != 1 {
		t.Fatalf("variant: %s: %s (%d failures), want one failure", res.Verdict, res.Reason, len(res.Failures))
	}
	f := res.Failures[0]
	t.Logf("%s: %s: %s", f.Pos, f.Step, f.Actual)
	for _, want := range []string{"invariant at_most_once", "delivered to ok@example.test twice",
		"first at mx1.example.test in session mx1.example.test#1", "again at mx1.example.test in session mx1.example.test#2"} {
		if !strings.Contains(f.Step+" "+f.Actual, want) {
			t.Errorf("failure lacks %q:\n%s: %s", want, f.Step, f.Actual)
		}
	}
	if !strings.HasPrefix(f.Pos, "../testdata/failing/resends-to-accepted.yaml") {
		t.Errorf("failure at %q, want the scenario file", f.Pos)
	}
}

// session appends a delivery session's events to j: the message to rcpts
// with submission id, the host's reply to the final dot, then what came
// after it ("QUIT", a disconnect reason, or "" for nothing yet).
func session(j *journal.Journal, host, sess, id string, code int, after string, rcpts ...string) {
	j.Append(journal.Event{Kind: journal.KindSMTPMessage, Source: host, Session: sess,
		Message: &journal.Message{From: "alice@origin.test", To: rcpts, Headers: map[string][]string{SubmissionHeader: {id}}}})
	j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: host, Session: sess, Code: code, Text: fmt.Sprintf("%d ok", code)})
	switch {
	case after == "":
	case after == "QUIT":
		j.Append(journal.Event{Kind: journal.KindSMTPCommand, Source: host, Session: sess, Text: "QUIT"})
		j.Append(journal.Event{Kind: journal.KindSMTPDisconnect, Source: host, Session: sess, Text: "disconnect: client closed connection"})
	default:
		j.Append(journal.Event{Kind: journal.KindSMTPDisconnect, Source: host, Session: sess, Text: "disconnect: " + after})
	}
}

// TestDeliveriesCountOnlyWhatTheRelayCouldSee: a message counts when the
// host said 2yz and the relay then talked on, the host closed, or the
// session is still open; not when the relay left right after the 250 or
// the host refused at the final dot. Two deliveries that count are a
// duplicate; one that does not, followed by one that does, is not.
func TestDeliveriesCountOnlyWhatTheRelayCouldSee(t *testing.T) {
	cases := []struct {
		name  string
		first func(j *journal.Journal)
		dup   bool
	}{
		{"quit after the 250", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m1", 250, "QUIT", "bob@example.test")
		}, true},
		{"closed by the host", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m1", 250, "closed by host", "bob@example.test")
		}, true},
		{"still open", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m1", 250, "", "bob@example.test")
		}, true},
		{"relay left after the 250", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m1", 250, "client closed connection", "bob@example.test")
		}, false},
		{"relay timed out", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m1", 250, "idle timeout", "bob@example.test")
		}, false},
		{"250 not written", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m1", 250, "write failed: broken pipe", "bob@example.test")
		}, false},
		{"refused at the dot", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m1", 451, "QUIT", "bob@example.test")
		}, false},
		{"another recipient", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m1", 250, "QUIT", "carol@example.test")
		}, false},
		{"another message", func(j *journal.Journal) {
			session(j, "mx1.example.test", "mx1.example.test#1", "m2", 250, "QUIT", "bob@example.test")
		}, false},
	}
	for _, c := range cases {
		j := journal.New()
		c.first(j)
		session(j, "mx2.example.test", "mx2.example.test#1", "m1", 250, "QUIT", "bob@example.test", "dave@example.test")
		err := CheckAtMostOnce(j)
		switch {
		case c.dup && err == nil:
			t.Errorf("%s: no duplicate found", c.name)
		case c.dup && !strings.Contains(err.Error(), "first at mx1.example.test in session mx1.example.test#1") ||
			c.dup && !strings.Contains(err.Error(), "again at mx2.example.test in session mx2.example.test#1"):
			t.Errorf("%s: %v, want both deliveries named", c.name, err)
		case !c.dup && err != nil:
			t.Errorf("%s: false duplicate: %v", c.name, err)
		}
		want := 1
		if c.dup || c.name == "another message" {
			want = 2
		}
		if err := CheckDeliveredCount(j, "bob@example.test", "", want); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestCheckAccountedFor(t *testing.T) {
	submit := func(j *journal.Journal, id, errText string, to ...string) {
		j.Append(journal.Event{Kind: journal.KindClientSubmit, Source: "client", Err: errText,
			Message: &journal.Message{From: "alice@origin.test", To: to, Headers: map[string][]string{SubmissionHeader: {id}}}})
	}
	j := journal.New()
	submit(j, "m1", "", "bob@example.test", "carol@example.test", "dave@example.test", "erin@example.test")
	submit(j, "m2", "harness: submit: RCPT TO:<x@example.test>: 550 no", "x@example.test")
	session(j, "mx1.example.test", "mx1.example.test#1", "m1", 250, "client closed connection", "bob@example.test")
	j.Append(journal.Event{Kind: journal.KindRelayBounce, Source: "relay", Text: "id=1 to=carol@example.test: 550 no such user"})
	queue := []QueuedRecipient{{From: "alice@origin.test", To: "dave@example.test"}, {From: "alice@origin.test", To: "erin@example.test", Submission: "m9"}}
	err := CheckAccountedFor(j, queue)
	if err == nil || !strings.Contains(err.Error(), "erin@example.test (message m1") || strings.Count(err.Error(), "@example.test (") != 1 {
		t.Fatalf("got %v, want erin alone unaccounted for (bob delivered, carol bounced, dave queued, x refused)", err)
	}
	queue[1].Submission = "m1"
	if err := CheckAccountedFor(j, queue); err != nil {
		t.Fatal(err)
	}
}

func TestMentions(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"id=1 to=bob@example.test: 451", true},
		{"<BOB@example.test>", true},
		{"bob@example.test.", true},
		{"id=1 to=jimbob@example.test: 451", false},
		{"bob@example.test.uk", false},
		{"bob@example.testing", false},
	} {
		if got := mentions(c.text, "bob@example.test"); got != c.want {
			t.Errorf("mentions(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

// noQueue hides the reference relay's queue: a relay that cannot list it.
type noQueue struct{ Relay }

func runYAML(t *testing.T, src string, relay Relay) report.Result {
	t.Helper()
	sc, err := scenarios.Parse("inline.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), sc, RunOptions{Relay: relay})
}

const greylistOnce = `name: greylist-once
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test:
    replies:
      rcpt: {reply: "451 4.3.0 try again later", times: 1}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - wait: {until: {reply: {at: mx1.example.test, code: 451, stage: rcpt}}, timeout: 5s}
  - flush: {}
`

// TestAccountedForEndToEnd: a relay that drops a deferred message fails
// the invariant, though no step asks for the delivery; the correct relay
// passes; a relay that cannot list its queue is not judged (the journal
// says so); a scenario may turn the invariant off, with a reason.
func TestAccountedForEndToEnd(t *testing.T) {
	res := runYAML(t, greylistOnce, Reference(ReferenceConfig{}))
	if res.Verdict != report.Pass {
		t.Errorf("correct relay: %s: %s", res.Verdict, res.Reason)
	}
	res = runYAML(t, greylistOnce, Reference(ReferenceConfig{Variant: "never-retries"}))
	if res.Verdict != report.Fail || !strings.Contains(res.Reason, "neither delivered, bounced nor queued") || !strings.Contains(res.Reason, "bob@example.test (message ") {
		t.Errorf("never-retries: %s: %s, want the accounted_for invariant to fail", res.Verdict, res.Reason)
	}
	res = runYAML(t, greylistOnce, noQueue{Reference(ReferenceConfig{Variant: "never-retries"})})
	if res.Verdict != report.Pass || !hasControl(res, "invariant accounted_for not judged: this relay cannot list its queue") {
		t.Errorf("relay without a queue listing: %s: %s, want a pass with a note", res.Verdict, res.Reason)
	}
	off := strings.Replace(greylistOnce, "steps:", "invariants:\n  accounted_for: {off: true, reason: drops on purpose}\nsteps:", 1)
	res = runYAML(t, off, Reference(ReferenceConfig{Variant: "never-retries"}))
	if res.Verdict != report.Pass || !hasControl(res, "invariant accounted_for turned off by the scenario: drops on purpose") {
		t.Errorf("opted out: %s: %s, want a pass with a note", res.Verdict, res.Reason)
	}
}

func hasControl(res report.Result, text string) bool {
	if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, text) }) {
		return false // every report shows the notes; the journal alone is not enough
	}
	for _, e := range res.Events {
		if e.Kind == journal.KindControl && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

// TestConditionsCountQueuedDeferred runs the new conditions both ways.
func TestConditionsCountQueuedDeferred(t *testing.T) {
	cases := []struct {
		expect string
		relay  Relay
		want   string // "" pass, else in the reason
	}{
		{"{deferred: {to: bob@example.test, code: 451}, queued: {to: bob@example.test}}", nil, ""},
		{"{deferred: {to: bob@example.test, code: 452}, within: 1s}", nil, "bob@example.test deferred with 451 (relay), 451 at mx1.example.test, want 452"},
		{"{deferred: {to: carol@example.test}, within: 1s}", nil, "carol@example.test not deferred"},
		{"{queued: {to: carol@example.test}, within: 1s}", nil, "carol@example.test not queued; the relay's queue holds bob@example.test"},
		{"{queued: {to: bob@example.test}}", noQueue{Reference(ReferenceConfig{})}, "this relay cannot list its queue"},
	}
	for _, c := range cases {
		src := strings.Replace(greylistOnce, "  - flush: {}\n", "  - expect: "+c.expect+"\n", 1)
		relay := c.relay
		if relay == nil {
			relay = Reference(ReferenceConfig{})
		}
		res := runYAML(t, src, relay)
		switch {
		case c.want == "" && res.Verdict != report.Pass:
			t.Errorf("%s: %s: %s", c.expect, res.Verdict, res.Reason)
		case c.want != "" && (res.Verdict != report.Fail || !strings.Contains(res.Reason, c.want)):
			t.Errorf("%s: %s: %s, want a failure saying %q", c.expect, res.Verdict, res.Reason, c.want)
		}
	}
	for _, c := range []struct {
		count int
		want  string
	}{{1, ""}, {2, "bob@example.test delivered 1 times, want 2: at mx1.example.test in session mx1.example.test#2"}} {
		src := greylistOnce + fmt.Sprintf("  - expect: {delivered: {to: bob@example.test, count: %d}, within: 1s}\n", c.count)
		res := runYAML(t, src, Reference(ReferenceConfig{}))
		switch {
		case c.want == "" && res.Verdict != report.Pass:
			t.Errorf("count %d: %s: %s", c.count, res.Verdict, res.Reason)
		case c.want != "" && (res.Verdict != report.Fail || !strings.Contains(res.Reason, c.want)):
			t.Errorf("count %d: %s: %s, want a failure saying %q", c.count, res.Verdict, res.Reason, c.want)
		}
	}
}

// TestRelayTimeoutAtEndOfDataIsNoDuplicate: the host delays its reply to
// the final dot past the relay's command timeout; the relay gives up and
// later delivers again (RFC 1047). That is no duplicate.
func TestRelayTimeoutAtEndOfDataIsNoDuplicate(t *testing.T) {
	src := `name: slow-dot
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test:
    delays: {end_of_data: 1500ms}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - wait: {until: {deferred: {to: bob@example.test}}, timeout: 5s}
  - set: {host: mx1.example.test, delays: {end_of_data: 0s}}
  - flush: {}
  - expect: {delivered: {to: bob@example.test, count: 1}, within: 5s}
`
	res := runYAML(t, src, Reference(ReferenceConfig{Timeout: 500 * time.Millisecond}))
	if res.Verdict != report.Pass {
		t.Fatalf("%s: %s", res.Verdict, res.Reason)
	}
}

// TestInvariantsFromGo: the matchers and Env.AccountedFor, on the correct
// relay and on the variant that re-sends.
func TestInvariantsFromGo(t *testing.T) {
	for _, variant := range []string{"", "resends-accepted"} {
		g := gomega.NewWithT(t)
		env, err := New(context.Background(), Config{
			Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test."}}}},
			Hosts: []Host{{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{Replies: fakesmtp.Replies{
				Rcpt: []fakesmtp.Rule{{Match: "busy@example.test", Reply: fakesmtp.Reply{Code: 452, Text: "mailbox full", Times: 1}}}}}}},
			Relay: Reference(ReferenceConfig{Variant: variant}),
		})
		g.Expect(err).NotTo(gomega.HaveOccurred())
		ctx := context.Background()
		g.Expect(env.Send(ctx, Message{From: "alice@origin.test", To: []string{"ok@example.test", "busy@example.test"}})).To(gomega.Succeed())
		g.Eventually(env).WithTimeout(5 * time.Second).Should(HaveDelivered("ok@example.test", ""))
		g.Eventually(env).WithTimeout(5 * time.Second).Should(Satisfy("deferred", func(j *journal.Journal) error { return CheckDeferred(j, "busy@example.test", 452) }))
		g.Expect(env.AccountedFor(ctx)).To(gomega.Succeed())
		g.Expect(env.Flush(ctx)).To(gomega.Succeed())
		g.Eventually(env).WithTimeout(5 * time.Second).Should(HaveDeliveredTimes("busy@example.test", "mx1.example.test", 1))
		g.Expect(env.Close()).To(gomega.Succeed())
		if variant == "" {
			g.Expect(env).To(HaveNoDuplicateDeliveries())
			g.Expect(env).To(HaveDeliveredTimes("ok@example.test", "", 1))
		} else {
			g.Expect(env).NotTo(HaveNoDuplicateDeliveries())
			g.Expect(env).To(HaveDeliveredTimes("ok@example.test", "", 2))
		}
	}
	env, err := New(context.Background(), Config{Relay: noQueue{Reference(ReferenceConfig{})}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if err := env.AccountedFor(context.Background()); !errors.Is(err, ErrNoQueue) {
		t.Errorf("relay without a queue: %v, want ErrNoQueue", err)
	}
}
