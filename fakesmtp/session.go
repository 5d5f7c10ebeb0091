package fakesmtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mxsim/mxsim/journal"
)

// Reply codes this package writes (mox smtp/codes.go style).
const (
	codeReady         = 220 // RFC 5321 §4.2.2 service ready
	codeClosing       = 221
	codeAuthOK        = 235
	codeOK            = 250
	codeCannotVerify  = 252
	codeAuthContinue  = 334
	codeStartData     = 354
	codeNotAvailable  = 421 // RFC 5321 §3.8: service not available, closing channel
	codeLocalError    = 451
	codeTooManyRcpts  = 452
	codeTLSNotAvail   = 454
	codeSyntax        = 500
	codeParamSyntax   = 501
	codeNotImpl       = 502
	codeBadSequence   = 503
	codeParamNotImpl  = 504
	codeAuthRequired  = 530 // RFC 4954 §6
	codeAuthBad       = 535 // RFC 4954 §6
	codeEncryptNeeded = 538 // RFC 4954 §6
	codeRelayDenied   = 550
	codeTooBig        = 552
	codeParamUnknown  = 555 // RFC 5321 §4.1.1.11: MAIL/RCPT parameter not recognised
)

// Replies of the protocol and the behaviours; the enhanced codes follow
// RFC 3463 (and RFC 5248's registry), the AUTH ones RFC 4954 §6.
var (
	replyTooManyConns   = Reply{Code: codeNotAvailable, Enhanced: "4.7.0", Text: "too many connections"}
	replyGreylisted     = Reply{Code: codeLocalError, Enhanced: "4.7.1", Text: "greylisted, try again later"}
	replyRelayDenied    = Reply{Code: codeRelayDenied, Enhanced: "5.7.1", Text: "relaying denied"}
	replyStartTLSFirst  = Reply{Code: codeAuthRequired, Enhanced: "5.7.0", Text: "Must issue a STARTTLS command first"}
	replyAuthRequired   = Reply{Code: codeAuthRequired, Enhanced: "5.7.0", Text: "Authentication required"}
	replyEncryptNeeded  = Reply{Code: codeEncryptNeeded, Enhanced: "5.7.11", Text: "Encryption required for requested authentication mechanism"}
	replyAuthBad        = Reply{Code: codeAuthBad, Enhanced: "5.7.8", Text: "Authentication credentials invalid"}
	replyEHLOAfterTLS   = Reply{Code: codeBadSequence, Enhanced: "5.5.1", Text: "EHLO required after STARTTLS"}
	replyTLSUnavailable = Reply{Code: codeTLSNotAvail, Enhanced: "4.7.0", Text: "TLS not available"}
	replyTooBig         = Reply{Code: codeTooBig, Enhanced: "5.3.4", Text: "Message size exceeds fixed limit"}
	replyTooManyRcpts   = Reply{Code: codeTooManyRcpts, Enhanced: "4.5.3", Text: "Too many recipients"}
)

// Reply lines of the common path, written as they are so that a
// session that goes well formats nothing.
const (
	lineMailOK    = "250 2.1.0 Ok"
	lineRcptOK    = "250 2.1.5 Ok"
	lineOK        = "250 2.0.0 Ok"
	lineQueued    = "250 2.0.0 Ok: queued"
	lineStartData = "354 End data with <CR><LF>.<CR><LF>"
	lineBye       = "221 2.0.0 Bye"
	lineAuthOK    = "235 2.7.0 Authentication successful"
	lineVRFY      = "252 2.0.0 Cannot VRFY user, but will accept message"
	lineTLSReady  = "220 2.0.0 Ready to start TLS"
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
	raw  net.Conn
	base journal.Event // Source, Session, Remote, Local
	ip   string

	closeOnce sync.Once
	closed    chan struct{} // closed with raw
	reasonMu  sync.Mutex
	reason    string
	reasonF   string

	// The rest belongs to the goroutine that serves the connection.
	conn     net.Conn      // raw, or the *tls.Conn over it
	br       *bufio.Reader // reads conn
	out      []byte        // replies waiting to be written (see flush)
	deadline time.Time     // when the deadline of conn was last moved

	maxSize  int64 // Limits of the behaviour at connect; they hold for the connection
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
	evented bool  // served by the event loop: DATA leaves the body to it
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

func newSession(h *Host, c net.Conn, n int) *session {
	remote := c.RemoteAddr().String()
	ip, _, _ := net.SplitHostPort(remote)
	local := h.addr // the listener's own address, unless it listens on every address
	if h.anyAddr {
		local = c.LocalAddr().String()
	}
	return &session{
		h:      h,
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

// delay waits d, or less if the connection closes; it reports whether the
// connection is still open. The replies so far leave first.
func (s *session) delay(d time.Duration) bool {
	if d <= 0 {
		return !s.isClosed()
	}
	if s.flush() != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		s.touch() // a delay may outlast the deadline set before it
		return true
	case <-s.closed:
		return false
	}
}

// run serves the connection from accept to disconnect:
//
//  1. blackhole: hold the connection, say nothing;
//  2. implicit TLS: handshake first;
//  3. MaxConns, greeting delay and forced greeting (refusals close here);
//  4. the greeting, then the SMTP dialogue (serve).
func (s *session) run(b *Behavior, over bool) {
	defer s.h.wg.Done()
	defer s.finish()
	if b.State == Blackhole {
		e := s.event(journal.KindSMTPConnect, "connect from "+s.base.Remote)
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
	if over {
		s.refuse(replyTooManyConns, FaultMaxConns, "too many connections (max "+strconv.Itoa(b.Limits.MaxConns)+")")
		return
	}
	if !s.delay(b.Delays.Greeting) {
		return
	}
	if r := s.h.pick("greeting", b.Replies.Greeting, ""); r != nil {
		if r.Code >= 400 {
			s.refuse(*r, FaultGreeting, "greeting "+r.String())
			return
		}
		s.send(*r, false, FaultGreeting)
	} else {
		s.reply(codeReady, s.h.greeting, "")
	}
	s.serve()
}

// connected journals the connection and takes the limits of the
// behaviour at connect, which hold for the whole connection.
func (s *session) connected(b *Behavior) {
	s.append(s.event(journal.KindSMTPConnect, "connect from "+s.base.Remote))
	s.maxSize, s.maxRcpts = b.Limits.MaxSize, b.Limits.MaxRecipients
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
		if !s.endOfData(s.h.beh.Load()) {
			return
		}
	}
	s.phase = phaseCommand
	s.serve()
}

// hold keeps a blackholed connection open, reading and discarding, until
// the client or the host closes it.
func (s *session) hold() {
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
	s.closeConn("refused: "+reason, fault)
}

func (s *session) implicitTLS(b *Behavior) bool {
	kind := b.certKind()
	cfg, err := s.h.tlsConfig(kind)
	if err != nil {
		e := s.event(journal.KindSMTPTLS, "implicit TLS unavailable")
		e.Err, e.Fault = err.Error(), FaultTLS
		s.append(e)
		s.closeConn("tls unavailable", FaultTLS)
		return false
	}
	return s.handshake(tls.Server(s.raw, cfg), kind, true)
}

// handshake runs the server side of a TLS handshake and records it. On
// failure the connection is closed.
func (s *session) handshake(tc *tls.Conn, kind CertKind, implicit bool) bool {
	// A closed connection (Close, Down) ends the handshake too.
	_ = s.raw.SetDeadline(time.Now().Add(tlsTimeout))
	err := tc.Handshake()
	_ = s.raw.SetDeadline(time.Time{})
	s.deadline = time.Time{}
	st := tc.ConnectionState()
	e := s.event(journal.KindSMTPTLS, "")
	e.TLS = &journal.TLS{ServerName: st.ServerName, CertKind: string(kind), Implicit: implicit}
	if err != nil {
		e.Text = "TLS handshake failed (cert " + string(kind) + ")"
		e.Err, e.Fault = err.Error(), FaultTLS
		s.append(e)
		s.closeConn("tls handshake failed: "+err.Error(), FaultTLS)
		return false
	}
	e.TLS.Version = tls.VersionName(st.Version)
	e.TLS.Cipher = tls.CipherSuiteName(st.CipherSuite)
	e.Text = e.TLS.Version + " " + e.TLS.Cipher + " cert=" + string(kind)
	if st.ServerName != "" {
		e.Text += " sni=" + st.ServerName
	}
	s.append(e)
	s.conn = tc
	s.br = bufio.NewReaderSize(tc, readerSize)
	s.tls = true
	return true
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

// protocolError queues a reply to a command the host cannot take and
// reports whether the session goes on: after errLimit of them it ends.
func (s *session) protocolError(code int, line string) bool {
	s.reply(code, line, "")
	s.errs++
	if s.errs < errLimit {
		return true
	}
	s.reply(codeNotAvailable, "421 4.7.0 Too many errors, closing connection", "")
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

// serve runs the SMTP dialogue after the greeting, one command line at a
// time, until the client quits or either side closes.
func (s *session) serve() {
	for {
		line, tooLong, err := s.readLine()
		if err != nil {
			return
		}
		if tooLong {
			if !s.counted("(line longer than "+strconv.Itoa(maxLine)+" octets)") ||
				!s.protocolError(codeSyntax, "500 5.5.2 Line too long") {
				return
			}
			continue
		}
		if !s.command(line) {
			return
		}
	}
}

// command records one command line and answers it. It reports whether the
// session goes on.
func (s *session) command(line []byte) bool {
	text := commandText(trimCRLF(line))
	verb, arg := splitCommand(text)
	b := s.h.beh.Load()
	if s.evented && !inline(b, verb) {
		s.yield = true
		return true
	}
	if !s.counted(maskAuth(verb, text)) {
		return false
	}
	switch verb {
	case "EHLO", "HELO":
		return s.hello(b, verb == "EHLO", arg)
	case "MAIL":
		return s.mail(b, arg)
	case "RCPT":
		return s.rcpt(b, arg)
	case "DATA":
		return s.data(b, arg)
	case "BDAT":
		return s.chunk(b, arg)
	case "RSET":
		s.reset()
		s.reply(codeOK, lineOK, "")
	case "NOOP":
		s.reply(codeOK, lineOK, "")
	case "VRFY":
		if arg == "" { // RFC 5321 §4.1.1.6: vrfy = "VRFY" SP String
			return s.protocolError(codeParamSyntax, "501 5.5.4 Syntax: VRFY address")
		}
		s.reply(codeCannotVerify, lineVRFY, "")
	case "QUIT":
		s.reply(codeClosing, lineBye, "")
		s.hangup("client quit", "")
		return false
	case "STARTTLS":
		return s.startTLS(b)
	case "AUTH":
		return s.auth(b, arg)
	case "EXPN", "HELP", "TURN", "SEND", "SOML", "SAML", "ETRN":
		s.reply(codeNotImpl, "502 5.5.1 "+verb+" command not implemented", "")
	case "":
		return s.protocolError(codeSyntax, "500 5.5.2 Error: bad syntax")
	default:
		return s.protocolError(codeSyntax, "500 5.5.2 Error: command not recognized")
	}
	return true
}

// inline reports whether the event loop may run a command under b: its
// handler never waits (no delay, no TLS handshake, no SASL exchange, no
// BDAT chunk to read, no DisconnectInData count to keep while reading).
func inline(b *Behavior, verb string) bool {
	switch verb {
	case "STARTTLS", "AUTH", "BDAT":
		return false
	case "DATA":
		if b.DisconnectInData > 0 {
			return false
		}
	}
	return b.Delays == (Delays{})
}

// counted records a command line (text as journaled) and counts it
// against Behavior.HangupAfter: the command after the last one allowed is
// not answered, the host hangs up. It reports whether the session goes on.
// Lines of a SASL exchange are not commands and are not counted.
func (s *session) counted(text string) bool {
	s.cmds++
	s.append(s.event(journal.KindSMTPCommand, text))
	if n := s.h.beh.Load().HangupAfter; n > 0 && s.cmds > n {
		s.hangup("hangup after "+strconv.Itoa(n)+" commands", FaultHangup)
		return false
	}
	return true
}

// commandText returns line as a string, without copying the commands
// that are always the same.
func commandText(line []byte) string {
	switch string(line) { // compared in place: no allocation
	case "DATA":
		return "DATA"
	case "QUIT":
		return "QUIT"
	case "RSET":
		return "RSET"
	case "NOOP":
		return "NOOP"
	}
	return string(line)
}

// trimCRLF removes the line ending (CRLF, or a bare LF).
func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// verbs are the commands known, so that splitCommand returns a constant
// string for them instead of an upper-cased copy.
var verbs = []string{"EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "QUIT",
	"STARTTLS", "AUTH", "EXPN", "HELP", "TURN", "SEND", "SOML", "SAML", "ETRN"}

// splitCommand returns the verb of a command line, upper-cased, and its
// argument with surrounding blanks removed (RFC 5321 §4.1.1: verbs are
// case-insensitive).
func splitCommand(text string) (verb, arg string) {
	v, a, _ := strings.Cut(text, " ")
	for _, k := range verbs {
		if strings.EqualFold(v, k) {
			return k, strings.TrimSpace(a)
		}
	}
	return strings.ToUpper(v), strings.TrimSpace(a)
}

// maskAuth hides credentials: "AUTH PLAIN dXNlcg..." becomes "AUTH PLAIN ****".
func maskAuth(verb, text string) string {
	if verb != "AUTH" {
		return text
	}
	f := strings.Fields(text)
	if len(f) > 2 {
		return f[0] + " " + f[1] + " ****"
	}
	return text
}

// reset ends the mail transaction (RSET, EHLO, after the message).
func (s *session) reset() {
	s.inTx, s.from, s.rcpts = false, "", s.rcpts[:0]
	s.bdat = false
	s.releaseBody()
}

// hello answers HELO and EHLO (RFC 5321 §4.1.1.1): it resets the
// transaction and, for EHLO, lists the extensions (RFC 5321 §2.2.2).
func (s *session) hello(b *Behavior, ehlo bool, arg string) bool {
	if !s.delay(b.Delays.EHLO) {
		return false
	}
	if r := s.h.pick("ehlo", b.Replies.EHLO, ""); r != nil {
		s.fail(*r, FaultEHLO)
		return true
	}
	domain, _, _ := strings.Cut(arg, " ")
	if domain == "" {
		s.reply(codeParamSyntax, "501 5.5.4 Syntax: EHLO hostname", "")
		return true
	}
	s.reset()
	s.helo, s.needEHLO = domain, false
	if !ehlo {
		s.reply(codeOK, s.h.heloLine, "")
		return true
	}
	s.reply(codeOK, s.h.ehloLine, "")
	if !s.tls && b.offersStartTLS() {
		s.reply(codeOK, "250-STARTTLS", "")
	}
	s.reply(codeOK, "250-PIPELINING", "")
	s.reply(codeOK, "250-8BITMIME", "")
	s.reply(codeOK, "250-ENHANCEDSTATUSCODES", "")
	s.reply(codeOK, "250-CHUNKING", "")
	if mechs := s.authMechanisms(b); len(mechs) > 0 {
		s.reply(codeOK, "250-AUTH "+strings.Join(mechs, " "), "")
	}
	if s.maxSize > 0 {
		s.reply(codeOK, "250 SIZE "+strconv.FormatInt(s.maxSize, 10), "")
	} else {
		s.reply(codeOK, "250 SIZE", "")
	}
	return true
}

// authMechanisms lists the mechanisms EHLO advertises (none without Auth).
//
// A host that offers STARTTLS advertises AUTH only under TLS, unless
// AllowInsecure (Postfix smtpd_tls_auth_only style); a host without TLS
// advertises it, so that a relay's AUTH in clear text meets 538.
func (s *session) authMechanisms(b *Behavior) []string {
	a := b.Auth
	if a == nil || !s.tls && !a.AllowInsecure && b.offersStartTLS() {
		return nil
	}
	return a.mechanisms()
}

// greeted checks that the client said EHLO (again, after STARTTLS) before
// a command that needs it, answering 503 if not.
func (s *session) greeted() bool {
	switch {
	case s.needEHLO:
		s.fail(replyEHLOAfterTLS, FaultTLS)
		return false
	case s.helo == "":
		s.reply(codeBadSequence, "503 5.5.1 Error: send HELO/EHLO first", "")
		return false
	}
	return true
}

// mail answers MAIL FROM (RFC 5321 §4.1.1.2). After the syntax, in order:
// TLS required, AUTH required, the forced MAIL reply.
func (s *session) mail(b *Behavior, arg string) bool {
	if !s.greeted() {
		return true
	}
	if s.inTx || s.bdat {
		s.reply(codeBadSequence, "503 5.5.1 Error: nested MAIL command", "")
		return true
	}
	from, params, ok := parsePath(arg, "FROM:", true)
	if !ok {
		return s.protocolError(codeParamSyntax, "501 5.5.4 Syntax: MAIL FROM:<address>")
	}
	for _, p := range params {
		key, value, _ := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "SIZE":
			// RFC 1870 §6.2: a declared size above the limit is refused at once.
			n, err := strconv.ParseUint(value, 10, 63)
			if err != nil {
				s.reply(codeParamSyntax, "501 5.5.4 Bad SIZE parameter", "")
				return true
			}
			if s.maxSize > 0 && int64(n) > s.maxSize {
				s.fail(replyTooBig, FaultMaxSize)
				return true
			}
		case "BODY":
			if v := strings.ToUpper(value); v != "7BIT" && v != "8BITMIME" {
				s.reply(codeParamSyntax, "501 5.5.4 Bad BODY parameter", "")
				return true
			}
		case "AUTH":
			// RFC 4954 §5: the submitter's identity; taken and ignored.
		default:
			s.reply(codeParamUnknown, "555 5.5.4 Unsupported option: "+key, "")
			return true
		}
	}
	if !s.delay(b.Delays.Mail) {
		return false
	}
	switch {
	case b.TLS.StartTLS == TLSRequired && !s.tls:
		// RFC 3207 §4: a server may require TLS before accepting mail.
		s.fail(replyStartTLSFirst, FaultTLS)
		return true
	case b.Auth != nil && b.Auth.Required && !s.authed:
		// RFC 4954 §6: 530 5.7.0 Authentication required.
		s.fail(replyAuthRequired, FaultAuth)
		return true
	}
	if r := s.h.pick("mail", b.Replies.Mail, strings.ToLower(from)); r != nil {
		s.fail(*r, FaultMail)
		return true
	}
	s.inTx, s.from, s.rcpts = true, from, s.rcpts[:0]
	s.reply(codeOK, lineMailOK, "")
	return true
}

// rcpt answers RCPT TO (RFC 5321 §4.1.1.3). After the syntax and the
// recipient limit, in order: forced RCPT replies, the relay policy,
// greylisting.
func (s *session) rcpt(b *Behavior, arg string) bool {
	if !s.greeted() {
		return true
	}
	if !s.inTx || s.bdat {
		s.reply(codeBadSequence, "503 5.5.1 Error: need MAIL command", "")
		return true
	}
	to, params, ok := parsePath(arg, "TO:", false)
	if !ok {
		return s.protocolError(codeParamSyntax, "501 5.5.4 Syntax: RCPT TO:<address>")
	}
	if len(params) > 0 {
		key, _, _ := strings.Cut(params[0], "=")
		s.reply(codeParamUnknown, "555 5.5.4 Unsupported option: "+key, "")
		return true
	}
	if s.maxRcpts > 0 && len(s.rcpts) >= s.maxRcpts {
		s.fail(replyTooManyRcpts, FaultMaxRecipients)
		return true
	}
	if !s.delay(b.Delays.Rcpt) {
		return false
	}
	lower := strings.ToLower(to)
	if r := s.h.pick("rcpt", b.Replies.Rcpt, lower); r != nil {
		s.fail(*r, FaultRcpt)
		return true
	}
	if p := b.Relay; p != nil {
		_, domain, _ := strings.Cut(lower, "@")
		if !p.accepts(domain) {
			r := replyRelayDenied
			if p.Reject != nil {
				r = *p.Reject
			}
			s.fail(r, FaultRelay)
			return true
		}
	}
	if g := b.Greylist; g != nil && s.h.greylisted(s.ip, s.from, to, g.Window) {
		// RFC 6647: a temporary failure for an unknown triplet.
		r := replyGreylisted
		if g.Reply != nil {
			r = *g.Reply
		}
		s.fail(r, FaultGreylist)
		return true
	}
	s.rcpts = append(s.rcpts, to)
	s.reply(codeOK, lineRcptOK, "")
	return true
}

// parsePath reads "FROM:<path> params" or "TO:<path> params" (RFC 5321
// §4.1.2): the address without angle brackets or source route, and the
// parameters. The null path "<>" is allowed only for MAIL; RCPT also takes
// a bare "<postmaster>" (§4.5.1). Addresses without brackets are taken,
// as most servers do.
func parsePath(arg, prefix string, nullOK bool) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if rest == "" {
		return "", nil, false // §4.1.2: a path, or "<>", is required
	}
	if strings.HasPrefix(rest, "<") {
		end := closingBracket(rest)
		if end < 0 {
			return "", nil, false
		}
		addr, rest = rest[1:end], rest[end+1:]
		if rest != "" && rest[0] != ' ' {
			return "", nil, false
		}
	} else {
		addr, rest, _ = strings.Cut(rest, " ")
	}
	if strings.HasPrefix(addr, "@") {
		// A source route (§4.1.2 A-d-l) is ignored (§C).
		_, a, found := strings.Cut(addr, ":")
		if !found {
			return "", nil, false
		}
		addr = a
	}
	params = strings.Fields(rest)
	switch {
	case addr == "":
		return "", params, nullOK
	case strings.EqualFold(addr, "postmaster") && !nullOK:
		return addr, params, true
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " \t<>") && !strings.HasPrefix(addr, "\"") {
		return "", nil, false
	}
	return addr, params, true
}

// closingBracket returns the index of the '>' that ends the path starting
// at s[0] == '<', skipping quoted local parts; -1 if there is none.
func closingBracket(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case '>':
			if !quoted {
				return i
			}
		}
	}
	return -1
}

// data answers DATA (RFC 5321 §4.1.1.4) and reads the message: 354, the
// body up to <CRLF>.<CRLF>, then the end-of-data reply.
func (s *session) data(b *Behavior, arg string) bool {
	if !s.delay(b.Delays.Data) {
		return false
	}
	if !s.greeted() {
		return true
	}
	if arg != "" {
		s.reply(codeParamSyntax, "501 5.5.4 Syntax: DATA", "")
		return true
	}
	if s.bdat {
		s.reply(codeBadSequence, "503 5.5.1 Error: DATA during BDAT", "")
		return true
	}
	if !s.inTx || len(s.rcpts) == 0 {
		s.reply(codeBadSequence, "503 5.5.1 Error: need RCPT command", "")
		return true
	}
	if r := s.h.pick("data", b.Replies.Data, ""); r != nil {
		s.fail(*r, FaultData)
		return true
	}
	s.reply(codeStartData, lineStartData, "")
	s.startBody()
	s.bodySt, s.bodyRaw = bodyBeginLine, 0
	if s.evented {
		s.phase = phaseBody // the loop feeds the body to unstuff
		return true
	}
	if !s.readBody(b.DisconnectInData) {
		return false
	}
	return s.endOfData(s.h.beh.Load())
}

// startBody readies s.body for a new message, reusing a pooled buffer.
func (s *session) startBody() {
	buf, _ := s.h.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	s.body, s.bodySize = buf, 0
}

// releaseBody returns s.body to the pool.
func (s *session) releaseBody() {
	if s.body != nil && s.body.Cap() <= maxPooledBody {
		s.h.bodies.Put(s.body)
	}
	s.body, s.bodySize = nil, 0
}

// Body states of the end-of-data search (RFC 5321 §4.1.1.4) and of
// dot-unstuffing (§4.5.2).
const (
	bodyBeginLine = iota
	bodyDot
	bodyDotCR
	bodyCR
	bodyData
)

// readBody reads a DATA body into s.body, undoing dot-stuffing, up to and
// including the end marker. With limit > 0 it hangs up once limit bytes
// have been read (Behavior.DisconnectInData). It reports whether the
// session goes on.
func (s *session) readBody(limit int) bool {
	for {
		if limit > 0 && s.bodyRaw >= limit {
			s.hangup("disconnect in data after "+strconv.Itoa(s.bodyRaw)+" bytes", FaultDisconnect)
			return false
		}
		if !s.fill() {
			return false
		}
		n := s.br.Buffered()
		if limit > 0 {
			n = min(n, limit-s.bodyRaw)
		}
		chunk, _ := s.br.Peek(n)
		used, done := s.unstuff(chunk)
		_, _ = s.br.Discard(used)
		s.bodyRaw += used
		if done {
			return true
		}
	}
}

// fill makes sure message data is buffered: when none is, the waiting
// replies go out first (the 354, if the client pipelined DATA) and the
// deadline moves before the read. It reports whether the session goes on.
func (s *session) fill() bool {
	if s.br.Buffered() == 0 {
		if s.flush() != nil {
			return false
		}
		s.touch()
	}
	if _, err := s.br.Peek(1); err != nil {
		s.setReason(closeReason(err), "")
		return false
	}
	return true
}

// unstuff runs chunk through the end-of-data state machine, appending the
// message bytes (leading dots removed, RFC 5321 §4.5.2) to s.body. It
// returns how many bytes it used and whether the end marker was among
// them.
func (s *session) unstuff(chunk []byte) (used int, done bool) {
	st := s.bodySt
	run := 0 // start of the bytes not yet emitted
	for i := 0; i < len(chunk); i++ {
		switch c := chunk[i]; st {
		case bodyBeginLine:
			switch c {
			case '.':
				// RFC 5321 §4.5.2: a leading dot is removed.
				s.emit(chunk[run:i])
				run, st = i+1, bodyDot
			case '\r':
				st = bodyCR
			default:
				st = bodyData
			}
		case bodyDot:
			if c == '\r' {
				s.emit(chunk[run:i])
				run, st = i+1, bodyDotCR
			} else {
				st = bodyData
			}
		case bodyDotCR:
			if c == '\n' {
				s.emit(chunk[run:i])
				s.bodySt = bodyBeginLine
				return i + 1, true
			}
			st = bodyData
		case bodyCR:
			if c == '\n' {
				st = bodyBeginLine
			} else {
				st = bodyData
			}
		case bodyData:
			// Inside a line only CR matters: skip to it.
			j := bytes.IndexByte(chunk[i:], '\r')
			if j < 0 {
				i = len(chunk)
				continue
			}
			i += j
			st = bodyCR
		}
	}
	s.emit(chunk[run:])
	s.bodySt = st
	return len(chunk), false
}

// emit appends message bytes to s.body. Past the size limit it only
// counts them: the message will be refused (552) anyway.
func (s *session) emit(b []byte) {
	s.bodySize += int64(len(b))
	if s.maxSize <= 0 || int64(s.body.Len()) <= s.maxSize {
		s.body.Write(b)
	}
}

// chunk answers BDAT (RFC 3030 §2): the chunk of the given size follows
// the command, and is read even when the command is refused.
func (s *session) chunk(b *Behavior, arg string) bool {
	f := strings.Fields(arg)
	size, err := uint64(0), error(nil)
	if len(f) > 0 {
		size, err = strconv.ParseUint(f[0], 10, 63)
	}
	last := len(f) == 2 && strings.EqualFold(f[1], "LAST")
	if len(f) == 0 || len(f) > 2 || err != nil || len(f) == 2 && !last {
		// Without a size the chunk cannot be skipped: the client is lost.
		return s.protocolError(codeParamSyntax, "501 5.5.4 Syntax: BDAT size [LAST]")
	}
	refuse := func(code int, line, fault string) bool {
		if !s.skip(int64(size)) {
			return false
		}
		s.reply(code, line, fault)
		return true
	}
	switch {
	case !s.greeted():
		return s.skip(int64(size))
	case !s.inTx || len(s.rcpts) == 0:
		return refuse(codeBadSequence, "503 5.5.1 Error: need RCPT command", "")
	}
	if !s.bdat {
		s.bdat = true
		s.startBody()
	}
	if !s.readChunk(int64(size)) {
		return false
	}
	if s.maxSize > 0 && s.bodySize > s.maxSize {
		s.reset()
		s.fail(replyTooBig, FaultMaxSize)
		return true
	}
	if !last {
		s.reply(codeOK, "250 2.0.0 "+strconv.FormatUint(size, 10)+" octets received", "")
		return true
	}
	return s.endOfData(b)
}

// readChunk reads n bytes of a BDAT chunk into s.body.
func (s *session) readChunk(n int64) bool {
	for n > 0 {
		if !s.fill() {
			return false
		}
		k := int64(s.br.Buffered())
		if k > n {
			k = n
		}
		p, _ := s.br.Peek(int(k))
		s.emit(p)
		_, _ = s.br.Discard(int(k))
		n -= k
	}
	return true
}

// skip reads and drops n bytes (a refused BDAT chunk).
func (s *session) skip(n int64) bool {
	if s.flush() != nil {
		return false
	}
	if _, err := io.CopyN(io.Discard, s.br, n); err != nil {
		s.setReason(closeReason(err), "")
		return false
	}
	return true
}

// endOfData ends a message (DATA's final dot, BDAT LAST): the size limit,
// the end-of-data delay and forced reply; an accepted message is journaled
// before its 250 is written, so nothing acknowledged is missing.
func (s *session) endOfData(b *Behavior) bool {
	defer s.reset()
	if s.maxSize > 0 && s.bodySize > s.maxSize {
		s.fail(replyTooBig, FaultMaxSize)
		return true
	}
	if !s.delay(b.Delays.EndOfData) {
		return false
	}
	forced := s.h.pick("end_of_data", b.Replies.EndOfData, "")
	if forced != nil && forced.Code >= 400 {
		s.fail(*forced, FaultEndOfData)
		return true
	}
	s.recordMessage(bytes.Clone(s.body.Bytes()))
	if forced != nil {
		s.fail(*forced, FaultEndOfData)
		return true
	}
	s.reply(codeOK, lineQueued, "")
	return true
}

func (s *session) recordMessage(raw []byte) {
	to := append([]string(nil), s.rcpts...)
	hdr := parseHeader(raw)
	m := &journal.Message{From: s.from, To: to, Size: len(raw), Raw: raw, Headers: hdr}
	if v := hdr["Subject"]; len(v) > 0 {
		m.Subject = v[0]
	}
	if v := hdr["Message-Id"]; len(v) > 0 {
		m.ID = v[0]
	}
	e := s.event(journal.KindSMTPMessage, "message from <"+s.from+"> to <"+strings.Join(to, ">, <")+"> ("+strconv.Itoa(len(raw))+" bytes)")
	e.Message = m
	s.append(e)
}

// startTLS answers STARTTLS (RFC 3207 §4) and upgrades the connection.
// Any bytes the client sent after STARTTLS go into the handshake, never
// into the session (RFC 3207 §5: no plaintext injection).
func (s *session) startTLS(b *Behavior) bool {
	switch {
	case s.tls:
		s.reply(codeNotImpl, "502 5.5.1 Already running in TLS", "")
		return true
	case !b.offersStartTLS():
		s.reply(codeNotImpl, "502 5.5.1 TLS not supported", "")
		return true
	}
	if !s.delay(b.Delays.StartTLS) {
		return false
	}
	if r := s.h.pick("starttls", b.Replies.StartTLS, ""); r != nil {
		s.fail(*r, FaultStartTLS)
		return true
	}
	kind := b.certKind()
	cfg, err := s.h.tlsConfig(kind)
	if err != nil {
		s.fail(replyTLSUnavailable, FaultTLS)
		return true
	}
	s.reply(codeReady, lineTLSReady, "")
	if s.flush() != nil {
		return false
	}
	if !s.handshake(tls.Server(&bufferedConn{Conn: s.raw, r: s.br}, cfg), kind, false) {
		return false
	}
	// RFC 3207 §4.2: forget everything learnt before TLS; EHLO again.
	s.reset()
	s.helo, s.needEHLO, s.authed = "", true, false
	return true
}

// bufferedConn reads through the bufio.Reader that already holds bytes
// from the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// auth answers AUTH (RFC 4954 §4) and runs the SASL exchange. Before TLS,
// unless AllowInsecure, every mechanism is refused with 538 5.7.11
// (RFC 4954 §6); responses are journaled masked.
func (s *session) auth(b *Behavior, arg string) bool {
	a := b.Auth
	if a != nil {
		if !s.delay(b.Delays.Auth) {
			return false
		}
		if r := s.h.pick("auth", b.Replies.Auth, ""); r != nil {
			mech, _, _ := strings.Cut(arg, " ")
			s.recordAuth(strings.ToUpper(mech), "", false, "forced reply "+strconv.Itoa(r.Code))
			s.fail(*r, FaultAuthReply)
			return true
		}
	}
	if !s.greeted() {
		return true
	}
	switch {
	case s.authed:
		s.reply(codeBadSequence, "503 5.5.1 Error: already authenticated", "")
		return true
	case s.inTx:
		s.reply(codeBadSequence, "503 5.5.1 Error: AUTH not allowed during a mail transaction", "")
		return true
	case a == nil:
		s.reply(codeNotImpl, "502 5.5.1 Error: authentication not enabled", FaultAuth)
		return true
	}
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		s.reply(codeParamSyntax, "501 5.5.4 Syntax: AUTH mechanism [initial-response]", "")
		return true
	}
	mech := strings.ToUpper(f[0])
	known := false
	for _, m := range a.mechanisms() {
		known = known || m == mech
	}
	if !known {
		s.reply(codeParamNotImpl, "504 5.5.4 Unrecognized authentication type", FaultAuth)
		return true
	}
	if !s.tls && !a.AllowInsecure {
		s.recordAuth(mech, "", false, "encryption required")
		s.fail(replyEncryptNeeded, FaultAuth)
		return true
	}
	var resp []byte // nil: no initial response
	if len(f) == 2 {
		var ok bool
		if resp, ok = decodeSASL(f[1]); !ok {
			s.reply(codeParamSyntax, "501 5.5.2 Invalid base64 data", "")
			return true
		}
	}
	var user string
	var outcome bool
	done := func(u string, ok bool) error {
		user, outcome = u, ok
		return nil
	}
	var srv sasl.Server
	switch mech {
	case MechPlain:
		srv = sasl.NewPlainServer(func(_, u, p string) error { return done(u, a.Users[u] == p && hasUser(a.Users, u)) })
	case MechLogin:
		srv = &loginServer{check: func(u, p string) error { return done(u, a.Users[u] == p && hasUser(a.Users, u)) }}
	default:
		var err error
		if srv, err = newCRAMMD5Server(s.h.name, a.Users, done); err != nil {
			s.fail(replyTLSUnavailable, FaultAuth)
			return true
		}
	}
	for {
		challenge, fin, err := srv.Next(resp)
		if err != nil {
			s.recordAuth(mech, user, false, "failed: "+err.Error())
			if mech == MechCRAMMD5 && len(f) == 2 {
				// RFC 4954 §4 and §6: an initial response to a mechanism
				// where the server speaks first.
				s.reply(codeParamSyntax, "501 5.7.0 Client initiated Authentication Exchange", FaultAuth)
			} else {
				s.reply(codeParamSyntax, "501 5.5.2 "+err.Error(), FaultAuth)
			}
			return true
		}
		if fin {
			break
		}
		s.reply(codeAuthContinue, "334 "+base64.StdEncoding.EncodeToString(challenge), "")
		line, tooLong, err := s.readLine()
		if err != nil {
			return false
		}
		text := "****"
		if !tooLong && string(bytes.TrimSpace(line)) == "*" {
			text = "*"
		}
		s.append(s.event(journal.KindSMTPCommand, text)) // a SASL line, not a command: not counted
		if text == "*" {
			// RFC 4954 §4: the client cancels.
			s.recordAuth(mech, user, false, "cancelled")
			s.reply(codeParamSyntax, "501 5.0.0 Authentication cancelled", "")
			return true
		}
		if tooLong {
			// RFC 4954 §6 (RFC 5248: X.5.6).
			s.recordAuth(mech, user, false, "response line too long")
			s.reply(codeSyntax, "500 5.5.6 Authentication Exchange line is too long", FaultAuth)
			return true
		}
		var ok bool
		if resp, ok = decodeSASL(string(bytes.TrimSpace(line))); !ok {
			s.reply(codeParamSyntax, "501 5.5.2 Invalid base64 data", "")
			return true
		}
		if resp == nil {
			resp = []byte{}
		}
	}
	if !outcome {
		s.recordAuth(mech, user, false, "failed")
		s.fail(replyAuthBad, FaultAuth)
		return true
	}
	s.authed = true
	s.recordAuth(mech, user, true, "ok")
	s.reply(codeAuthOK, lineAuthOK, "")
	return true
}

func hasUser(users map[string]string, u string) bool {
	_, ok := users[u]
	return ok
}

// decodeSASL decodes a base64 SASL response; "=" is the empty one
// (RFC 4954 §4).
func decodeSASL(s string) ([]byte, bool) {
	if s == "=" {
		return []byte{}, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	if b == nil {
		b = []byte{}
	}
	return b, true
}

func (s *session) recordAuth(mech, user string, ok bool, outcome string) {
	text := "AUTH " + mech
	if user != "" {
		text += " " + user
	}
	e := s.event(journal.KindSMTPAuth, text+": "+outcome)
	e.Auth = &journal.Auth{Mechanism: mech, User: user, OK: ok, TLS: s.tls}
	if !ok {
		e.Fault = FaultAuth
	}
	s.append(e)
}

// parseHeader reads the header section of a message (RFC 5322 §2.2),
// unfolding continuation lines; keys are canonical MIME keys. It copies
// the header section once: keys and values are substrings of that copy,
// and the values of all fields share one backing array.
func parseHeader(raw []byte) map[string][]string {
	end := len(raw)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		end = i + 2
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		end = i + 1
	}
	text := string(raw[:end])
	vals := make([]string, 0, strings.Count(text, "\n")+1)
	h := make(map[string][]string)
	var key string
	for len(text) > 0 {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if vs := h[key]; key != "" && len(vs) > 0 {
				vs[len(vs)-1] += " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			break // not a header: the body started without a blank line
		}
		key = textproto.CanonicalMIMEHeaderKey(k)
		v = strings.TrimSpace(v)
		if vs, seen := h[key]; seen {
			h[key] = append(vs, v)
			continue
		}
		n := len(vals)
		vals = append(vals, v)
		h[key] = vals[n : n+1 : n+1]
	}
	return h
}
