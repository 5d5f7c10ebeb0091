package relay

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// servicesRelay starts a relay with both submission services for alice.
func servicesRelay(t *testing.T, bugs Bugs) *Relay {
	n := newNetwork(t)
	return n.startRelay(Config{SubmitUsers: map[string]string{"alice": "pw"}, Bugs: bugs,
		SubmissionListen: "127.0.0.1:0", SubmissionsListen: "127.0.0.1:0"})
}

// dialSubmission opens a client on the 587-style service, plaintext.
func dialSubmission(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// dialStartTLS opens a client on the 587-style service, under STARTTLS.
func dialStartTLS(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantCode(t *testing.T, what string, err error, code int, status smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code || se.EnhancedCode != status {
		t.Errorf("%s: %v, want %d %v", what, err, code, status)
	}
}

// TestSubmissionService: the 587-style service offers STARTTLS, AUTH only
// under TLS (538 5.7.11 before), refuses MAIL before AUTH (530 5.7.0)
// and bad credentials (535 5.7.8), and takes mail after AUTH.
func TestSubmissionService(t *testing.T) {
	r := servicesRelay(t, Bugs{})
	addr := r.SubmissionAddr()
	if addr == "" || r.SubmissionsAddr() == "" || addr == r.Addr() {
		t.Fatalf("addresses: submit %s, submission %q, submissions %q", r.Addr(), addr, r.SubmissionsAddr())
	}

	c := dialSubmission(t, addr)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH advertised before STARTTLS")
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not advertised")
	}
	wantCode(t, "AUTH before TLS", c.Auth(sasl.NewPlainClient("", "alice", "pw")), 538, smtp.EnhancedCode{5, 7, 11})
	wantCode(t, "MAIL before AUTH", c.Mail("alice@origin.test", nil), 530, smtp.EnhancedCode{5, 7, 0})

	c = dialStartTLS(t, addr)
	if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") {
		t.Errorf("AUTH under TLS: %v %q, want PLAIN offered", ok, mechs)
	}
	wantCode(t, "bad password", c.Auth(sasl.NewPlainClient("", "alice", "nope")), 535, smtp.EnhancedCode{5, 7, 8})
	wantCode(t, "MAIL after a failed AUTH", c.Mail("alice@origin.test", nil), 530, smtp.EnhancedCode{5, 7, 0})
	if err := c.Auth(sasl.NewPlainClient("", "alice", "pw")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := c.Mail("alice@origin.test", nil); err != nil {
		t.Errorf("MAIL after AUTH: %v", err)
	}
}

// TestSubmissionsService: the 465-style service speaks TLS from the first
// byte and requires AUTH.
func TestSubmissionsService(t *testing.T) {
	r := servicesRelay(t, Bugs{})
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", r.SubmissionsAddr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS at connect: %v", err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised under implicit TLS")
	}
	wantCode(t, "MAIL before AUTH", c.Mail("alice@origin.test", nil), 530, smtp.EnhancedCode{5, 7, 0})
	if err := c.Auth(sasl.NewPlainClient("", "alice", "pw")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
}

// TestSubmissionBugs: each switch changes what its service does.
func TestSubmissionBugs(t *testing.T) {
	t.Run("plaintext-465", func(t *testing.T) {
		r := servicesRelay(t, Bugs{PlaintextSubmissions: true})
		c, err := smtp.Dial(r.SubmissionsAddr())
		if err != nil {
			t.Fatalf("plaintext greeting on 465: %v", err)
		}
		c.Close()
	})
	t.Run("submission-without-auth", func(t *testing.T) {
		r := servicesRelay(t, Bugs{SubmissionWithoutAuth: true})
		c := dialSubmission(t, r.SubmissionAddr())
		if err := c.Mail("alice@origin.test", nil); err != nil {
			t.Errorf("MAIL without AUTH: %v, want accepted", err)
		}
	})
	t.Run("accepts-bad-credentials", func(t *testing.T) {
		r := servicesRelay(t, Bugs{AcceptBadCredentials: true})
		c := dialStartTLS(t, r.SubmissionAddr())
		if err := c.Auth(sasl.NewPlainClient("", "alice", "nope")); err != nil {
			t.Errorf("AUTH with a bad password: %v, want accepted", err)
		}
	})
}
