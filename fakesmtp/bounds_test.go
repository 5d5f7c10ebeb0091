package fakesmtp

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// Tests of what is bounded on a host: the message size, the greylist
// table, the time a session sits in a delay. The ones about sockets run
// in both serving modes, whatever MXSIM_FAKESMTP_LOOP says.

// inBothModes runs f once per way of serving sessions: the event loop
// (where there is one) and a goroutine per session.
func inBothModes(t *testing.T, f func(t *testing.T, mode LoopMode)) {
	for _, mode := range []LoopMode{LoopOn, LoopOff} {
		t.Run("loop="+string(mode), func(t *testing.T) { f(t, mode) })
	}
}

// hostIn starts a host served as mode says and closes it at cleanup.
func hostIn(t testing.TB, mode LoopMode, b Behavior) *Host {
	t.Helper()
	h, err := NewHost(Config{Name: hostName, Behavior: b, Loop: mode})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// overDefaultSize is a message of DefaultMaxSize+1 bytes or a little
// more, in lines of 1000 octets (RFC 5321 §4.5.3.1.6), then the end of
// data. It is made once: the tests that send it share it.
var overDefaultSize = sync.OnceValue(func() []byte {
	b := make([]byte, 0, DefaultMaxSize+2000)
	b = append(b, "Subject: big\r\n\r\n"...)
	line := strings.Repeat("x", 998) + "\r\n"
	for len(b) <= DefaultMaxSize {
		b = append(b, line...)
	}
	return append(b, ".\r\n"...)
})

// sendSlowly writes p on a connection of r, allowing for a slow machine:
// 50 MiB through the race detector on a busy shared CPU takes a while.
func sendSlowly(r *rawClient, p []byte) {
	r.t.Helper()
	_ = r.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := r.conn.Write(p); err != nil {
		r.t.Fatal(err)
	}
}

// TestDefaultSizeLimit: a host whose behaviour names no size limit has
// DefaultMaxSize, advertised in the EHLO reply (RFC 1870 §4) and enforced
// with 552 5.3.4: at once for a larger declared SIZE (§6.2), after the
// data for a larger message (§6.3). The session goes on after either.
func TestDefaultSizeLimit(t *testing.T) {
	big := overDefaultSize()
	inBothModes(t, func(t *testing.T, mode LoopMode) {
		h := hostIn(t, mode, Behavior{})
		r, _ := openRaw(t, h)
		ehlo := r.cmd("EHLO client.test", "250")
		if !strings.HasSuffix(ehlo, "\n250 SIZE "+strconv.Itoa(DefaultMaxSize)) {
			t.Errorf("EHLO reply %q, want it to end in SIZE %d", ehlo, DefaultMaxSize)
		}
		r.cmd("MAIL FROM:<a@origin.test> SIZE="+strconv.Itoa(DefaultMaxSize+1), "552 5.3.4 ")
		r.cmd("MAIL FROM:<a@origin.test> SIZE="+strconv.Itoa(DefaultMaxSize), "250 2.1.0 ")
		r.run(steps(stepRcpt, step{"DATA", "354 "}))
		sendSlowly(r, big)
		r.expect("552 5.3.4 ")
		r.run(steps(stepMail, stepRcpt, stepsDeliver))
		r.cmd("QUIT", "221 ")
		waitDisconnects(t, h, 1)
		j := h.Journal()
		if n := len(replies(j, FaultMaxSize)); n != 2 {
			t.Errorf("%d replies with fault %s, want 2", n, FaultMaxSize)
		}
		if m := oneMessage(t, j); m.Size > 100 {
			t.Errorf("journaled a message of %d bytes, want only the small one", m.Size)
		}
	})
}

// TestUnlimitedSize: Limits.UnlimitedSize lifts the limit, and SIZE goes
// without a number (RFC 1870 §4: no fixed maximum).
func TestUnlimitedSize(t *testing.T) {
	h := newHost(t, Behavior{Limits: Limits{UnlimitedSize: true}})
	r, _ := openRaw(t, h)
	if ehlo := r.cmd("EHLO client.test", "250"); !strings.HasSuffix(ehlo, "\n250 SIZE") {
		t.Errorf("EHLO reply %q, want it to end in a bare SIZE", ehlo)
	}
	r.cmd("MAIL FROM:<a@origin.test> SIZE="+strconv.Itoa(MaxSizeLimit+1), "250 2.1.0 ")
	r.run(steps(stepRcpt, step{"DATA", "354 "}))
	big := overDefaultSize()
	sendSlowly(r, big)
	r.expect("250 2.0.0 ")
	r.cmd("QUIT", "221 ")
	waitDisconnects(t, h, 1)
	if m := oneMessage(t, h.Journal()); m.Size != len(big)-3 {
		t.Errorf("journaled %d bytes, want %d", m.Size, len(big)-3)
	}
}

// TestSizeLine: the EHLO SIZE line of each kind of limit.
func TestSizeLine(t *testing.T) {
	for _, tc := range []struct {
		l    Limits
		want string
	}{
		{Limits{}, "250 SIZE 52428800"},
		{Limits{MaxSize: DefaultMaxSize}, "250 SIZE 52428800"},
		{Limits{MaxSize: 1000}, "250 SIZE 1000"},
		{Limits{UnlimitedSize: true}, "250 SIZE"},
	} {
		h := newHost(t, Behavior{Limits: tc.l})
		r, _ := openRaw(t, h)
		if ehlo := r.cmd("EHLO client.test", "250"); !strings.HasSuffix(ehlo, "\n"+tc.want) {
			t.Errorf("%+v: EHLO reply %q, want it to end in %q", tc.l, ehlo, tc.want)
		}
	}
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// greyLen returns the number of triplets h's greylist table holds.
func greyLen(h *Host) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.grey)
}

// TestGreylistForgets: a greylisted triplet is remembered for its
// lifetime after its last attempt (or the end of its window): a retry
// within it passes, and a triplet that passed stays passed; after it the
// triplet is forgotten, and the table shrinks on the next attempt of any
// triplet. The clock is the host's own, moved by the test.
func TestGreylistForgets(t *testing.T) {
	const window, life = time.Minute, time.Hour
	h := newHost(t, Behavior{Greylist: &Greylist{Window: window, Lifetime: life}})
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.mu.Lock()
	h.clock = clock.Now
	h.mu.Unlock()

	r, _ := openRaw(t, h)
	r.run(steps(stepEHLO, stepMail))
	rcpt := func(to, want string) {
		t.Helper()
		r.cmd("RCPT TO:<"+to+">", want)
	}
	rcpt("kept@example.test", "451 4.7.1 ")
	clock.Advance(window + life - time.Second) // just inside the lifetime
	rcpt("kept@example.test", "250 ")          // a late retry still passes
	for i := range 20 {
		rcpt("other"+strconv.Itoa(i)+"@example.test", "451 4.7.1 ")
	}
	if n := greyLen(h); n != 21 {
		t.Fatalf("table holds %d triplets, want 21", n)
	}
	clock.Advance(life - time.Second)
	rcpt("kept@example.test", "250 ") // passed and seen within the lifetime: stays passed
	// The 20 others are past their lifetime, kept is not, and a quarter
	// lifetime has passed since the last sweep.
	clock.Advance(window + life/4 + time.Second)
	rcpt("new@example.test", "451 4.7.1 ")
	if n := greyLen(h); n != 2 {
		t.Errorf("after the lifetime the table holds %d triplets, want 2 (kept, new)", n)
	}
	rcpt("other0@example.test", "451 4.7.1 ") // forgotten: a first attempt again
	clock.Advance(life + window)
	rcpt("kept@example.test", "451 4.7.1 ") // not seen for a lifetime: greylisted anew
}

// TestGreylistDefaultLifetime: with no lifetime, a triplet is kept for
// DefaultGreylistLifetime after its window.
func TestGreylistDefaultLifetime(t *testing.T) {
	h := newHost(t, Behavior{Greylist: &Greylist{Window: time.Second}})
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.mu.Lock()
	h.clock = clock.Now
	h.mu.Unlock()
	r, _ := openRaw(t, h)
	r.run(steps(stepEHLO, stepMail))
	r.cmd("RCPT TO:<b@example.test>", "451 4.7.1 ")
	clock.Advance(time.Second + DefaultGreylistLifetime - time.Millisecond)
	r.cmd("RCPT TO:<b@example.test>", "250 ")
	clock.Advance(DefaultGreylistLifetime)
	r.cmd("RCPT TO:<c@example.test>", "451 4.7.1 ")
	if n := greyLen(h); n != 1 {
		t.Errorf("table holds %d triplets, want 1", n)
	}
}

// openSessions returns the number of sessions h has open.
func openSessions(h *Host) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// TestDelayEndsWhenClientLeaves: 200 clients connect to a host that
// delays its greeting by an hour, and leave: half close, half reset. Each
// session notices its client during the delay, closes its socket and
// journals the disconnect, all within a second, in both serving modes.
func TestDelayEndsWhenClientLeaves(t *testing.T) {
	const clients = 200
	inBothModes(t, func(t *testing.T, mode LoopMode) {
		h := hostIn(t, mode, Behavior{Delays: Delays{Greeting: time.Hour, AllowLong: true}})
		conns := make([]*net.TCPConn, 0, clients)
		t.Cleanup(func() {
			for _, c := range conns {
				c.Close()
			}
		})
		for range clients {
			c, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c.(*net.TCPConn))
			time.Sleep(time.Millisecond) // fewer than 1000 connections a second
		}
		wait(t, h.Journal(), "every session in its delay", func(evs []journal.Event) bool {
			n := 0
			for _, e := range evs {
				if e.Kind == journal.KindSMTPConnect {
					n++
				}
			}
			return n == clients
		})
		start := time.Now()
		for i, c := range conns {
			if i%2 == 1 {
				_ = c.SetLinger(0) // close with RST
			}
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := h.Journal().Wait(ctx, func(evs []journal.Event) bool {
			return count(h.Journal(), journal.KindSMTPDisconnect, nil) == clients
		})
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%d of %d sessions ended within a second of their clients leaving (%v), %d still open",
				count(h.Journal(), journal.KindSMTPDisconnect, nil), clients, err, openSessions(h))
		}
		t.Logf("%d sessions ended %v after their clients left", clients, took)
		if n := openSessions(h); n != 0 {
			t.Errorf("%d sessions still open after their disconnect events", n)
		}
		for _, e := range h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect, journal.KindSMTPReply)) {
			if e.Kind == journal.KindSMTPReply || !strings.HasSuffix(e.Text, " during a delay") {
				t.Errorf("%s %q, want only disconnects during a delay", e.Kind, e.Text)
				break
			}
		}
	})
}

// TestDelayWatchesEveryStage: a client that leaves during the delay of a
// command's reply ends the session at once too; one that pipelines during
// a delay keeps what it sent, and gets its replies after the delay.
func TestDelayWatchesEveryStage(t *testing.T) {
	inBothModes(t, func(t *testing.T, mode LoopMode) {
		for _, tc := range []struct {
			stage  string
			delays Delays
			script []step // then the client sends the last line and leaves
			last   string
		}{
			{"ehlo", Delays{EHLO: time.Hour, AllowLong: true}, nil, "EHLO client.test"},
			{"mail", Delays{Mail: MaxDelay}, steps(stepEHLO), "MAIL FROM:<a@origin.test>"},
			{"rcpt", Delays{Rcpt: MaxDelay}, steps(stepEHLO, stepMail), "RCPT TO:<b@example.test>"},
			{"data", Delays{Data: MaxDelay}, steps(stepEHLO, stepMail, stepRcpt), "DATA"},
			{"end_of_data", Delays{EndOfData: MaxDelay}, steps(stepEHLO, stepMail, stepRcpt, step{"DATA", "354 "}), "Subject: s\r\n\r\nhi\r\n."},
		} {
			t.Run(tc.stage, func(t *testing.T) {
				h := hostIn(t, mode, Behavior{Delays: tc.delays})
				r, conn := openRaw(t, h)
				r.run(tc.script)
				// The host reads the line before the end of the stream, so
				// the session is in the delay when it sees the client leave.
				r.write(tc.last + "\r\n")
				conn.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := h.Journal().Wait(ctx, has(journal.KindSMTPDisconnect, nil)); err != nil {
					t.Fatalf("session still open 5 s after its client left, in a delay of %v\n%s", MaxDelay, h.Journal())
				}
				if got := disconnects(h); len(got) != 1 || got[0] != "disconnect: client closed connection during a delay" {
					t.Errorf("disconnects %q", got)
				}
			})
		}
		t.Run("pipelined", func(t *testing.T) {
			const d = 50 * time.Millisecond
			h := hostIn(t, mode, Behavior{Delays: Delays{Greeting: d, Rcpt: d}})
			// The host's delay starts when it accepts, which can be before
			// Dial returns: measure from before the dial.
			start := time.Now()
			conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			r := newRawClient(t, conn)
			r.write("EHLO client.test\r\n") // before the greeting: kept for after it
			r.expect("220 ")
			if took := time.Since(start); took < d {
				t.Errorf("greeting after %v, want %v or more", took, d)
			}
			r.expect("250")
			r.run(steps(stepMail))
			r.write("RCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n")
			r.expect("250 2.1.5 ")
			r.expect("250 2.1.5 ")
			r.expect("354 ")
			r.run(steps(step{"Subject: s\r\n\r\nhi\r\n.", "250 2.0.0 "}))
			r.cmd("QUIT", "221 ")
			waitDisconnects(t, h, 1)
			if got := disconnects(h); len(got) != 1 || got[0] != "disconnect: client quit" {
				t.Errorf("disconnects %q", got)
			}
		})
	})
}
