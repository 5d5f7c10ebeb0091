//go:build linux

package fakesmtp

import (
	"bufio"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
	"golang.org/x/sys/unix"
)

// loopOf returns the event loop serving h, skipping the test when the loop
// is turned off (make test also runs this package with it off).
func loopOf(t *testing.T, h *Host) *loop {
	t.Helper()
	if !h.useLoop {
		t.Skip("event loop off (Config.Loop, MXSIM_FAKESMTP_LOOP=off): every session has its own goroutine")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lns[0].loop == nil {
		t.Fatal("the host is not served by an event loop")
	}
	return h.lns[0].loop
}

// TestLoopServesWholeSessions: a plain host serves a session start to end
// in its loop, journaling it as a goroutine session would.
func TestLoopServesWholeSessions(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopOf(t, h)
	r, conn := openRaw(t, h)
	r.run(steps(stepEHLO, stepMail, stepRcpt, stepsDeliver))
	r.cmd("QUIT", "221 ")
	r.expectEOF()
	waitDisconnects(t, h, 1)
	if n := l.handoffs.Load(); n != 0 {
		t.Errorf("%d sessions handed to a goroutine, want 0", n)
	}
	if got := oneMessage(t, h.Journal()).Headers["Subject"]; len(got) != 1 || got[0] != "protocol" {
		t.Errorf("message Subject %q, want protocol", got)
	}
	e := h.Journal().Events(journal.OfKind(journal.KindSMTPConnect))[0]
	if e.Remote != conn.LocalAddr().String() || e.Local != h.Addr() {
		t.Errorf("connect event Remote %q Local %q, want %q and %q", e.Remote, e.Local, conn.LocalAddr(), h.Addr())
	}
	d := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect))[0]
	if d.Text != "disconnect: client quit" {
		t.Errorf("disconnect %q, want client quit", d.Text)
	}
}

// TestLoopAddresses: addresses come from accept4 and getsockname, for a
// host on every address and one on IPv6 loopback.
func TestLoopAddresses(t *testing.T) {
	for _, tc := range []struct{ listen, dial string }{
		{"0.0.0.0:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			h, err := NewHost(Config{Name: hostName, Addr: tc.listen})
			if err != nil {
				if strings.Contains(tc.listen, "::1") {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				t.Fatal(err)
			}
			defer h.Close()
			loopOf(t, h)
			_, port, _ := net.SplitHostPort(h.Addr())
			conn, err := net.Dial("tcp", net.JoinHostPort(tc.dial, port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := newRawClient(t, conn)
			r.expect("220 ")
			r.cmd("QUIT", "221 ")
			waitDisconnects(t, h, 1)
			e := h.Journal().Events(journal.OfKind(journal.KindSMTPConnect))[0]
			if e.Remote != conn.LocalAddr().String() || e.Local != conn.RemoteAddr().String() {
				t.Errorf("Remote %q Local %q, want %q and %q", e.Remote, e.Local, conn.LocalAddr(), conn.RemoteAddr())
			}
		})
	}
}

// TestLoopHandsOverForDelay: a delay set while a session is in the loop
// sends that session to a goroutine at its next command, which waits.
func TestLoopHandsOverForDelay(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopOf(t, h)
	r, _ := openRaw(t, h)
	r.run(steps(stepEHLO))
	const d = 150 * time.Millisecond
	if err := h.SetBehavior(Behavior{Delays: Delays{Mail: d}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.run(steps(stepMail))
	if waited := time.Since(start); waited < d {
		t.Errorf("MAIL answered after %v, want the %v delay", waited, d)
	}
	if n := l.handoffs.Load(); n != 1 {
		t.Errorf("%d hand-overs, want 1", n)
	}
	r.run(steps(stepRcpt, stepsDeliver))
	oneMessage(t, h.Journal())
}

// TestLoopHandsOverAtEndOfData: an end-of-data delay set while the loop
// reads a body: the body read so far goes with the session.
func TestLoopHandsOverAtEndOfData(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopOf(t, h)
	r, _ := openRaw(t, h)
	r.run(steps(stepEHLO, stepMail, stepRcpt, step{"DATA", "354 "}))
	r.write("Subject: split\r\n\r\nfirst half\r\n")
	const d = 150 * time.Millisecond
	if err := h.SetBehavior(Behavior{Delays: Delays{EndOfData: d}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.write("second half\r\n.\r\n")
	r.expect("250 2.0.0 ")
	if waited := time.Since(start); waited < d {
		t.Errorf("end of data answered after %v, want the %v delay", waited, d)
	}
	if n := l.handoffs.Load(); n != 1 {
		t.Errorf("%d hand-overs, want 1", n)
	}
	if m := oneMessage(t, h.Journal()); string(m.Raw) != "Subject: split\r\n\r\nfirst half\r\nsecond half\r\n" {
		t.Errorf("message %q", m.Raw)
	}
}

// TestLoopHandsOverPipelinedRest: commands pipelined behind one the loop
// cannot run (BDAT) reach the session's goroutine intact, chunk included.
func TestLoopHandsOverPipelinedRest(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopOf(t, h)
	r, _ := openRaw(t, h)
	r.write("EHLO client.test\r\nMAIL FROM:<a@origin.test>\r\nRCPT TO:<b@example.test>\r\nBDAT 12 LAST\r\nSubject: x\r\nRSET\r\n")
	r.expect("250-")
	r.expect("250 2.1.0 ")
	r.expect("250 2.1.5 ")
	r.expect("250 2.0.0 ")
	r.expect("250 2.0.0 Ok") // RSET
	if n := l.handoffs.Load(); n != 1 {
		t.Errorf("%d hand-overs, want 1", n)
	}
	if m := oneMessage(t, h.Journal()); string(m.Raw) != "Subject: x\r\n" {
		t.Errorf("message %q, want the BDAT chunk", m.Raw)
	}
	if got := commandTexts(h.Journal()); len(got) != 5 || got[3] != "BDAT 12 LAST" || got[4] != "RSET" {
		t.Errorf("commands %q", got)
	}
}

// TestLoopSlowReader: a client that pipelines without reading fills the
// socket; the loop keeps what it could not write and hands the session
// over, and every reply arrives, in order, once the client reads.
func TestLoopSlowReader(t *testing.T) {
	h := newHost(t, Behavior{})
	l := loopOf(t, h)
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		_ = c.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
		return err
	}}
	conn, err := d.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// VRFY lines until the host's socket is full (the loop hands over),
	// in a goroutine: once handed over, the host stops reading until the
	// client reads, and the client's writes block.
	const batch, most = 1000, 400000
	sent := make(chan int, 1)
	go func() {
		n := 0
		for n < most && l.handoffs.Load() == 0 {
			if _, err := conn.Write([]byte(strings.Repeat("VRFY x@example.test\r\n", batch))); err != nil {
				break
			}
			n += batch
		}
		_, _ = conn.Write([]byte("QUIT\r\n"))
		sent <- n
	}()
	deadline := time.Now().Add(30 * time.Second)
	for l.handoffs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l.handoffs.Load() != 1 {
		t.Fatalf("%d hand-overs, want 1: the socket never filled", l.handoffs.Load())
	}
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
		t.Fatalf("greeting %q, %v", l, err)
	}
	got := 0
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d replies: %v", got, err)
		}
		if l != lineVRFY+"\r\n" {
			if !strings.HasPrefix(l, "221 ") {
				t.Fatalf("reply %d: %q", got+1, l)
			}
			break
		}
		got++
	}
	if n := <-sent; got != n {
		t.Errorf("%d VRFY replies, want %d", got, n)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Errorf("after QUIT: %q, %v", rest, err)
	}
	t.Logf("%d commands pipelined before the client read a reply", got)
}

// TestLoopIdleTimeout: the loop closes a connection that said nothing for
// readTimeout.
func TestLoopIdleTimeout(t *testing.T) {
	r0, s0 := readTimeout, sweepEvery
	t.Cleanup(func() { readTimeout, sweepEvery = r0, s0 }) // after the host's Close
	readTimeout, sweepEvery = 200*time.Millisecond, 50*time.Millisecond
	h := newHost(t, Behavior{})
	loopOf(t, h)
	r, _ := openRaw(t, h)
	r.cmd("EHLO client.test", "250")
	r.expectEOF() // within the 10 s deadline of rawClient
	waitDisconnects(t, h, 1)
	if d := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect))[0]; d.Text != "disconnect: idle timeout" {
		t.Errorf("disconnect %q, want idle timeout", d.Text)
	}
}

// TestLoopCloseWithSessions: Close ends the loop's sessions mid-dialogue
// and mid-body, and returns.
func TestLoopCloseWithSessions(t *testing.T) {
	h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() }) // should the test stop early
	loopOf(t, h)
	var clients []*rawClient
	for i := range 4 {
		r, _ := openRaw(t, h)
		r.run(steps(stepEHLO))
		if i%2 == 1 {
			r.run(steps(stepMail, stepRcpt, step{"DATA", "354 "}))
			r.write("Subject: cut\r\n")
		}
		clients = append(clients, r)
	}
	h.Close()
	for _, r := range clients {
		r.expectEOF()
	}
	if n := count(h.Journal(), journal.KindSMTPDisconnect, func(e journal.Event) bool { return e.Text == "disconnect: host closed" }); n != 4 {
		t.Errorf("%d disconnects for host closed, want 4\n%s", n, h.Journal())
	}
	if n := len(journaled(h.Journal())); n != 0 {
		t.Errorf("%d messages journaled, want 0 (none was complete)", n)
	}
}

// TestLoopMode: Config.Loop chooses whether the loop serves, and its zero
// value follows MXSIM_FAKESMTP_LOOP, read when the host is made, also
// after Down and Up. Sessions are served either way.
func TestLoopMode(t *testing.T) {
	for _, tc := range []struct {
		mode LoopMode
		env  string
		loop bool
	}{
		{LoopOn, "off", true},
		{LoopOff, "", false},
		{LoopOff, "on", false},
		{LoopAuto, "", true},
		{LoopAuto, "auto", true},
		{LoopAuto, "on", true},
		{LoopAuto, "off", false},
	} {
		t.Run("mode="+string(tc.mode)+",env="+tc.env, func(t *testing.T) {
			t.Setenv(loopEnv, tc.env)
			h, err := NewHost(Config{Name: hostName, Loop: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			t.Setenv(loopEnv, "sideways") // read once, at NewHost: not again at Up
			if err := h.Down(); err != nil {
				t.Fatal(err)
			}
			if err := h.Up(); err != nil {
				t.Fatal(err)
			}
			h.mu.Lock()
			served := h.lns[0].loop != nil
			h.mu.Unlock()
			if served != tc.loop {
				t.Errorf("served by an event loop: %v, want %v", served, tc.loop)
			}
			r, _ := openRaw(t, h)
			r.run(steps(stepEHLO))
			r.cmd("QUIT", "221 ")
			r.expectEOF()
			waitDisconnects(t, h, 1)
		})
	}
}
