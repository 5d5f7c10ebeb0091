package exim_test

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

// TestListQueue: a message Exim deferred is listed by ListQueue with the
// host's reply in its recipient's reason, whole.
func TestListQueue(t *testing.T) {
	x := needExim(t)
	r, err := x.Relay(scenarios.Relay{RetryInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const text = "queue list test: a reason long enough to be cut by a careless page, kept whole by the listing"
	cfg := relayNetwork(x, r)
	cfg.Hosts[0].Behavior.Replies.Rcpt = fakesmtp.Forced(fakesmtp.Reply{Code: 451, Enhanced: "4.3.0", Text: text})
	env := harness.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
		t.Fatalf("no relay.defer: %v\n%s", err, env.Journal())
	}
	ql := env.Relay().(harness.QueueLister)
	var list []harness.Queued
	for {
		// The deferral is logged before the message log has it.
		if list, err = ql.ListQueue(ctx); err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && len(list[0].To) == 1 && list[0].To[0].Reason != "" || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list) != 1 || list[0].From != "alice@origin.test" || list[0].Size == 0 || list[0].Arrival.IsZero() || list[0].Attempts != 1 ||
		list[0].Queue != "deferred" || len(list[0].To) != 1 || list[0].To[0].To != "bob@example.test" || !strings.Contains(list[0].To[0].Reason, "451 4.3.0 "+text) {
		t.Fatalf("ListQueue: %+v; want one deferred message to bob@example.test whose reason holds %q", list, text)
	}
	t.Logf("reason: %s", list[0].To[0].Reason)
}
