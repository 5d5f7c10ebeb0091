package harness

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/scenarios"
)

// behavior applies the parts of a scenario behaviour that are set on top
// of base, and returns the result.
func behavior(sb scenarios.Behavior, base fakesmtp.Behavior) (fakesmtp.Behavior, error) {
	b := base
	if sb.State != "" {
		b.State = fakesmtp.State(sb.State)
	}
	if sb.Greeting != nil {
		b.Replies.Greeting = rules(sb.Greeting)
	}
	if r := sb.Replies; r != nil {
		b.Replies.EHLO = rules(r.EHLO)
		b.Replies.StartTLS = rules(r.StartTLS)
		b.Replies.Auth = rules(r.Auth)
		b.Replies.Mail = rules(r.Mail)
		b.Replies.Rcpt = rules(r.Rcpt)
		b.Replies.Data = rules(r.Data)
		b.Replies.EndOfData = rules(r.EndOfData)
	}
	if d := sb.Delays; d != nil {
		b.Delays = fakesmtp.Delays{
			Greeting: d.Greeting, EHLO: d.EHLO, StartTLS: d.StartTLS, Auth: d.Auth,
			Mail: d.Mail, Rcpt: d.Rcpt, Data: d.Data, EndOfData: d.EndOfData,
		}
	}
	if sb.HangupAfter != nil {
		b.HangupAfter = *sb.HangupAfter
	}
	if sb.DisconnectInData != nil {
		b.DisconnectInData = *sb.DisconnectInData
	}
	if g := sb.Greylist; g != nil {
		b.Greylist = &fakesmtp.Greylist{Window: g.Window}
		if g.Reply != nil {
			r := reply(g.Reply)
			b.Greylist.Reply = &r
		}
	}
	if p := sb.Relay; p != nil {
		b.Relay = &fakesmtp.RelayPolicy{Accept: p.Accept}
		if p.Reject != nil {
			r := reply(p.Reject)
			b.Relay.Reject = &r
		}
	}
	if a := sb.Auth; a != nil {
		b.Auth = &fakesmtp.Auth{Users: a.Users, Required: a.Required, AllowInsecure: a.AllowInsecure}
		for _, m := range a.Mechanisms {
			b.Auth.Mechanisms = append(b.Auth.Mechanisms, string(m))
		}
	}
	if t := sb.TLS; t != nil {
		b.TLS = fakesmtp.TLS{StartTLS: fakesmtp.TLSMode(t.StartTLS), Cert: fakesmtp.CertKind(t.Cert), Implicit: t.Implicit}
	}
	if l := sb.Limits; l != nil {
		b.Limits = fakesmtp.Limits{MaxSize: int64(l.MaxSize), MaxRecipients: l.MaxRecipients, MaxConns: l.MaxConns}
	}
	return b, b.Validate()
}

func reply(r *scenarios.Reply) fakesmtp.Reply {
	return fakesmtp.Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text, Times: r.Times}
}

func rules(rs scenarios.Replies) []fakesmtp.Rule {
	var out []fakesmtp.Rule
	for _, r := range rs {
		out = append(out, fakesmtp.Rule{Match: r.Match, Reply: reply(r)})
	}
	return out
}

// clearPart resets one part of a behaviour, named by its scenario key.
func clearPart(b fakesmtp.Behavior, part string) fakesmtp.Behavior {
	switch part {
	case "state":
		b.State = fakesmtp.Up
	case "greeting":
		b.Replies.Greeting = nil
	case "replies":
		g := b.Replies.Greeting
		b.Replies = fakesmtp.Replies{Greeting: g}
	case "delays":
		b.Delays = fakesmtp.Delays{}
	case "hangup_after":
		b.HangupAfter = 0
	case "disconnect_in_data":
		b.DisconnectInData = 0
	case "greylist":
		b.Greylist = nil
	case "relay":
		b.Relay = nil
	case "auth":
		b.Auth = nil
	case "tls":
		b.TLS = fakesmtp.TLS{}
	case "limits":
		b.Limits = fakesmtp.Limits{}
	}
	return b
}

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
	if l.MaxSize > 0 {
		parts = append(parts, fmt.Sprintf("SIZE %d", l.MaxSize))
	}
	if l.MaxRecipients > 0 {
		parts = append(parts, fmt.Sprintf("at most %d recipients", l.MaxRecipients))
	}
	if l.MaxConns > 0 {
		parts = append(parts, fmt.Sprintf("at most %d connections", l.MaxConns))
	}
	if len(parts) == 0 {
		return "accepts everything"
	}
	return strings.Join(slices.Compact(parts), ", ")
}
