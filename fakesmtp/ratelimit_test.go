package fakesmtp

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/journal"
)

// newClockedHost starts a host serving sessions as loop says, with a
// clock that moves only when the test moves it.
func newClockedHost(t *testing.T, b Behavior, loop LoopMode) (*Host, *fakeClock) {
	t.Helper()
	h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", Behavior: b, Loop: loop})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.mu.Lock() // the event loop's goroutine reads it under mu
	h.clock = clock.Now
	h.mu.Unlock()
	return h, clock
}

// dialFrom connects from the loopback address local (":0" port), so
// that the host sees another client address.
func dialFrom(t *testing.T, h *Host, local string) *smtp.Client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatalf("dial %s from %s: %v", h.Addr(), local, err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = 10 * time.Second
	c.SubmissionTimeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

func hello(t *testing.T, c *smtp.Client) {
	t.Helper()
	if err := c.Hello("client.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
}

// TestMessagesPerClient: the host accepts Count messages from a client
// address per window; the next MAIL gets 421 4.7.28 and the connection
// closes, the reply and the disconnect naming the limit; another address
// is not limited; once the window has moved past the first message, the
// client may send again. Both ways of serving sessions agree.
func TestMessagesPerClient(t *testing.T) {
	for _, loop := range []LoopMode{LoopOn, LoopOff} {
		t.Run(string(loop), func(t *testing.T) {
			h, clock := newClockedHost(t, Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Count: 2, Per: time.Minute}}}, loop)
			c := dial(t, h)
			hello(t, c)
			for i := range 2 {
				if err := send(c, "alice@origin.test", []string{"bob@example.test"}, message("m")); err != nil {
					t.Fatalf("message %d: %v", i+1, err)
				}
				clock.Advance(10 * time.Second)
			}
			err := c.Mail("alice@origin.test", nil)
			if code(err) != 421 || enhanced(err) != (smtp.EnhancedCode{4, 7, 28}) {
				t.Fatalf("third MAIL: %v, want 421 4.7.28", err)
			}
			wait(t, h.Journal(), "disconnect after the 421", has(journal.KindSMTPDisconnect, func(e journal.Event) bool {
				return e.Code == 421 && e.Fault == FaultClientRate
			}))
			if n := len(replies(h.Journal(), FaultClientRate)); n != 1 {
				t.Errorf("%d replies with fault %s, want 1", n, FaultClientRate)
			}
			// Another client address has its own count.
			other := dialFrom(t, h, "127.0.0.2")
			hello(t, other)
			if err := send(other, "carol@origin.test", []string{"bob@example.test"}, message("other")); err != nil {
				t.Errorf("from another address: %v", err)
			}
			// Just under a minute after the first message it is still in
			// the window ...
			c2 := dial(t, h)
			hello(t, c2)
			clock.Advance(40*time.Second - time.Nanosecond)
			if err := c2.Mail("alice@origin.test", nil); code(err) != 421 {
				t.Fatalf("MAIL just inside the window: %v, want 421", err)
			}
			// ... and a minute after it, it is not.
			clock.Advance(time.Nanosecond)
			c3 := dial(t, h)
			hello(t, c3)
			if err := send(c3, "alice@origin.test", []string{"bob@example.test"}, message("again")); err != nil {
				t.Fatalf("after the window: %v", err)
			}
			// The window slides: the second message (at 10 s) is in it until
			// 70 s, so two fall in the window again now.
			if err := c3.Mail("alice@origin.test", nil); code(err) != 421 {
				t.Fatalf("MAIL with two messages in the window: %v, want 421", err)
			}
		})
	}
}

// TestMessagesPerRecipient: a recipient that had Count messages in the
// window is refused at RCPT with the limit's reply, others are not, the
// session goes on (not a 421), and a custom reply is sent as written.
func TestMessagesPerRecipient(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply *Reply
		want  int
		enh   smtp.EnhancedCode
	}{
		{"default", nil, 450, smtp.EnhancedCode{4, 2, 1}},
		{"custom", &Reply{Code: 452, Enhanced: "4.2.2", Text: "slow down"}, 452, smtp.EnhancedCode{4, 2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, clock := newClockedHost(t, Behavior{Limits: Limits{MessagesPerRecipient: &RateLimit{Count: 1, Per: time.Hour, Reply: tc.reply}}}, LoopAuto)
			c := dial(t, h)
			hello(t, c)
			if err := send(c, "alice@origin.test", []string{"Bob@Example.test"}, message("first")); err != nil {
				t.Fatal(err)
			}
			if err := c.Mail("alice@origin.test", nil); err != nil {
				t.Fatal(err)
			}
			err := c.Rcpt("bob@example.test", nil)
			if code(err) != tc.want || enhanced(err) != tc.enh {
				t.Fatalf("RCPT bob again: %v, want %d %v", err, tc.want, tc.enh)
			}
			if err := c.Rcpt("carol@example.test", nil); err != nil {
				t.Fatalf("RCPT carol: %v", err)
			}
			if err := c.Reset(); err != nil {
				t.Fatal(err)
			}
			ev := replies(h.Journal(), FaultRecipientRate)
			if len(ev) != 1 || ev[0].Code != tc.want {
				t.Fatalf("replies with fault %s: %v, want one %d", FaultRecipientRate, ev, tc.want)
			}
			clock.Advance(time.Hour)
			if err := send(c, "alice@origin.test", []string{"bob@example.test"}, message("later")); err != nil {
				t.Fatalf("an hour later: %v", err)
			}
		})
	}
}

// TestConnectionsPerClient: a client address may hold Count connections
// open; the next one gets the reply instead of the greeting and is
// closed, a Refused event naming the limit; another address may connect;
// once a connection ends, the address may connect again.
func TestConnectionsPerClient(t *testing.T) {
	for _, loop := range []LoopMode{LoopOn, LoopOff} {
		t.Run(string(loop), func(t *testing.T) {
			h, _ := newClockedHost(t, Behavior{Limits: Limits{ConnectionsPerClient: &ConnLimit{Count: 1, Reply: &Reply{Code: 554, Enhanced: "5.7.1", Text: "one at a time"}}}}, loop)
			c1 := dial(t, h)
			hello(t, c1)
			c2 := dial(t, h)
			err := c2.Hello("client.test")
			if code(err) != 554 || !strings.Contains(err.Error(), "one at a time") {
				t.Fatalf("second connection: %v, want 554 one at a time", err)
			}
			wait(t, h.Journal(), "refused", has(journal.KindSMTPRefused, func(e journal.Event) bool {
				return e.Fault == FaultClientConns && e.Code == 554 && strings.Contains(e.Text, "too many connections from 127.0.0.1 (max 1)")
			}))
			other := dialFrom(t, h, "127.0.0.2")
			hello(t, other)
			c1.Quit()
			waitDisconnects(t, h, 2)
			c3 := dial(t, h)
			if err := c3.Hello("client.test"); err != nil {
				t.Errorf("after the first closed: %v", err)
			}
		})
	}
	t.Run("default reply", func(t *testing.T) {
		h := newHost(t, Behavior{Limits: Limits{ConnectionsPerClient: &ConnLimit{Count: 1}}})
		hello(t, dial(t, h))
		err := dial(t, h).Hello("client.test")
		if code(err) != 421 || enhanced(err) != (smtp.EnhancedCode{4, 7, 0}) {
			t.Fatalf("second connection: %v, want 421 4.7.0", err)
		}
	})
}

// TestRateLimitSet: a rate limit set on a running host counts from then
// on; removed, it forgets what it counted, so setting it again starts
// from nothing.
func TestRateLimitSet(t *testing.T) {
	h, _ := newClockedHost(t, Behavior{}, LoopAuto)
	c := dial(t, h)
	hello(t, c)
	if err := send(c, "alice@origin.test", []string{"bob@example.test"}, message("before")); err != nil {
		t.Fatal(err)
	}
	limited := Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Count: 1, Per: time.Hour, Reply: &Reply{Code: 451, Enhanced: "4.7.28", Text: "later"}}}}
	if err := h.SetBehavior(limited); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "alice@origin.test", []string{"bob@example.test"}, message("first counted")); err != nil {
		t.Fatalf("first message under the limit: %v", err)
	}
	if err := c.Mail("alice@origin.test", nil); code(err) != 451 {
		t.Fatalf("second MAIL: %v, want 451 (and the session goes on)", err)
	}
	if err := h.SetBehavior(Behavior{}); err != nil {
		t.Fatal(err)
	}
	if err := h.SetBehavior(limited); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "alice@origin.test", []string{"bob@example.test"}, message("counted anew")); err != nil {
		t.Fatalf("after the limit was removed and set again: %v", err)
	}
}

// TestMessagesPerClientAtOnce: of the MAILs that sessions send at once,
// exactly Count pass: checking and counting are one step.
func TestMessagesPerClientAtOnce(t *testing.T) {
	const n, limit = 8, 3
	h, _ := newClockedHost(t, Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Count: limit, Per: time.Hour, Reply: &Reply{Code: 451, Enhanced: "4.7.28", Text: "slow down"}}}}, LoopAuto)
	clients := make([]*smtp.Client, n)
	for i := range clients {
		clients[i] = dial(t, h)
		hello(t, clients[i])
	}
	errs := make(chan error, n)
	for _, c := range clients {
		go func() { errs <- c.Mail("alice@origin.test", nil) }()
	}
	ok, refused := 0, 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case code(err) == 451:
			refused++
		default:
			t.Errorf("MAIL: %v", err)
		}
	}
	if ok != limit || refused != n-limit {
		t.Fatalf("%d MAILs accepted and %d refused, want %d and %d", ok, refused, limit, n-limit)
	}
}

// TestCloneLimits: a clone of a behaviour shares none of its limits: a
// change to the copy leaves the running host's behaviour as it was.
func TestCloneLimits(t *testing.T) {
	b := Behavior{Limits: Limits{
		MessagesPerClient:    &RateLimit{Count: 1, Per: time.Minute, Reply: &Reply{Code: 421}},
		MessagesPerRecipient: &RateLimit{Count: 2, Per: time.Minute, Reply: &Reply{Code: 450}},
		ConnectionsPerClient: &ConnLimit{Count: 3, Reply: &Reply{Code: 421}},
	}}
	c := b.Clone()
	c.Limits.MessagesPerClient.Count, c.Limits.MessagesPerClient.Reply.Code = 9, 451
	c.Limits.MessagesPerRecipient.Reply.Code = 452
	c.Limits.ConnectionsPerClient.Count, c.Limits.ConnectionsPerClient.Reply.Code = 9, 554
	l := b.Limits
	if l.MessagesPerClient.Count != 1 || l.MessagesPerClient.Reply.Code != 421 || l.MessagesPerRecipient.Reply.Code != 450 ||
		l.ConnectionsPerClient.Count != 3 || l.ConnectionsPerClient.Reply.Code != 421 {
		t.Errorf("the clone shares limits with the original: %+v", l)
	}
}
