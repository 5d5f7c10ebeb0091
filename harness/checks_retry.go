package harness

import (
	"fmt"
	"strings"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// flushControl is the control event Env.Flush writes: the scenario asked
// the relay to retry now.
const flushControl = "flush: relay asked to retry its queue"

// CheckRetryGap checks that the relay waits before it retries host (RFC
// 5321 §4.5.4.1: "The sender MUST delay retrying a particular destination
// after one attempt has failed"): after every session at host in which
// the host replied 4yz and accepted no message, the next connection to
// host came at least atLeast after that session ended.
//
// What is not a retry does not count: a 4yz to STARTTLS (the relay may go
// on without TLS, in the same session or a new one), a session that ended
// by a failed TLS handshake or a dropped connection with no 4yz, another
// address of the same name (another simulated host), and a connection
// after a flush (Env.Flush: the test asked for it). A gap runs from the
// host's end of the failed session to its next connection, accepted or
// refused. Connections for other messages count too: the RFC speaks of
// the destination, not of the message.
func CheckRetryGap(j *journal.Journal, host string, atLeast time.Duration) error {
	type session struct {
		lastVerb string
		failed   int // the first 4yz reply's code, 0 when none
		accepted bool
	}
	sessions := map[string]*session{}
	var (
		failEnd     time.Time // end of the last failed session not yet followed by a connection
		failSession string
		failCode    int
		flushed     bool
		problems    []string
	)
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPConnect, journal.KindSMTPRefused, journal.KindSMTPCommand,
		journal.KindSMTPReply, journal.KindSMTPMessage, journal.KindSMTPDisconnect, journal.KindControl)) {
		if e.Kind == journal.KindControl {
			if e.Text == flushControl && !failEnd.IsZero() {
				flushed = true
			}
			continue
		}
		if !sameHost(e.Source, host) {
			continue
		}
		s := sessions[e.Session]
		if s == nil {
			s = &session{}
			sessions[e.Session] = s
		}
		switch e.Kind {
		case journal.KindSMTPConnect, journal.KindSMTPRefused:
			if !failEnd.IsZero() && !flushed {
				if gap := e.Time.Sub(failEnd); gap < atLeast {
					problems = append(problems, fmt.Sprintf("session %s ended with %d and the next connection (%s) came %s later",
						failSession, failCode, connName(e), gap.Round(time.Millisecond)))
				}
			}
			failEnd, flushed = time.Time{}, false
		case journal.KindSMTPCommand:
			s.lastVerb, _, _ = strings.Cut(strings.ToUpper(strings.TrimSpace(e.Text)), " ")
		case journal.KindSMTPReply:
			if e.Code >= 400 && e.Code < 500 && s.lastVerb != "STARTTLS" && s.failed == 0 {
				s.failed = e.Code
			}
		case journal.KindSMTPMessage:
			s.accepted = true
		case journal.KindSMTPDisconnect:
			if s.failed != 0 && !s.accepted {
				failEnd, failSession, failCode, flushed = e.Time, e.Session, s.failed, false
			}
			delete(sessions, e.Session)
		}
	}
	if len(problems) > 0 {
		return checkFailed("retried %s sooner than %s after a 4yz: %s", host, atLeast, strings.Join(problems, "; "))
	}
	return nil
}

// connName names a new connection for CheckRetryGap's messages.
func connName(e journal.Event) string {
	if e.Kind == journal.KindSMTPRefused {
		return "refused"
	}
	return "session " + e.Session
}

// retryGapDefault is retry_gap's at_least when the scenario leaves it
// out: half the relay's retry interval. Real MTAs keep the next attempt's
// time in whole seconds, from a clock read before they wait for the
// delivery's result, and find due mail on periodic queue scans: Postfix,
// set to retry after 2 s, was measured retrying 1.0 s after the failed
// session ended. Half the interval still catches a relay that retries at
// once, and is fair to one whose clock is that coarse.
func retryGapDefault(interval time.Duration) time.Duration { return interval / 2 }
