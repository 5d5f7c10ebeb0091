package journal

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the time of a network whose long waits pass without sleeping:
// a virtual clock. Its time is the real time plus an offset that only
// grows: real work (an SMTP session over loopback) takes its real, short,
// time, and Advance jumps over a wait (a retry interval, a greylist
// window) at once. A journal given a Clock (UseClock) stamps its events
// with it, and the components that share the journal read it there
// (Journal.Now): the simulated hosts for their greylist and rate windows,
// the reference relay for its retry times.
//
// Who moves the clock, and when, is the caller's rule; mxsim's harness
// moves it only while a step waits and the network is quiet (see
// docs/time.md). A nil *Clock is the real time and never moves.
type Clock struct {
	offset atomic.Int64 // nanoseconds added to the real time

	mu    sync.Mutex
	moved chan struct{} // closed at the next Advance that moves the time
}

// NewClock returns a virtual clock that starts at the real time.
func NewClock() *Clock { return &Clock{moved: make(chan struct{})} }

// Now returns the clock's time: the real time for a nil Clock.
func (c *Clock) Now() time.Time {
	now := time.Now()
	if c == nil {
		return now
	}
	return now.Add(time.Duration(c.offset.Load()))
}

// Advance moves the clock on so that Now is at least t, and wakes the
// waiters of Moved. A t not after Now changes nothing. It returns how
// far the clock jumped.
func (c *Clock) Advance(t time.Time) time.Duration {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := t.Sub(c.Now())
	if d <= 0 {
		return 0
	}
	c.offset.Add(int64(d))
	close(c.moved)
	c.moved = make(chan struct{})
	return d
}

// Moved returns a channel closed the next time Advance moves the clock:
// whoever waits for a time of the clock with a real timer waits for it
// too, and then measures again. Nil (never ready) for a nil Clock.
func (c *Clock) Moved() <-chan struct{} {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moved
}

// Skipped returns how far the clock has been moved in all: its time
// minus the real time.
func (c *Clock) Skipped() time.Duration {
	if c == nil {
		return 0
	}
	return time.Duration(c.offset.Load())
}

// Sleep waits until the clock's time reaches t, or done is closed; it
// reports whether t was reached. Real time counts, and so does every
// Advance.
func (c *Clock) Sleep(t time.Time, done <-chan struct{}) bool {
	for {
		moved := c.Moved()
		d := t.Sub(c.Now())
		if d <= 0 {
			return true
		}
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-moved:
		case <-done:
			timer.Stop()
			return false
		}
		timer.Stop()
	}
}
