package postfix_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// TestListQueue: a message Postfix deferred is listed by ListQueue with
// the host's reply in its reason, whole.
func TestListQueue(t *testing.T) {
	pf := needPostfix(t)
	r, err := pf.Relay(scenarios.Relay{})
	if err != nil {
		t.Fatal(err)
	}
	const text = "451 4.3.0 queue list test: a reason long enough to be cut by a careless page, kept whole by the listing"
	reply, err := fakesmtp.ParseReply(text)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relayNetwork(pf, r)
	cfg.Hosts[0].Behavior.Replies.Rcpt = fakesmtp.Forced(reply)
	env := harness.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Journal().Wait(ctx, func(evs []journal.Event) bool {
		for _, e := range evs {
			if e.Kind == journal.KindRelayDefer {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("waiting for Postfix to defer: %v\n%s", err, env.Journal())
	}
	ql, ok := env.Relay().(harness.QueueLister)
	if !ok {
		t.Fatal("the Postfix relay is no harness.QueueLister")
	}
	var list []harness.Queued
	for {
		// The defer is logged before the message reaches the deferred
		// queue's listing.
		if list, err = ql.ListQueue(ctx); err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Queue == "deferred" || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list) != 1 || list[0].Queue != "deferred" || list[0].From != "alice@origin.test" || list[0].Size == 0 || list[0].Arrival.IsZero() ||
		len(list[0].To) != 1 || list[0].To[0].To != "bob@example.test" || !strings.Contains(list[0].To[0].Reason, text) {
		t.Fatalf("ListQueue: %+v; want one deferred message to bob@example.test whose reason holds %q", list, text)
	}
}
