package journal_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/journal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAppendOrdersAndFilters(t *testing.T) {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindDNSQuery, Source: "dns", Text: "MX example.test."})
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx1.example.test", Session: "mx1.example.test#1"})
	j.Append(journal.Event{Kind: journal.KindSMTPCommand, Source: "mx1.example.test", Session: "mx1.example.test#1", Text: "EHLO relay.test"})
	j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: "mx1.example.test", Session: "mx1.example.test#1", Text: "250 ok", Code: 250})

	all := j.Events()
	if len(all) != 4 {
		t.Fatalf("got %d events, want 4", len(all))
	}
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Errorf("event %d has Seq %d", i, e.Seq)
		}
		if i > 0 && e.Time.Before(all[i-1].Time) {
			t.Errorf("event %d is older than the one before", i)
		}
	}
	if got := j.Events(journal.From("mx1.example.test"), journal.OfKind(journal.KindSMTPReply)); len(got) != 1 || got[0].Code != 250 {
		t.Errorf("filter: got %+v", got)
	}
	want := []string{"* ", "C: EHLO relay.test", "S: 250 ok"}
	got := j.Transcript("mx1.example.test#1")
	if len(got) != 3 || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("transcript %q, want %q", got, want)
	}
	if s := j.Sessions("mx1.example.test"); len(s) != 1 || s[0] != "mx1.example.test#1" {
		t.Errorf("sessions %q", s)
	}
	if got := j.Since(3); len(got) != 1 || got[0].Seq != 4 {
		t.Errorf("Since(3) = %+v", got)
	}
	if !strings.Contains(j.String(), "EHLO relay.test") {
		t.Errorf("String() lacks the command:\n%s", j.String())
	}
}

func TestNilJournalAppendIsHarmless(t *testing.T) {
	var j *journal.Journal
	e := j.Append(journal.Event{Kind: journal.KindControl})
	if e.Seq != 0 {
		t.Fatalf("nil journal gave Seq %d", e.Seq)
	}
}

func TestWaitWakesOnAppend(t *testing.T) {
	j := journal.New()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- j.Wait(ctx, func(es []journal.Event) bool { return len(es) >= 3 })
	}()
	for i := 0; i < 3; i++ {
		j.Append(journal.Event{Kind: journal.KindControl, Text: fmt.Sprint(i)})
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

func TestWaitTimesOut(t *testing.T) {
	j := journal.New()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := j.Wait(ctx, func([]journal.Event) bool { return false }); err == nil {
		t.Fatal("Wait returned nil for a condition that never holds")
	}
}

func TestConcurrentAppend(t *testing.T) {
	j := journal.New()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				j.Append(journal.Event{Kind: journal.KindControl})
				if i%20 == 0 {
					_ = j.Events()
				}
			}
		}()
	}
	wg.Wait()
	es := j.Events()
	if len(es) != 1600 {
		t.Fatalf("got %d events, want 1600", len(es))
	}
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has Seq %d", i, e.Seq)
		}
	}
}

func ExampleJournal() {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx1.example.test", Session: "mx1.example.test#1", Text: "connect from 127.0.0.1:40000"})
	j.Append(journal.Event{Kind: journal.KindSMTPCommand, Source: "mx1.example.test", Session: "mx1.example.test#1", Text: "EHLO relay.test"})
	j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: "mx1.example.test", Session: "mx1.example.test#1", Text: "250 mx1.example.test", Code: 250})
	for _, line := range j.Transcript("mx1.example.test#1") {
		fmt.Println(line)
	}
	// Output:
	// * connect from 127.0.0.1:40000
	// C: EHLO relay.test
	// S: 250 mx1.example.test
}
