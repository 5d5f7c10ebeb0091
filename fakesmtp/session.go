package fakesmtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// Limits of the protocol.
const (
	// maxLine is the longest command line taken, CRLF included: RFC 5321
	// §4.5.3.1.4 says 512 octets, §4.5.3.1.6 says to be liberal.
	maxLine = 2000
	// errLimit is how many protocol errors (bad syntax, unknown commands)
	// a session may make before the host closes it, like Postfix's
	// smtpd_hard_error_limit.
	errLimit = 20
	// deadlineEvery is how often a session moves its read and write
	// deadline: at most every few seconds rather than at every line, so
	// that an idle connection is closed between readTimeout-deadlineEvery
	// and readTimeout after its last line.
	deadlineEvery = 10 * time.Second
)

// session is one connection to a host, served from accept to disconnect by
// the host's event loop (loop_linux.go) or by a goroutine of its own: the
// pre-SMTP stage (refusals, blackhole, implicit TLS, greeting), then the
// SMTP dialogue, which it records line by line (C: and S:) and steers by
// the host's behaviour of the moment.
type session struct {
	h    *Host
	lst  *listener // the address it came in on, whose mode adjusts the behaviour (behavior)
	raw  net.Conn
	base journal.Event // Source, Session, Remote, Local
	ip   string

	closeOnce sync.Once
	closed    chan struct{} // closed with raw
	reasonMu  sync.Mutex
	reason    string
	reasonF   string
	// closedCode is the reply code the host closed the connection after
	// (421, see forced), for the disconnect event; 0 otherwise. Set by
	// the goroutine serving the session before it closes.
	closedCode int

	// The rest belongs to the goroutine that serves the connection.
	conn     net.Conn      // raw, or the *tls.Conn over it
	br       *bufio.Reader // reads conn
	out      []byte        // replies waiting to be written (see flush)
	deadline time.Time     // when the deadline of conn was last moved

	maxSize  int64 // Limits of the behaviour at connect; they hold for the connection. maxSize 0: none (UnlimitedSize)
	maxRcpts int

	cmds     int    // command lines so far (HangupAfter)
	errs     int    // protocol errors so far (errLimit)
	helo     string // the client's HELO/EHLO name; "" before it and after STARTTLS
	tls      bool
	needEHLO bool // STARTTLS done, no EHLO since
	authed   bool

	inTx     bool          // MAIL accepted; from and rcpts belong to it
	from     string        // reverse-path; "" is the null path
	rcpts    []string      // accepted recipients
	body     *bytes.Buffer // the message being received (DATA or BDAT), unstuffed; nil outside
	bodySize int64         // bytes of the message so far (may exceed what body holds)
	bodyRaw  int           // bytes of DATA read from the wire, for DisconnectInData
	bodySt   int           // DATA end-of-message state machine (unstuff)
	bdat     bool          // a BDAT transfer is under way

	// Sessions served by a host's event loop (loop_linux.go) run the same
	// handlers without ever waiting: a command that would wait is left to
	// a goroutine of the session's own (see inline).
	evented bool  // served by the event loop: DATA leaves the body to it, a step that may wait panics (mayWait)
	yield   bool  // the last line needs the session's own goroutine; it was not taken
	phase   phase // where the loop was in the dialogue when it handed over
}

// phase is what a session handed over by the event loop does first.
type phase uint8

const (
	phaseCommand   phase = iota // read the next command
	phaseBody                   // read the rest of a DATA body
	phaseEndOfData              // the body is read: answer it
)

func newSession(h *Host, lst *listener, c net.Conn, n int) *session {
	remote := c.RemoteAddr().String()
	ip, _, _ := net.SplitHostPort(remote)
	local := lst.addr // the listener's own address, unless it listens on every address
	if h.anyAddr {
		local = c.LocalAddr().String()
	}
	return &session{
		h:      h,
		lst:    lst,
		raw:    c,
		ip:     ip,
		closed: make(chan struct{}),
		conn:   c,
		base: journal.Event{
			Source:  h.name,
			Session: h.name + "#" + strconv.Itoa(n),
			Remote:  remote,
			Local:   local,
		},
	}
}

// behavior returns the host's current behaviour as this session's
// listener sees it (PortMode).
func (s *session) behavior() *Behavior { return s.lst.behavior(s.h.beh.Load()) }

// event returns an event of the session.
func (s *session) event(kind journal.Kind, text string) journal.Event {
	e := s.base
	e.Kind = kind
	e.Text = text
	return e
}

func (s *session) append(e journal.Event) { s.h.journal.Append(e) }

// closeConn closes the connection once; the first reason given wins. Any
// goroutine may call it.
func (s *session) closeConn(reason, fault string) {
	s.setReason(reason, fault)
	s.closeOnce.Do(func() {
		close(s.closed)
		s.raw.Close()
	})
}

func (s *session) setReason(reason, fault string) {
	if reason == "" {
		return
	}
	s.reasonMu.Lock()
	if s.reason == "" {
		s.reason, s.reasonF = reason, fault
	}
	s.reasonMu.Unlock()
}

func (s *session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// mayWait marks a step that may wait: for time, for the client, for a
// handshake. The event loop serves every session of its host from one
// goroutine, so a step that waits there stalls them all; inline keeps
// such steps off the loop, and a step that slipped past it (a new
// behaviour inline does not know) panics here with its name, in the first
// test that reaches it, instead of stalling the host. It costs a bool test.
func (s *session) mayWait(step string) {
	if s.evented {
		panic("fakesmtp: " + step + " on the event loop of host " + s.h.name + ": it may wait, and inline must hand its session to a goroutine")
	}
}

// delay waits d, or less if the connection closes at either end; it
// reports whether the connection is still open. The replies so far leave
// first.
//
// While it waits it watches the client: it reads ahead, into the
// session's buffer (what a client pipelines meanwhile is kept for the
// commands that follow), with the read deadline at the end of the delay.
// A client that closes or resets the connection has left: the session
// ends at once rather than hold the socket for the rest of the delay.
// TCP does not tell a client that closed from one that only shut its
// sending side (nc -N): either can send no more commands, not even QUIT,
// and either ends the session. A client that fills the buffer during a
// delay is waited out on a timer.
func (s *session) delay(d time.Duration) bool {
	if d <= 0 {
		return !s.isClosed()
	}
	s.mayWait("delay")
	if s.flush() != nil {
		return false
	}
	end := time.Now().Add(d)
	// After the delay the deadline is readTimeout from then, whatever the
	// last touch: the read deadline was the delay's end.
	defer s.rearm()
	if s.conn.SetReadDeadline(end) == nil {
		for n := s.br.Buffered(); n < s.br.Size(); n = s.br.Buffered() {
			_, err := s.br.Peek(n + 1)
			switch {
			case err == nil: // the client sent more: keep it, watch on
			case errors.Is(err, os.ErrDeadlineExceeded):
				return !s.isClosed()
			default:
				s.setReason(closeReason(err)+" during a delay", "")
				return false
			}
		}
	}
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closed:
		return false
	}
}

// run serves the connection from accept to disconnect:
//
//  1. blackhole: hold the connection, say nothing;
//  2. implicit TLS: handshake first;
//  3. MaxConns and ConnectionsPerClient, greeting delay and forced greeting (refusals close here);
//  4. the greeting, then the SMTP dialogue (serve).
func (s *session) run(b *Behavior, over *connRefusal) {
	defer s.h.wg.Done()
	defer s.finish()
	if b.State == Blackhole {
		e := s.event(journal.KindSMTPConnect, s.connectText())
		e.Fault = FaultBlackhole
		s.append(e)
		s.hold()
		return
	}
	s.connected(b)
	// A load test opens thousands of sessions: reuse their read buffers.
	br, _ := s.h.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(s.raw, readerSize)
	} else {
		br.Reset(s.raw)
	}
	defer func() {
		br.Reset(nil)
		s.h.readers.Put(br)
	}()
	s.br = br
	if b.TLS.Implicit && !s.implicitTLS(b) {
		return
	}
	if over != nil {
		s.refuse(over.reply, over.fault, over.reason)
		return
	}
	if !s.delay(b.Delays.Greeting) {
		return
	}
	if r := s.h.pick("greeting", b.Replies.Greeting, ""); r != nil {
		// Validate takes only 4xx and 5xx here (RFC 5321 §3.1: 554, §3.8:
		// 421): a forced greeting always refuses the session.
		s.refuse(*r, FaultGreeting, "greeting "+r.String())
		return
	}
	s.reply(codeReady, s.h.greeting, "")
	s.serve()
}

// connected journals the connection and takes the limits of the
// behaviour at connect, which hold for the whole connection.
func (s *session) connected(b *Behavior) {
	s.append(s.event(journal.KindSMTPConnect, s.connectText()))
	s.maxSize, s.maxRcpts = b.Limits.maxSize(), b.Limits.MaxRecipients
}

// connectText is the text of the connect event: "connect from
// 127.0.0.1:50000", and on a host that listens on more than one address,
// or in a mode other than MX, the address and mode it came in on too
// ("connect from 127.0.0.1:50000 to 127.0.0.11:587 (submission)").
func (s *session) connectText() string {
	t := "connect from " + s.base.Remote
	if len(s.h.lns) > 1 || s.lst.mode != "" && s.lst.mode != PortMX {
		mode := s.lst.mode
		if mode == "" {
			mode = PortMX
		}
		t += " to " + s.base.Local + " (" + string(mode) + ")"
	}
	return t
}

// finish ends the session: the waiting replies go out, the connection is
// closed, and the disconnect is journaled with its reason.
func (s *session) finish() {
	_ = s.flush()
	s.closeConn("closed by host", "")
	// The connection slot (Limits.MaxConns) is free before the
	// disconnect is journaled: a client that saw the disconnect may
	// connect again at once.
	s.h.forget(s)
	s.reasonMu.Lock()
	reason, fault := s.reason, s.reasonF
	s.reasonMu.Unlock()
	e := s.event(journal.KindSMTPDisconnect, "disconnect: "+reason)
	e.Fault = fault
	e.Code = s.closedCode
	s.append(e)
}

// resume serves a session the event loop handed over, from where the loop
// was (phase), reading first the bytes the loop had read and not used.
func (s *session) resume(rest []byte) {
	defer s.h.wg.Done()
	defer s.finish()
	s.evented = false
	s.touch() // the loop set no deadline; the first write may wait for the client
	s.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), s.raw), readerSize)
	switch s.phase {
	case phaseBody:
		if !s.readBody(0) { // the loop takes DATA only without DisconnectInData
			return
		}
		fallthrough
	case phaseEndOfData:
		if !s.endOfData(s.behavior()) {
			return
		}
	}
	s.phase = phaseCommand
	s.serve()
}

// hold keeps a blackholed connection open, reading and discarding, until
// the client or the host closes it.
func (s *session) hold() {
	s.mayWait("blackhole hold")
	buf := make([]byte, 512)
	for {
		if _, err := s.raw.Read(buf); err != nil {
			s.setReason("blackhole: "+closeReason(err), FaultBlackhole)
			return
		}
	}
}

// refuse turns the connection away before SMTP: the reply, a Refused
// event, and the connection closed.
func (s *session) refuse(r Reply, fault, reason string) {
	s.send(r, false, fault)
	_ = s.flush()
	e := s.event(journal.KindSMTPRefused, "refused "+s.base.Remote+": "+reason)
	e.Session = "" // journal: Refused is the one SMTP event outside a session
	e.Code = r.Code
	e.Fault = fault
	s.append(e)
	if r.Code == codeNotAvailable {
		s.closedCode = r.Code
	}
	s.closeConn("refused: "+reason, fault)
}

// reply records one reply line (without CRLF) and queues it for the next
// flush.
func (s *session) reply(code int, line, fault string) {
	e := s.event(journal.KindSMTPReply, line)
	e.Code, e.Fault = code, fault
	s.append(e)
	s.out = append(append(s.out, line...), "\r\n"...)
}

// send queues r; with enhanced, a missing enhanced code becomes X.0.0
// (RFC 2034 §3).
func (s *session) send(r Reply, enhanced bool, fault string) {
	s.reply(r.Code, r.wire(enhanced), fault)
}

// fail queues r as the reply a behaviour or a limit produced.
func (s *session) fail(r Reply, fault string) { s.send(r, true, fault) }

// forced queues r, a reply a behaviour forced at a stage (fault names
// it), and reports whether the session goes on. After a 421 it does not:
// RFC 5321 §4.2.2 reads "421 <domain> Service not available, closing
// transmission channel", and §3.8 lets a server close the connection
// "after detecting the need to shut down the SMTP service and returning
// a 421 response code", so the host closes once the reply is out, and
// the disconnect event says so (its Code is 421, its Fault the stage).
// Both serving paths come here: a handler returning false ends the
// session on its goroutine and on the event loop alike.
func (s *session) forced(r Reply, fault string) bool {
	s.fail(r, fault)
	if r.Code != codeNotAvailable {
		return true
	}
	s.closedCode = codeNotAvailable
	s.hangup("host closed the connection after "+r.wire(true), fault)
	return false
}

// protocolError queues a reply to a command the host cannot take and
// reports whether the session goes on: after errLimit of them it ends.
func (s *session) protocolError(code int, line string) bool {
	s.reply(code, line, "")
	s.errs++
	if s.errs < errLimit {
		return true
	}
	s.reply(codeNotAvailable, "421 4.7.0 Too many errors, closing connection", "")
	s.closedCode = codeNotAvailable
	s.hangup("too many errors", "")
	return false
}

// flush writes the replies waiting in s.out in one write. Replies are held
// only while the client has more commands buffered (RFC 2920 §3.2: a server
// may group the responses of pipelined commands, and must send them before
// it waits for more input), the way Postfix's smtpd and smtp-sink flush
// before a read that would block.
func (s *session) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	// No touch here: the deadline was moved before the last read, and
	// after a delay (see delay); the write of a reply never waits longer.
	_, err := s.conn.Write(s.out)
	s.out = s.out[:0]
	if err != nil {
		s.closeConn("write failed: "+closeReason(err), "")
	}
	return err
}

// touch moves the connection's deadline to readTimeout from now, unless
// it did so less than deadlineEvery ago.
func (s *session) touch() {
	now := time.Now()
	if now.Sub(s.deadline) < deadlineEvery {
		return
	}
	s.deadline = now
	_ = s.conn.SetDeadline(now.Add(readTimeout))
}

// rearm moves the connection's deadline to readTimeout from now, however
// recently touch moved it.
func (s *session) rearm() {
	s.deadline = time.Time{}
	s.touch()
}

// hangup closes the connection on purpose, after the replies already
// recorded have gone out.
func (s *session) hangup(reason, fault string) {
	if s.flush() == nil && s.linger(reason, fault) {
		return // the event loop closes once the replies are out
	}
	s.closeConn(reason, fault)
}

// closeReason says in words why a read or write ended.
func closeReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "client closed connection"
	case errors.Is(err, net.ErrClosed):
		return "closed by host"
	case errors.As(err, &ne) && ne.Timeout():
		return "idle timeout"
	}
	return err.Error()
}

// readLine returns the next line from the client, CRLF included, after
// writing the waiting replies if no complete line is buffered yet. A line
// longer than maxLine comes back truncated, with tooLong set and the rest
// of it skipped. On error the session is over and its reason set.
func (s *session) readLine() (line []byte, tooLong bool, err error) {
	s.mayWait("line read")
	if s.wouldBlock() {
		if err := s.flush(); err != nil {
			return nil, false, err
		}
		s.touch()
	}
	line, err = s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Skip the rest of the line, however long.
		for err == bufio.ErrBufferFull {
			_, err = s.br.ReadSlice('\n')
		}
		if err == nil {
			return nil, true, nil
		}
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		s.setReason(closeReason(err), "")
		return nil, false, err
	}
	if len(line) > maxLine {
		return nil, true, nil
	}
	return line, false, nil
}

// wouldBlock reports whether the next read has to wait for the client: no
// complete line is buffered.
func (s *session) wouldBlock() bool {
	n := s.br.Buffered()
	if n == 0 {
		return true
	}
	b, _ := s.br.Peek(n)
	return bytes.IndexByte(b, '\n') < 0
}
