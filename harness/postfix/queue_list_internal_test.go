package postfix

import (
	"reflect"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
)

func TestParseQueueList(t *testing.T) {
	long := "host mx1.example.test[127.0.0.11] said: 451 4.7.1 greylisted, come back in 30 seconds; this reason is long on purpose so that a cut would show (in reply to RCPT TO command)"
	out := `{"queue_name": "deferred", "queue_id": "4F2A1C", "arrival_time": 1700000000, "message_size": 420, "forced_expire": false, "sender": "alice@origin.test", "recipients": [{"address": "bob@example.test", "delay_reason": "` + long + `"}, {"address": "carol@example.test"}]}
{"queue_name": "active", "queue_id": "5B3C2D", "arrival_time": 1700000001, "message_size": 400, "forced_expire": false, "sender": "", "recipients": [{"address": "alice@origin.test"}]}
`
	got, err := parseQueueList(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.Queued{
		{ID: "4F2A1C", Queue: "deferred", From: "alice@origin.test", Arrival: time.Unix(1700000000, 0).UTC(), Size: 420,
			To: []harness.QueuedRcpt{{To: "bob@example.test", Reason: long}, {To: "carol@example.test"}}},
		{ID: "5B3C2D", Queue: "active", Arrival: time.Unix(1700000001, 0).UTC(), Size: 400, To: []harness.QueuedRcpt{{To: "alice@origin.test"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if l, err := parseQueueList(""); err != nil || l == nil || len(l) != 0 {
		t.Errorf("empty queue: %#v, %v; want an empty list", l, err)
	}
	if _, err := parseQueueList("postqueue: fatal: Queue report unavailable\n"); err == nil {
		t.Error("garbage: no error")
	}
}
