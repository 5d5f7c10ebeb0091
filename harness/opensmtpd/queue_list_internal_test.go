package opensmtpd

import (
	"reflect"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
)

func TestParseQueueList(t *testing.T) {
	out := `bf251bbd7c568630|local|mta|auth|alice@origin.test|bob@nowhere.test|bob@nowhere.test|1796208751|1796208751|0|2|pending|397|451 4.3.0 a reason | with a bar, kept whole
bf251bbd7c568631|local|mta|auth|alice@origin.test|carol@nowhere.test|carol@nowhere.test|1796208751|1796208751|0|1|pending|120|Temporary failure in MX lookup
c0000001aaaaaaaa|inet4|mta||@|alice@origin.test|alice@origin.test|1796208752|1796208752|0|0|inflight|0|
`
	now := time.Unix(1796208800, 0)
	got, err := parseQueueList(out, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.Queued{
		{ID: "bf251bbd", Queue: "pending", From: "alice@origin.test", Arrival: time.Unix(1796208751, 0).UTC(), Attempts: 2, NextTry: now.Add(120 * time.Second).UTC(),
			To: []harness.QueuedRcpt{{To: "bob@nowhere.test", Reason: "451 4.3.0 a reason | with a bar, kept whole"}, {To: "carol@nowhere.test", Reason: "Temporary failure in MX lookup"}}},
		{ID: "c0000001", Queue: "inflight", Arrival: time.Unix(1796208752, 0).UTC(), To: []harness.QueuedRcpt{{To: "alice@origin.test"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if l, err := parseQueueList("", now); err != nil || len(l) != 0 {
		t.Errorf("empty queue: %+v, %v", l, err)
	}
	if _, err := parseQueueList("smtpctl: not running\n", now); err == nil {
		t.Error("garbage: no error")
	}
}
