package relay

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// dsnSubject is the Subject of every bounce, as Postfix writes it.
const dsnSubject = "Undelivered Mail Returned to Sender"

// bounce queues a delivery status notification (RFC 3464, RFC 6522) about
// the failed recipients of m to its sender, from the null reverse-path
// (RFC 5321 §4.5.5) so that it is never bounced in turn.
func (r *Relay) bounce(m *message, failed []rcptResult) {
	boundary := "=_" + m.ID + "_dsn"
	now := r.j.Now()
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: MAILER-DAEMON@%s (Mail Delivery System)", r.cfg.Hostname)
	w("To: <%s>", m.From)
	w("Subject: %s", dsnSubject)
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Auto-Submitted: auto-replied") // RFC 3834 §5
	w("MIME-Version: 1.0")
	w(`Content-Type: multipart/report; report-type=delivery-status; boundary="%s"`, boundary)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=us-ascii")
	w("")
	w("This is the mail system at host %s.", r.cfg.Hostname)
	w("")
	w("Your message %s could not be delivered to one or more recipients.", m.ID)
	w("It has been returned to the sender.")
	w("")
	for _, f := range failed {
		w("<%s>: %s", f.Rcpt, f.Reply)
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns; %s", r.cfg.Hostname)
	w("X-Queue-ID: %s", m.ID)
	w("Arrival-Date: %s", m.Received.Format(time.RFC1123Z))
	for _, f := range failed {
		w("")
		w("Final-Recipient: rfc822; %s", f.Rcpt)
		w("Action: failed")
		w("Status: %s", f.Reply.Status)
		if f.Reply.Host != "" {
			w("Remote-MTA: dns; %s", f.Reply.Host)
		}
		w("Diagnostic-Code: smtp; %d %s %s", f.Reply.Code, f.Reply.Status, f.Reply.Text)
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	b.Write(headerOf(m.Data))
	w("")
	w("--%s--", boundary)

	trace := fmt.Sprintf("from localhost by %s (DSN for %s)", r.cfg.Hostname, m.ID)
	if _, err := r.enqueue("", []string{m.From}, b.Bytes(), trace); err != nil {
		r.logf(reply{}, "id=%s: DSN to <%s> not queued: %v", m.ID, m.From, err)
	}
}

// headerOf returns the header block of a message, CRLF-terminated lines.
func headerOf(data []byte) []byte {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i+1]
	}
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}
