package journal

import (
	"testing"
	"time"
)

// TestClockAdvance: a virtual clock keeps the real time's pace, jumps
// forward by Advance (never back), wakes Moved's waiters, and a journal
// that uses it stamps its events with its time.
func TestClockAdvance(t *testing.T) {
	c := NewClock()
	j := New()
	j.UseClock(c)
	if j.Clock() != c {
		t.Fatal("Clock does not return the clock UseClock set")
	}
	e1 := j.Append(Event{Kind: KindControl, Text: "before"})
	moved := c.Moved()
	if d := c.Advance(j.Now().Add(10 * time.Minute)); d < 9*time.Minute {
		t.Fatalf("Advance moved %v, want about 10m", d)
	}
	select {
	case <-moved:
	default:
		t.Fatal("Moved not closed by Advance")
	}
	if d := c.Advance(c.Now().Add(-time.Hour)); d != 0 {
		t.Errorf("Advance to the past moved %v, want 0", d)
	}
	e2 := j.Append(Event{Kind: KindControl, Text: "after"})
	if gap := e2.Time.Sub(e1.Time); gap < 10*time.Minute || gap > 11*time.Minute {
		t.Errorf("events %v apart, want 10m and a little", gap)
	}
	if got := e2.Time.Sub(j.Start()); got < 10*time.Minute {
		t.Errorf("event %v after Start, want 10m or more", got)
	}
	if s := c.Skipped(); s < 9*time.Minute || s > 10*time.Minute {
		t.Errorf("Skipped %v, want 10m less the real time since", s)
	}
}

// TestClockSleep: Sleep ends when an Advance reaches its time, and when
// done is closed; the nil Clock is the real time.
func TestClockSleep(t *testing.T) {
	c := NewClock()
	woke := make(chan bool)
	go func() { woke <- c.Sleep(c.Now().Add(time.Hour), nil) }()
	go func() {
		for i := 0; i < 3; i++ { // before or after Sleep starts: both must wake it
			c.Advance(c.Now().Add(30 * time.Minute))
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case ok := <-woke:
		if !ok {
			t.Error("Sleep reports it did not reach its time")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep did not end after the clock moved past its time")
	}
	done := make(chan struct{})
	close(done)
	if c.Sleep(c.Now().Add(time.Hour), done) {
		t.Error("Sleep with done closed reports it reached its time")
	}

	var real *Clock
	if d := time.Since(real.Now()); d < 0 || d > time.Second {
		t.Errorf("nil Clock's Now is %v off the real time", d)
	}
	if real.Moved() != nil || real.Advance(time.Now().Add(time.Hour)) != 0 {
		t.Error("nil Clock moved")
	}
	var nj *Journal
	if nj.Clock() != nil {
		t.Error("nil Journal has a clock")
	}
	if New().Clock() != nil {
		t.Error("a new journal has a virtual clock")
	}
}
