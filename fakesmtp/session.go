package fakesmtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"

	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/harness/journal"
)

// Reply codes this package writes itself (mox smtp/codes.go style).
const (
	codeReady         = 220 // RFC 5321 §4.2.2 service ready
	codeOK            = 250
	codeStartData     = 354
	codeAuthContinue  = 334
	codeNotAvailable  = 421 // RFC 5321 §3.8: service not available, closing channel
	codeLocalError    = 451
	codeTLSNotAvail   = 454
	codeBadSequence   = 503
	codeAuthRequired  = 530 // RFC 4954 §6
	codeAuthBad       = 535 // RFC 4954 §6
	codeEncryptNeeded = 538 // RFC 4954 §6
	codeRelayDenied   = 550
	codeTooBig        = 552
	codeTooManyRcpts  = 452
)

// Replies of the behaviours; the enhanced codes follow RFC 3463 and the
// AUTH ones RFC 4954 §6.
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
	replyClosing        = Reply{Code: codeNotAvailable, Enhanced: "4.4.2", Text: "connection closing"}
)

// session is one connection to a host: the pre-SMTP stage (refusals,
// blackhole, implicit TLS, greeting), the wire layer under go-smtp that
// records and steers the dialogue, and the go-smtp Session.
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

	// Wire state, used only by the goroutine that serves the connection.
	inner        net.Conn // raw, or the *tls.Conn over it
	br           *bufio.Reader
	pending      []byte
	greetDropped bool
	inBody       bool
	bodyState    int
	bodyBytes    int
	bodyLimit    int
	bdatLeft     int64
	longLine     bool
	saslNext     bool
	replyStart   bool
	lastVerb     string
	wpart        []byte
	cmds         int
	quit         bool
	tls          bool
	needEHLO     bool
	maxSize      int           // go-smtp's MaxMessageBytes for this connection
	capture      *bytes.Buffer // the DATA body being read by the wire layer, unstuffed; nil outside DATA
	captureSize  int           // bytes of the body so far (may exceed what capture holds)

	// Replies waiting to be written: they go out together when the client
	// has sent nothing more (see flush). outMu because go-smtp runs Data
	// for BDAT in its own goroutine, and delays flush.
	outMu sync.Mutex
	out   []byte

	// Protocol state; mu because go-smtp runs Data in its own goroutine
	// for BDAT, concurrently with Reset.
	mu       sync.Mutex
	fault    string
	authed   bool
	authUser string
	from     string
	rcpts    []string
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
	_ net.Conn         = (*wire)(nil)
	_ net.Listener     = (*oneConnListener)(nil)
)

func newSession(h *Host, c net.Conn, n int) *session {
	remote := c.RemoteAddr().String()
	ip, _, _ := net.SplitHostPort(remote)
	s := &session{
		h:      h,
		raw:    c,
		ip:     ip,
		closed: make(chan struct{}),
		inner:  c,
		base: journal.Event{
			Source:  h.name,
			Session: h.name + "#" + strconv.Itoa(n),
			Remote:  remote,
			Local:   c.LocalAddr().String(),
		},
		replyStart: true,
	}
	return s
}

// event appends an event of the session to the host's journal.
func (s *session) event(kind journal.Kind, text string) journal.Event {
	e := s.base
	e.Kind = kind
	e.Text = text
	return e
}

func (s *session) append(e journal.Event) { s.h.journal.Append(e) }

// closeConn closes the connection once; the first reason given wins.
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
// connection is still open.
func (s *session) delay(d time.Duration) bool {
	if d <= 0 {
		return !s.isClosed()
	}
	// The replies so far leave now, not after the delay.
	if s.flush() != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closed:
		return false
	}
}

func (s *session) setFault(f string) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

func (s *session) takeFault() string {
	s.mu.Lock()
	f := s.fault
	s.fault = ""
	s.mu.Unlock()
	return f
}

// fail records which behaviour produced the reply r and returns it as the
// error go-smtp writes.
func (s *session) fail(r Reply, fault string) error {
	s.setFault(fault)
	return r.smtpError()
}

// run serves the connection from accept to disconnect:
//
//  1. blackhole: hold the connection, say nothing;
//  2. implicit TLS: handshake first;
//  3. MaxConns, greeting delay and forced greeting (refusals close here);
//  4. the greeting, then go-smtp serves the rest through the wire layer.
func (s *session) run(b *Behavior, over bool) {
	defer s.h.wg.Done()
	defer func() {
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
	}()
	e := s.event(journal.KindSMTPConnect, "connect from "+s.base.Remote)
	if b.State == Blackhole {
		e.Fault = FaultBlackhole
		s.append(e)
		s.hold()
		return
	}
	s.append(e)
	// A load test opens thousands of sessions: reuse their read buffers.
	br, _ := s.h.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(s.raw, readerSize)
	} else {
		br.Reset(s.raw)
	}
	defer func() {
		// go-smtp's goroutine has ended (serveSMTP waits for it): nothing
		// reads br any more.
		br.Reset(nil)
		s.h.readers.Put(br)
	}()
	s.br = br
	if b.TLS.Implicit && !s.implicitTLS(b) {
		return
	}
	if over {
		s.refuse(replyTooManyConns, FaultMaxConns, fmt.Sprintf("too many connections (max %d)", b.Limits.MaxConns))
		return
	}
	if !s.delay(b.Delays.Greeting) {
		return
	}
	greeting := Reply{Code: codeReady, Text: s.h.name + " ESMTP mxsim"}
	fault := ""
	if r := s.h.pick("greeting", b.Replies.Greeting, ""); r != nil {
		if r.Code >= 400 {
			s.refuse(*r, FaultGreeting, "greeting "+r.String())
			return
		}
		greeting, fault = *r, FaultGreeting
	}
	if err := s.writeReply(greeting, false, fault); err != nil {
		return
	}
	s.serveSMTP(b)
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
	_ = s.writeReply(r, false, fault)
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
	s.inner = tc
	s.br = bufio.NewReaderSize(tc, readerSize)
	s.tls = true
	return true
}

// serveSMTP hands the connection to a go-smtp server of its own. One
// server per connection lets limits follow the behaviour of the moment
// and keeps every connection's state apart.
func (s *session) serveSMTP(b *Behavior) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return s, nil }))
	srv.Domain = s.h.name
	srv.ErrorLog = s.h.logger
	srv.ReadTimeout = readTimeout
	srv.WriteTimeout = writeTimeout
	// AUTH before TLS is allowed by go-smtp and refused by Auth, so that
	// the reply is ours (538, RFC 4954 §6).
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = b.Limits.MaxSize
	s.maxSize = int(b.Limits.MaxSize)
	srv.MaxRecipients = b.Limits.MaxRecipients
	err := srv.Serve(&oneConnListener{conn: &wire{s}, done: s.closed, addr: s.raw.LocalAddr()})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.setReason("server error: "+err.Error(), "")
	}
	_ = srv.Shutdown(context.Background()) // waits for go-smtp's connection goroutine
}

// oneConnListener gives go-smtp's Server.Serve a single connection, then
// blocks until that connection is closed.
type oneConnListener struct {
	conn net.Conn
	done <-chan struct{}
	addr net.Addr
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.addr }

// writeReply writes one reply line of ours (not go-smtp's) and records it.
// It goes out at once, after any replies still waiting.
func (s *session) writeReply(r Reply, enhanced bool, fault string) error {
	line := r.wire(enhanced)
	e := s.event(journal.KindSMTPReply, line)
	e.Code, e.Fault = r.Code, fault
	s.append(e)
	s.outMu.Lock()
	s.out = append(append(s.out, line...), "\r\n"...)
	s.outMu.Unlock()
	_ = s.inner.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.flush()
}

// flush writes the replies waiting in s.out in one write. Replies are held
// only while the client has more commands buffered (RFC 2920 §3.2: a server
// may group the responses of pipelined commands, and must send them before
// it waits for more input), the way Postfix's smtpd and smtp-sink flush
// before a read that would block.
func (s *session) flush() error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if len(s.out) == 0 {
		return nil
	}
	_, err := s.inner.Write(s.out)
	s.out = s.out[:0]
	if err != nil {
		s.closeConn("write failed: "+closeReason(err), "")
	}
	return err
}

// wouldBlock reports whether the next read of the wire layer has to wait
// for the client: no complete command line (or, in data, no byte) is
// buffered.
func (s *session) wouldBlock() bool {
	n := s.br.Buffered()
	if n == 0 {
		return true
	}
	if s.inBody || s.bdatLeft > 0 {
		return false
	}
	b, _ := s.br.Peek(n)
	return bytes.IndexByte(b, '\n') < 0
}

// hangup closes the connection on purpose (a behaviour), after the replies
// already recorded have gone out.
func (s *session) hangup(reason, fault string) {
	_ = s.flush()
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

// wire is the net.Conn go-smtp serves. It sits above TLS (STARTTLS is done
// here, not by go-smtp), so it sees the dialogue in plain text and knows
// the direction of every byte:
//
//  1. reads hand go-smtp one command line at a time, recorded as C: lines;
//     EHLO, DATA and STARTTLS may be answered here instead (forced replies,
//     delays, the TLS upgrade) and never reach go-smtp;
//  2. after a 354 reply, message data passes unrecorded up to the final
//     dot (RFC 5321 §4.5.2), tracked with go-smtp's own state machine;
//  3. writes are go-smtp's replies, recorded as S: lines; its greeting is
//     replaced by ours and STARTTLS is added to the EHLO reply.
type wire struct{ s *session }

func (w *wire) Read(p []byte) (int, error) {
	s := w.s
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		return n, nil
	}
	for {
		if s.wouldBlock() {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
		switch {
		case s.bdatLeft > 0:
			return s.readChunk(p)
		case s.capture != nil && s.inBody:
			return s.captureBody(p)
		case s.inBody:
			return s.readBody(p)
		}
		line, err := s.br.ReadSlice('\n')
		if len(line) == 0 {
			return 0, s.readErr(err)
		}
		if err == bufio.ErrBufferFull || s.longLine {
			// Longer than any valid command (RFC 5321 §4.5.3.1.4): pass
			// it on for go-smtp to refuse, unrecorded.
			s.longLine = err == bufio.ErrBufferFull
			return s.deliver(p, line), nil
		}
		if s.saslNext {
			// RFC 4954 §4: a SASL response line, never recorded in clear.
			s.saslNext = false
			text := "****"
			if bytes.Equal(bytes.TrimSpace(line), []byte("*")) {
				text = "*"
			}
			s.append(s.event(journal.KindSMTPCommand, text))
			return s.deliver(p, line), nil
		}
		pass, cerr := s.command(line)
		if cerr != nil {
			return 0, cerr
		}
		if pass {
			return s.deliver(p, line), nil
		}
	}
}

// deliver copies line into p, keeping what does not fit for the next Read.
func (s *session) deliver(p, line []byte) int {
	n := copy(p, line)
	if n < len(line) {
		s.pending = append(s.pending[:0], line[n:]...)
	}
	return n
}

func (s *session) readErr(err error) error {
	if err == nil {
		err = io.ErrNoProgress
	}
	s.setReason(closeReason(err), "")
	return err
}

// command records one command line and decides whether go-smtp sees it.
func (s *session) command(line []byte) (pass bool, err error) {
	text := string(bytes.TrimRight(line, "\r\n"))
	verb, arg, _ := strings.Cut(text, " ")
	verb = strings.ToUpper(verb)
	s.cmds++
	s.append(s.event(journal.KindSMTPCommand, maskAuth(verb, text)))
	b := s.h.beh.Load()
	if b.HangupAfter > 0 && s.cmds > b.HangupAfter {
		reason := fmt.Sprintf("hangup after %d commands", b.HangupAfter)
		s.hangup(reason, FaultHangup)
		return false, net.ErrClosed
	}
	s.lastVerb = verb
	switch verb {
	case "EHLO", "HELO":
		if !s.delay(b.Delays.EHLO) {
			return false, net.ErrClosed
		}
		if r := s.h.pick("ehlo", b.Replies.EHLO, ""); r != nil {
			return false, s.writeReply(*r, true, FaultEHLO)
		}
		s.needEHLO = false
	case "DATA":
		if !s.delay(b.Delays.Data) {
			return false, net.ErrClosed
		}
		s.mu.Lock()
		ready := s.from != "" && len(s.rcpts) > 0
		s.mu.Unlock()
		if r := s.h.pick("data", b.Replies.Data, ""); ready && r != nil {
			return false, s.writeReply(*r, true, FaultData)
		}
	case "STARTTLS":
		if b.offersStartTLS() && !s.tls {
			if !s.delay(b.Delays.StartTLS) {
				return false, net.ErrClosed
			}
			if r := s.h.pick("starttls", b.Replies.StartTLS, ""); r != nil {
				return false, s.writeReply(*r, true, FaultStartTLS)
			}
			return false, s.startTLS(b)
		}
	case "AUTH":
		if b.Auth != nil {
			if !s.delay(b.Delays.Auth) {
				return false, net.ErrClosed
			}
			if r := s.h.pick("auth", b.Replies.Auth, ""); r != nil {
				mech, _, _ := strings.Cut(strings.TrimSpace(arg), " ")
				s.recordAuth(strings.ToUpper(mech), "", false, "forced reply "+strconv.Itoa(r.Code))
				return false, s.writeReply(*r, true, FaultAuthReply)
			}
		}
	case "BDAT":
		// RFC 3030 §2: the chunk follows the command, even when the
		// command is refused; go-smtp skips it unless the size is bad.
		f := strings.Fields(arg)
		if len(f) == 1 || len(f) == 2 && strings.EqualFold(f[1], "LAST") {
			if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
				s.bdatLeft = int64(n)
			}
		}
	case "QUIT":
		s.quit = true
		s.setReason("client quit", "")
	}
	return true, nil
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

// startTLS upgrades the connection (RFC 3207 §4). Any bytes the client
// sent after STARTTLS go into the handshake, never into the session
// (RFC 3207 §5: no plaintext injection).
func (s *session) startTLS(b *Behavior) error {
	kind := b.certKind()
	cfg, err := s.h.tlsConfig(kind)
	if err != nil {
		return s.writeReply(replyTLSUnavailable, true, FaultTLS)
	}
	if err := s.writeReply(Reply{Code: codeReady, Enhanced: "2.0.0", Text: "Ready to start TLS"}, true, ""); err != nil {
		return err
	}
	if !s.handshake(tls.Server(&bufferedConn{Conn: s.raw, r: s.br}, cfg), kind, false) {
		return net.ErrClosed
	}
	// RFC 3207 §4.2: forget everything learnt before TLS; EHLO again.
	s.needEHLO = true
	s.mu.Lock()
	s.authed, s.authUser, s.from, s.rcpts = false, "", "", s.rcpts[:0]
	s.mu.Unlock()
	return nil
}

// bufferedConn reads through the bufio.Reader that already holds bytes
// from the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Body states, the same as go-smtp's dataReader, so that both agree on
// where the message ends.
const (
	bodyBeginLine = iota
	bodyDot
	bodyDotCR
	bodyCR
	bodyData
)

// readBody passes message data to go-smtp, stopping right after the end
// marker <CRLF>.<CRLF> (RFC 5321 §4.1.1.4).
func (s *session) readBody(p []byte) (int, error) {
	if s.bodyLimit > 0 && s.bodyBytes >= s.bodyLimit {
		s.hangup(fmt.Sprintf("disconnect in data after %d bytes", s.bodyBytes), FaultDisconnect)
		return 0, net.ErrClosed
	}
	if _, err := s.br.Peek(1); err != nil {
		return 0, s.readErr(err)
	}
	n := min(len(p), s.br.Buffered())
	if s.bodyLimit > 0 {
		n = min(n, s.bodyLimit-s.bodyBytes)
	}
	chunk, _ := s.br.Peek(n)
	st := s.bodyState
	end := -1
scan:
	for i := 0; i < len(chunk); i++ {
		c := chunk[i]
		switch st {
		case bodyBeginLine:
			switch c {
			case '.':
				st = bodyDot
			case '\r':
				st = bodyCR
			default:
				st = bodyData
			}
		case bodyDot:
			if c == '\r' {
				st = bodyDotCR
			} else {
				st = bodyData
			}
		case bodyDotCR:
			if c == '\n' {
				end = i + 1
				break scan
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
				break scan
			}
			i += j
			st = bodyCR
		}
	}
	if end >= 0 {
		n = end
		s.inBody = false
	}
	s.bodyState = st
	copy(p, chunk[:n])
	_, _ = s.br.Discard(n)
	s.bodyBytes += n
	return n, nil
}

// captureBody reads a DATA body (RFC 5321 §4.1.1.4) into s.capture, undoing
// dot-stuffing (§4.5.2) exactly as go-smtp's reader would, up to the end
// marker <CRLF>.<CRLF>; then it hands go-smtp the end marker alone, so that
// go-smtp's byte-at-a-time reader does not run over the body. The raw bytes
// recorded are the same.
func (s *session) captureBody(p []byte) (int, error) {
	for {
		if s.bodyLimit > 0 && s.bodyBytes >= s.bodyLimit {
			s.hangup(fmt.Sprintf("disconnect in data after %d bytes", s.bodyBytes), FaultDisconnect)
			return 0, net.ErrClosed
		}
		if s.br.Buffered() == 0 {
			if err := s.flush(); err != nil { // the 354, if the client pipelined DATA
				return 0, err
			}
		}
		if _, err := s.br.Peek(1); err != nil {
			return 0, s.readErr(err)
		}
		n := s.br.Buffered()
		if s.bodyLimit > 0 {
			n = min(n, s.bodyLimit-s.bodyBytes)
		}
		chunk, _ := s.br.Peek(n)
		used, done := s.unstuff(chunk)
		_, _ = s.br.Discard(used)
		s.bodyBytes += used
		if done {
			s.inBody = false
			return s.deliver(p, []byte(".\r\n")), nil
		}
	}
}

// unstuff runs chunk through go-smtp's dataReader state machine (the same
// states as readBody), appending what that reader would return to
// s.capture. It returns how many bytes it used and whether the end marker
// was among them.
func (s *session) unstuff(chunk []byte) (used int, done bool) {
	st := s.bodyState
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
				s.bodyState = bodyBeginLine
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
	s.bodyState = st
	return len(chunk), false
}

// emit appends body bytes to the capture. Past go-smtp's size limit it
// only counts them: the message will be refused (552) anyway.
func (s *session) emit(b []byte) {
	s.captureSize += len(b)
	if s.maxSize <= 0 || s.capture.Len() < s.maxSize {
		s.capture.Write(b)
	}
}

// readChunk passes a BDAT chunk (RFC 3030) to go-smtp unrecorded.
func (s *session) readChunk(p []byte) (int, error) {
	if int64(len(p)) > s.bdatLeft {
		p = p[:s.bdatLeft]
	}
	n, err := s.br.Read(p)
	s.bdatLeft -= int64(n)
	if err != nil {
		return n, s.readErr(err)
	}
	return n, nil
}

func (w *wire) Write(p []byte) (int, error) {
	s := w.s
	if !s.greetDropped {
		// go-smtp's own "220 <domain> ESMTP Service Ready": ours went first.
		s.greetDropped = true
		return len(p), nil
	}
	if s.isClosed() {
		return 0, net.ErrClosed
	}
	data := p
	if len(s.wpart) > 0 {
		s.wpart = append(s.wpart, p...)
		data = s.wpart
	}
	out := p
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if s.recordReply(data[:i+1]) && len(s.wpart) == 0 {
			// RFC 3207 §4: STARTTLS is an EHLO keyword; go-smtp does not
			// know we offer it, so add it after the first line.
			at := i + 1 + len(p) - len(data)
			out = append(append(append([]byte(nil), p[:at]...), "250-STARTTLS\r\n"...), p[at:]...)
		}
		data = data[i+1:]
	}
	s.wpart = append(s.wpart[:0], data...)
	// Held until the client has nothing more buffered (see flush): go-smtp
	// writes every reply line on its own.
	s.outMu.Lock()
	s.out = append(s.out, out...)
	s.outMu.Unlock()
	return len(p), nil
}

// recordReply records one reply line go-smtp wrote and follows the
// dialogue. It reports whether STARTTLS must be added after this line.
func (s *session) recordReply(line []byte) (injectStartTLS bool) {
	text := string(bytes.TrimRight(line, "\r\n"))
	code := 0
	if len(text) >= 3 {
		code, _ = strconv.Atoi(text[:3])
	}
	final := len(text) <= 3 || text[3] != '-'
	first := s.replyStart
	s.replyStart = final
	e := s.event(journal.KindSMTPReply, text)
	e.Code = code
	if final {
		e.Fault = s.takeFault()
		if e.Fault == "" {
			switch {
			case code == codeTooBig && strings.Contains(text, "5.3.4"):
				e.Fault = FaultMaxSize
			case code == codeTooManyRcpts && strings.Contains(text, "4.5.3"):
				e.Fault = FaultMaxRecipients
			}
		}
		switch code {
		case codeStartData:
			s.inBody, s.bodyState, s.bodyBytes = true, bodyBeginLine, 0
			s.bodyLimit = s.h.beh.Load().DisconnectInData
			if s.lastVerb == "DATA" {
				// The wire layer reads the body itself (captureBody);
				// go-smtp's byte-at-a-time reader only sees the end.
				buf, _ := s.h.bodies.Get().(*bytes.Buffer)
				if buf == nil {
					buf = new(bytes.Buffer)
				}
				buf.Reset()
				s.capture, s.captureSize = buf, 0
			}
		case codeAuthContinue:
			s.saslNext = true
		}
	}
	s.append(e)
	if first && !final && code == codeOK && s.lastVerb == "EHLO" && !s.tls && s.h.beh.Load().offersStartTLS() {
		e := s.event(journal.KindSMTPReply, "250-STARTTLS")
		e.Code = codeOK
		s.append(e)
		return true
	}
	return false
}

func (w *wire) Close() error {
	s := w.s
	_ = s.flush() // go-smtp's last reply (221, 421)
	if s.quit {
		s.closeConn("client quit", "")
	} else {
		s.closeConn("closed by server", "")
	}
	return nil
}

func (w *wire) LocalAddr() net.Addr                { return w.s.raw.LocalAddr() }
func (w *wire) RemoteAddr() net.Addr               { return w.s.raw.RemoteAddr() }
func (w *wire) SetDeadline(t time.Time) error      { return w.s.inner.SetDeadline(t) }
func (w *wire) SetReadDeadline(t time.Time) error  { return w.s.inner.SetReadDeadline(t) }
func (w *wire) SetWriteDeadline(t time.Time) error { return w.s.inner.SetWriteDeadline(t) }

// Session methods, called by go-smtp.

// Mail applies, in order: EHLO after STARTTLS, TLS required, AUTH
// required, the forced MAIL reply.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	b := s.h.beh.Load()
	if !s.delay(b.Delays.Mail) {
		return replyClosing.smtpError()
	}
	s.mu.Lock()
	authed := s.authed
	s.mu.Unlock()
	switch {
	case s.needEHLO:
		return s.fail(replyEHLOAfterTLS, FaultTLS)
	case b.TLS.StartTLS == TLSRequired && !s.tls:
		// RFC 3207 §4: a server may require TLS before accepting mail.
		return s.fail(replyStartTLSFirst, FaultTLS)
	case b.Auth != nil && b.Auth.Required && !authed:
		// RFC 4954 §6: 530 5.7.0 Authentication required.
		return s.fail(replyAuthRequired, FaultAuth)
	}
	if r := s.h.pick("mail", b.Replies.Mail, strings.ToLower(from)); r != nil {
		return s.fail(*r, FaultMail)
	}
	s.mu.Lock()
	s.from, s.rcpts = from, s.rcpts[:0]
	if from == "" {
		s.from = "<>" // null reverse-path (RFC 5321 §4.5.5), still a transaction
	}
	s.mu.Unlock()
	return nil
}

// Rcpt applies, in order: forced RCPT replies, the relay policy, greylisting.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	b := s.h.beh.Load()
	if !s.delay(b.Delays.Rcpt) {
		return replyClosing.smtpError()
	}
	lower := strings.ToLower(to)
	if r := s.h.pick("rcpt", b.Replies.Rcpt, lower); r != nil {
		return s.fail(*r, FaultRcpt)
	}
	if p := b.Relay; p != nil {
		_, domain, _ := strings.Cut(lower, "@")
		if !p.accepts(domain) {
			r := replyRelayDenied
			if p.Reject != nil {
				r = *p.Reject
			}
			return s.fail(r, FaultRelay)
		}
	}
	s.mu.Lock()
	from := s.from
	s.mu.Unlock()
	if g := b.Greylist; g != nil && s.h.greylisted(s.ip, from, to, g.Window) {
		// RFC 6647: a temporary failure for an unknown triplet.
		r := replyGreylisted
		if g.Reply != nil {
			r = *g.Reply
		}
		return s.fail(r, FaultGreylist)
	}
	s.mu.Lock()
	s.rcpts = append(s.rcpts, to)
	s.mu.Unlock()
	return nil
}

// Data reads the message, applies the end-of-data delay and forced reply,
// and records every accepted message before go-smtp says 250.
func (s *session) Data(r io.Reader) error {
	s.mu.Lock()
	from, to := s.from, append([]string(nil), s.rcpts...)
	s.mu.Unlock()
	raw, err := s.readData(r)
	if err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			return s.fail(Reply{Code: codeTooBig, Enhanced: "5.3.4", Text: "Maximum message size exceeded"}, FaultMaxSize)
		}
		return err
	}
	b := s.h.beh.Load()
	if !s.delay(b.Delays.EndOfData) {
		return replyClosing.smtpError()
	}
	forced := s.h.pick("end_of_data", b.Replies.EndOfData, "")
	if forced != nil && forced.Code >= 400 {
		return s.fail(*forced, FaultEndOfData)
	}
	if from == "<>" {
		from = ""
	}
	s.recordMessage(from, to, raw)
	if forced != nil {
		return s.fail(*forced, FaultEndOfData)
	}
	return nil
}

// readData returns the message of a DATA or BDAT transaction as received,
// an exact-size copy (no unused capacity held by the journal).
func (s *session) readData(r io.Reader) ([]byte, error) {
	if capture := s.capture; capture != nil {
		// DATA: draining r makes the wire layer read the whole body into
		// capture (captureBody); go-smtp itself sees only the end marker.
		_, err := io.Copy(io.Discard, r)
		size := s.captureSize
		raw := bytes.Clone(capture.Bytes())
		s.capture = nil
		if capture.Cap() <= maxPooledBody {
			s.h.bodies.Put(capture)
		}
		if err == nil && s.maxSize > 0 && size >= s.maxSize {
			// go-smtp's limit, which its reader no longer applies:
			// a message of MaxMessageBytes or more is too large.
			err = smtp.ErrDataTooLarge
		}
		return raw, err
	}
	// BDAT: read into a reused scratch buffer, then keep one copy.
	buf, _ := s.h.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	_, err := buf.ReadFrom(r)
	raw := bytes.Clone(buf.Bytes())
	if buf.Cap() <= maxPooledBody {
		s.h.bodies.Put(buf)
	}
	return raw, err
}

func (s *session) recordMessage(from string, to []string, raw []byte) {
	hdr := parseHeader(raw)
	m := &journal.Message{From: from, To: to, Size: len(raw), Raw: raw, Headers: hdr}
	if v := hdr["Subject"]; len(v) > 0 {
		m.Subject = v[0]
	}
	if v := hdr["Message-Id"]; len(v) > 0 {
		m.ID = v[0]
	}
	e := s.event(journal.KindSMTPMessage, "message from <"+from+"> to <"+strings.Join(to, ">, <")+"> ("+strconv.Itoa(len(raw))+" bytes)")
	e.Message = m
	s.append(e)
}

// Reset discards the transaction (RSET, EHLO, after DATA).
func (s *session) Reset() {
	s.mu.Lock()
	s.from, s.rcpts = "", s.rcpts[:0]
	s.mu.Unlock()
}

// Logout does nothing: the wire layer owns the connection.
func (s *session) Logout() error { return nil }

// AuthMechanisms lists the mechanisms EHLO advertises (none without Auth).
//
// A host that offers STARTTLS advertises AUTH only under TLS, unless
// AllowInsecure (Postfix smtpd_tls_auth_only style); a host without TLS
// advertises it, so that a relay's AUTH in clear text meets 538.
func (s *session) AuthMechanisms() []string {
	b := s.h.beh.Load()
	a := b.Auth
	if a == nil || !s.tls && !a.AllowInsecure && b.offersStartTLS() {
		return nil
	}
	return a.mechanisms()
}

// Auth starts a SASL exchange. Before TLS, unless AllowInsecure, every
// mechanism is refused with 538 5.7.11 (RFC 4954 §6).
func (s *session) Auth(mech string) (sasl.Server, error) {
	a := s.h.beh.Load().Auth
	if a == nil {
		s.setFault(FaultAuth)
		return nil, smtp.ErrAuthUnsupported
	}
	mech = strings.ToUpper(mech)
	known := false
	for _, m := range a.mechanisms() {
		known = known || m == mech
	}
	if !known {
		s.setFault(FaultAuth)
		return nil, smtp.ErrAuthUnknownMechanism
	}
	if s.needEHLO {
		return nil, s.fail(replyEHLOAfterTLS, FaultTLS)
	}
	if !s.tls && !a.AllowInsecure {
		s.recordAuth(mech, "", false, "encryption required")
		return nil, s.fail(replyEncryptNeeded, FaultAuth)
	}
	users := a.Users
	result := func(user string, ok bool) error {
		if !ok {
			s.recordAuth(mech, user, false, "failed")
			return s.fail(replyAuthBad, FaultAuth)
		}
		s.mu.Lock()
		s.authed, s.authUser = true, user
		s.mu.Unlock()
		s.recordAuth(mech, user, true, "ok")
		return nil
	}
	check := func(user, pass string) error {
		want, found := users[user]
		return result(user, found && want == pass)
	}
	switch mech {
	case MechPlain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case MechLogin:
		return &loginServer{check: check}, nil
	default:
		return newCRAMMD5Server(s.h.name, users, result)
	}
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
// unfolding continuation lines; keys are canonical MIME keys.
func parseHeader(raw []byte) map[string][]string {
	h := make(map[string][]string)
	var key string
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		var line []byte
		if i < 0 {
			line, raw = raw, nil
		} else {
			line, raw = raw[:i], raw[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if vs := h[key]; key != "" && len(vs) > 0 {
				vs[len(vs)-1] += " " + string(bytes.TrimSpace(line))
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			break // not a header: the body started without a blank line
		}
		key = textproto.CanonicalMIMEHeaderKey(string(k))
		h[key] = append(h[key], string(bytes.TrimSpace(v)))
	}
	return h
}
