package postfix_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/internal/mtactr"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// configured returns the adapter's "postfix … configured (how)" line.
func configured(res report.Result) string {
	for _, e := range res.Events {
		if e.Kind == journal.KindRelayLog && strings.Contains(e.Text, " configured (") {
			return e.Text
		}
	}
	return ""
}

// TestNoStateBetweenScenarios runs two scenarios with the same
// configuration back to back, so that the second runs on the Postfix the
// first left, not reloaded: the first leaves its destination dead (the
// only MX refused, 30s retry interval), the second must still deliver to
// it at once.
func TestNoStateBetweenScenarios(t *testing.T) {
	pf := needPostfix(t)
	first := runScenario(t, pf, "testdata/dead-destination.yaml")
	if first.Verdict != report.Pass {
		t.Fatalf("first: %s", describe(first))
	}
	second := runScenario(t, pf, "testdata/destination-up.yaml")
	if second.Verdict != report.Pass {
		t.Fatalf("second: %s", describe(second))
	}
	if c := configured(second); !strings.Contains(c, "not reloaded") {
		t.Errorf("the second scenario did not run on the first one's Postfix as it was (%q): the test proves nothing", c)
	}
}

// TestNewCAEachScenario runs a tls: verify scenario twice; each run has a
// CA of its own, and Postfix must trust the new one the second time (its
// smtp(8) processes keep the CA they read at their start).
func TestNewCAEachScenario(t *testing.T) {
	pf := needPostfix(t)
	for i := range 2 {
		res := runScenario(t, pf, "testdata/tls-verify-valid.yaml")
		if res.Verdict != report.Pass {
			t.Fatalf("run %d: %s", i+1, describe(res))
		}
	}
}

// TestSubmissionServices speaks to Postfix's submission services over
// real sockets, as clients that get things wrong would: MAIL before
// STARTTLS on the 587-style service, plaintext on the 465-style one, MAIL
// before AUTH and a wrong password on each, and a client outside
// mynetworks without AUTH on the plain port.
func TestSubmissionServices(t *testing.T) {
	pf := needPostfix(t)
	settings := scenarios.Relay{Submission: true, SubmitAuth: &scenarios.Credentials{User: "alice", Password: "s3cret"}}
	r, err := pf.Relay(settings)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan := pf.Plan()
	dns := netip.AddrPortFrom(mtactr.At(plan.Subnet, 53), 53).String()
	j := journal.New()
	if err := r.Start(ctx, harness.Network{DNSAddr: dns, SMTPPort: 25, Journal: j}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	sub := r.Submission()
	sub587, sub465 := pf.SubmissionAddrs()
	if sub.SubmissionAddr != sub587 || sub.SubmissionsAddr != sub465 || sub.User != "alice" || sub.Password != "s3cret" {
		t.Fatalf("Submission() = %+v, want the services %s, %s and alice's credentials", sub, sub587, sub465)
	}
	outside := mtactr.At(plan.Subnet, 250).String()
	msg := func(m harness.Message) harness.Message {
		m.From, m.To = "alice@outside.test", []string{"bob@example.test"}
		return m
	}
	code := func(err error) (int, smtp.EnhancedCode) {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se.Code, se.EnhancedCode
		}
		return 0, smtp.EnhancedCode{}
	}
	cases := []struct {
		name   string
		addr   string
		m      harness.Message
		code   int
		status smtp.EnhancedCode
		text   string
	}{
		{"587 MAIL before STARTTLS", sub587, msg(harness.Message{LocalAddr: outside}), 530, smtp.EnhancedCode{5, 7, 0}, "STARTTLS"},
		{"587 MAIL before AUTH", sub587, msg(harness.Message{LocalAddr: outside, StartTLS: true}), 530, smtp.EnhancedCode{5, 7, 0}, "Authentication required"},
		{"587 wrong password", sub587, msg(harness.Message{LocalAddr: outside, StartTLS: true, User: "alice", Password: "wrong"}), 535, smtp.EnhancedCode{5, 7, 8}, ""},
		{"465 MAIL before AUTH", sub465, msg(harness.Message{LocalAddr: outside, ImplicitTLS: true}), 530, smtp.EnhancedCode{5, 7, 0}, "Authentication required"},
		{"465 wrong password", sub465, msg(harness.Message{LocalAddr: outside, ImplicitTLS: true, User: "alice", Password: "wrong"}), 535, smtp.EnhancedCode{5, 7, 8}, ""},
		{"plain port, outside, no AUTH", sub.Addr, msg(harness.Message{LocalAddr: outside}), 530, smtp.EnhancedCode{5, 7, 0}, "Authentication required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := harness.Submit(ctx, c.addr, c.m)
			got, status := code(err)
			if got != c.code || status != c.status || !strings.Contains(err.Error(), c.text) {
				t.Errorf("got %v, want %d %v %q", err, c.code, c.status, c.text)
			}
		})
	}
	t.Run("465 in plaintext", func(t *testing.T) {
		// TLS from connect: the service waits for a ClientHello and
		// never greets in plaintext.
		conn, err := net.DialTimeout("tcp", sub465, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if strings.HasPrefix(line, "220") {
			t.Errorf("the implicit-TLS service greeted in plaintext: %q", line)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read: %q, %v; want a time-out (the server waits for TLS)", line, err)
		}
	})
}
