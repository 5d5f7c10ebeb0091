package fakesmtp

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// deadConn is a connection whose client has nothing more to say: reads
// end at once (io.EOF) and writes vanish. A step that would wait on it
// returns at once instead, so that a test of the would-block guard fails
// rather than hangs when the guard is missing.
type deadConn struct{}

func (deadConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (deadConn) Write(p []byte) (int, error)      { return len(p), nil }
func (deadConn) Close() error                     { return nil }
func (deadConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }
func (deadConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000} }
func (deadConn) SetDeadline(time.Time) error      { return nil }
func (deadConn) SetReadDeadline(time.Time) error  { return nil }
func (deadConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = deadConn{}

// loopSession returns a session of h as the event loop holds it
// (evented), after EHLO and, with tx, inside a mail transaction with one
// recipient.
func loopSession(h *Host, tx bool) *session {
	s := newSession(h, h.lns[0], deadConn{}, 1)
	s.br = bufio.NewReaderSize(deadConn{}, readerSize)
	s.evented = true
	s.helo = "client.test"
	if tx {
		s.inTx, s.from, s.rcpts = true, "a@origin.test", []string{"b@example.test"}
	}
	return s
}

// panicOf runs f and returns what it panicked with, or "" if it returned.
func panicOf(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "non-string panic"
			}
		}
	}()
	f()
	return ""
}

// TestMayWaitOnLoop: every step that may wait panics with its name when it
// runs in a session the event loop serves, as if inline had wrongly kept
// it on the loop, instead of stalling every session of the host. Run on a
// session's own goroutine, the same steps do not panic.
func TestMayWaitOnLoop(t *testing.T) {
	h := newHost(t, Behavior{})
	ms := time.Millisecond
	auth := &Auth{Users: map[string]string{"user": "pass"}, AllowInsecure: true}
	for _, tc := range []struct {
		name string // what the panic must name
		tx   bool
		step func(s *session)
	}{
		{"delay", false, func(s *session) { s.hello(&Behavior{Delays: Delays{EHLO: ms}}, true, "client.test") }},
		{"delay", false, func(s *session) { s.mail(&Behavior{Delays: Delays{Mail: ms}}, "FROM:<a@origin.test>") }},
		{"delay", true, func(s *session) { s.rcpt(&Behavior{Delays: Delays{Rcpt: ms}}, "TO:<c@example.test>") }},
		{"delay", true, func(s *session) { s.data(&Behavior{Delays: Delays{Data: ms}}, "") }},
		{"delay", true, func(s *session) { s.startBody(); s.endOfData(&Behavior{Delays: Delays{EndOfData: ms}}) }},
		{"DATA body read", true, func(s *session) { s.data(&Behavior{DisconnectInData: 10}, "") }},
		{"DATA body read", true, func(s *session) { s.startBody(); s.readBody(0) }},
		{"STARTTLS", false, func(s *session) { s.startTLS(&Behavior{TLS: TLS{StartTLS: TLSOffered}}) }},
		{"TLS handshake", false, func(s *session) {
			s.handshake(tls.Server(deadConn{}, &tls.Config{MinVersion: tls.VersionTLS12}), CertValid, false)
		}},
		{"AUTH", false, func(s *session) { s.auth(&Behavior{Auth: auth}, "PLAIN") }},
		{"BDAT", true, func(s *session) { s.chunk(&Behavior{}, "5 LAST") }},
		{"BDAT chunk skip", false, func(s *session) { s.skip(5) }},
		{"message data read", true, func(s *session) { s.startBody(); s.readChunk(5, 0) }},
		{"line read", false, func(s *session) { s.readLine() }},
		{"blackhole hold", false, func(s *session) { s.hold() }},
	} {
		s := loopSession(h, tc.tx)
		got := panicOf(func() { tc.step(s) })
		if !strings.Contains(got, tc.name) || !strings.Contains(got, "event loop") {
			t.Errorf("step %q on the event loop: panic %q, want one naming the step", tc.name, got)
		}
		s = loopSession(h, tc.tx)
		s.evented = false
		if got := panicOf(func() { tc.step(s) }); got != "" {
			t.Errorf("step %q on a session's own goroutine: panic %q", tc.name, got)
		}
	}
}

// TestInlineNeverWaits: whatever inline lets the event loop run, under
// behaviours that set each delay and forced reply in turn (found by
// reflection, so that a new field is covered as it comes) and the other
// behaviours, runs without reaching a step that may wait (see
// TestMayWaitOnLoop): for DATA, the end of the message too.
func TestInlineNeverWaits(t *testing.T) {
	h := newHost(t, Behavior{})
	behaviors := map[string]*Behavior{
		"zero":               {},
		"disconnect_in_data": {DisconnectInData: 10},
		"hangup_after":       {HangupAfter: 100},
		"greylist":           {Greylist: &Greylist{Window: time.Hour}},
		"relay":              {Relay: &RelayPolicy{Accept: []string{"other.test"}}},
		"auth":               {Auth: &Auth{Users: map[string]string{"user": "pass"}, Required: true}},
		"tls offered":        {TLS: TLS{StartTLS: TLSOffered}},
		"tls required":       {TLS: TLS{StartTLS: TLSRequired}},
		"limits":             {Limits: Limits{MaxSize: 10, MaxRecipients: 1, MaxConns: 1}},
		"delays allow_long":  {Delays: Delays{AllowLong: true}},
	}
	forced := Forced(Reply{Code: 451, Enhanced: "4.3.0", Text: "forced"})
	for _, field := range reflect.VisibleFields(reflect.TypeFor[Delays]()) {
		if field.Type != reflect.TypeFor[time.Duration]() {
			continue // AllowLong: no delay of its own
		}
		b := &Behavior{}
		reflect.ValueOf(&b.Delays).Elem().FieldByIndex(field.Index).Set(reflect.ValueOf(time.Millisecond))
		behaviors["delays."+field.Name] = b
	}
	for _, field := range reflect.VisibleFields(reflect.TypeFor[Replies]()) {
		b := &Behavior{Auth: &Auth{AllowInsecure: true}, TLS: TLS{StartTLS: TLSOffered}}
		reflect.ValueOf(&b.Replies).Elem().FieldByIndex(field.Index).Set(reflect.ValueOf(forced))
		behaviors["replies."+field.Name] = b
	}
	lines := []string{"EHLO client.test", "HELO client.test", "MAIL FROM:<a@origin.test> SIZE=100",
		"RCPT TO:<c@example.test>", "DATA", "BDAT 5 LAST", "RSET", "NOOP", "VRFY bob", "QUIT",
		"STARTTLS", "AUTH PLAIN AHVzZXIAcGFzcw==", "HELP", "XYZZY", ""}
	ran := 0
	for name, b := range behaviors {
		for _, line := range lines {
			verb, arg := splitCommand(line)
			if !inline(b, verb) {
				continue
			}
			ran++
			// MAIL needs no transaction; the others get one, so that
			// each handler goes as far as it can.
			s := loopSession(h, verb != "MAIL")
			got := panicOf(func() {
				s.dispatch(b, verb, arg)
				if s.phase == phaseBody { // as the loop goes on after the 354
					if _, done := s.unstuff([]byte("Subject: x\r\n\r\nhi\r\n.\r\n")); done {
						s.endOfData(b)
					}
				}
			})
			if got != "" {
				t.Errorf("%s: %q run on the event loop (inline says so) panicked: %s", name, line, got)
			}
		}
	}
	if ran < len(behaviors) {
		t.Fatalf("inline let only %d commands run, fewer than the %d behaviours", ran, len(behaviors))
	}
}
