//go:build linux

package fakesmtp

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
	"golang.org/x/sys/unix"
)

// Tests from a review of the event loop (loop_linux.go). Each runs in both
// modes (with MXSIM_FAKESMTP_LOOP=off too) unless it is about the loop
// itself; where the loop serves, they also check how many sessions it
// handed to a goroutine.

// loopIfAny returns the loop serving h, or nil when the loop is off.
func loopIfAny(t *testing.T, h *Host) *loop {
	t.Helper()
	if !h.useLoop {
		return nil
	}
	return loopOf(t, h)
}

// checkHandoffs checks the loop's hand-over count, if a loop serves.
func checkHandoffs(t *testing.T, l *loop, want int64) {
	t.Helper()
	if l == nil {
		return
	}
	if n := l.handoffs.Load(); n != want {
		t.Errorf("%d sessions handed to a goroutine, want %d", n, want)
	}
}

// dialRcvBuf connects with a small receive buffer: a client that does not
// read fills the host's socket soon.
func dialRcvBuf(t *testing.T, h *Host, size int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		_ = c.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size) })
		return err
	}}
	conn, err := d.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// onlySession returns the host's one open session.
func onlySession(t *testing.T, h *Host) *session {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) != 1 {
		t.Fatalf("%d open sessions, want 1", len(h.conns))
	}
	for s := range h.conns {
		return s
	}
	return nil
}

// onServerSocket runs f on the host's side of the socket of s, whether
// the loop or a goroutine serves it.
func onServerSocket(t *testing.T, s *session, f func(fd int)) {
	t.Helper()
	nc := s.raw
	if c, ok := s.raw.(*loopConn); ok {
		c.mu.Lock()
		if c.nc == nil {
			defer c.mu.Unlock()
			if c.fdClosed {
				t.Fatal("the session's socket is closed")
			}
			f(c.fd) // the loop cannot close it while c.mu is held
			return
		}
		nc = c.nc
		c.mu.Unlock()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		t.Fatalf("connection %T has no socket", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) { f(int(fd)) }); err != nil {
		t.Fatal(err)
	}
}

// expectNothingThenEOF reads the rest of a connection and checks that the
// host closed it without saying anything.
func expectNothingThenEOF(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(conn)
	if err != nil || len(rest) != 0 {
		t.Fatalf("read %q, %v; want EOF", rest, err)
	}
}

// ---- Bugs -------------------------------------------------------------

// TestLoopReviewEndOfDataRestIsCopied: when an end-of-data delay makes
// the loop hand a session over right after the final dot, the commands
// pipelined behind the dot go with it. They were copied on the new
// goroutine, from the loop's read buffer, which by then held the next
// client's bytes. GOMAXPROCS 1 makes the loop read the other client
// before the new goroutine runs, as it often does on a busy machine.
func TestLoopReviewEndOfDataRestIsCopied(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	const rounds = 10
	for i := range rounds {
		if err := h.SetBehavior(Behavior{}); err != nil {
			t.Fatal(err)
		}
		a, _ := openRaw(t, h)
		a.run(steps(stepEHLO, stepMail, stepRcpt, step{"DATA", "354 "}))
		b, _ := openRaw(t, h)
		b.run(steps(stepEHLO))
		if err := h.SetBehavior(Behavior{Delays: Delays{EndOfData: 5 * time.Millisecond}}); err != nil {
			t.Fatal(err)
		}
		a.write("x\r\n.\r\nNOOP\r\nQUIT\r\n")
		b.write(strings.Repeat("VRFY other-client@example.test\r\n", 4))
		a.expect("250 2.0.0 Ok: queued")
		a.expect("250 2.0.0 Ok")
		a.expect("221 ")
		a.expectEOF()
		for range 4 {
			b.expect("252 ")
		}
		b.cmd("QUIT", "221 ")
		waitDisconnects(t, h, 2*(i+1))
	}
	if n := len(journaled(h.Journal())); n != rounds {
		t.Errorf("%d messages, want %d", n, rounds)
	}
	checkHandoffs(t, l, 2*rounds)
}

// TestLoopReviewHangupKeepsUnreadReplies: the replies before a hang-up
// (here QUIT's 221) all reach a client that reads them only after it has
// sent everything, as they do from a session's own goroutine. The loop
// kept what the socket did not take and then closed it, dropping them.
func TestLoopReviewHangupKeepsUnreadReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		beh   Behavior
		last  string // the command that ends the session
		reply string // its reply, if any
	}{
		{"QUIT", Behavior{}, "QUIT", "221 2.0.0 Bye"},
		{"HangupAfter", Behavior{HangupAfter: 2000}, "NOOP", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, tc.beh)
			l := loopIfAny(t, h)
			conn := dialRcvBuf(t, h, 4096)
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(conn)
			if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
				t.Fatalf("greeting %q, %v", line, err)
			}
			// A small send buffer on the host's side: its socket fills at once.
			onServerSocket(t, onlySession(t, h), func(fd int) {
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
					t.Error(err)
				}
			})
			const n = 2000 // about 230 kB of EHLO replies for 16 kB of commands
			written := make(chan error, 1)
			go func() {
				_, err := conn.Write([]byte(strings.Repeat("EHLO c\r\n", n) + tc.last + "\r\n"))
				written <- err
			}()
			tp := textproto.NewReader(br)
			for i := range n {
				if _, _, err := tp.ReadResponse(250); err != nil {
					t.Fatalf("EHLO reply %d of %d: %v", i+1, n, err)
				}
			}
			if tc.reply != "" {
				if line, err := br.ReadString('\n'); err != nil || line != tc.reply+"\r\n" {
					t.Fatalf("last reply %q, %v; want %s", line, err, tc.reply)
				}
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the last reply: %q, %v; want EOF", rest, err)
			}
			if err := <-written; err != nil {
				t.Fatal(err)
			}
			waitDisconnects(t, h, 1)
			if l != nil && l.handoffs.Load() > 1 {
				t.Errorf("%d hand-overs, want at most 1", l.handoffs.Load())
			}
		})
	}
}

// TestLoopReviewDownWhileRepliesWait: Down ends, at once, a session that
// hung up (QUIT) and waits for a client that does not read to take its
// last replies; the disconnect says host down.
func TestLoopReviewDownWhileRepliesWait(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	conn := dialRcvBuf(t, h, 4096)
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting %q, %v", line, err)
	}
	onServerSocket(t, onlySession(t, h), func(fd int) {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
			t.Error(err)
		}
	})
	written := make(chan error, 1)
	go func() {
		_, err := conn.Write([]byte(strings.Repeat("EHLO c\r\n", 2000) + "QUIT\r\n"))
		written <- err
	}()
	if l != nil {
		// The loop has read it all, and handed the session over to write.
		deadline := time.Now().Add(10 * time.Second)
		for l.handoffs.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		checkHandoffs(t, l, 1)
	} else {
		wait(t, h.Journal(), "a command", has(journal.KindSMTPCommand, nil))
	}
	if err := h.Down(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("reading to the end: %v", err)
	}
	if err := <-written; err != nil {
		t.Error(err)
	}
	if d := disconnects(h); len(d) != 1 || d[0] != "disconnect: host down" {
		t.Errorf("disconnects %q, want host down", d)
	}
}

// TestLoopReviewStalledReaderTimesOut: a client that stops reading its
// replies and says nothing more is disconnected after readTimeout, as
// from a session's own goroutine, when the loop has handed its session
// over: with replies the socket did not take, or for a command the loop
// does not run (here STARTTLS, not offered: 502) behind many pipelined
// replies. The session's goroutine wrote without a deadline, and waited
// for ever (until Close).
func TestLoopReviewStalledReaderTimesOut(t *testing.T) {
	for name, last := range map[string]string{
		"pending replies": "",
		"yield":           "STARTTLS\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			r0, s0 := readTimeout, sweepEvery
			t.Cleanup(func() { readTimeout, sweepEvery = r0, s0 }) // after the host's Close
			readTimeout, sweepEvery = time.Second, 100*time.Millisecond
			h := newHost(t, Behavior{})
			l := loopOf(t, h)
			conn := dialRcvBuf(t, h, 4096)
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(conn)
			if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
				t.Fatalf("greeting %q, %v", line, err)
			}
			onServerSocket(t, onlySession(t, h), func(fd int) {
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
					t.Error(err)
				}
			})
			conn.Write([]byte(strings.Repeat("EHLO c\r\n", 2000) + last))
			// The client reads nothing from now on.
			waitDisconnects(t, h, 1)
			if n := l.handoffs.Load(); n != 1 {
				t.Errorf("%d hand-overs, want 1", n)
			}
			if d := disconnects(h); len(d) != 1 || !strings.Contains(d[0], "idle timeout") {
				t.Errorf("disconnects %q, want one for idle timeout", d)
			}
		})
	}
}

// TestLoopReviewPartialLineAtEOF: a client that closes in the middle of a
// command line ends its session with "unexpected EOF", as a session's
// own goroutine journals it; the loop said "client closed connection".
func TestLoopReviewPartialLineAtEOF(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	r, conn := openRaw(t, h)
	r.run(steps(stepEHLO))
	r.write("MAIL FROM:<a@ori")
	conn.(*net.TCPConn).CloseWrite()
	r.expectEOF()
	waitDisconnects(t, h, 1)
	if d := disconnects(h); len(d) != 1 || d[0] != "disconnect: unexpected EOF" {
		t.Errorf("disconnects %q, want unexpected EOF", d)
	}
	if got := commandTexts(h.Journal()); len(got) != 1 {
		t.Errorf("commands %q, want EHLO only", got)
	}
	checkHandoffs(t, l, 0)
}

// TestLoopReviewSocketOptionsAfterHandoff: a session the loop hands over
// (at connect, or later) has the socket options of the host's accepted
// connections: TCP_NODELAY, and no keepalive (see listen). net.FileConn,
// which the hand-over uses, turned keepalive on.
func TestLoopReviewSocketOptionsAfterHandoff(t *testing.T) {
	for name, b := range map[string]Behavior{
		"blackhole":      {State: Blackhole},
		"greeting delay": {Delays: Delays{Greeting: time.Millisecond}},
		"STARTTLS":       {TLS: TLS{StartTLS: TLSOffered}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHost(t, b)
			l := loopIfAny(t, h)
			conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			wait(t, h.Journal(), "connect", has(journal.KindSMTPConnect, nil))
			if b.TLS.StartTLS != "" {
				r := newRawClient(t, conn)
				r.expect("220 ")
				r.cmd("STARTTLS", "220 ") // handed over here; the client does not go on
			}
			noDelay, keepAlive := -1, -1
			onServerSocket(t, onlySession(t, h), func(fd int) {
				var err1, err2 error
				noDelay, err1 = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
				keepAlive, err2 = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
				if err := errors.Join(err1, err2); err != nil {
					t.Error(err)
				}
			})
			if noDelay != 1 || keepAlive != 0 {
				t.Errorf("TCP_NODELAY %d and SO_KEEPALIVE %d, want 1 and 0", noDelay, keepAlive)
			}
			checkHandoffs(t, l, 1)
		})
	}
}

// ---- Paths without tests so far ----------------------------------------

// halfSessions opens three sessions in the middle of things: after EHLO,
// in the middle of a DATA body, and with half a command line sent.
// expectClosed reads until the host has closed the connection: EOF, or a
// reset when the host closed a socket that still held bytes it had not
// read (a session goroutine that had not yet read "half a bo" when Down
// came: the kernel then answers with RST, as a real MTA's would). Any
// byte, or no close at all, fails.
func (r *rawClient) expectClosed() {
	r.t.Helper()
	rest, err := io.ReadAll(r.tp.R)
	if len(rest) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		r.t.Fatalf("after the last reply: %q, %v; want the connection closed", rest, err)
	}
}

func halfSessions(t *testing.T, h *Host) []*rawClient {
	t.Helper()
	a, _ := openRaw(t, h)
	a.run(steps(stepEHLO))
	b, _ := openRaw(t, h)
	b.run(steps(stepEHLO, stepMail, stepRcpt, step{"DATA", "354 "}))
	b.write("Subject: cut\r\n\r\nhalf a bo")
	c, _ := openRaw(t, h)
	c.run(steps(stepEHLO))
	c.write("MAIL FROM:<a@ori")
	// A NOOP on a fourth session: the loop serves it after it has read
	// the writes above, which came first (with goroutines, the outcome
	// is the same either way).
	d, _ := openRaw(t, h)
	d.cmd("NOOP", "250 ")
	return []*rawClient{a, b, c, d}
}

// TestLoopReviewDownMidSession: Down ends sessions in the middle of the
// dialogue, of a body and of a command line; each client sees its
// connection closed, nothing is delivered, and the host serves again
// after Up.
func TestLoopReviewDownMidSession(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	clients := halfSessions(t, h)
	if err := h.Down(); err != nil {
		t.Fatal(err)
	}
	for _, r := range clients {
		r.expectClosed()
	}
	if d := disconnects(h); len(d) != len(clients) || strings.Count(strings.Join(d, "|"), "disconnect: host down") != len(clients) {
		t.Errorf("disconnects %q, want %d for host down", d, len(clients))
	}
	if _, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second); err == nil {
		t.Error("connected to a host that is down")
	}
	if err := h.Up(); err != nil {
		t.Fatal(err)
	}
	l2 := loopIfAny(t, h)
	r, _ := openRaw(t, h)
	r.run(steps(stepEHLO, stepMail, stepRcpt, stepsDeliver))
	r.cmd("QUIT", "221 ")
	oneMessage(t, h.Journal())
	checkHandoffs(t, l, 0)
	checkHandoffs(t, l2, 0)
}

// TestLoopReviewCloseClientConnections: CloseClientConnections ends
// sessions mid-dialogue, mid-body and mid-line; the host keeps listening.
func TestLoopReviewCloseClientConnections(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	clients := halfSessions(t, h)
	h.CloseClientConnections()
	for _, r := range clients {
		r.expectClosed()
	}
	waitDisconnects(t, h, len(clients))
	if d := disconnects(h); strings.Count(strings.Join(d, "|"), "disconnect: closed by host") != len(clients) {
		t.Errorf("disconnects %q, want %d closed by host", d, len(clients))
	}
	r, _ := openRaw(t, h)
	r.run(steps(stepEHLO, stepMail, stepRcpt, stepsDeliver))
	r.cmd("QUIT", "221 ")
	oneMessage(t, h.Journal())
	// Twice in a row, and with nothing open: nothing happens.
	waitDisconnects(t, h, len(clients)+1)
	h.CloseClientConnections()
	h.CloseClientConnections()
	checkHandoffs(t, l, 0)
}

// TestLoopReviewNewBehaviorForNewConnections: a behaviour set while loop
// sessions run applies at connect to the new connections only (MaxConns,
// blackhole, implicit TLS, forced greeting), and the old sessions go on.
func TestLoopReviewNewBehaviorForNewConnections(t *testing.T) {
	// deliver runs one transaction on an old session.
	deliver := func(r *rawClient) { r.run(steps(stepMail, stepRcpt, stepsDeliver)) }
	t.Run("MaxConns", func(t *testing.T) {
		h := newHost(t, Behavior{})
		l := loopIfAny(t, h)
		a, _ := openRaw(t, h)
		a.run(steps(stepEHLO))
		b, _ := openRaw(t, h)
		b.run(steps(stepEHLO))
		if err := h.SetBehavior(Behavior{Limits: Limits{MaxConns: 2}}); err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		refused := newRawClient(t, conn)
		refused.expect("421 4.7.0 too many connections")
		refused.expectEOF()
		deliver(a)
		deliver(b)
		a.cmd("QUIT", "221 ")
		waitDisconnects(t, h, 2) // the refused one and a
		c, _ := openRaw(t, h)    // a slot is free again
		c.run(steps(stepEHLO))
		deliver(c)
		if n := len(journaled(h.Journal())); n != 3 {
			t.Errorf("%d messages, want 3", n)
		}
		if n := count(h.Journal(), journal.KindSMTPRefused, func(e journal.Event) bool { return e.Fault == FaultMaxConns }); n != 1 {
			t.Errorf("%d refusals for max conns, want 1", n)
		}
		checkHandoffs(t, l, 1)
	})
	t.Run("Blackhole", func(t *testing.T) {
		h := newHost(t, Behavior{})
		l := loopIfAny(t, h)
		a, _ := openRaw(t, h)
		a.run(steps(stepEHLO))
		if err := h.SetBehavior(Behavior{State: Blackhole}); err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wait(t, h.Journal(), "blackhole connect", has(journal.KindSMTPConnect, func(e journal.Event) bool { return e.Fault == FaultBlackhole }))
		deliver(a)
		a.cmd("QUIT", "221 ")
		if _, err := conn.Write([]byte("EHLO client.test\r\n")); err != nil {
			t.Fatal(err)
		}
		conn.(*net.TCPConn).CloseWrite()
		expectNothingThenEOF(t, conn)
		waitDisconnects(t, h, 2)
		if n := count(h.Journal(), journal.KindSMTPDisconnect, func(e journal.Event) bool { return e.Fault == FaultBlackhole }); n != 1 {
			t.Errorf("%d blackhole disconnects, want 1\n%s", n, h.Journal())
		}
		oneMessage(t, h.Journal())
		checkHandoffs(t, l, 1)
	})
	t.Run("ImplicitTLS", func(t *testing.T) {
		h := newHost(t, Behavior{})
		l := loopIfAny(t, h)
		a, _ := openRaw(t, h)
		a.run(steps(stepEHLO))
		if err := h.SetBehavior(Behavior{TLS: TLS{Implicit: true}}); err != nil {
			t.Fatal(err)
		}
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.Addr(), &tls.Config{RootCAs: h.CA().Pool(), ServerName: hostName})
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		r := newRawClient(t, tc)
		r.expect("220 ")
		deliver(a) // the old session, in clear text, meanwhile
		r.run(steps(stepEHLO, stepMail, stepRcpt, stepsDeliver))
		r.cmd("QUIT", "221 ")
		a.cmd("QUIT", "221 ")
		waitDisconnects(t, h, 2)
		if n := len(journaled(h.Journal())); n != 2 {
			t.Errorf("%d messages, want 2", n)
		}
		if n := count(h.Journal(), journal.KindSMTPTLS, func(e journal.Event) bool { return e.TLS.Implicit && e.Err == "" }); n != 1 {
			t.Errorf("%d implicit TLS handshakes, want 1", n)
		}
		checkHandoffs(t, l, 1)
	})
	t.Run("ForcedGreeting", func(t *testing.T) {
		h := newHost(t, Behavior{})
		l := loopIfAny(t, h)
		a, _ := openRaw(t, h)
		a.run(steps(stepEHLO))
		if err := h.SetBehavior(Behavior{Replies: Replies{Greeting: Forced(Reply{Code: 554, Enhanced: "5.7.1", Text: "go away"})}}); err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		refused := newRawClient(t, conn)
		refused.expect("554 5.7.1 go away")
		refused.expectEOF()
		deliver(a)
		a.cmd("QUIT", "221 ")
		waitDisconnects(t, h, 2)
		oneMessage(t, h.Journal())
		if n := count(h.Journal(), journal.KindSMTPRefused, func(e journal.Event) bool { return e.Code == 554 && e.Fault == FaultGreeting }); n != 1 {
			t.Errorf("%d refusals at greeting, want 1", n)
		}
		checkHandoffs(t, l, 1)
	})
}

// TestLoopReviewPipelinedQuit: QUIT among pipelined commands: the replies
// before it and 221 go out, nothing after it is read.
func TestLoopReviewPipelinedQuit(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	r, _ := openRaw(t, h)
	r.write("EHLO client.test\r\nNOOP\r\nQUIT\r\nNOOP\r\nMAIL FROM:<a@origin.test>\r\n")
	r.expect("250-")
	r.expect("250 2.0.0 Ok")
	r.expect("221 2.0.0 Bye")
	r.expectEOF()
	waitDisconnects(t, h, 1)
	if got := strings.Join(commandTexts(h.Journal()), "|"); got != "EHLO client.test|NOOP|QUIT" {
		t.Errorf("commands %q", got)
	}
	if d := disconnects(h); len(d) != 1 || d[0] != "disconnect: client quit" {
		t.Errorf("disconnects %q", d)
	}
	checkHandoffs(t, l, 0)
}

// TestLoopReviewClientGoneMidBody: a client that closes, or resets, in the
// middle of a body: no message, and the disconnect says why, in the same
// words in both modes (the loop said "connection reset by peer" only).
func TestLoopReviewClientGoneMidBody(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%v", reset), func(t *testing.T) {
			h := newHost(t, Behavior{})
			l := loopIfAny(t, h)
			r, conn := openRaw(t, h)
			r.run(steps(stepEHLO, stepMail, stepRcpt, step{"DATA", "354 "}))
			r.write("Subject: gone\r\n\r\nsome of the body\r\n.")
			// Make sure the host has read the body so far.
			probe, _ := openRaw(t, h)
			probe.cmd("QUIT", "221 ")
			if reset {
				conn.(*net.TCPConn).SetLinger(0)
			}
			conn.Close()
			waitDisconnects(t, h, 2)
			// As a net.Conn of Go's says it, in both modes.
			want := "disconnect: client closed connection"
			if reset {
				want = "disconnect: read tcp " + h.Addr() + "->" + conn.LocalAddr().String() + ": read: connection reset by peer"
			}
			var got []string
			for _, e := range h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect)) {
				if e.Session == hostName+"#1" {
					got = append(got, e.Text)
				}
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("disconnects %q, want one with %q", got, want)
			}
			if n := len(journaled(h.Journal())); n != 0 {
				t.Errorf("%d messages journaled, want 0", n)
			}
			checkHandoffs(t, l, 0)
		})
	}
}

// TestLoopReviewManySessions: 200 clients at once, each sending three
// messages (one write per transaction, pipelined), and the journal counts
// every event exactly.
func TestLoopReviewManySessions(t *testing.T) {
	const clients, msgs = 200, 3
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pipelinedClient(h.Addr(), i, msgs); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitDisconnects(t, h, clients)
	j := h.Journal()
	for kind, want := range map[journal.Kind]int{
		journal.KindSMTPConnect:    clients,
		journal.KindSMTPDisconnect: clients,
		journal.KindSMTPMessage:    clients * msgs,
		journal.KindSMTPCommand:    clients * (2 + 3*msgs), // EHLO, MAIL RCPT DATA per message, QUIT
		journal.KindSMTPReply:      clients * (1 + 6 + 4*msgs + 1),
	} {
		if n := count(j, kind, nil); n != want {
			t.Errorf("%d %s events, want %d", n, kind, want)
		}
	}
	if n := count(j, journal.KindSMTPDisconnect, func(e journal.Event) bool { return e.Text == "disconnect: client quit" }); n != clients {
		t.Errorf("%d disconnects for client quit, want %d", n, clients)
	}
	seen := map[string]bool{}
	for _, m := range journaled(j) {
		if seen[m.Subject] {
			t.Errorf("message %q journaled twice", m.Subject)
		}
		seen[m.Subject] = true
	}
	checkHandoffs(t, l, 0)
}

// pipelinedClient runs one session of msgs messages, each transaction in
// one write, and checks every reply.
func pipelinedClient(addr string, id, msgs int) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(conn)
	expect := func(code int) error {
		_, _, err := tp.ReadResponse(code)
		return err
	}
	if err := expect(220); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("EHLO client.test\r\n")); err != nil {
		return err
	}
	if err := expect(250); err != nil {
		return err
	}
	for m := range msgs {
		tx := fmt.Sprintf("MAIL FROM:<a@origin.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubject: c%d m%d\r\n\r\n.line\r\n.\r\n", id, m)
		if _, err := conn.Write([]byte(tx)); err != nil {
			return err
		}
		for _, c := range []int{250, 250, 354, 250} {
			if err := expect(c); err != nil {
				return err
			}
		}
	}
	if _, err := conn.Write([]byte("QUIT\r\n")); err != nil {
		return err
	}
	if err := expect(221); err != nil {
		return err
	}
	if rest, err := io.ReadAll(conn); err != nil || len(rest) > 0 {
		return fmt.Errorf("after QUIT: %q, %v", rest, err)
	}
	return nil
}

// TestLoopReviewErrorLimitPipelined: errLimit protocol errors sent in one
// write: errLimit 500s, then 421, and the connection closes.
func TestLoopReviewErrorLimitPipelined(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	r, _ := openRaw(t, h)
	r.write("EHLO client.test\r\n" + strings.Repeat("BOGUS\r\n", errLimit) + "NOOP\r\n")
	r.expect("250-")
	for range errLimit {
		r.expect("500 5.5.2 ")
	}
	r.expect("421 4.7.0 Too many errors")
	r.expectEOF()
	waitDisconnects(t, h, 1)
	if d := disconnects(h); len(d) != 1 || d[0] != "disconnect: too many errors" {
		t.Errorf("disconnects %q", d)
	}
	if n := len(commandTexts(h.Journal())); n != 1+errLimit {
		t.Errorf("%d commands journaled, want %d", n, 1+errLimit)
	}
	checkHandoffs(t, l, 0)
}

// TestLoopReviewHangupAfterPipelined: HangupAfter with the commands in one
// write: the allowed ones are answered, the next is journaled and not
// answered, the rest not read.
func TestLoopReviewHangupAfterPipelined(t *testing.T) {
	h := newHost(t, Behavior{HangupAfter: 3})
	l := loopIfAny(t, h)
	r, _ := openRaw(t, h)
	r.write("EHLO client.test\r\nNOOP\r\nNOOP\r\nRSET\r\nNOOP\r\n")
	r.expect("250-")
	r.expect("250 2.0.0 Ok")
	r.expect("250 2.0.0 Ok")
	r.expectEOF()
	waitDisconnects(t, h, 1)
	if got := strings.Join(commandTexts(h.Journal()), "|"); got != "EHLO client.test|NOOP|NOOP|RSET" {
		t.Errorf("commands %q", got)
	}
	evs := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect))
	if len(evs) != 1 || evs[0].Fault != FaultHangup || evs[0].Text != "disconnect: hangup after 3 commands" {
		t.Errorf("disconnects %+v", evs)
	}
	checkHandoffs(t, l, 0)
}

// TestLoopReviewTinyWrites: commands and a body sent one byte per write,
// end marker and dot-stuffing included.
func TestLoopReviewTinyWrites(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	r, conn := openRaw(t, h)
	bytewise := func(s string) {
		for i := range len(s) {
			if _, err := conn.Write([]byte{s[i]}); err != nil {
				t.Fatal(err)
			}
			if i%7 == 0 {
				time.Sleep(200 * time.Microsecond) // some reads of one byte, some of several
			}
		}
	}
	bytewise("EHLO client.test\r\n")
	r.expect("250-")
	bytewise("MAIL FROM:<a@origin.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
	r.expect("250 2.1.0 ")
	r.expect("250 2.1.5 ")
	r.expect("354 ")
	bytewise("Subject: tiny\r\n\r\n..leading dot\r\n.\r.\r\nline\r\n.\r\n")
	r.expect("250 2.0.0 Ok: queued")
	bytewise("QUIT\r\n")
	r.expect("221 ")
	r.expectEOF()
	// ".\r" not followed by LF is dropped, as go-smtp does (see refUnstuff).
	if m := oneMessage(t, h.Journal()); string(m.Raw) != "Subject: tiny\r\n\r\n.leading dot\r\n.\r\nline\r\n" {
		t.Errorf("message %q", m.Raw)
	}
	checkHandoffs(t, l, 0)
}

// TestLoopReviewBodyEndWithPipelinedCommands: the final dot and the next
// transaction, and QUIT, in the same write.
func TestLoopReviewBodyEndWithPipelinedCommands(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopIfAny(t, h)
	r, _ := openRaw(t, h)
	r.run(steps(stepEHLO, stepMail, stepRcpt, step{"DATA", "354 "}))
	r.write("Subject: one\r\n\r\nfirst\r\n.\r\n" +
		"MAIL FROM:<c@origin.test>\r\nRCPT TO:<d@example.test>\r\nDATA\r\n" +
		"Subject: two\r\n\r\n..second\r\n.\r\nQUIT\r\n")
	for _, want := range []string{"250 2.0.0 Ok: queued", "250 2.1.0 ", "250 2.1.5 ", "354 ", "250 2.0.0 Ok: queued", "221 "} {
		r.expect(want)
	}
	r.expectEOF()
	waitDisconnects(t, h, 1)
	msgs := journaled(h.Journal())
	if len(msgs) != 2 || string(msgs[0].Raw) != "Subject: one\r\n\r\nfirst\r\n" || string(msgs[1].Raw) != "Subject: two\r\n\r\n.second\r\n" ||
		msgs[1].From != "c@origin.test" || len(msgs[1].To) != 1 || msgs[1].To[0] != "d@example.test" {
		t.Errorf("messages %+v", msgs)
	}
	checkHandoffs(t, l, 0)
}
