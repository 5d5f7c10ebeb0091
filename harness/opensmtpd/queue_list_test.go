package opensmtpd_test

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

// TestListQueue: a message OpenSMTPD deferred is listed by ListQueue
// with the host's reply in its recipient's reason, whole.
func TestListQueue(t *testing.T) {
	o := needOpenSMTPD(t)
	r, err := o.Relay(scenarios.Relay{})
	if err != nil {
		t.Fatal(err)
	}
	const text = "queue list test: a reason long enough to be cut by a careless page, kept whole by the listing"
	cfg := relayNetwork(o, r)
	cfg.Hosts[0].Behavior.Replies.Rcpt = fakesmtp.Forced(fakesmtp.Reply{Code: 451, Enhanced: "4.3.0", Text: text})
	env := harness.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Wait(ctx, 20*time.Second, has(journal.KindRelayDefer)); err != nil {
		t.Fatalf("no relay.defer: %v", err)
	}
	ql := env.Relay().(harness.QueueLister)
	var list []harness.Queued
	for {
		if list, err = ql.ListQueue(ctx); err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && len(list[0].To) == 1 && list[0].To[0].Reason != "" || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list) != 1 || list[0].From != "alice@origin.test" || list[0].Arrival.IsZero() || list[0].Attempts == 0 ||
		len(list[0].To) != 1 || list[0].To[0].To != "bob@example.test" || !strings.Contains(list[0].To[0].Reason, text) {
		t.Fatalf("ListQueue: %+v; want one deferred message to bob@example.test whose reason holds %q", list, text)
	}
	t.Logf("queue %q, reason: %s", list[0].Queue, list[0].To[0].Reason)
}
