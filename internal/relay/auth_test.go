package relay

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/journal"
)

// authSmarthost starts a fakesmtp smarthost at ip(20) that offers AUTH
// mech to user "relay" with password "secret", under STARTTLS or (tls
// false) in plaintext. It writes into j and returns the relay's Smarthost
// setting ("[smart.test]:port").
func (n *network) authSmarthost(j *journal.Journal, mech string, tls bool) (*fakesmtp.Host, string) {
	n.t.Helper()
	n.zone("smart.test. A {net}20")
	b := fakesmtp.Behavior{Auth: &fakesmtp.Auth{
		Mechanisms:    []string{mech},
		Users:         map[string]string{"relay": "secret"},
		Required:      true,
		AllowInsecure: !tls,
	}}
	if tls {
		b.TLS.StartTLS = fakesmtp.TLSOffered
	}
	h, err := fakesmtp.NewHost(fakesmtp.Config{Name: "smart.test", Addr: n.ip(20) + ":0", Behavior: b, Journal: j})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { h.Close() })
	_, port, _ := net.SplitHostPort(h.Addr())
	return h, "[smart.test]:" + port
}

// TestAuthRefusedSendsNoCancel checks RFC 4954 §4 against a fakesmtp
// smarthost that refuses the relay's password: "*" cancels an exchange
// only in reply to a 334 challenge, so after the final 535 the relay sends
// no "*" (go-smtp's Client.Auth did), defers the mail, and sends nothing
// else in that session but QUIT. With the right password it delivers.
func TestAuthRefusedSendsNoCancel(t *testing.T) {
	for _, mech := range []string{fakesmtp.MechPlain, fakesmtp.MechLogin} {
		for _, tls := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/tls=%v", mech, tls), func(t *testing.T) {
				j := journal.New()
				n := newNetwork(t)
				_, smart := n.authSmarthost(j, mech, tls)
				cfg := Config{Journal: j, Smarthost: smart, AllowInsecureAuth: !tls,
					SmarthostAuth: &Credentials{User: "relay", Password: "wrong"}}
				r := n.startRelay(cfg)
				mustSubmit(t, r, "alice@origin.test", "bob@example.test")
				idle(t, r)

				var cmds []string
				refused := false
				for _, e := range j.Events(journal.OfKind(journal.KindSMTPCommand, journal.KindSMTPReply)) {
					switch {
					case e.Kind == journal.KindSMTPReply && e.Code == 535:
						refused = true
					case e.Kind == journal.KindSMTPCommand && refused:
						cmds = append(cmds, strings.TrimSpace(e.Text))
					}
				}
				if !refused {
					t.Fatalf("the smarthost never said 535\n%s", j)
				}
				if len(cmds) != 1 || !strings.EqualFold(cmds[0], "QUIT") {
					t.Errorf("commands after the 535 = %q, want [QUIT] (no \"*\": RFC 4954 §4)\n%s", cmds, j)
				}
				d := j.Events(journal.OfKind(journal.KindRelayDefer))
				if len(d) != 1 || !strings.Contains(d[0].Text, "535") || !strings.Contains(d[0].Text, "in reply to AUTH") {
					t.Errorf("relay.defer events = %+v, want one that carries the 535 to AUTH", d)
				}
				if m := j.Events(journal.OfKind(journal.KindSMTPMessage)); len(m) != 0 {
					t.Errorf("the smarthost took %d messages without AUTH", len(m))
				}

				// The right password: the same exchange ends in 235 and the
				// message goes through.
				j2 := journal.New()
				n2 := newNetwork(t)
				_, smart2 := n2.authSmarthost(j2, mech, tls)
				cfg.Journal, cfg.Smarthost = j2, smart2
				cfg.SmarthostAuth = &Credentials{User: "relay", Password: "secret"}
				r2 := n2.startRelay(cfg)
				mustSubmit(t, r2, "alice@origin.test", "bob@example.test")
				idle(t, r2)
				if m := j2.Events(journal.OfKind(journal.KindSMTPMessage)); len(m) != 1 {
					t.Errorf("with the right password the smarthost took %d messages, want 1\n%s", len(m), j2)
				}
				for _, e := range j2.Events(journal.OfKind(journal.KindSMTPAuth)) {
					if !e.Auth.OK || e.Auth.Mechanism != mech || e.Auth.TLS != tls {
						t.Errorf("auth event %+v, want OK with %s, TLS %v", e.Auth, mech, tls)
					}
				}
			})
		}
	}
}

// TestAuthCancelsAChallengeItCannotAnswer checks the other half of RFC
// 4954 §4: a 334 challenge the mechanism cannot answer (PLAIN sent its
// credentials at once and expects none) is cancelled with "*", and the
// host's 501 defers the mail.
func TestAuthCancelsAChallengeItCannotAnswer(t *testing.T) {
	n := newNetwork(t, "smart.test. A {net}20")
	smart := n.scripted(20, func(h *scriptHost, rw *bufio.ReadWriter) {
		say(rw, "220 smart.test ESMTP")
		for {
			line, ok := h.read(rw)
			cmd := strings.ToUpper(line)
			switch {
			case !ok:
				return
			case strings.HasPrefix(cmd, "EHLO"):
				say(rw, "250-smart.test")
				say(rw, "250 AUTH PLAIN")
			case strings.HasPrefix(cmd, "AUTH"):
				say(rw, "334 "+base64.StdEncoding.EncodeToString([]byte("what?")))
			case line == "*":
				say(rw, "501 5.7.0 authentication cancelled")
			case strings.HasPrefix(cmd, "QUIT"):
				say(rw, "221 2.0.0 bye")
				return
			default:
				say(rw, "503 5.5.1 not now")
			}
		}
	})
	r := n.startRelay(Config{Smarthost: "[smart.test]", AllowInsecureAuth: true,
		SmarthostAuth: &Credentials{User: "relay", Password: "secret"}})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	smart.mu.Lock()
	lines := slices.Clone(smart.lines)
	smart.mu.Unlock()
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "AUTH PLAIN ") || lines[2] != "*" || lines[3] != "QUIT" {
		t.Errorf("the host read %q, want EHLO, AUTH PLAIN, *, QUIT", lines)
	}
	d := events(r, journal.KindRelayDefer)
	if len(d) != 1 || !strings.Contains(d[0].Text, "501") || !strings.Contains(d[0].Text, "cancelled AUTH PLAIN") {
		t.Errorf("relay.defer events = %+v, want one with the 501 and why the relay cancelled", d)
	}
}
