package journal_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// appendN appends n control events numbered from 1 in their text.
func appendN(j *journal.Journal, n int) {
	for i := 1; i <= n; i++ {
		j.Append(journal.Event{Kind: journal.KindControl, Text: fmt.Sprint(i)})
	}
}

// message returns an smtp.message event carrying raw.
func message(raw string) journal.Event {
	return journal.Event{Kind: journal.KindSMTPMessage, Source: "mx1.example.test",
		Message: &journal.Message{From: "a@x.test", To: []string{"b@y.test"}, Size: len(raw), Raw: []byte(raw)}}
}

// TestBoundedKeepsTheLastEvents crosses several blocks of the journal:
// only the last MaxEvents stay, Seq goes on, and every read says what was
// dropped.
func TestBoundedKeepsTheLastEvents(t *testing.T) {
	const max, total = 10, 2000
	j := journal.NewBounded(journal.Limits{MaxEvents: max})
	appendN(j, total)

	if j.Len() != total {
		t.Errorf("Len() = %d, want %d (every event appended)", j.Len(), total)
	}
	if d := j.Dropped(); d.Events != total-max {
		t.Errorf("Dropped() = %+v, want %d events", d, total-max)
	}
	es := j.Events()
	if len(es) != max+1 {
		t.Fatalf("Events() holds %d, want the marker and %d events:\n%s", len(es), max, j)
	}
	m := es[0]
	if m.Kind != journal.KindDropped || m.Seq != total-max || m.Dropped == nil || m.Dropped.Events != total-max {
		t.Fatalf("first event %+v, want a %s marker at Seq %d", m, journal.KindDropped, total-max)
	}
	if want := fmt.Sprintf("%d events dropped (seq 1 to %d)", total-max, total-max); !strings.Contains(m.Text, want) {
		t.Errorf("marker text %q lacks %q", m.Text, want)
	}
	for i, e := range es[1:] {
		if want := int64(total - max + 1 + i); e.Seq != want || e.Text != fmt.Sprint(want) {
			t.Errorf("event %d: Seq %d text %q, want Seq and text %d", i, e.Seq, e.Text, want)
		}
	}
	if !strings.Contains(j.String(), "journal.dropped") {
		t.Errorf("String() does not show the drop:\n%s", j)
	}
	// Filters see the marker like any other event.
	if got := j.Events(journal.OfKind(journal.KindControl)); len(got) != max {
		t.Errorf("Events(OfKind(control)) = %d events, want %d", len(got), max)
	}
}

// TestSinceFromADroppedSeq: a reader that comes back with the Seq of the
// last event it saw learns how many it missed, and can go on from the
// marker's Seq without another.
func TestSinceFromADroppedSeq(t *testing.T) {
	j := journal.NewBounded(journal.Limits{MaxEvents: 100})
	appendN(j, 1000) // holds 901..1000

	got := j.Since(250)
	if len(got) != 101 || got[0].Kind != journal.KindDropped || got[0].Seq != 900 || got[1].Seq != 901 {
		t.Fatalf("Since(250): %d events, first %+v; want a marker at 900, then 901..1000", len(got), got[0])
	}
	if !strings.Contains(got[0].Text, "650 events dropped (seq 251 to 900)") {
		t.Errorf("marker text %q, want the 650 events the reader missed", got[0].Text)
	}
	if got := j.Since(got[0].Seq); len(got) != 100 || got[0].Seq != 901 {
		t.Errorf("Since(marker's Seq): %d events from %d, want 100 from 901 and no marker", len(got), got[0].Seq)
	}
	if got := j.Since(950); len(got) != 50 || got[0].Seq != 951 {
		t.Errorf("Since(950) = %d events, want 951..1000", len(got))
	}
	if got := j.Since(1000); got != nil {
		t.Errorf("Since(1000) = %+v, want nothing", got)
	}
	if _, ok := j.At(900); ok {
		t.Error("At(900) found a dropped event")
	}
	if e, ok := j.At(901); !ok || e.Text != "901" {
		t.Errorf("At(901) = %+v, %v", e, ok)
	}
	if _, ok := j.At(1001); ok {
		t.Error("At(1001) found an event not yet appended")
	}
}

func TestUnboundedKeepsEverything(t *testing.T) {
	for name, j := range map[string]*journal.Journal{"New": journal.New(), "NewBounded(zero)": journal.NewBounded(journal.Limits{})} {
		appendN(j, 1500)
		j.Append(message("Subject: x\r\n\r\nhi\r\n"))
		es := j.Events()
		if len(es) != 1501 || es[0].Seq != 1 || es[0].Kind == journal.KindDropped || j.Dropped() != (journal.Dropped{}) {
			t.Errorf("%s: %d events from Seq %d, dropped %+v; want all 1501", name, len(es), es[0].Seq, j.Dropped())
		}
		if es[1500].Message.Raw == nil {
			t.Errorf("%s: the message lost its bytes", name)
		}
	}
}

// TestBoundedCountsDroppedMessages: the marker counts the smtp.message
// events it stands for, so that a list of messages can say how many it
// no longer shows.
func TestBoundedCountsDroppedMessages(t *testing.T) {
	j := journal.NewBounded(journal.Limits{MaxEvents: 5})
	for i := 0; i < 20; i++ {
		j.Append(journal.Event{Kind: journal.KindSMTPConnect})
		j.Append(message("m"))
	}
	// 40 events, 35 dropped: 17 messages among them (Seq 2, 4, … 34).
	if d := j.Dropped(); d.Events != 35 || d.Messages != 17 {
		t.Errorf("Dropped() = %+v, want 35 events, 17 messages", d)
	}
}

// TestBoundedMessageBytes: past MaxMessages, the oldest messages lose
// their bytes but keep the rest; the caller's Message is not touched.
// Enough messages for the journal to release the bytes of a batch, and
// a few more that it has not released yet: readers see no difference.
func TestBoundedMessageBytes(t *testing.T) {
	const total = 600
	j := journal.NewBounded(journal.Limits{MaxMessages: 3})
	var sent []*journal.Message
	for i := 0; i < total; i++ {
		e := message(fmt.Sprintf("message %d", i))
		sent = append(sent, e.Message)
		j.Append(e)
		j.Append(journal.Event{Kind: journal.KindSMTPDisconnect})
	}
	msgs := j.Events(journal.OfKind(journal.KindSMTPMessage))
	if len(msgs) != total {
		t.Fatalf("%d message events, want all %d (no event limit)", len(msgs), total)
	}
	for i, e := range msgs {
		kept := i >= total-3
		if kept != (e.Message.Raw != nil) || kept == e.Message.RawDropped {
			t.Errorf("message %d: raw %q, raw_dropped %v; want bytes kept: %v", i, e.Message.Raw, e.Message.RawDropped, kept)
		}
		if e.Message.Size != len(fmt.Sprintf("message %d", i)) || e.Message.From != "a@x.test" {
			t.Errorf("message %d lost its envelope: %+v", i, e.Message)
		}
		if sent[i].Raw == nil || sent[i].RawDropped {
			t.Errorf("message %d: the appended Message was changed", i)
		}
		if got, _ := j.At(e.Seq); (got.Message.Raw != nil) != kept {
			t.Errorf("At(%d): raw %q, want bytes kept: %v", e.Seq, got.Message.Raw, kept)
		}
	}
	if d := j.Dropped(); d.Raw != total-3 || d.Events != 0 {
		t.Errorf("Dropped() = %+v, want %d raw, no events", d, total-3)
	}
}

// TestBoundedMessageBytesBudget: the byte budget drops the oldest bytes
// first, and keeps the newest message even when it alone is over.
func TestBoundedMessageBytesBudget(t *testing.T) {
	j := journal.NewBounded(journal.Limits{MaxMessageBytes: 25})
	for _, raw := range []string{strings.Repeat("a", 10), strings.Repeat("b", 10), strings.Repeat("c", 10)} {
		j.Append(message(raw))
	}
	kept := func() (s string) {
		for _, e := range j.Events() {
			if e.Message.Raw != nil {
				s += string(e.Message.Raw[:1])
			}
		}
		return s
	}
	if got := kept(); got != "bc" {
		t.Errorf("bytes kept of %q, want bc (20 of 25 bytes)", got)
	}
	j.Append(message(strings.Repeat("d", 100)))
	if got := kept(); got != "d" {
		t.Errorf("bytes kept of %q, want the newest alone", got)
	}
}

// TestBoundedDropsBytesWithEvents: both limits at once. Dropped.Raw
// counts the bytes dropped from events still held (here, before the event
// itself goes); a message dropped with its bytes counts in Messages only.
func TestBoundedDropsBytesWithEvents(t *testing.T) {
	j := journal.NewBounded(journal.Limits{MaxEvents: 4, MaxMessages: 3})
	for i := 0; i < 10; i++ {
		j.Append(message("x"))
	}
	if d := j.Dropped(); d.Events != 6 || d.Messages != 6 || d.Raw != 7 {
		t.Errorf("Dropped() = %+v, want 6 events and messages, 7 messages' bytes (0 to 6)", d)
	}
	es := j.Events(journal.OfKind(journal.KindSMTPMessage))
	if len(es) != 4 || es[0].Message.Raw != nil || es[1].Message.Raw == nil {
		t.Errorf("%d messages, the oldest held with raw %q, the next %q: want 4, without and with bytes", len(es), es[0].Message.Raw, es[1].Message.Raw)
	}
	j = journal.NewBounded(journal.Limits{MaxEvents: 2, MaxMessages: 3})
	for i := 0; i < 10; i++ {
		j.Append(message("x"))
	}
	if d := j.Dropped(); d.Events != 8 || d.Messages != 8 || d.Raw != 0 {
		t.Errorf("Dropped() = %+v, want 8 events and messages with their bytes", d)
	}
}

// TestBoundedLargeMessageReleased: bytes past the release batch go at
// once; the journal's copy of a large message does not outlive the
// limits by more than a batch.
func TestBoundedLargeMessageReleased(t *testing.T) {
	j := journal.NewBounded(journal.Limits{MaxMessages: 1})
	big := message(strings.Repeat("x", 4<<20))
	j.Append(big)
	e := j.Events()[0]
	j.Append(message("small"))
	// The reader's copy keeps the bytes it was given; the journal's does not.
	if len(e.Message.Raw) != 4<<20 {
		t.Fatal("a reader's copy lost its bytes")
	}
	if got, _ := j.At(1); got.Message.Raw != nil || !got.Message.RawDropped {
		t.Fatalf("At(1) = %+v, want the large message without its bytes", got.Message)
	}
}

func TestBoundedWaitAcrossDrops(t *testing.T) {
	j := journal.NewBounded(journal.Limits{MaxEvents: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- j.Wait(ctx, func(es []journal.Event) bool {
			return len(es) > 0 && es[len(es)-1].Text == "1000"
		})
	}()
	appendN(j, 1000)
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	select {
	case <-j.Changed():
		t.Fatal("Changed is closed with no Append since")
	default:
	}
}

// TestBoundedConcurrentReaders runs readers against a writer that drops
// events, blocks and message bytes: -race checks that readers never see
// a stored event change, and each read is in order.
func TestBoundedConcurrentReaders(t *testing.T) {
	j := journal.NewBounded(journal.Limits{MaxEvents: 700, MaxMessages: 5, MaxMessageBytes: 1000})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seq int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				es := j.Since(seq)
				for i, e := range es {
					if i > 0 && e.Seq != es[i-1].Seq+1 {
						errs <- fmt.Errorf("Since(%d): Seq %d after %d", seq, e.Seq, es[i-1].Seq)
						return
					}
					if e.Message != nil && e.Message.Raw != nil && string(e.Message.Raw) != "raw bytes" {
						errs <- fmt.Errorf("event %d: raw %q", e.Seq, e.Message.Raw)
						return
					}
				}
				if len(es) > 0 {
					seq = es[len(es)-1].Seq
				}
				_ = j.Events(journal.OfKind(journal.KindSMTPMessage))
				j.At(seq)
			}
		}()
	}
	for i := 0; i < 5000; i++ {
		if i%3 == 0 {
			j.Append(message("raw bytes"))
		} else {
			j.Append(journal.Event{Kind: journal.KindControl})
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if es := j.Events(); len(es) != 701 || es[700].Seq != 5000 {
		t.Errorf("%d events ending at %d, want the marker and 700 ending at 5000", len(es), es[len(es)-1].Seq)
	}
}

func ExampleNewBounded() {
	j := journal.NewBounded(journal.Limits{MaxEvents: 2})
	for _, text := range []string{"one", "two", "three", "four"} {
		j.Append(journal.Event{Kind: journal.KindControl, Text: text})
	}
	for _, e := range j.Since(0) {
		fmt.Println(e.Seq, e.Kind, e.Text)
	}
	// Output:
	// 2 journal.dropped 2 events dropped (seq 1 to 2): the journal keeps the last 2
	// 3 control three
	// 4 control four
}

// TestBoundedManyBlocks runs both limits over many blocks, with messages
// among other events, so that blocks are dropped while some bytes wait to
// be released.
func TestBoundedManyBlocks(t *testing.T) {
	for _, l := range []journal.Limits{{MaxEvents: 4, MaxMessages: 100}, {MaxEvents: 700, MaxMessages: 3}, {MaxEvents: 1000, MaxMessageBytes: 50}} {
		j := journal.NewBounded(l)
		for i := 0; i < 5000; i++ {
			if i%3 == 0 {
				j.Append(message("raw bytes"))
			} else {
				j.Append(journal.Event{Kind: journal.KindControl})
			}
		}
		es := j.Events()
		if len(es) != l.MaxEvents+1 || es[len(es)-1].Seq != 5000 {
			t.Errorf("%+v: %d events ending at %d, want the marker and %d ending at 5000", l, len(es), es[len(es)-1].Seq, l.MaxEvents)
		}
		raws := 0
		for _, e := range es {
			if e.Message != nil && e.Message.Raw != nil {
				raws++
			}
		}
		if want := min(l.MaxEvents/3+1, max(l.MaxMessages, int(l.MaxMessageBytes)/9)); raws < want-1 || raws > want {
			t.Errorf("%+v: %d messages keep their bytes, want about %d", l, raws, want)
		}
	}
}
