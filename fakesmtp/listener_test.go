package fakesmtp

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mxsim/mxsim/journal"
)

// portsHost starts a host on 127.0.0.1 with an MX address, a submission
// address and an implicit-TLS address, all on free ports.
func portsHost(t *testing.T, b Behavior) (h *Host, mx, sub, subs string) {
	t.Helper()
	h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", Behavior: b, Listeners: []Listener{
		{Addr: "127.0.0.1:0", Mode: PortSubmission},
		{Addr: "127.0.0.1:0", Mode: PortSubmissions},
	}})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	ls := h.Listeners()
	if len(ls) != 3 || ls[0].Addr != h.Addr() || ls[0].Mode != PortMX || ls[1].Mode != PortSubmission || ls[2].Mode != PortSubmissions {
		t.Fatalf("Listeners() = %+v", ls)
	}
	for _, l := range ls {
		if strings.HasSuffix(l.Addr, ":0") {
			t.Fatalf("listener %+v: no port bound", l)
		}
	}
	return h, ls[0].Addr, ls[1].Addr, ls[2].Addr
}

func dialAddr(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

// One host, three ports: the MX port takes mail as the behaviour says
// (no TLS, no AUTH asked); 587 offers STARTTLS and wants AUTH before
// MAIL; 465 speaks TLS from connect and wants AUTH too. Each session's
// connect event names the address and mode it came in on.
func TestListenerModes(t *testing.T) {
	users := map[string]string{"relay": "s3cret"}
	h, mx, sub, subs := portsHost(t, Behavior{Auth: &Auth{Users: users, AllowInsecure: true}})
	roots := &tls.Config{RootCAs: h.CA().Pool(), ServerName: hostName}

	// MX port: no STARTTLS, mail without AUTH.
	c := dialAddr(t, mx)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("MX port offers STARTTLS; the behaviour does not")
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, message("mx")); err != nil {
		t.Fatalf("MX port, no AUTH: %v", err)
	}
	c.Quit()

	// 587: STARTTLS offered; MAIL before AUTH is 530 5.7.0.
	c = dialAddr(t, sub)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("submission port does not offer STARTTLS")
	}
	if err := c.Mail("a@origin.test", nil); code(err) != 530 {
		t.Errorf("submission port, MAIL before AUTH: %v, want 530", err)
	}
	c.Close()
	conn0, err := net.DialTimeout("tcp", sub, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = smtp.NewClientStartTLS(conn0, roots); err != nil {
		conn0.Close()
		t.Fatalf("STARTTLS on %s: %v", sub, err)
	}
	c.CommandTimeout = 10 * time.Second
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "relay", "s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, message("587")); err != nil {
		t.Fatalf("submission port after STARTTLS and AUTH: %v", err)
	}
	c.Quit()

	// 465: TLS from connect, AUTH required.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", subs, roots)
	if err != nil {
		t.Fatalf("implicit TLS on %s: %v", subs, err)
	}
	c = smtp.NewClient(conn)
	c.CommandTimeout = 10 * time.Second
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered under implicit TLS")
	}
	if err := c.Mail("a@origin.test", nil); code(err) != 530 {
		t.Errorf("465, MAIL before AUTH: %v, want 530", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "relay", "s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, message("465")); err != nil {
		t.Fatalf("465 after AUTH: %v", err)
	}
	c.Quit()

	j := h.Journal()
	wait(t, j, "three messages", func(evs []journal.Event) bool {
		n := 0
		for _, e := range evs {
			if e.Kind == journal.KindSMTPMessage {
				n++
			}
		}
		return n == 3
	})
	for _, tc := range []struct {
		addr string
		mode PortMode
		n    int
	}{{mx, PortMX, 1}, {sub, PortSubmission, 2}, {subs, PortSubmissions, 1}} {
		if n := count(j, journal.KindSMTPConnect, func(e journal.Event) bool {
			return e.Local == tc.addr && strings.HasSuffix(e.Text, " to "+tc.addr+" ("+string(tc.mode)+")")
		}); n != tc.n {
			t.Errorf("connect events on %s (%s): %d, want %d\n%s", tc.addr, tc.mode, n, tc.n, j)
		}
	}
	// The messages carry their session's local address.
	for _, addr := range []string{mx, sub, subs} {
		if count(j, journal.KindSMTPMessage, func(e journal.Event) bool { return e.Local == addr }) != 1 {
			t.Errorf("no message journaled with local address %s", addr)
		}
	}
}

// Without Auth, the submission port asks for none: it takes mail as the
// MX port does, with STARTTLS offered.
func TestSubmissionPortWithoutAuth(t *testing.T) {
	_, _, sub, _ := portsHost(t, Behavior{})
	c := dialAddr(t, sub)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("submission port does not offer STARTTLS")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("submission port of a host without auth offers AUTH")
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, message("no auth")); err != nil {
		t.Fatalf("submission port without auth: %v", err)
	}
	c.Quit()
}

// A host that requires STARTTLS keeps requiring it on 587; a behaviour
// set while running reaches every port; Down and Up take every port.
func TestListenersFollowTheHost(t *testing.T) {
	h, mx, sub, subs := portsHost(t, Behavior{TLS: TLS{StartTLS: TLSRequired}})
	c := dialAddr(t, sub)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@origin.test", nil); code(err) != 530 {
		t.Errorf("587 of a host that requires STARTTLS, MAIL in clear: %v, want 530", err)
	}
	c.Close()

	if err := h.SetBehavior(Behavior{Replies: Replies{Mail: []Rule{{Reply: Reply{Code: 451, Text: "4.3.0 try later"}}}}}); err != nil {
		t.Fatal(err)
	}
	c = dialAddr(t, sub)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@origin.test", nil); code(err) != 451 {
		t.Errorf("587 after SetBehavior: %v, want 451", err)
	}
	c.Close()

	if err := h.Down(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{mx, sub, subs} {
		if conn, err := net.DialTimeout("tcp", a, 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("%s answers while the host is down", a)
		}
	}
	if err := h.Up(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{mx, sub, subs} {
		conn, err := net.DialTimeout("tcp", a, 2*time.Second)
		if err != nil {
			t.Errorf("%s after Up: %v", a, err)
			continue
		}
		conn.Close()
	}
}

// A host made down keeps the ports it reserved for every listener.
func TestListenersReservedWhileDown(t *testing.T) {
	h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", Behavior: Behavior{State: Down},
		Listeners: []Listener{{Addr: "127.0.0.1:0", Mode: PortSubmission}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	before := h.Listeners()
	if strings.HasSuffix(before[1].Addr, ":0") {
		t.Fatalf("no port reserved: %+v", before)
	}
	if err := h.Up(); err != nil {
		t.Fatal(err)
	}
	if after := h.Listeners(); after[0] != before[0] || after[1] != before[1] {
		t.Errorf("listeners moved: %+v, then %+v", before, after)
	}
	conn, err := net.DialTimeout("tcp", before[1].Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestListenerConfigErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad mode", Config{Mode: "smtps"}, `mode: unknown port mode "smtps"`},
		{"bad listener mode", Config{Listeners: []Listener{{Addr: "127.0.0.1:0", Mode: "lmtp"}}}, `listeners: [0]: unknown port mode "lmtp"`},
		{"bad listener addr", Config{Listeners: []Listener{{Addr: "localhost:587"}}}, `listeners: [0]: "localhost:587" is not IP:port`},
		{"twice", Config{Addr: "127.0.0.1:2587", Listeners: []Listener{{Addr: "127.0.0.1:2587"}}}, "listeners: [0]: 127.0.0.1:2587 is listened on twice"},
		{"taken", Config{Listeners: []Listener{{Addr: taken.Addr().String()}}}, "listen " + taken.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name = hostName
			h, err := NewHost(tc.cfg)
			if err == nil {
				h.Close()
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if tc.name != "taken" && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestModeForPort(t *testing.T) {
	for port, want := range map[int]PortMode{25: PortMX, 587: PortSubmission, 465: PortSubmissions, 2525: PortMX} {
		if got := ModeForPort(port); got != want {
			t.Errorf("ModeForPort(%d) = %s, want %s", port, got, want)
		}
	}
	for _, m := range PortMode("").Values() {
		if !PortMode(m).valid() {
			t.Errorf("%s is not valid", m)
		}
	}
}

// An explicit starttls: none stays none on 587 (a careless submission
// host); only an unset one becomes offered.
func TestSubmissionPortKeepsExplicitNoTLS(t *testing.T) {
	_, _, sub, _ := portsHost(t, Behavior{TLS: TLS{StartTLS: TLSNone}})
	c := dialAddr(t, sub)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("587 offers STARTTLS though the behaviour says none")
	}
	c.Quit()
}
