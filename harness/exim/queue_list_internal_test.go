package exim

import (
	"reflect"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
)

func TestParseQueueList(t *testing.T) {
	reason := "R=dnslookup T=remote_smtp defer (-44) H=mx1.example.test [127.0.0.10]:25 DT=0s: SMTP error from remote mail server after RCPT TO:<bob@example.test>: 451 4.3.0 a long reason, kept whole"
	out := ` 5m   2.9K 1xYi9C-000008-1o <alice@origin.test>
          bob@example.test
        D carol@example.test

 2h   234 1xYi9C-00000A-2W <> *** frozen ***
          alice@origin.test

` + deferMarker + `
1xYi9C-000008-1o:2026-12-02 13:00:00 bob@example.test R=dnslookup T=remote_smtp defer (-44) H=mx1.example.test [127.0.0.10]:25 DT=0s: old reason
1xYi9C-000008-1o:2026-12-02 13:05:00 bob@example.test ` + reason + `
`
	now := time.Date(2026, 12, 2, 13, 10, 0, 0, time.UTC)
	got, err := parseQueueList(out, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.Queued{
		{ID: "1xYi9C-000008-1o", Queue: "deferred", From: "alice@origin.test", Size: 2969, Arrival: now.Add(-5 * time.Minute), Attempts: 2,
			To: []harness.QueuedRcpt{{To: "bob@example.test", Reason: reason}}},
		{ID: "1xYi9C-00000A-2W", Queue: "frozen", Arrival: now.Add(-2 * time.Hour), Size: 234, To: []harness.QueuedRcpt{{To: "alice@origin.test"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if l, err := parseQueueList(deferMarker+"\n", now); err != nil || len(l) != 0 {
		t.Errorf("empty queue: %+v, %v", l, err)
	}
	if _, err := parseQueueList("exim: permission denied\n", now); err == nil {
		t.Error("garbage: no error")
	}
}
