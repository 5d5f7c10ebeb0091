package sandbox

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
)

// The demo network's smarthost and its credentials.
const (
	DemoSmarthost = "smtp.isp.test" // AUTH PLAIN/LOGIN required, after STARTTLS
	DemoUser      = "relay"
	DemoPassword  = "secret"
)

// DemoGreylistWindow is how long the demo's greylisting host (mx2.example.test)
// refuses a new triplet.
const DemoGreylistWindow = 30 * time.Second

// Demo returns the built-in network of "mxsim sandbox" with no scenario:
//
//   - example.test: MX 10 mx1, 20 mx2 (greylisting, STARTTLS), 30 mx3;
//   - shop.example: two MX of equal preference 10 (RFC 5321 §5.1: the
//     relay picks either at random);
//   - origin.test: where the senders live (bounces go to mx.origin.test);
//   - isp.test: the smarthost smtp.isp.test, STARTTLS offered, AUTH
//     required (DemoUser / DemoPassword), no AUTH before TLS.
//
// Every host starts up; the operator takes them down from the page.
func Demo() harness.Config {
	return harness.Config{
		Zones: []fakedns.Zone{
			{Name: "example.test", Records: map[string][]string{
				"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test.", "MX 30 mx3.example.test.", `TXT "v=spf1 -all"`},
			}},
			{Name: "shop.example", Records: map[string][]string{
				"@": {"MX 10 mx-a.shop.example.", "MX 10 mx-b.shop.example."},
			}},
			{Name: "origin.test", Records: map[string][]string{"@": {"MX 10 mx.origin.test."}}},
			{Name: "isp.test", Records: map[string][]string{}},
		},
		Hosts: []harness.Host{
			{Name: "mx1.example.test"},
			{Name: "mx2.example.test", Behavior: fakesmtp.Behavior{
				Greylist: &fakesmtp.Greylist{Window: DemoGreylistWindow},
				TLS:      fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered},
			}},
			{Name: "mx3.example.test"},
			{Name: "mx-a.shop.example"},
			{Name: "mx-b.shop.example"},
			{Name: "mx.origin.test"},
			{Name: DemoSmarthost, Behavior: fakesmtp.Behavior{
				TLS:  fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered},
				Auth: &fakesmtp.Auth{Mechanisms: []string{fakesmtp.MechPlain, fakesmtp.MechLogin}, Users: map[string]string{DemoUser: DemoPassword}, Required: true},
			}},
		},
	}
}

// Describe says in one line how a host behaves: "up", "down",
// "greylist 30s, STARTTLS offered, AUTH PLAIN/LOGIN required (relay)".
func Describe(b fakesmtp.Behavior) string {
	var parts []string
	st := b.State
	if st == "" {
		st = fakesmtp.Up
	}
	parts = append(parts, string(st))
	if g := b.Greylist; g != nil {
		parts = append(parts, "greylist "+g.Window.String())
	}
	switch {
	case b.TLS.Implicit:
		parts = append(parts, "implicit TLS")
	case b.TLS.StartTLS == fakesmtp.TLSOffered || b.TLS.StartTLS == fakesmtp.TLSRequired:
		parts = append(parts, "STARTTLS "+string(b.TLS.StartTLS))
	}
	if b.TLS.Cert != "" && b.TLS.Cert != fakesmtp.CertValid {
		parts = append(parts, "cert "+string(b.TLS.Cert))
	}
	if a := b.Auth; a != nil {
		s := "AUTH"
		if len(a.Mechanisms) > 0 {
			s += " " + strings.Join(a.Mechanisms, "/")
		}
		if a.Required {
			s += " required"
		}
		users := make([]string, 0, len(a.Users))
		for u := range a.Users {
			users = append(users, u)
		}
		sort.Strings(users)
		if len(users) > 0 {
			s += " (" + strings.Join(users, ", ") + ")"
		}
		parts = append(parts, s)
	}
	if p := b.Relay; p != nil && len(p.Accept) > 0 {
		parts = append(parts, "relays only for "+strings.Join(p.Accept, ", "))
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
			parts = append(parts, s)
		}
	}
	d := b.Delays
	for _, x := range []struct {
		name string
		d    time.Duration
	}{{"greeting", d.Greeting}, {"ehlo", d.EHLO}, {"starttls", d.StartTLS}, {"auth", d.Auth}, {"mail", d.Mail}, {"rcpt", d.Rcpt}, {"data", d.Data}, {"end_of_data", d.EndOfData}} {
		if x.d > 0 {
			parts = append(parts, "delay "+x.name+" "+x.d.String())
		}
	}
	if b.HangupAfter > 0 {
		parts = append(parts, fmt.Sprintf("hang up after %d commands", b.HangupAfter))
	}
	if b.DisconnectInData > 0 {
		parts = append(parts, fmt.Sprintf("disconnect after %d bytes of data", b.DisconnectInData))
	}
	l := b.Limits
	if l.MaxSize > 0 {
		parts = append(parts, fmt.Sprintf("max size %d", l.MaxSize))
	}
	if l.MaxRecipients > 0 {
		parts = append(parts, fmt.Sprintf("max %d recipients", l.MaxRecipients))
	}
	if l.MaxConns > 0 {
		parts = append(parts, fmt.Sprintf("max %d connections", l.MaxConns))
	}
	return strings.Join(parts, ", ")
}
