package harness_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// Test421MovesToNextHost: a host that answers 421 to RCPT closes the
// connection (RFC 5321 §3.8); the reference relay does not go on in that
// session (no QUIT after the 421) and delivers at the next host.
func Test421MovesToNextHost(t *testing.T) {
	t.Parallel()
	closing := fakesmtp.Behavior{Replies: fakesmtp.Replies{Rcpt: fakesmtp.Forced(fakesmtp.Reply{Code: 421, Enhanced: "4.3.2", Text: "shutting down"})}}
	env := start(t, closing, fakesmtp.Behavior{}, harness.ReferenceConfig{})
	send(t, env, "bob@example.test")
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "mx2.example.test"))
	must(t, harness.CheckAttemptedInOrder(env.Journal(), "mx1.example.test", "mx2.example.test"))
	must(t, env.Wait(context.Background(), wait, func(j *journal.Journal) error {
		for _, e := range j.Events(journal.OfKind(journal.KindSMTPDisconnect)) {
			if e.Source == "mx1.example.test" {
				return nil
			}
		}
		return errors.New("mx1 has not closed yet")
	}))
	for _, e := range env.Journal().Events() {
		if e.Source != "mx1.example.test" {
			continue
		}
		switch {
		case e.Kind == journal.KindSMTPDisconnect && (e.Code != 421 || !strings.Contains(e.Text, "host closed the connection after 421")):
			t.Errorf("mx1 disconnect: code %d %q, want the host's close after 421", e.Code, e.Text)
		case e.Kind == journal.KindSMTPCommand && strings.EqualFold(e.Text, "QUIT"):
			t.Errorf("mx1 read a QUIT after its 421: the session should be closed")
		}
	}
}

// Test421EverywhereDefers: with every host answering 421, the relay
// defers (4yz), never bounces.
func Test421EverywhereDefers(t *testing.T) {
	t.Parallel()
	closing := fakesmtp.Behavior{Replies: fakesmtp.Replies{Mail: fakesmtp.Forced(fakesmtp.Reply{Code: 421, Enhanced: "4.3.2", Text: "shutting down"})}}
	env := start(t, closing, closing, harness.ReferenceConfig{})
	send(t, env, "bob@example.test")
	must(t, env.Wait(context.Background(), wait, func(j *journal.Journal) error {
		for _, e := range j.Events(journal.OfKind(journal.KindRelayDefer)) {
			if strings.Contains(e.Text, "to=bob@example.test") && e.Code == 421 {
				return nil
			}
		}
		return errors.New("relay has not deferred bob with 421")
	}))
	must(t, harness.CheckAttemptedInOrder(env.Journal(), "mx1.example.test", "mx2.example.test"))
	for _, e := range env.Journal().Events(journal.OfKind(journal.KindRelayBounce)) {
		if strings.Contains(e.Text, "bob@example.test") {
			t.Fatalf("relay bounced after 421s: %s", e.Text)
		}
	}
}
