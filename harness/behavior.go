package harness

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mxsim/mxsim/fakesmtp"
)

// Describe says in one line how a host behaves, for reports, the sandbox
// and the journal: "accepts everything", "down",
// "greylist 2s, STARTTLS offered (valid certificate)".
func Describe(b fakesmtp.Behavior) string {
	var parts []string
	if b.State != "" && b.State != fakesmtp.Up {
		parts = append(parts, string(b.State))
	}
	r := b.Replies
	for _, st := range []struct {
		name  string
		rules []fakesmtp.Rule
	}{{"greeting", r.Greeting}, {"ehlo", r.EHLO}, {"starttls", r.StartTLS}, {"auth", r.Auth}, {"mail", r.Mail}, {"rcpt", r.Rcpt}, {"data", r.Data}, {"end_of_data", r.EndOfData}} {
		for _, rule := range st.rules {
			s := st.name + " " + rule.Reply.String()
			if rule.Match != "" {
				s += " for " + rule.Match
			}
			if rule.Reply.Times > 0 {
				s += fmt.Sprintf(" ×%d", rule.Reply.Times)
			}
			parts = append(parts, s)
		}
	}
	d := b.Delays
	for _, st := range []struct {
		name string
		d    fmt.Stringer
		zero bool
	}{{"greeting", d.Greeting, d.Greeting == 0}, {"ehlo", d.EHLO, d.EHLO == 0}, {"starttls", d.StartTLS, d.StartTLS == 0}, {"auth", d.Auth, d.Auth == 0}, {"mail", d.Mail, d.Mail == 0}, {"rcpt", d.Rcpt, d.Rcpt == 0}, {"data", d.Data, d.Data == 0}, {"end_of_data", d.EndOfData, d.EndOfData == 0}} {
		if !st.zero {
			parts = append(parts, "delay "+st.name+" "+st.d.String())
		}
	}
	if b.HangupAfter > 0 {
		parts = append(parts, fmt.Sprintf("hang up after %d commands", b.HangupAfter))
	}
	if b.DisconnectInData > 0 {
		parts = append(parts, fmt.Sprintf("disconnect after %d bytes of data", b.DisconnectInData))
	}
	if g := b.Greylist; g != nil {
		parts = append(parts, "greylist "+g.Window.String())
	}
	if p := b.Relay; p != nil {
		parts = append(parts, "relays only for "+strings.Join(p.Accept, ", "))
	}
	if a := b.Auth; a != nil {
		users := make([]string, 0, len(a.Users))
		for u := range a.Users {
			users = append(users, u)
		}
		sort.Strings(users)
		s := "AUTH"
		if len(a.Mechanisms) > 0 {
			s += " " + strings.Join(a.Mechanisms, "/")
		}
		if a.Required {
			s += " required"
		}
		if len(users) > 0 {
			s += " (users " + strings.Join(users, ", ") + ")"
		}
		parts = append(parts, s)
	}
	t := b.TLS
	cert := string(t.Cert)
	if cert == "" {
		cert = string(fakesmtp.CertValid)
	}
	switch {
	case t.Implicit:
		parts = append(parts, "implicit TLS ("+cert+" certificate)")
	case t.StartTLS == fakesmtp.TLSOffered || t.StartTLS == fakesmtp.TLSRequired:
		parts = append(parts, "STARTTLS "+string(t.StartTLS)+" ("+cert+" certificate)")
	}
	l := b.Limits
	switch {
	case l.UnlimitedSize:
		parts = append(parts, "no size limit")
	case l.MaxSize > 0:
		parts = append(parts, fmt.Sprintf("SIZE %d", l.MaxSize))
	}
	if l.MaxRecipients > 0 {
		parts = append(parts, fmt.Sprintf("at most %d recipients", l.MaxRecipients))
	}
	if l.MaxConns > 0 {
		parts = append(parts, fmt.Sprintf("at most %d connections", l.MaxConns))
	}
	if r := l.MessagesPerClient; r != nil {
		parts = append(parts, fmt.Sprintf("at most %d messages per client per %s", r.Count, r.Per))
	}
	if r := l.MessagesPerRecipient; r != nil {
		parts = append(parts, fmt.Sprintf("at most %d messages per recipient per %s", r.Count, r.Per))
	}
	if c := l.ConnectionsPerClient; c != nil {
		parts = append(parts, fmt.Sprintf("at most %d connections per client", c.Count))
	}
	if b.Extensions.NoChunking {
		parts = append(parts, "no CHUNKING")
	}
	if len(parts) == 0 {
		return "accepts everything"
	}
	return strings.Join(slices.Compact(parts), ", ")
}
