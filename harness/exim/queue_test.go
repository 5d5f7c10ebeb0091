package exim

import (
	"testing"

	"github.com/mxsim/mxsim/harness"
)

func TestParseQueue(t *testing.T) {
	// exim -bp, then the submission headers (queueScript).
	out := ` 0m   299 1xYi9C-000008-1o <alice@origin.test> *** frozen ***
          bob@example.test
        D carol@example.test
          dave@example.test

 0m   234 1xYi9C-00000A-2W <>
          alice@origin.test

` + headerMarker + `
1xYi9C-000008-1o-H:024  X-Mxsim-Submission: s-7
`
	got, err := parseQueue(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.QueuedRecipient{
		{ID: "1xYi9C-000008-1o", From: "alice@origin.test", To: "bob@example.test", Submission: "s-7"},
		{ID: "1xYi9C-000008-1o", From: "alice@origin.test", To: "dave@example.test", Submission: "s-7"},
		{ID: "1xYi9C-00000A-2W", To: "alice@origin.test"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if l, err := parseQueue(headerMarker + "\n"); err != nil || len(l) != 0 {
		t.Errorf("empty queue: %v, %v", l, err)
	}
	if _, err := parseQueue("exim: permission denied\n"); err == nil {
		t.Error("garbage: no error")
	}
}
