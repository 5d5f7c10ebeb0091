package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/journal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// twoMX is the usual zone: example.test with MX 10 mx1 (.11) and 20 mx2 (.12).
var twoMX = []string{
	"example.test. MX 10 mx1.example.test.",
	"example.test. MX 20 mx2.example.test.",
	"mx1.example.test. A {net}11",
	"mx2.example.test. A {net}12",
}

// delivered fails the test unless h got exactly want messages.
func delivered(t *testing.T, r *Relay, h *fakeHost, want int) []received {
	t.Helper()
	got := h.messages()
	if len(got) != want {
		t.Fatalf("%s got %d messages, want %d\njournal:\n%s", h.Name, len(got), want, r.Journal())
	}
	return got
}

func TestMXPreferenceOrder(t *testing.T) {
	// MX records listed worst first: the relay must still pick pref 10 (rule 6).
	n := newNetwork(t,
		"example.test. MX 20 mx2.example.test.",
		"example.test. MX 10 mx1.example.test.",
		"example.test. MX 30 mx3.example.test.",
		"mx1.example.test. A {net}11", "mx2.example.test. A {net}12", "mx3.example.test. A {net}13")
	mx1 := n.host(11, "mx1.example.test", hostOpts{})
	mx2 := n.host(12, "mx2.example.test", hostOpts{})
	mx3 := n.host(13, "mx3.example.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	got := delivered(t, r, mx1, 1)
	delivered(t, r, mx2, 0)
	delivered(t, r, mx3, 0)
	if got[0].From != "alice@origin.test" || !slices.Equal(got[0].To, []string{"bob@example.test"}) {
		t.Errorf("envelope = %q %q", got[0].From, got[0].To)
	}
	if !strings.Contains(got[0].Data, "Received: from client.test") || !strings.Contains(got[0].Data, "hello") {
		t.Errorf("message lacks Received header or body:\n%s", got[0].Data)
	}
	if h := attemptedHosts(r); !slices.Equal(h, []string{"mx1.example.test"}) {
		t.Errorf("attempts = %v, want [mx1.example.test]", h)
	}
	d := events(r, journal.KindRelayDeliver)
	if len(d) != 1 || !strings.HasPrefix(d[0].Text, fmt.Sprintf("mx1.example.test[%s]:%d id=", n.ip(11), n.port)) ||
		d[0].Message == nil || d[0].Message.From != "alice@origin.test" || d[0].Message.ID == "" {
		t.Errorf("deliver events = %+v", d)
	}
	if s := events(r, journal.KindRelaySubmit); len(s) != 1 || s[0].Message == nil || s[0].Source != "relay" {
		t.Errorf("submit events = %+v", s)
	}
	if q := r.Queue(); len(q) != 0 {
		t.Errorf("queue = %+v, want empty", q)
	}
}

func TestFailoverWhenConnectionRefused(t *testing.T) {
	n := newNetwork(t, twoMX...)
	mx2 := n.host(12, "mx2.example.test", hostOpts{}) // mx1 (.11) has nothing listening
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, mx2, 1)
	if h := attemptedHosts(r); !slices.Equal(h, []string{"mx1.example.test", "mx2.example.test"}) {
		t.Errorf("attempts = %v, want mx1 then mx2", h)
	}
	if n := len(events(r, journal.KindRelayDefer)) + len(events(r, journal.KindRelayBounce)); n != 0 {
		t.Errorf("%d defer/bounce events, want 0", n)
	}
}

func TestEveryAddressOfAHostIsTried(t *testing.T) {
	// Rule 8: mx1 has two addresses; the first refuses.
	n := newNetwork(t,
		"example.test. MX 10 mx1.example.test.",
		"mx1.example.test. A {net}11", "mx1.example.test. A {net}21")
	mx1b := n.host(21, "mx1.example.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, mx1b, 1)
	if a := events(r, journal.KindRelayAttempt); len(a) != 2 {
		t.Errorf("%d attempts, want 2", len(a))
	}
}

func TestBadGreetingMovesToNextHost(t *testing.T) {
	for _, greeting := range []string{"421 4.3.2 mx1 busy, try later", "554 5.3.2 no SMTP service here"} {
		t.Run(greeting[:3], func(t *testing.T) {
			n := newNetwork(t, twoMX...)
			mx2 := n.host(12, "mx2.example.test", hostOpts{})
			conns := n.greeter(11, greeting)
			r := n.startRelay(Config{})
			mustSubmit(t, r, "alice@origin.test", "bob@example.test")
			idle(t, r)
			delivered(t, r, mx2, 1)
			if conns() != 1 {
				t.Errorf("mx1 saw %d connections, want 1", conns())
			}
			if len(events(r, journal.KindRelayBounce)) != 0 {
				t.Errorf("bounced on a %s greeting", greeting[:3])
			}
		})
	}
}

func TestMail4xxMovesToNextHost(t *testing.T) {
	n := newNetwork(t, twoMX...)
	mx1 := n.host(11, "mx1.example.test", hostOpts{Mail: errReply(451, 4, 3, 0, "try later")})
	mx2 := n.host(12, "mx2.example.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, mx1, 0)
	delivered(t, r, mx2, 1)
}

func TestRcpt5xxBouncesWithoutRetry(t *testing.T) {
	n := newNetwork(t, append(twoMX,
		"origin.test. MX 10 mx.origin.test.", "mx.origin.test. A {net}30")...)
	mx1 := n.host(11, "mx1.example.test", hostOpts{Rcpt: func(to string, _ int) error {
		return errReply(550, 5, 1, 1, "no such user "+to)
	}})
	mx2 := n.host(12, "mx2.example.test", hostOpts{})
	origin := n.host(30, "mx.origin.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	r.Flush()
	idle(t, r)

	if got := mx1.rcpts("bob@example.test"); got != 1 {
		t.Errorf("mx1 saw %d RCPT for bob, want 1 (no retry after 5yz)", got)
	}
	delivered(t, r, mx2, 0) // rule 14: a 5yz is final, no next host
	b := events(r, journal.KindRelayBounce)
	if len(b) != 1 || b[0].Code != 550 || !strings.Contains(b[0].Text, "5.1.1") || !strings.Contains(b[0].Text, "bob@example.test") {
		t.Fatalf("bounce events = %+v", b)
	}
	if d := events(r, journal.KindRelayDefer); len(d) != 0 {
		t.Errorf("defer events = %+v", d)
	}
	// The DSN reaches the sender from the null reverse-path.
	dsn := delivered(t, r, origin, 1)[0]
	for _, want := range []string{"Subject: Undelivered Mail Returned to Sender", "multipart/report",
		"Final-Recipient: rfc822; bob@example.test", "Status: 5.1.1", "no such user", "From: MAILER-DAEMON@relay.test"} {
		if !strings.Contains(dsn.Data, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn.Data)
		}
	}
	if dsn.From != "" || !slices.Equal(dsn.To, []string{"alice@origin.test"}) {
		t.Errorf("DSN envelope = %q %q, want <> to alice", dsn.From, dsn.To)
	}
}

func TestBounceOfABounceIsDropped(t *testing.T) {
	n := newNetwork(t, twoMX...) // origin.test does not exist
	n.host(11, "mx1.example.test", hostOpts{Rcpt: func(string, int) error { return errReply(550, 5, 1, 1, "unknown") }})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	b := events(r, journal.KindRelayBounce)
	if len(b) != 2 || !strings.Contains(b[1].Text, "to=alice@origin.test") || !strings.Contains(b[1].Text, "dropped") {
		t.Fatalf("want a bounce for bob and a dropped DSN to alice, got %+v", b)
	}
	if s := events(r, journal.KindRelaySubmit); len(s) != 2 {
		t.Errorf("%d submit events, want 2 (message and one DSN)", len(s))
	}
	if q := r.Queue(); len(q) != 0 {
		t.Errorf("queue = %+v", q)
	}
}

func TestMixedRecipientsGreylistThenFlush(t *testing.T) {
	// Rule 18: 250 for bob, 451 (greylist, rule 17) for carol, 550 for dave.
	n := newNetwork(t, twoMX...)
	mx1 := n.host(11, "mx1.example.test", hostOpts{Rcpt: func(to string, seen int) error {
		switch {
		case to == "carol@example.test" && seen == 0:
			return errReply(451, 4, 7, 1, "greylisted, try again later")
		case to == "dave@example.test":
			return errReply(550, 5, 1, 1, "no such user")
		}
		return nil
	}})
	mx2 := n.host(12, "mx2.example.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test", "carol@example.test", "dave@example.test")
	idle(t, r)

	if got := delivered(t, r, mx1, 1)[0].To; !slices.Equal(got, []string{"bob@example.test"}) {
		t.Errorf("first delivery to %v, want bob only", got)
	}
	q := r.Queue()
	if len(q) != 1 || !slices.Equal(q[0].To, []string{"carol@example.test"}) || q[0].Attempts != 1 ||
		!strings.Contains(q[0].LastError, "451 4.7.1") || !q[0].NextTry.After(time.Now()) {
		t.Fatalf("queue = %+v, want carol deferred after one attempt", q)
	}
	if d := events(r, journal.KindRelayDefer); len(d) != 1 || d[0].Code != 451 || !strings.Contains(d[0].Text, "carol@example.test") {
		t.Errorf("defer events = %+v", d)
	}
	// The second bounce is the DSN to alice@origin.test, which does not exist.
	if b := events(r, journal.KindRelayBounce); len(b) != 2 || !strings.Contains(b[0].Text, "dave@example.test") {
		t.Errorf("bounce events = %+v", b)
	}

	r.Flush()
	idle(t, r)
	got := delivered(t, r, mx1, 2)
	if !slices.Equal(got[1].To, []string{"carol@example.test"}) {
		t.Errorf("retry delivered to %v, want carol", got[1].To)
	}
	delivered(t, r, mx2, 0) // a 4yz RCPT is retried later, not at the next MX
	if mx1.rcpts("dave@example.test") != 1 {
		t.Errorf("dave was retried after a 5yz")
	}
	if q := r.Queue(); len(q) != 0 {
		t.Errorf("queue after flush = %+v", q)
	}
}

func TestMail5xxBouncesEveryRecipient(t *testing.T) {
	n := newNetwork(t, twoMX...)
	n.host(11, "mx1.example.test", hostOpts{Mail: errReply(553, 5, 7, 1, "sender rejected")})
	mx2 := n.host(12, "mx2.example.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test", "carol@example.test")
	idle(t, r)
	delivered(t, r, mx2, 0)
	var bob, carol bool
	for _, b := range events(r, journal.KindRelayBounce) {
		bob = bob || strings.Contains(b.Text, "to=bob@example.test: 553 5.7.1")
		carol = carol || strings.Contains(b.Text, "to=carol@example.test: 553 5.7.1")
	}
	if !bob || !carol {
		t.Errorf("want both recipients bounced with 553 5.7.1\n%s", r.Journal())
	}
}

func TestData5xxBounces(t *testing.T) {
	n := newNetwork(t, twoMX...)
	n.host(11, "mx1.example.test", hostOpts{Data: errReply(554, 5, 6, 0, "content rejected")})
	mx2 := n.host(12, "mx2.example.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, mx2, 0)
	if b := events(r, journal.KindRelayBounce); len(b) == 0 || b[0].Code != 554 {
		t.Errorf("bounce events = %+v", b)
	}
}

func TestServfailDefersThenDelivers(t *testing.T) {
	n := newNetwork(t, twoMX...)
	mx1 := n.host(11, "mx1.example.test", hostOpts{})
	n.dns.fail("example.test", dns.RcodeServerFailure)
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	d := events(r, journal.KindRelayDefer)
	if len(d) != 1 || d[0].Code != 451 || !strings.Contains(d[0].Text, "4.4.3") {
		t.Fatalf("defer events = %+v", d)
	}
	if len(events(r, journal.KindRelayBounce)) != 0 || len(r.Queue()) != 1 {
		t.Fatalf("want deferred, no bounce; queue %+v", r.Queue())
	}
	n.dns.fail("example.test", 0)
	r.Flush()
	idle(t, r)
	delivered(t, r, mx1, 1)
}

func TestDNSTimeoutDefers(t *testing.T) {
	n := newNetwork(t, twoMX...)
	n.dns.fail("example.test", -1)
	r := n.startRelay(Config{Timeout: 200 * time.Millisecond})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	if d := events(r, journal.KindRelayDefer); len(d) != 1 || !strings.Contains(d[0].Text, "4.4.3") {
		t.Fatalf("defer events = %+v", d)
	}
	if len(events(r, journal.KindRelayBounce)) != 0 {
		t.Error("bounced on a DNS timeout")
	}
}

func TestNXDomainBounces(t *testing.T) {
	n := newNetwork(t, twoMX...)
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@nowhere.test")
	idle(t, r)
	b := events(r, journal.KindRelayBounce)
	if len(b) < 1 || b[0].Code != 550 || !strings.Contains(b[0].Text, "5.1.2") || !strings.Contains(b[0].Text, "bob@nowhere.test") {
		t.Fatalf("bounce events = %+v", b)
	}
	if len(events(r, journal.KindRelayAttempt)) != 0 || len(r.Queue()) != 0 {
		t.Error("NXDOMAIN must bounce without any attempt and leave nothing queued")
	}
}

func TestNullMXBouncesWithoutAddressLookup(t *testing.T) {
	n := newNetwork(t, "nomail.test. MX 0 .", "nomail.test. A {net}11")
	h := n.host(11, "nomail.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@nomail.test")
	idle(t, r)
	b := events(r, journal.KindRelayBounce)
	if len(b) < 1 || b[0].Code != 556 || !strings.Contains(b[0].Text, "5.1.10") {
		t.Fatalf("bounce events = %+v", b)
	}
	delivered(t, r, h, 0)
	if n.dns.asked("nomail.test", "A") || n.dns.asked("nomail.test", "AAAA") {
		t.Error("the relay looked up the address of a null-MX domain")
	}
}

func TestImplicitMX(t *testing.T) {
	n := newNetwork(t, "plain.test. A {net}11", "plain.test. TXT \"v=spf1 -all\"")
	h := n.host(11, "plain.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@plain.test")
	idle(t, r)
	delivered(t, r, h, 1)
}

func TestCNAMEAtDomainIsFollowed(t *testing.T) {
	n := newNetwork(t, append(twoMX, "alias.test. CNAME example.test.")...)
	mx1 := n.host(11, "mx1.example.test", hostOpts{})
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@alias.test")
	idle(t, r)
	delivered(t, r, mx1, 1)
}

func TestMXPresentNeverUsesDomainAddress(t *testing.T) {
	n := newNetwork(t,
		"example.test. MX 10 mx1.example.test.",
		"mx1.example.test. A {net}11",
		"example.test. A {net}12")
	apex := n.host(12, "example.test", hostOpts{}) // mx1 is down
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, apex, 0)
	if n.dns.asked("example.test", "A") {
		t.Error("the relay looked up the A record of a domain that has MX records")
	}
	if q := r.Queue(); len(q) != 1 || q[0].Attempts != 1 {
		t.Errorf("queue = %+v, want one deferred message", q)
	}
}

func TestMXHostsWithoutAddress(t *testing.T) {
	t.Run("all NXDOMAIN bounces 5.4.4", func(t *testing.T) {
		n := newNetwork(t, "example.test. MX 10 gone1.example.test.", "example.test. MX 20 gone2.example.test.")
		r := n.startRelay(Config{})
		mustSubmit(t, r, "alice@origin.test", "bob@example.test")
		idle(t, r)
		if b := events(r, journal.KindRelayBounce); len(b) < 1 || !strings.Contains(b[0].Text, "5.4.4") {
			t.Fatalf("bounce events = %+v", b)
		}
	})
	t.Run("temporary failure defers", func(t *testing.T) {
		n := newNetwork(t, "example.test. MX 10 mx1.example.test.", "mx1.example.test. A {net}11")
		n.dns.fail("mx1.example.test", dns.RcodeServerFailure)
		r := n.startRelay(Config{})
		mustSubmit(t, r, "alice@origin.test", "bob@example.test")
		idle(t, r)
		if len(events(r, journal.KindRelayBounce)) != 0 || len(r.Queue()) != 1 {
			t.Fatalf("want deferred\n%s", r.Journal())
		}
	})
}

func TestOwnHostnameInMX(t *testing.T) {
	n := newNetwork(t,
		"example.test. MX 10 mx1.example.test.",
		"example.test. MX 20 relay.test.",
		"example.test. MX 30 mx3.example.test.",
		"mx1.example.test. A {net}11", "relay.test. A {net}12", "mx3.example.test. A {net}13")
	mx3 := n.host(13, "mx3.example.test", hostOpts{}) // mx1 is down
	r := n.startRelay(Config{})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, mx3, 0) // rule 11: worse than ourselves is dropped
	if h := attemptedHosts(r); !slices.Equal(h, []string{"mx1.example.test"}) {
		t.Errorf("attempts = %v, want only mx1", h)
	}

	n.zone("loop.test. MX 10 relay.test.")
	mustSubmit(t, r, "alice@origin.test", "bob@loop.test")
	idle(t, r)
	if b := events(r, journal.KindRelayBounce); len(b) < 1 || !strings.Contains(b[0].Text, "5.4.6") {
		t.Errorf("bounce events = %+v", b)
	}
}

func TestEqualPreferenceIsShuffled(t *testing.T) {
	n := newNetwork(t,
		"example.test. MX 10 mx1.example.test.", "example.test. MX 10 mx2.example.test.",
		"mx1.example.test. A {net}11", "mx2.example.test. A {net}12")
	mx1 := n.host(11, "mx1.example.test", hostOpts{})
	mx2 := n.host(12, "mx2.example.test", hostOpts{})
	r := n.startRelay(Config{Rand: mrand.New(mrand.NewPCG(7, 7))})
	const total = 40
	for i := range total {
		// One at a time, so the seeded Rand is drawn in a fixed order.
		mustSubmit(t, r, "alice@origin.test", fmt.Sprintf("u%d@example.test", i))
		idle(t, r)
	}
	a, b := len(mx1.messages()), len(mx2.messages())
	if a+b != total || a < 5 || b < 5 {
		t.Errorf("mx1 got %d, mx2 got %d of %d: equal preferences are not shuffled", a, b, total)
	}
	if h := attemptedHosts(r); len(h) != total {
		t.Errorf("%d attempts for %d messages: a second host was tried though the first accepted", len(h), total)
	}
}

func TestMaxLifetimeBounces(t *testing.T) {
	n := newNetwork(t, twoMX...) // both hosts down
	n.host(13, "unused.test", hostOpts{})
	r := n.startRelay(Config{MaxLifetime: time.Nanosecond})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	if b := events(r, journal.KindRelayBounce); len(b) < 1 || !strings.Contains(b[0].Text, "5.4.7") || !strings.Contains(b[0].Text, "bob@example.test") {
		t.Fatalf("bounce events = %+v", b)
	}
	if q := r.Queue(); len(q) != 0 {
		t.Errorf("queue = %+v", q)
	}
}

func TestRetryIntervalRetriesWithoutFlush(t *testing.T) {
	n := newNetwork(t, twoMX...)
	mx1 := n.host(11, "mx1.example.test", hostOpts{Rcpt: func(_ string, seen int) error {
		if seen == 0 {
			return errReply(450, 4, 7, 1, "greylisted")
		}
		return nil
	}})
	r := n.startRelay(Config{RetryInterval: 50 * time.Millisecond})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := r.Journal().Wait(ctx, func(ev []journal.Event) bool {
		return slices.ContainsFunc(ev, func(e journal.Event) bool { return e.Kind == journal.KindRelayDeliver })
	})
	if err != nil {
		t.Fatalf("no delivery after retry: %v\n%s", err, r.Journal())
	}
	delivered(t, r, mx1, 1)
}

func TestSTARTTLSPolicies(t *testing.T) {
	ca := newCA(t)
	valid := func() *tls.Config { return ca.serverTLS("mx1.example.test", false) }
	brokenTLS := func() *tls.Config { // offers STARTTLS, but no version the relay accepts
		c := ca.serverTLS("mx1.example.test", false)
		c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		return c
	}
	cases := []struct {
		name      string
		policy    TLSPolicy
		tls       func() *tls.Config // nil: no STARTTLS
		delivered bool
		wantTLS   bool
	}{
		{"may with STARTTLS", TLSMay, valid, true, true},
		{"may without STARTTLS", TLSMay, nil, true, false},
		{"none ignores STARTTLS", TLSNone, valid, true, false},
		{"encrypt without STARTTLS", TLSEncrypt, nil, false, false},
		{"encrypt accepts wrong name", TLSEncrypt, func() *tls.Config { return ca.serverTLS("other.test", false) }, true, true},
		{"verify valid", TLSVerify, valid, true, true},
		{"verify wrong name", TLSVerify, func() *tls.Config { return ca.serverTLS("other.test", false) }, false, false},
		{"verify expired", TLSVerify, func() *tls.Config { return ca.serverTLS("mx1.example.test", true) }, false, false},
		{"verify untrusted CA", TLSVerify, func() *tls.Config { return newCA(t).serverTLS("mx1.example.test", false) }, false, false},
		{"verify without STARTTLS", TLSVerify, nil, false, false},
		{"may falls back to plaintext after a failed handshake", TLSMay, brokenTLS, true, false},
		{"encrypt skips a failed handshake", TLSEncrypt, brokenTLS, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, "example.test. MX 10 mx1.example.test.", "mx1.example.test. A {net}11")
			opts := hostOpts{}
			if tc.tls != nil {
				opts.TLS = tc.tls()
			}
			mx1 := n.host(11, "mx1.example.test", opts)
			r := n.startRelay(Config{TLS: tc.policy, RootCAs: ca.Pool})
			mustSubmit(t, r, "alice@origin.test", "bob@example.test")
			idle(t, r)
			msgs := mx1.messages()
			if got := len(msgs) == 1; got != tc.delivered {
				t.Fatalf("delivered = %v, want %v\n%s", got, tc.delivered, r.Journal())
			}
			if tc.delivered && msgs[0].TLS != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", msgs[0].TLS, tc.wantTLS)
			}
			if !tc.delivered {
				if len(r.Queue()) != 1 || len(events(r, journal.KindRelayBounce)) != 0 {
					t.Errorf("want deferred, not bounced: queue %+v", r.Queue())
				}
			}
		})
	}
}

func TestVerifySkipsWrongNameAndFailsOver(t *testing.T) {
	ca := newCA(t)
	n := newNetwork(t, twoMX...)
	mx1 := n.host(11, "mx1.example.test", hostOpts{TLS: ca.serverTLS("wrong.example.test", false)})
	mx2 := n.host(12, "mx2.example.test", hostOpts{TLS: ca.serverTLS("mx2.example.test", false)})
	r := n.startRelay(Config{TLS: TLSVerify, RootCAs: ca.Pool})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, mx1, 0)
	if m := delivered(t, r, mx2, 1); !m[0].TLS {
		t.Error("mx2 got the message without TLS")
	}
}

func TestSmarthostAuthAfterSTARTTLS(t *testing.T) {
	ca := newCA(t)
	for _, sh := range []string{"[smart.test]", "smart.test"} {
		t.Run(sh, func(t *testing.T) {
			n := newNetwork(t, "smart.test. A {net}20", "example.test. MX 10 mx1.example.test.", "mx1.example.test. A {net}11")
			mx1 := n.host(11, "mx1.example.test", hostOpts{})
			smart := n.host(20, "smart.test", hostOpts{TLS: ca.serverTLS("smart.test", false), Users: map[string]string{"relay": "secret"}})
			r := n.startRelay(Config{Smarthost: sh, SmarthostAuth: &Credentials{User: "relay", Password: "secret"}})
			mustSubmit(t, r, "alice@origin.test", "bob@example.test", "carol@other.test")
			idle(t, r)
			delivered(t, r, mx1, 0)
			m := delivered(t, r, smart, 1)[0]
			if !m.TLS || m.AuthUser != "relay" || len(m.To) != 2 {
				t.Errorf("smarthost got %+v, want TLS, AUTH as relay, both recipients", m)
			}
		})
	}
}

func TestSmarthostPortOverride(t *testing.T) {
	n := newNetwork(t, "smart.test. A {net}20")
	mx := n.host(11, "placeholder.test", hostOpts{}) // fixes the network port
	_ = mx
	l, err := net.Listen("tcp", n.ip(20)+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n2 := &network{t: t, prefix: n.prefix, port: port, dns: n.dns}
	smart := n2.host(20, "smart.test", hostOpts{})
	r := n.startRelay(Config{Smarthost: fmt.Sprintf("[smart.test]:%d", port)})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, smart, 1)
}

func TestSmarthostNeverAuthsInPlaintext(t *testing.T) {
	users := map[string]string{"relay": "secret"}
	n := newNetwork(t, "smart.test. A {net}20")
	smart := n.host(20, "smart.test", hostOpts{Users: users, Insecure: true}) // AUTH offered, no STARTTLS
	r := n.startRelay(Config{Smarthost: "[smart.test]", SmarthostAuth: &Credentials{User: "relay", Password: "secret"}})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, smart, 0)
	if _, auths := smart.counts(); auths != 0 {
		t.Errorf("the relay sent AUTH %d times without TLS", auths)
	}
	if d := events(r, journal.KindRelayDefer); len(d) != 1 || !strings.Contains(d[0].Text, "without TLS") {
		t.Errorf("defer events = %+v", d)
	}

	t.Run("AllowInsecureAuth", func(t *testing.T) {
		r := n.startRelay(Config{Smarthost: "[smart.test]", SmarthostAuth: &Credentials{User: "relay", Password: "secret"}, AllowInsecureAuth: true})
		mustSubmit(t, r, "alice@origin.test", "bob@example.test")
		idle(t, r)
		if m := delivered(t, r, smart, 1)[0]; m.AuthUser != "relay" || m.TLS {
			t.Errorf("got %+v", m)
		}
	})
}

func TestSmarthostNXDomainDefers(t *testing.T) {
	n := newNetwork(t, twoMX...)
	r := n.startRelay(Config{Smarthost: "gone.test"})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	if len(events(r, journal.KindRelayBounce)) != 0 || len(r.Queue()) != 1 {
		t.Errorf("want deferred\n%s", r.Journal())
	}
}

func TestSubmissionAuth(t *testing.T) {
	n := newNetwork(t, twoMX...)
	n.host(11, "mx1.example.test", hostOpts{})
	r := n.startRelay(Config{SubmitUsers: map[string]string{"alice": "pw"}})

	err := submit(r.Addr(), nil, "alice@origin.test", "bob@example.test")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 530 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 0}) {
		t.Errorf("submit without AUTH: %v, want 530 5.7.0", err)
	}
	err = submit(r.Addr(), sasl.NewPlainClient("", "alice", "wrong"), "alice@origin.test", "bob@example.test")
	if !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("submit with a bad password: %v, want 535", err)
	}
	if err := submit(r.Addr(), sasl.NewPlainClient("", "alice", "pw"), "alice@origin.test", "bob@example.test"); err != nil {
		t.Errorf("submit with AUTH PLAIN: %v", err)
	}
	if err := submit(r.Addr(), sasl.NewLoginClient("alice", "pw"), "alice@origin.test", "bob@example.test"); err != nil {
		t.Errorf("submit with AUTH LOGIN: %v", err)
	}
	idle(t, r)
	if s := events(r, journal.KindRelaySubmit); len(s) != 2 {
		t.Errorf("%d submit events, want 2", len(s))
	}
}

func TestSubmissionRejectsBadRecipient(t *testing.T) {
	n := newNetwork(t)
	r := n.startRelay(Config{})
	err := submit(r.Addr(), nil, "alice@origin.test", "nobody")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 501 {
		t.Errorf("submit to a bare name: %v, want 501", err)
	}
}

func TestCloseStopsInFlightDelivery(t *testing.T) {
	n := newNetwork(t, twoMX...)
	// mx1 accepts the connection and never greets.
	l := n.listen(11)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	r, err := Start(Config{DNS: n.dns.Addr, Port: n.port, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	c := <-accepted
	if c == nil {
		t.Fatal("the relay never connected")
	}
	defer c.Close()
	defer l.Close()
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.Idle(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Idle after Close = %v, want ErrClosed", err)
	}
	if _, err := net.Dial("tcp", r.Addr()); err == nil {
		t.Error("the submission listener still accepts after Close")
	}
	// goleak (TestMain) checks that nothing of the relay is left.
}

func TestIdleHonoursContext(t *testing.T) {
	n := newNetwork(t, twoMX...)
	l := n.listen(11) // never accepts: the connect hangs in the backlog
	defer l.Close()
	r := n.startRelay(Config{Timeout: time.Minute})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Idle(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Idle = %v, want context.Canceled", err)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ok := "127.0.0.1:53"
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no DNS", Config{}, "DNS is required"},
		{"DNS without port", Config{DNS: "127.0.0.1"}, "DNS"},
		{"DNS not an IP", Config{DNS: "dns.test:53"}, "DNS"},
		{"bad hostname", Config{DNS: ok, Hostname: "bad host"}, "Hostname"},
		{"bad listen", Config{DNS: ok, Listen: "nowhere"}, "Listen"},
		{"port out of range", Config{DNS: ok, Port: 70000}, "Port"},
		{"negative port", Config{DNS: ok, Port: -1}, "Port"},
		{"bad TLS", Config{DNS: ok, TLS: "sometimes"}, "TLS"},
		{"negative retry", Config{DNS: ok, RetryInterval: -time.Second}, "RetryInterval"},
		{"negative lifetime", Config{DNS: ok, MaxLifetime: -time.Second}, "MaxLifetime"},
		{"negative timeout", Config{DNS: ok, Timeout: -time.Second}, "Timeout"},
		{"one MX host", Config{DNS: ok, MaxMXHosts: 1}, "MaxMXHosts"},
		{"smarthost bracket", Config{DNS: ok, Smarthost: "[smart.test"}, "Smarthost"},
		{"smarthost port", Config{DNS: ok, Smarthost: "smart.test:x"}, "Smarthost"},
		{"smarthost junk", Config{DNS: ok, Smarthost: "[smart.test]x"}, "Smarthost"},
		{"auth without smarthost", Config{DNS: ok, SmarthostAuth: &Credentials{User: "u"}}, "SmarthostAuth"},
		{"auth without user", Config{DNS: ok, Smarthost: "smart.test", SmarthostAuth: &Credentials{}}, "SmarthostAuth"},
		{"empty submit user", Config{DNS: ok, SubmitUsers: map[string]string{"": "pw"}}, "SubmitUsers"},
		{"submission without users", Config{DNS: ok, SubmissionListen: "127.0.0.1:0"}, "SubmissionListen"},
		{"submissions without users", Config{DNS: ok, SubmissionsListen: "127.0.0.1:0"}, "SubmissionsListen"},
		{"submission not host:port", Config{DNS: ok, SubmissionListen: "587", SubmitUsers: map[string]string{"u": "p"}}, "SubmissionListen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Start(tc.cfg)
			if err == nil {
				r.Close()
				t.Fatal("Start accepted a bad config")
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
	t.Run("listen address in use", func(t *testing.T) {
		r, err := Start(Config{DNS: ok, Listen: busy.Addr().String()})
		if err == nil {
			r.Close()
			t.Fatal("Start bound a busy address")
		}
		if !strings.Contains(err.Error(), busy.Addr().String()) {
			t.Errorf("err = %v, want the address named", err)
		}
	})
}

func TestParseSmarthost(t *testing.T) {
	cases := []struct {
		in   string
		want smarthost
	}{
		{"smart.test", smarthost{Host: "smart.test", Port: 25}},
		{"Smart.Test.:587", smarthost{Host: "smart.test", Port: 587}},
		{"[smart.test]", smarthost{Host: "smart.test", NoMX: true, Port: 25}},
		{"[smart.test]:2525", smarthost{Host: "smart.test", NoMX: true, Port: 2525}},
	}
	for _, tc := range cases {
		got, err := parseSmarthost(tc.in, 25)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		tc.want.Source = tc.in
		if *got != tc.want {
			t.Errorf("%q = %+v, want %+v", tc.in, *got, tc.want)
		}
	}
}
