package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// Message is a message the client submits to the relay under test.
type Message struct {
	From    string            // envelope sender and From header
	To      []string          // envelope recipients and To header
	Subject string            // Subject header; default "mxsim test message"
	Headers map[string]string // extra headers
	Body    string            // body text; when empty, Size bytes of filler (or one line)
	Size    int               // approximate size of the filler body in bytes

	// How to submit. The zero values submit in plaintext, without AUTH,
	// unless the relay's Submission carries credentials.
	StartTLS bool   // issue STARTTLS first (the relay's certificate is not checked)
	User     string // AUTH PLAIN credentials; override the Submission's
	Password string
	// NoAuth submits without AUTH even when the relay's Submission carries
	// credentials (a stranger's submission).
	NoAuth bool
	// LocalAddr is the loopback IP the client connects from; empty: the
	// system's choice (127.0.0.1). A relay's trusted networks are judged
	// by it.
	LocalAddr string
	// Via is the relay's service to submit to (Env.Send): its usual
	// address (""), its submission service (STARTTLS first) or its
	// submissions service (TLS from connect).
	Via scenarios.Via
	// ImplicitTLS starts TLS at connect (Submit), not checking the
	// server's certificate.
	ImplicitTLS bool
}

// ErrNoRelay is returned by Send and Flush when the environment has no
// relay under test.
var ErrNoRelay = errors.New("no relay under test")

// ErrNoService is returned by Send for a message via a submission service
// the relay under test does not offer (or the profile does not name).
var ErrNoService = errors.New("no such submission service")

// replyError is an SMTP refusal whose text carries its enhanced status
// code too ("SMTP error 535 5.7.8: Authentication failed"), so that the
// journal's client.submit event keeps it.
type replyError struct{ *smtp.SMTPError }

func (e replyError) Error() string {
	if c := e.EnhancedCode; c != smtp.NoEnhancedCode && c != (smtp.EnhancedCode{}) {
		return fmt.Sprintf("SMTP error %03d %d.%d.%d: %s", e.Code, c[0], c[1], c[2], e.Message)
	}
	return e.SMTPError.Error()
}

func (e replyError) Unwrap() error { return e.SMTPError }

// withStatus wraps an *smtp.SMTPError in a replyError; others as they are.
func withStatus(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return replyError{se}
	}
	return err
}

// Send submits m to the relay under test and returns once the relay has
// accepted it (250 after the final dot), or with the relay's refusal. It
// journals a client.send event right before MAIL FROM (so that it comes
// before anything the relay does with the message) and a client.submit
// event with the outcome when the transaction ends; both carry the
// submission's SubmissionHeader.
func (e *Env) Send(ctx context.Context, m Message) error {
	if e.relay == nil {
		return fmt.Errorf("harness: %w", ErrNoRelay)
	}
	sub := e.relay.Submission()
	if m.User == "" && !m.NoAuth {
		m.User, m.Password = sub.User, sub.Password
	}
	addr := sub.Addr
	switch m.Via {
	case scenarios.ViaSubmission:
		addr, m.StartTLS = sub.SubmissionAddr, true
	case scenarios.ViaSubmissions:
		addr, m.ImplicitTLS = sub.SubmissionsAddr, true
	}
	if addr == "" {
		return fmt.Errorf("harness: %w: the relay under test offers no %s service", ErrNoService, m.Via)
	}
	// Every submission carries its own identifier, by which the
	// invariants tell one message from another (see invariants.go).
	id := e.submissionID()
	m.Headers = maps.Clone(m.Headers)
	if m.Headers == nil {
		m.Headers = map[string]string{}
	}
	m.Headers[SubmissionHeader] = id
	event := func(kind journal.Kind) journal.Event {
		return journal.Event{Kind: kind, Source: "client", Remote: addr, Local: m.LocalAddr,
			Text:    fmt.Sprintf("from %s to %s", m.From, strings.Join(m.To, ", ")),
			Message: &journal.Message{From: m.From, To: slices.Clone(m.To), Headers: journaledHeaders(m.Headers, id)}}
	}
	// The outcome is known only when the transaction ends, by when the
	// relay may have queued the message and begun to deliver it: the
	// journal records the start (client.send, before MAIL FROM) so that
	// it comes before anything the relay did with the message.
	err := submit(ctx, addr, m, func() { e.journal.Append(event(journal.KindClientSend)) })
	ev := event(journal.KindClientSubmit)
	if err != nil {
		ev.Err = err.Error()
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			ev.Code = se.Code
		}
	}
	e.journal.Append(ev)
	return err
}

// Flush asks the relay under test to retry its deferred mail now.
func (e *Env) Flush(ctx context.Context) error {
	if e.relay == nil {
		return fmt.Errorf("harness: %w", ErrNoRelay)
	}
	e.Control("%s", flushControl)
	return e.relay.Flush(ctx)
}

// Submit sends m to the SMTP server at addr: EHLO, optional STARTTLS and
// AUTH PLAIN, MAIL, RCPT for each recipient, DATA.
func Submit(ctx context.Context, addr string, m Message) error {
	return submit(ctx, addr, m, nil)
}

// submit is Submit, calling beforeMail (when not nil) right before it
// sends MAIL FROM.
func submit(ctx context.Context, addr string, m Message, beforeMail func()) (err error) {
	if m.From == "" && len(m.To) == 0 {
		return errors.New("harness: message has neither sender nor recipients")
	}
	if len(m.To) == 0 {
		return errors.New("harness: message has no recipients")
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	if m.LocalAddr != "" {
		ip := net.ParseIP(m.LocalAddr)
		if ip == nil {
			return fmt.Errorf("harness: submit to %s: bad local address %q", addr, m.LocalAddr)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("harness: submit to %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(time.Minute))
	}
	var c *smtp.Client
	if m.ImplicitTLS {
		host, _, _ := net.SplitHostPort(addr)
		tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("harness: submit to %s: TLS at connect (implicit TLS, RFC 8314 §3.3): %w", addr, err)
		}
		conn = tc
	}
	if m.StartTLS {
		host, _, _ := net.SplitHostPort(addr)
		// The client checks the relay under test, not the relay's
		// certificate: any certificate will do.
		c, err = smtp.NewClientStartTLS(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true})
		if err != nil {
			conn.Close()
			return fmt.Errorf("harness: submit to %s: STARTTLS: %w", addr, withStatus(err))
		}
	} else {
		c = smtp.NewClient(conn)
		if err := c.Hello("client.mxsim.test"); err != nil {
			c.Close()
			return fmt.Errorf("harness: submit to %s: EHLO: %w", addr, withStatus(err))
		}
	}
	defer func() {
		// A refused command leaves the session open: end it with QUIT
		// (RFC 5321 §4.1.1.10), as a mail client does, rather than
		// dropping the connection, which MTAs log as an error of theirs.
		var se *smtp.SMTPError
		if err != nil && errors.As(err, &se) && se.Code != 421 {
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			c.Quit()
		}
		c.Close()
	}()
	if m.User != "" && !m.NoAuth {
		if err := c.Auth(sasl.NewPlainClient("", m.User, m.Password)); err != nil {
			return fmt.Errorf("harness: submit to %s: AUTH as %s: %w", addr, m.User, withStatus(err))
		}
	}
	if beforeMail != nil {
		beforeMail()
	}
	if err := c.Mail(m.From, nil); err != nil {
		return fmt.Errorf("harness: submit to %s: MAIL FROM:<%s>: %w", addr, m.From, withStatus(err))
	}
	for _, to := range m.To {
		if err := c.Rcpt(to, nil); err != nil {
			return fmt.Errorf("harness: submit to %s: RCPT TO:<%s>: %w", addr, to, withStatus(err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("harness: submit to %s: DATA: %w", addr, withStatus(err))
	}
	if _, err := w.Write(m.Bytes()); err != nil {
		return fmt.Errorf("harness: submit to %s: message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("harness: submit to %s: end of data: %w", addr, withStatus(err))
	}
	return c.Quit()
}

// Bytes renders m as an RFC 5322 message with CRLF line endings.
func (m Message) Bytes() []byte {
	var b bytes.Buffer
	subject := m.Subject
	if subject == "" {
		subject = "mxsim test message"
	}
	fmt.Fprintf(&b, "From: <%s>\r\n", m.From)
	fmt.Fprintf(&b, "To: %s\r\n", angle(m.To))
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	keys := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\r\n", k, m.Headers[k])
	}
	b.WriteString("\r\n")
	switch {
	case m.Body != "":
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
		if !strings.HasSuffix(m.Body, "\n") {
			b.WriteString("\r\n")
		}
	case m.Size > 0:
		line := strings.Repeat("x", 76) + "\r\n"
		for n := 0; n < m.Size; n += len(line) {
			b.WriteString(line)
		}
	default:
		b.WriteString("Sent by mxsim.\r\n")
	}
	return b.Bytes()
}

func angle(addrs []string) string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = "<" + a + ">"
	}
	return strings.Join(out, ", ")
}
