package harness

import (
	"fmt"
	"strings"
	"time"

	"github.com/onsi/gomega/types"

	"github.com/mxsim/mxsim/journal"
)

// Gomega matchers over an *Env or a *journal.Journal, built on the Check
// functions. With Eventually they wait:
//
//	Eventually(env).WithTimeout(5 * time.Second).Should(harness.HaveDelivered("bob@example.test", "mx2.example.test"))

// HaveDelivered succeeds when a message to to was accepted at host at
// (any host when at is empty).
func HaveDelivered(to, at string) types.GomegaMatcher {
	return &checkMatcher{
		desc:  fmt.Sprintf("to have delivered to %s%s", to, atHost(at)),
		check: func(j *journal.Journal) error { return CheckDelivered(j, to, at) },
	}
}

// HaveAttemptedInOrder succeeds when the relay's first attempts went to
// hosts in this order.
func HaveAttemptedInOrder(hosts ...string) types.GomegaMatcher {
	return &checkMatcher{
		desc:  fmt.Sprintf("to have attempted [%s] in this order", strings.Join(hosts, ", ")),
		check: func(j *journal.Journal) error { return CheckAttemptedInOrder(j, hosts...) },
	}
}

// HaveUsedTLS succeeds when a session at host completed a TLS handshake.
func HaveUsedTLS(host string) types.GomegaMatcher {
	return &checkMatcher{
		desc:  "to have used TLS at " + host,
		check: func(j *journal.Journal) error { return CheckUsedTLS(j, host) },
	}
}

// HaveAuthenticated succeeds when a client authenticated at host as user.
func HaveAuthenticated(host, user string) types.GomegaMatcher {
	return &checkMatcher{
		desc:  fmt.Sprintf("to have authenticated at %s as %q", host, user),
		check: func(j *journal.Journal) error { return CheckAuthenticated(j, host, user) },
	}
}

// HaveBounced succeeds when a bounce with status reached sender.
func HaveBounced(sender, status string) types.GomegaMatcher {
	return &checkMatcher{
		desc:  fmt.Sprintf("to have bounced to %s with %q", sender, status),
		check: func(j *journal.Journal) error { return CheckBounced(j, sender, status) },
	}
}

// HaveDeliveredTimes succeeds when exactly n deliveries to to happened
// at host at (any host when at is empty), counted as Deliveries counts
// them.
func HaveDeliveredTimes(to, at string, n int) types.GomegaMatcher {
	return &checkMatcher{
		desc:  fmt.Sprintf("to have delivered to %s%s exactly %d times", to, atHost(at), n),
		check: func(j *journal.Journal) error { return CheckDeliveredCount(j, to, at, n) },
	}
}

// HaveDeliveredNotBefore succeeds when a message to to was accepted at
// host at (any host when at is empty), each such delivery notBefore or
// more after the relay accepted its submission (CheckDeliveredNotBefore).
// A delivery that came too soon stays too soon: Eventually gives up at
// once rather than wait out its timeout.
func HaveDeliveredNotBefore(to, at string, notBefore time.Duration) types.GomegaMatcher {
	return &checkMatcher{
		desc:  fmt.Sprintf("to have delivered to %s%s not before %s after its submission", to, atHost(at), notBefore),
		check: func(j *journal.Journal) error { return CheckDeliveredNotBefore(j, to, at, notBefore) },
	}
}

// HaveAttemptedAtMost succeeds when host saw at most max connections in
// any span of within (in all when within is 0): no hammering after a 421
// (CheckAttempts). Use it with Consistently, or once the relay is done.
func HaveAttemptedAtMost(host string, max int, within time.Duration) types.GomegaMatcher {
	desc := fmt.Sprintf("to have made at most %d connections to %s", max, host)
	if within > 0 {
		desc += " within " + within.String()
	}
	return &checkMatcher{
		desc:  desc,
		check: func(j *journal.Journal) error { return CheckAttempts(j, host, max, within) },
	}
}

// HaveNoDuplicateDeliveries succeeds when no message reached one
// recipient twice (CheckAtMostOnce). Judge it once the relay is done:
// after Env.Close, or when nothing is moving any more.
func HaveNoDuplicateDeliveries() types.GomegaMatcher {
	return &checkMatcher{
		desc:  "to have delivered each message at most once to each recipient",
		check: CheckAtMostOnce,
	}
}

// Satisfy succeeds when check returns nil for the journal: a way to use
// any Check function, or one of your own, as a matcher.
func Satisfy(desc string, check func(*journal.Journal) error) types.GomegaMatcher {
	return &checkMatcher{desc: desc, check: check}
}

type checkMatcher struct {
	desc    string
	check   func(*journal.Journal) error
	lastErr error
	journal *journal.Journal
}

var _ types.GomegaMatcher = (*checkMatcher)(nil)

func (m *checkMatcher) Match(actual any) (bool, error) {
	switch a := actual.(type) {
	case *Env:
		m.journal = a.Journal()
	case *journal.Journal:
		m.journal = a
	default:
		return false, fmt.Errorf("harness matcher: want *harness.Env or *journal.Journal, got %T", actual)
	}
	m.lastErr = m.check(m.journal)
	return m.lastErr == nil, nil
}

// MatchMayChangeInTheFuture tells Eventually to stop polling once the
// check has failed for good (a delivery that came too soon).
func (m *checkMatcher) MatchMayChangeInTheFuture(any) bool { return !isSettled(m.lastErr) }

func (m *checkMatcher) FailureMessage(any) string {
	return fmt.Sprintf("Expected the network %s, but: %v\njournal:\n%s", m.desc, m.lastErr, m.journal)
}

func (m *checkMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected the network not %s, but it did\njournal:\n%s", m.desc, m.journal)
}
