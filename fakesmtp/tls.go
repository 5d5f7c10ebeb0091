package fakesmtp

import (
	"bufio"
	"crypto/tls"
	"net"
	"time"

	"github.com/mxsim/mxsim/journal"
)

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
	s.mayWait("TLS handshake")
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

// startTLS answers STARTTLS (RFC 3207 §4) and upgrades the connection.
// Any bytes the client sent after STARTTLS go into the handshake, never
// into the session (RFC 3207 §5: no plaintext injection).
func (s *session) startTLS(b *Behavior) bool {
	s.mayWait("STARTTLS")
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
		return s.forced(*r, FaultStartTLS)
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

// closeNotify ends a TLS session the way its peer expects after QUIT: with
// a close_notify alert (RFC 8446 §6.1), which Exim, for one, logs as an
// error when it is missing. A fault that hangs up does not come here.
func (s *session) closeNotify() {
	tc, ok := s.conn.(*tls.Conn)
	if !ok {
		return
	}
	tc.SetWriteDeadline(time.Now().Add(time.Second))
	tc.CloseWrite()
}
