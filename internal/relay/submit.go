package relay

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mxsim/mxsim/journal"
)

// newServer builds the server of one submission service around r.
func (r *Relay) newServer(svc service) *smtp.Server {
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{r: r, svc: svc, conn: c, helo: c.Hostname(), remote: c.Conn().RemoteAddr().String()}, nil
	}))
	s.Domain = r.cfg.Hostname
	s.MaxMessageBytes = maxMessageBytes
	s.MaxRecipients = 1000
	s.ReadTimeout = r.cfg.Timeout * 30 // an idle submitter is cut after a while, not at once
	s.WriteTimeout = r.cfg.Timeout
	// The plain submission listener is meant for loopback; AUTH without
	// TLS is allowed there (RFC 4954 §4 leaves it to local policy). On the
	// submission service the session refuses it itself, with RFC 4954's
	// 538 5.7.11 rather than go-smtp's 523.
	s.AllowInsecureAuth = true
	// STARTTLS for submitters that want it (RFC 3207), with a certificate
	// of its own: submitters test the relay, not its certificate. The
	// submissions service is under TLS from connect already.
	if svc != serviceSubmissions {
		s.TLSConfig = r.submitTLS
	}
	s.ErrorLog = journalLogger{r.j}
	return s
}

// selfSigned returns a TLS configuration with a fresh self-signed
// certificate for name (ECDSA P-256: fast to make).
func selfSigned(name string) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("relay: submission certificate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("relay: submission certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, nil
}

// session is one submission session.
type session struct {
	r      *Relay
	svc    service
	conn   *smtp.Conn
	helo   string
	remote string
	authed bool
	user   string
	from   string
	mailOK bool
	rcpts  []string
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// errAuthRequired is the reply to MAIL/RCPT before AUTH when AUTH is required.
var errAuthRequired = &smtp.SMTPError{Code: codeAuthRequired, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

// errRelayDenied is the reply to RCPT from a client that may not relay
// (RFC 5321 §3.6.2, RFC 3463 X.7.1).
var errRelayDenied = &smtp.SMTPError{Code: codeRelayDenied, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}

// AuthMechanisms offers PLAIN and LOGIN when Config.SubmitUsers is set;
// on the submission service only under TLS (RFC 4954 §4: no plaintext
// password mechanism before STARTTLS).
func (s *session) AuthMechanisms() []string {
	if s.r.cfg.SubmitUsers == nil || s.needsTLS() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// needsTLS reports whether AUTH must wait for STARTTLS in this session.
func (s *session) needsTLS() bool {
	if s.svc != serviceSubmission {
		return false
	}
	_, tlsOn := s.conn.TLSConnectionState()
	return !tlsOn
}

// mustAuth reports whether the session must authenticate before MAIL:
// always on the submission services (RFC 6409 §4.3), on the plain
// listener when Config.SubmitUsers is set.
func (s *session) mustAuth() bool {
	if s.svc != serviceSubmit {
		return !s.r.cfg.Bugs.SubmissionWithoutAuth
	}
	return s.r.cfg.SubmitUsers != nil
}

// Auth returns the SASL server of mech.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.r.cfg.SubmitUsers == nil {
		return nil, smtp.ErrAuthUnsupported
	}
	if s.needsTLS() {
		// RFC 4954 §6: 538 5.7.11, the mechanism needs an encrypted connection.
		return nil, errEncryptionRequired
	}
	check := func(user, pass string) error {
		want, ok := s.r.cfg.SubmitUsers[user]
		if (!ok || want != pass) && !s.r.cfg.Bugs.AcceptBadCredentials {
			// RFC 4954 §4: 535 5.7.8 for credentials it rejects.
			return smtp.ErrAuthFailed
		}
		s.authed, s.user = true, user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// Mail starts a transaction.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.mustAuth() && !s.authed {
		// RFC 4954 §6, RFC 6409 §4.3: 530 5.7.0 Authentication required.
		return errAuthRequired
	}
	if from != "" && !validAddress(from) {
		return &smtp.SMTPError{Code: codeBadSyntax, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	}
	s.from, s.mailOK, s.rcpts = from, true, nil
	return nil
}

// Rcpt adds a recipient.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.mustAuth() && !s.authed {
		return errAuthRequired
	}
	if !validAddress(to) {
		return &smtp.SMTPError{Code: codeBadSyntax, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	}
	if !s.mayRelay() {
		// RFC 5321 §3.6.2 / rule 28: no relaying for strangers. The relay
		// serves no domain of its own, so every recipient is a relay.
		return errRelayDenied
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// mayRelay reports whether the client may relay: it authenticated, or its
// address is in Config.Mynetworks (nil: everyone is trusted).
func (s *session) mayRelay() bool {
	if s.authed || s.r.cfg.Mynetworks == nil || s.r.cfg.Bugs.OpenRelay {
		return true
	}
	ap, err := netip.ParseAddrPort(s.remote)
	if err != nil {
		return false
	}
	for _, p := range s.r.cfg.Mynetworks {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// Data queues the message.
func (s *session) Data(rd io.Reader) error {
	body, err := io.ReadAll(rd)
	if err != nil {
		return fmt.Errorf("relay: read message from %s: %w", s.remote, err)
	}
	if _, err := s.r.enqueue(s.from, s.rcpts, body, s.received()); err != nil {
		return &smtp.SMTPError{Code: codeLocalError, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: err.Error()}
	}
	return nil
}

// received returns the trace fields of this session for the Received header.
func (s *session) received() string {
	host, _, _ := net.SplitHostPort(s.remote)
	w := "ESMTP"
	if s.authed {
		w = "ESMTPA" // RFC 3848
	}
	return fmt.Sprintf("from %s ([%s]) by %s with %s", s.helo, host, s.r.cfg.Hostname, w)
}

// Reset ends the transaction.
func (s *session) Reset() { s.from, s.mailOK, s.rcpts = "", false, nil }

// Logout ends the session.
func (s *session) Logout() error { return nil }

// validAddress accepts local@domain with a non-empty local part and a domain.
func validAddress(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && !strings.ContainsAny(a, " \t<>")
}

// loginServer is the server side of the LOGIN SASL mechanism
// (draft-murchison-sasl-login), which go-sasl only has as a client.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

var _ sasl.Server = (*loginServer)(nil)

// Next handles one step: user name (maybe as initial response), then password.
func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

// enqueue stores an accepted message: it gets an ID, a Received header and
// a Message-ID when it has none (RFC 6409 §8.3), is journaled as
// relay.submit and queued per destination. It returns the message ID.
func (r *Relay) enqueue(from string, rcpts []string, body []byte, trace string) (string, error) {
	now := r.j.Now()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return "", fmt.Errorf("relay %s: %w", r.cfg.Hostname, ErrClosed)
	}
	r.seq++
	id := fmt.Sprintf("%s%04d", r.idPrefix, r.seq)
	r.mu.Unlock()

	hdr := parseHeader(body)
	var pre bytes.Buffer
	// RFC 5321 §4.4: a relay MUST add a Received line at the top.
	fmt.Fprintf(&pre, "Received: %s id %s;\r\n\t%s\r\n", trace, id, now.Format(time.RFC1123Z))
	msgID := strings.TrimSpace(hdr.Get("Message-Id"))
	if msgID == "" {
		msgID = fmt.Sprintf("<%s@%s>", id, r.cfg.Hostname)
		fmt.Fprintf(&pre, "Message-ID: %s\r\n", msgID)
	}
	m := &message{
		ID:       id,
		From:     from,
		To:       append([]string(nil), rcpts...),
		Data:     r.sign(id, append(pre.Bytes(), body...)),
		MsgID:    msgID,
		Subject:  hdr.Get("Subject"),
		Received: now,
	}
	r.j.Append(journal.Event{
		Kind: journal.KindRelaySubmit, Source: source,
		Text:    fmt.Sprintf("id=%s from=<%s> to=%s size=%d", id, from, strings.Join(rcpts, ","), len(m.Data)),
		Message: m.journal(m.To),
	})
	r.queue(m)
	return id, nil
}

// parseHeader reads the header of body, tolerating a missing or broken one.
func parseHeader(body []byte) mail.Header {
	msg, err := mail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		return mail.Header{}
	}
	return msg.Header
}

// randomToken returns 8 random hex digits, the prefix of message IDs.
func randomToken() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
