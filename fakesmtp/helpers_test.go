package fakesmtp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/journal"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const hostName = "mx1.example.test"

// newHost starts a host on 127.0.0.1 port 0 and closes it at cleanup.
func newHost(t testing.TB, b Behavior) *Host {
	t.Helper()
	h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", Behavior: b})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// dial connects a go-smtp client (greeting not yet read).
func dial(t testing.TB, h *Host) *smtp.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Addr(), err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = 10 * time.Second
	c.SubmissionTimeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

// startTLS dials, upgrades with STARTTLS trusting h's CA, and says EHLO again.
func startTLS(t testing.TB, h *Host) (*smtp.Client, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Addr(), err)
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{RootCAs: h.CA().Pool(), ServerName: h.Name()})
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.CommandTimeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	// go-smtp's client handshakes lazily, on the next command.
	if err := c.Hello("client.test"); err != nil {
		return nil, err
	}
	return c, nil
}

func message(subject string) string {
	return "From: alice@origin.test\r\nTo: bob@example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@origin.test>\r\n\r\nHello.\r\n.hidden dot line\r\n"
}

// send runs one transaction on c and returns the first error.
func send(c *smtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

// code returns the reply code of an *smtp.SMTPError, or 0.
func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func enhanced(err error) smtp.EnhancedCode {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.EnhancedCode
	}
	return smtp.EnhancedCode{}
}

// wait blocks until cond holds over the journal, failing the test after 5 s.
func wait(t testing.TB, j *journal.Journal, what string, cond func([]journal.Event) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := j.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v\njournal:\n%s", what, err, j)
	}
}

func has(kind journal.Kind, pred func(journal.Event) bool) func([]journal.Event) bool {
	return func(evs []journal.Event) bool {
		for _, e := range evs {
			if e.Kind == kind && (pred == nil || pred(e)) {
				return true
			}
		}
		return false
	}
}

func count(j *journal.Journal, kind journal.Kind, pred func(journal.Event) bool) int {
	n := 0
	for _, e := range j.Events(journal.OfKind(kind)) {
		if pred == nil || pred(e) {
			n++
		}
	}
	return n
}

// waitDisconnects waits until n sessions have ended.
func waitDisconnects(t testing.TB, h *Host, n int) {
	t.Helper()
	wait(t, h.Journal(), "disconnects", func(evs []journal.Event) bool {
		c := 0
		for _, e := range evs {
			if e.Kind == journal.KindSMTPDisconnect {
				c++
			}
		}
		return c >= n
	})
}

func replies(j *journal.Journal, fault string) []journal.Event {
	return j.Events(journal.OfKind(journal.KindSMTPReply), func(e journal.Event) bool { return e.Fault == fault })
}

// disconnects returns the texts of the disconnect events of h's journal.
func disconnects(h *Host) []string {
	var out []string
	for _, e := range h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect)) {
		out = append(out, e.Text)
	}
	return out
}
