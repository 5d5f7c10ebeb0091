package relay

import (
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// TestVirtualClockRetry: a relay whose journal keeps a virtual clock
// dates its retries on that clock, says so (Quiet: idle, next retry an
// hour on), does not retry while the clock stands, and retries as soon
// as the clock is moved to that time.
func TestVirtualClockRetry(t *testing.T) {
	n := newNetwork(t, twoMX...)
	mx1 := n.host(11, "mx1.example.test", hostOpts{Rcpt: func(_ string, seen int) error {
		if seen == 0 {
			return errReply(450, 4, 7, 1, "greylisted")
		}
		return nil
	}})
	clock := journal.NewClock()
	j := journal.New()
	j.UseClock(clock)
	r := n.startRelay(Config{Journal: j, RetryInterval: time.Hour, MaxLifetime: 24 * time.Hour})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	quiet, next := r.Quiet()
	if !quiet {
		t.Fatal("Quiet: not quiet after Idle")
	}
	if d := next.Sub(clock.Now()); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("next retry in %v, want the retry interval, 1h", d)
	}
	time.Sleep(50 * time.Millisecond) // the clock stands: no retry comes
	if got := len(events(r, journal.KindRelayAttempt)); got != 1 {
		t.Fatalf("%d attempts before the clock moved, want 1", got)
	}
	clock.Advance(next)
	if quiet, _ := r.Quiet(); quiet {
		t.Error("Quiet: quiet with a retry due")
	}
	idle(t, r)
	delivered(t, r, mx1, 1)
	if quiet, next := r.Quiet(); !quiet || !next.IsZero() {
		t.Errorf("Quiet after the delivery: %v, next %v; want quiet, nothing queued", quiet, next)
	}
	attempts := events(r, journal.KindRelayAttempt)
	if gap := attempts[1].Time.Sub(attempts[0].Time); gap < time.Hour {
		t.Errorf("attempts %v apart in the journal, want the hour of the clock", gap)
	}
}
