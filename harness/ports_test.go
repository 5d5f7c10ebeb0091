package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// portsScenario is a smarthost scenario: smtp.example.test lists ports
// (YAML list), requires AUTH from relay/secret, and the relay sends
// through smarthost.
func portsScenario(t *testing.T, ports, hostExtra, smarthost string) *scenarios.Scenario {
	t.Helper()
	src := fmt.Sprintf(`name: ports
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: {}
  smtp.example.test:
    ports: %s
    auth: {users: {relay: secret}}%s
relay:
  smarthost: %q
  smarthost_auth: {user: relay, password: secret}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect:
      delivered: {to: bob@example.test, at: smtp.example.test}
      auth: {at: smtp.example.test, user: relay}
      within: 5s
  - expect: {not_delivered: {to: bob@example.test, at: mx1.example.test}}
`, ports, hostExtra, smarthost)
	sc, err := scenarios.Parse("ports.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// deliverySession returns the connect event of the session at host
// that carried a message, and the relay's attempt that opened it (the
// attempt whose remote address is the session's local one).
func deliverySession(t *testing.T, evs []journal.Event, host string) (connect, attempt journal.Event) {
	t.Helper()
	var session string
	for _, e := range evs {
		if e.Kind == journal.KindSMTPMessage && e.Source == host {
			session = e.Session
		}
	}
	if session == "" {
		t.Fatalf("no message at %s", host)
	}
	for _, e := range evs {
		if e.Kind == journal.KindSMTPConnect && e.Session == session {
			connect = e
		}
	}
	for _, e := range evs {
		if e.Kind == journal.KindRelayAttempt && e.Remote == connect.Local {
			attempt = e
		}
	}
	if attempt.Kind == "" {
		t.Fatalf("no relay attempt to %s (the session's local address)", connect.Local)
	}
	return connect, attempt
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return int(ap.Port())
}

// The reference relay sends through a smarthost on 587 that wants AUTH:
// on a random plan, 587 is mapped to a free port, and the relay connects
// there (the journal shows the session on the submission listener, and
// the relay's attempt to its address); the host's 25 is not used.
func TestPortsSmarthost587RandomPlan(t *testing.T) {
	sc := portsScenario(t, "[25, 587]", "", "[smtp.example.test]:587")
	res := Run(context.Background(), sc, RunOptions{})
	if res.Verdict != report.Pass {
		t.Fatalf("%s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
	connect, attempt := deliverySession(t, res.Events, "smtp.example.test")
	if !strings.HasSuffix(connect.Text, "to "+connect.Local+" (submission)") {
		t.Errorf("the delivery came in on %q, want the submission listener", connect.Text)
	}
	if !strings.Contains(attempt.Text, "smtp.example.test[") || !strings.Contains(attempt.Text, "]:"+strconv.Itoa(portOf(t, connect.Local))) {
		t.Errorf("relay attempt %q does not show port %d", attempt.Text, portOf(t, connect.Local))
	}
	var mxPort string
	for _, h := range res.Hosts {
		if h.Name == "mx1.example.test" {
			_, mxPort, _ = net.SplitHostPort(h.Addr)
		}
	}
	if strconv.Itoa(portOf(t, connect.Local)) == mxPort {
		t.Errorf("587 was not mapped apart from the shared port %s", mxPort)
	}
}

// On a fixed plan (real MTAs), 587 is bound as it is on the host's own
// address: the journal shows port 587. Binding it needs root (or a
// lowered net.ipv4.ip_unprivileged_port_start); the test is skipped
// without. The hosts take addresses of helper H4's /24 of 127.74.0.0.
func TestPortsSmarthost587FixedPlan(t *testing.T) {
	probe, err := net.Listen("tcp", "127.74.0.250:587")
	if err != nil {
		t.Skipf("cannot bind port 587 here (not root?): %v", err)
	}
	probe.Close()
	n, _ := twoFreePorts(t)
	sc := portsScenario(t, "[25, 587]", "", "[smtp.example.test]:587")
	plan := Plan{Subnet: netip.MustParsePrefix("127.74.0.0/24"), SMTPPort: n}
	res := Run(context.Background(), sc, RunOptions{Plan: plan})
	if res.Verdict != report.Pass {
		t.Fatalf("%s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
	connect, attempt := deliverySession(t, res.Events, "smtp.example.test")
	if portOf(t, connect.Local) != 587 || !strings.HasSuffix(connect.Text, ":587 (submission)") {
		t.Errorf("the delivery came in on %q (local %s), want port 587", connect.Text, connect.Local)
	}
	if !strings.Contains(attempt.Text, "]:587") {
		t.Errorf("relay attempt %q does not show port 587", attempt.Text)
	}
}

// 465: TLS from connect. The host's behaviour says nothing of TLS; its
// 465 listener speaks TLS from the first byte, and the relay, told the
// smarthost is on 465, does.
func TestPortsSmarthost465ImplicitTLS(t *testing.T) {
	sc := portsScenario(t, "[465]", "", "[smtp.example.test]:465")
	res := Run(context.Background(), sc, RunOptions{})
	if res.Verdict != report.Pass {
		t.Fatalf("%s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
	connect, _ := deliverySession(t, res.Events, "smtp.example.test")
	if !strings.HasSuffix(connect.Text, " (submissions)") {
		t.Errorf("the delivery came in on %q, want the implicit-TLS listener", connect.Text)
	}
	implicit := false
	for _, e := range res.Events {
		if e.Kind == journal.KindSMTPTLS && e.Session == connect.Session && e.TLS != nil && e.TLS.Implicit {
			implicit = true
		}
	}
	if !implicit {
		t.Error("no implicit TLS in the delivery session")
	}
}

// A relay that forgets the port, and connects to the smarthost's 25,
// does not reach its 587: a host listing only 587 refuses it. The
// relay configured with the port reaches it.
func TestPortsHostWithout25(t *testing.T) {
	sc := portsScenario(t, "[587]", "", "[smtp.example.test]:587")
	cfg := referenceConfig(sc.Relay)
	cfg.Smarthost = "[smtp.example.test]:25"
	res := Run(context.Background(), sc, RunOptions{Relay: Reference(cfg)})
	if res.Verdict != report.Fail {
		t.Fatalf("relay on the wrong port: %s, want fail: %s", res.Verdict, res.Reason)
	}
	if res := Run(context.Background(), sc, RunOptions{}); res.Verdict != report.Pass {
		t.Fatalf("%s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
}

// One host answering on 25 and 587: mail by MX comes in on 25 without
// AUTH; a client on 587 must authenticate before MAIL. Two hosts listing
// 587 share its mapped port, apart from the shared port.
func TestPortsHostOn25And587(t *testing.T) {
	users := map[string]string{"relay": "secret"}
	env := Start(t, Config{
		Zones: []fakedns.Zone{Zone("example.test", MX(10, "mx1.example.test")), Zone("origin.test", MX(10, "mx.origin.test"))},
		Hosts: []Host{
			{Name: "mx1.example.test", Ports: []int{25, 587}, Behavior: fakesmtp.Behavior{Auth: &fakesmtp.Auth{Users: users}}},
			{Name: "mx2.example.test", Ports: []int{587, 2525}},
			{Name: "mx.origin.test"},
		},
		Relay: Reference(ReferenceConfig{}),
	})
	n := env.Network()
	p587 := n.PortFor("mx1.example.test", 587)
	if p587 == 587 || p587 == n.SMTPPort || p587 != n.PortFor("mx2.example.test", 587) {
		t.Errorf("587 maps to %d (SMTP port %d; for mx2 %d)", p587, n.SMTPPort, n.PortFor("mx2.example.test", 587))
	}
	if p := n.PortFor("mx2.example.test", 2525); p == 2525 || p == p587 || p == n.SMTPPort {
		t.Errorf("2525 maps to %d", p)
	}
	if got := n.PortFor("mx1.example.test", 25); got != n.SMTPPort {
		t.Errorf("PortFor(mx1, 25) = %d, want the SMTP port %d", got, n.SMTPPort)
	}
	if got := n.PortOf("mx2.example.test"); got != p587 {
		t.Errorf("PortOf(mx2), which lists no 25, = %d, want its first port %d", got, p587)
	}
	ls := env.Host("mx1.example.test").Listeners()
	if len(ls) != 2 || portOf(t, ls[0].Addr) != n.SMTPPort || ls[0].Mode != fakesmtp.PortMX ||
		portOf(t, ls[1].Addr) != p587 || ls[1].Mode != fakesmtp.PortSubmission {
		t.Fatalf("mx1 listeners %+v", ls)
	}

	// By MX: port 25, no AUTH asked.
	if err := env.Send(context.Background(), Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitDelivered(context.Background(), 5*time.Second, "bob@example.test", "mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	connect, _ := deliverySession(t, env.Journal().Events(), "mx1.example.test")
	if portOf(t, connect.Local) != n.SMTPPort || !strings.HasSuffix(connect.Text, "(mx)") {
		t.Errorf("delivery by MX came in on %q", connect.Text)
	}

	// On 587: AUTH before MAIL.
	conn, err := net.DialTimeout("tcp", ls[1].Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("587 offers no STARTTLS")
	}
	var se *smtp.SMTPError
	if err := c.Mail("alice@origin.test", nil); !errors.As(err, &se) || se.Code != 530 {
		t.Errorf("MAIL before AUTH on 587: %v, want 530", err)
	}
}

// Bad ports in a Go Config are errors naming the field; a smarthost
// port no host lists is one too.
func TestPortsConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Hosts: []Host{{Name: "mx1.example.test", Ports: []int{0}}}}, `Hosts[0].Ports[0]: host "mx1.example.test": port 0 out of range 1..65535`},
		{Config{Hosts: []Host{{Name: "mx1.example.test", Ports: []int{70000}}}}, `Hosts[0].Ports[0]: host "mx1.example.test": port 70000 out of range 1..65535`},
		{Config{Hosts: []Host{{Name: "mx1.example.test", Ports: []int{587, 25, 587}}}}, `Hosts[0].Ports[2]: host "mx1.example.test": port 587 listed twice`},
		{Config{Hosts: []Host{{Name: "smtp.example.test"}}, RelaySettings: RelaySettings{Smarthost: &Smarthost{Host: "smtp.example.test", Port: 587}}},
			`RelaySettings: smarthost "[smtp.example.test]:587": host smtp.example.test does not listen on port 587`},
	} {
		_, err := New(context.Background(), tc.cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
