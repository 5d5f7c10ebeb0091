package harness

import (
	"context"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// The virtual clock (Config.VirtualClock, a scenario's clock: virtual).
//
// The network's time is its journal's (journal.Clock): the events are
// stamped with it, the hosts measure greylist and rate windows with it,
// the reference relay dates its retries with it, and the steps measure
// their waits (wait, within, for) with it. Real work takes its real time;
// the clock jumps only over waits, by one rule:
//
//  1. only a step that waits moves the clock (Env.await), and only after
//     it has checked its conditions against the journal as it is: an
//     event appended since ends the wait instead;
//  2. only while the network is quiet: the relay has no delivery attempt
//     in progress and nothing due now (relay.Relay.Quiet), and every SMTP
//     session a host accepted has ended (its smtp.disconnect journaled);
//  3. only as far as the earlier of the relay's next retry and the step's
//     deadline. After a jump to a retry time the relay has work due, so
//     the network is not quiet again until that attempt is over.
//
// So each retry happens at its time, each session takes the real time it
// takes (milliseconds on loopback), and a scenario with a 10-minute
// greylist window runs in well under a second.

// quietReporter is a relay that can run under a virtual clock: it says,
// at one instant, whether it is quiet (nothing in progress, nothing due)
// and when its next deferred delivery is due (zero: none).
type quietReporter interface {
	quiet() (quiet bool, next time.Time)
}

var _ quietReporter = (*reference)(nil)

func (ref *reference) quiet() (bool, time.Time) {
	if ref.r == nil {
		return false, time.Time{}
	}
	return ref.r.Quiet()
}

// quietPoll is how often a wait under the virtual clock looks whether
// the network has become quiet.
const quietPoll = 2 * time.Millisecond

// Clock returns the network's virtual clock, or nil when it keeps the
// real time (Config.VirtualClock).
func (env *Env) Clock() *journal.Clock { return env.journal.Clock() }

// now is the network's time.
func (env *Env) now() time.Time { return env.journal.Now() }

// await waits until changed is closed (nil: never), the network's time
// reaches deadline, or ctx ends; only the last is an error. Under a
// virtual clock it moves the clock on while it waits and the network is
// quiet (see the rule above): the caller checked its conditions before
// taking changed from the journal, so a wait that is still on has nothing
// left to see until the clock moves.
func (env *Env) await(ctx context.Context, changed <-chan struct{}, deadline time.Time) error {
	clock := env.journal.Clock()
	if clock == nil {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(left)
		defer t.Stop()
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	for {
		moved := clock.Moved()
		left := deadline.Sub(clock.Now())
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(min(left, quietPoll))
		select {
		case <-changed:
			t.Stop()
			return nil
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-moved:
			t.Stop()
			continue
		case <-t.C:
		}
		select {
		case <-changed:
			return nil // something happened: the caller looks first
		default:
		}
		if to, why, ok := env.quietUntil(deadline); ok {
			if d := clock.Advance(to); d > 0 {
				// Journaled, so a report says where time jumped; the
				// event ends this wait, and the caller looks again.
				env.Control("clock: moved on %s, to %s", seconds(d), why)
			}
		}
	}
}

// quietUntil reports whether the network is quiet, and how far the clock
// may then move, and why: to the relay's next retry, or to deadline when
// that comes first.
func (env *Env) quietUntil(deadline time.Time) (to time.Time, why string, ok bool) {
	to, why = deadline, "the end of the step's wait"
	if env.relay != nil {
		qr, ok := env.relay.(quietReporter)
		if !ok {
			return time.Time{}, "", false
		}
		quiet, next := qr.quiet()
		if !quiet {
			return time.Time{}, "", false
		}
		if !next.IsZero() && next.Before(to) {
			to, why = next, "the relay's next retry"
		}
	}
	if openSessions(env.journal) > 0 {
		return time.Time{}, "", false
	}
	return to, why, true
}

// openSessions counts the SMTP sessions hosts accepted whose end is not
// journaled yet.
func openSessions(j *journal.Journal) int {
	open := map[string]bool{}
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPConnect, journal.KindSMTPDisconnect)) {
		if e.Kind == journal.KindSMTPConnect {
			open[e.Session] = true
		} else {
			delete(open, e.Session)
		}
	}
	return len(open)
}
