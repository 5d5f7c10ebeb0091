package postfix

import (
	"testing"

	"github.com/mxsim/mxsim/harness"
)

func TestParseQueue(t *testing.T) {
	out := `{"queue_name": "deferred", "queue_id": "4F2A1C", "arrival_time": 1700000000, "message_size": 420, "forced_expire": false, "sender": "alice@origin.test", "recipients": [{"address": "bob@example.test", "delay_reason": "host mx1.example.test said: 451 4.3.0 try again later"}, {"address": "carol@example.test"}]}
{"queue_name": "active", "queue_id": "5B3C2D", "arrival_time": 1700000001, "message_size": 400, "forced_expire": false, "sender": "", "recipients": [{"address": "alice@origin.test"}]}
`
	got, err := parseQueue(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.QueuedRecipient{
		{ID: "4F2A1C", From: "alice@origin.test", To: "bob@example.test"},
		{ID: "4F2A1C", From: "alice@origin.test", To: "carol@example.test"},
		{ID: "5B3C2D", To: "alice@origin.test", InFlight: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if l, err := parseQueue(""); err != nil || len(l) != 0 {
		t.Errorf("empty queue: %v, %v", l, err)
	}
	if _, err := parseQueue("postqueue: fatal: Queue report unavailable\n"); err == nil {
		t.Error("garbage: no error")
	}
}
