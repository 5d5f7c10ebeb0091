package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// Rule 15 (RFC 5321 §4.5.4.1), judged from the host's side: after a
// session that failed with a 4yz, the next connection waits.
func TestCheckRetryGap(t *testing.T) {
	const mx1, mx2 = "mx1.example.test", "mx2.example.test"
	type step func(j *journal.Journal)
	connect := func(host, session string) step {
		return func(j *journal.Journal) {
			j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: host, Session: session})
		}
	}
	refused := func(j *journal.Journal) { j.Append(journal.Event{Kind: journal.KindSMTPRefused, Source: mx1}) }
	talk := func(session string, lines ...string) step {
		return func(j *journal.Journal) { dialogue(j, session, lines...) }
	}
	accepted := func(session string) step {
		return func(j *journal.Journal) {
			j.Append(journal.Event{Kind: journal.KindSMTPMessage, Source: mx1, Session: session, Message: &journal.Message{To: []string{"bob@example.test"}}})
		}
	}
	end := func(host, session string) step {
		return func(j *journal.Journal) {
			j.Append(journal.Event{Kind: journal.KindSMTPDisconnect, Source: host, Session: session})
		}
	}
	flush := func(j *journal.Journal) {
		j.Append(journal.Event{Kind: journal.KindControl, Source: "harness", Text: flushControl})
	}
	pause := func(j *journal.Journal) { time.Sleep(30 * time.Millisecond) }
	rcpt451 := talk("mx1.example.test#1", "C: RCPT TO:<bob@example.test>", "S: 451 4.3.0 try again later")
	failed := []step{connect(mx1, "mx1.example.test#1"), rcpt451, end(mx1, "mx1.example.test#1")}
	then := func(a []step, b ...step) []step { return append(append([]step(nil), a...), b...) }

	for _, c := range []struct {
		name    string
		steps   []step
		atLeast time.Duration
		want    string // "" for no error
	}{
		{"4yz to RCPT, then at once", then(failed, connect(mx1, "mx1.example.test#2")), time.Hour,
			"session mx1.example.test#1 ended with 451 and the next connection (session mx1.example.test#2) came"},
		{"421 greeting, then at once", []step{connect(mx1, "mx1.example.test#1"), talk("mx1.example.test#1", "S: 421 4.3.2 busy"),
			end(mx1, "mx1.example.test#1"), connect(mx1, "mx1.example.test#2")}, time.Hour, "ended with 421"},
		{"then a refused connection", then(failed, refused), time.Hour, "the next connection (refused) came"},
		{"after the wait", then(failed, pause, connect(mx1, "mx1.example.test#2")), 10 * time.Millisecond, ""},
		{"each gap on its own", then(failed, pause, connect(mx1, "mx1.example.test#2"),
			talk("mx1.example.test#2", "S: 421 4.3.2 busy"), end(mx1, "mx1.example.test#2"), connect(mx1, "mx1.example.test#3")),
			10 * time.Millisecond, "session mx1.example.test#2 ended with 421"},
		{"after a flush", then(failed, flush, connect(mx1, "mx1.example.test#2")), time.Hour, ""},
		{"a flush before the failure does not count", []step{flush, failed[0], failed[1], failed[2], connect(mx1, "mx1.example.test#2")}, time.Hour, "ended with 451"},
		{"a message accepted", []step{connect(mx1, "mx1.example.test#1"), rcpt451, accepted("mx1.example.test#1"),
			end(mx1, "mx1.example.test#1"), connect(mx1, "mx1.example.test#2")}, time.Hour, ""},
		{"4yz to STARTTLS only", []step{connect(mx1, "mx1.example.test#1"),
			talk("mx1.example.test#1", "C: STARTTLS", "S: 454 4.7.0 TLS not available", "C: QUIT", "S: 221 2.0.0 bye"),
			end(mx1, "mx1.example.test#1"), connect(mx1, "mx1.example.test#2")}, time.Hour, ""},
		{"no 4yz: a dropped connection", []step{connect(mx1, "mx1.example.test#1"), end(mx1, "mx1.example.test#1"),
			connect(mx1, "mx1.example.test#2")}, time.Hour, ""},
		{"still open: not ended", []step{connect(mx1, "mx1.example.test#1"), rcpt451, connect(mx1, "mx1.example.test#2")}, time.Hour, ""},
		{"another host (another address)", then(failed, connect(mx2, "mx2.example.test#1")), time.Hour, ""},
		{"another host's failure", []step{connect(mx2, "mx2.example.test#1"),
			talk("mx2.example.test#1", "S: 421 4.3.2 busy"), end(mx2, "mx2.example.test#1"), connect(mx1, "mx1.example.test#1")}, time.Hour, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := journal.New()
			for _, s := range c.steps {
				s(j)
			}
			err := CheckRetryGap(j, mx1, c.atLeast)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if got := retryGapDefault(2 * time.Second); got != time.Second {
		t.Errorf("default at_least for 2s: %v, want 1s", got)
	}
}
