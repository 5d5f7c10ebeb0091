package harness

import (
	"slices"
	"testing"

	"github.com/mxsim/mxsim/harness/journal"
)

// A relay that reports its attempts from a log (Postfix) may report the
// refused connection to mx1 after mx2 already saw its session: the relay's
// order wins.
func TestAttemptsPreferTheRelaysOrder(t *testing.T) {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx2.example.test", Session: "mx2.example.test#1"})
	j.Append(journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: "mx1.example.test", Text: "mx1.example.test[127.0.0.10]: Connection refused"})
	j.Append(journal.Event{Kind: journal.KindRelayDeliver, Source: "relay", Peer: "mx2.example.test"})
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx3.example.test", Session: "mx3.example.test#1"})
	if got, want := Attempts(j), []string{"mx1.example.test", "mx2.example.test", "mx3.example.test"}; !slices.Equal(got, want) {
		t.Fatalf("Attempts = %v, want %v", got, want)
	}
	if err := CheckAttemptedInOrder(j, "mx1.example.test", "mx2.example.test"); err != nil {
		t.Fatal(err)
	}
}

// Without reports from the relay, the hosts' own order is all there is.
func TestAttemptsFromTheHostsAlone(t *testing.T) {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx2.example.test", Session: "mx2.example.test#1"})
	j.Append(journal.Event{Kind: journal.KindSMTPRefused, Source: "mx1.example.test"})
	if got, want := Attempts(j), []string{"mx2.example.test", "mx1.example.test"}; !slices.Equal(got, want) {
		t.Fatalf("Attempts = %v, want %v", got, want)
	}
	if err := CheckAttemptedInOrder(j, "mx1.example.test", "mx2.example.test"); err == nil {
		t.Fatal("CheckAttemptedInOrder passed for the wrong order")
	}
}
