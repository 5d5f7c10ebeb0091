package fakesmtp

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/journal"
)

func TestStartTLSOffered(t *testing.T) {
	h := newHost(t, Behavior{TLS: TLS{StartTLS: TLSOffered}})
	plain := dial(t, h)
	if err := plain.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := plain.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not advertised")
	}
	// Plain text delivery is still accepted when TLS is only offered.
	if err := send(plain, "a@origin.test", []string{"b@example.test"}, message("plain")); err != nil {
		t.Fatalf("plain send: %v", err)
	}

	c, err := startTLS(t, h)
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised again under TLS")
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, message("secret")); err != nil {
		t.Fatalf("send under TLS: %v", err)
	}
	c.Quit()
	j := h.Journal()
	wait(t, j, "tls", has(journal.KindSMTPTLS, func(e journal.Event) bool {
		return e.TLS != nil && e.TLS.Version != "" && e.TLS.CertKind == "valid" && e.TLS.ServerName == hostName && !e.TLS.Implicit && e.Err == ""
	}))
	// The dialogue after TLS is recorded in plain text.
	sess := j.Sessions(hostName)[1]
	tr := strings.Join(j.Transcript(sess), "\n")
	for _, want := range []string{"C: STARTTLS", "S: 220 2.0.0 Ready to start TLS", "C: MAIL FROM:<a@origin.test>", "C: DATA", "S: 354"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
	if n := count(j, journal.KindSMTPMessage, nil); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func TestStartTLSNone(t *testing.T) {
	h := newHost(t, Behavior{})
	c := dial(t, h)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised without TLS")
	}
	if h.CA() == nil {
		t.Error("CA() made no CA")
	}
}

func TestStartTLSRequired(t *testing.T) {
	h := newHost(t, Behavior{TLS: TLS{StartTLS: TLSRequired}})
	c := dial(t, h)
	err := c.Mail("a@origin.test", nil)
	if code(err) != 530 || enhanced(err) != (smtp.EnhancedCode{5, 7, 0}) {
		t.Fatalf("MAIL before STARTTLS: %v, want 530 5.7.0", err)
	}
	if got := replies(h.Journal(), FaultTLS); len(got) != 1 || !strings.Contains(got[0].Text, "Must issue a STARTTLS command first") {
		t.Errorf("tls faults %v", got)
	}
	c2, err := startTLS(t, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(c2, "a@origin.test", []string{"b@example.test"}, message("tls")); err != nil {
		t.Fatalf("send after STARTTLS: %v", err)
	}
}

func TestEHLORequiredAfterStartTLS(t *testing.T) {
	h := newHost(t, Behavior{TLS: TLS{StartTLS: TLSOffered}})
	conn, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := newRawClient(t, conn)
	raw.expect("220")
	raw.cmd("EHLO client.test", "250")
	raw.cmd("STARTTLS", "220")
	tc := tls.Client(conn, &tls.Config{RootCAs: h.CA().Pool(), ServerName: hostName})
	raw = newRawClient(t, tc)
	raw.cmd("MAIL FROM:<a@origin.test>", "503")
	raw.cmd("EHLO client.test", "250")
	raw.cmd("MAIL FROM:<a@origin.test>", "250")
}

func TestCertKinds(t *testing.T) {
	for _, tc := range []struct {
		kind CertKind
		want func(error) bool
	}{
		{CertValid, func(err error) bool { return err == nil }},
		{"", func(err error) bool { return err == nil }},
		{CertWrongName, func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) }},
		{CertExpired, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
		{CertSelfSigned, func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) }},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			h := newHost(t, Behavior{TLS: TLS{StartTLS: TLSOffered, Cert: tc.kind}})
			_, err := startTLS(t, h)
			if !tc.want(err) {
				t.Fatalf("STARTTLS with a %q certificate: %v", tc.kind, err)
			}
			j := h.Journal()
			wait(t, j, "tls event", has(journal.KindSMTPTLS, nil))
			e := j.Events(journal.OfKind(journal.KindSMTPTLS))[0]
			kind := tc.kind
			if kind == "" {
				kind = CertValid
			}
			if e.TLS.CertKind != string(kind) || (err == nil) != (e.Err == "") {
				t.Errorf("tls event %+v err %q", e.TLS, e.Err)
			}
			if err != nil {
				wait(t, j, "disconnect", has(journal.KindSMTPDisconnect, func(e journal.Event) bool { return e.Fault == FaultTLS }))
			}
			// Without verification every kind completes the handshake.
			conn, derr := net.Dial("tcp", h.Addr())
			if derr != nil {
				t.Fatal(derr)
			}
			c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true})
			if err == nil {
				err = c.Noop()
				c.Close()
			}
			if err != nil {
				t.Fatalf("unverified STARTTLS: %v", err)
			}
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	h := newHost(t, Behavior{TLS: TLS{Implicit: true}})
	conn, err := tls.Dial("tcp", h.Addr(), &tls.Config{RootCAs: h.CA().Pool(), ServerName: hostName})
	if err != nil {
		t.Fatalf("implicit TLS: %v", err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised under implicit TLS")
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, message("implicit")); err != nil {
		t.Fatal(err)
	}
	j := h.Journal()
	wait(t, j, "tls", has(journal.KindSMTPTLS, func(e journal.Event) bool { return e.TLS.Implicit && e.Err == "" }))
	// TLS comes before the greeting.
	evs := j.Events(journal.OfKind(journal.KindSMTPTLS, journal.KindSMTPReply))
	if evs[0].Kind != journal.KindSMTPTLS || evs[1].Code != 220 {
		t.Errorf("first events %s, %s", evs[0].Kind, evs[1].Text)
	}
	// A plain-text client gets no greeting.
	plain, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	plain.Write([]byte("EHLO client.test\r\n"))
	buf := make([]byte, 100)
	n, _ := plain.Read(buf)
	if strings.HasPrefix(string(buf[:n]), "220") {
		t.Errorf("plain client greeted: %q", buf[:n])
	}
}

func TestAuth(t *testing.T) {
	users := map[string]string{"relay": "s3cret"}
	tlsHost := func(t *testing.T, a *Auth) *Host {
		return newHost(t, Behavior{TLS: TLS{StartTLS: TLSOffered}, Auth: a})
	}
	for _, tc := range []struct {
		name   string
		mechs  []string
		client sasl.Client
		code   int
	}{
		{"plain ok", nil, sasl.NewPlainClient("", "relay", "s3cret"), 0},
		{"plain bad", nil, sasl.NewPlainClient("", "relay", "wrong"), 535},
		{"plain unknown user", nil, sasl.NewPlainClient("", "nobody", "s3cret"), 535},
		{"login ok", nil, sasl.NewLoginClient("relay", "s3cret"), 0},
		{"login bad", nil, sasl.NewLoginClient("relay", "nope"), 535},
		{"cram-md5 ok", []string{"cram-md5"}, &cramClient{"relay", "s3cret"}, 0},
		{"cram-md5 bad", []string{"CRAM-MD5"}, &cramClient{"relay", "x"}, 535},
		{"mechanism not offered", []string{"LOGIN"}, sasl.NewPlainClient("", "relay", "s3cret"), 504},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tlsHost(t, &Auth{Mechanisms: tc.mechs, Users: users})
			c, err := startTLS(t, h)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Auth(tc.client)
			if code(err) != tc.code || tc.code == 0 && err != nil {
				t.Fatalf("AUTH: %v, want %d", err, tc.code)
			}
			j := h.Journal()
			if tc.code == 535 {
				if enhanced(err) != (smtp.EnhancedCode{5, 7, 8}) {
					t.Errorf("enhanced %v, want 5.7.8", enhanced(err))
				}
			}
			if tc.code != 504 {
				wait(t, j, "auth event", has(journal.KindSMTPAuth, func(e journal.Event) bool {
					return e.Auth.OK == (tc.code == 0) && e.Auth.TLS && e.Auth.User != ""
				}))
			}
			for _, e := range j.Events() {
				if strings.Contains(e.Text, "s3cret") || strings.Contains(e.Text, "czNjcmV0") {
					t.Errorf("password in the journal: %q", e.Text)
				}
			}
		})
	}
	t.Run("advertised", func(t *testing.T) {
		h := tlsHost(t, &Auth{Users: users})
		c, err := startTLS(t, h)
		if err != nil {
			t.Fatal(err)
		}
		if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
			t.Errorf("AUTH %v %q", ok, mechs)
		}
		h2 := newHost(t, Behavior{})
		c2 := dial(t, h2)
		c2.Hello("client.test")
		if ok, _ := c2.Extension("AUTH"); ok {
			t.Error("AUTH advertised without Auth")
		}
	})
	t.Run("538 before TLS", func(t *testing.T) {
		h := tlsHost(t, &Auth{Users: users})
		c := dial(t, h)
		err := c.Auth(sasl.NewPlainClient("", "relay", "s3cret"))
		if code(err) != 538 || enhanced(err) != (smtp.EnhancedCode{5, 7, 11}) {
			t.Fatalf("AUTH before TLS: %v, want 538 5.7.11", err)
		}
		j := h.Journal()
		wait(t, j, "auth event", has(journal.KindSMTPAuth, func(e journal.Event) bool { return !e.Auth.OK && !e.Auth.TLS }))
		if cmds := j.Events(journal.OfKind(journal.KindSMTPCommand), func(e journal.Event) bool { return strings.HasPrefix(e.Text, "AUTH") }); len(cmds) != 1 || cmds[0].Text != "AUTH PLAIN ****" {
			t.Errorf("AUTH commands %v", cmds)
		}
	})
	t.Run("insecure allowed", func(t *testing.T) {
		h := newHost(t, Behavior{Auth: &Auth{Users: users, AllowInsecure: true}})
		c := dial(t, h)
		if err := c.Auth(sasl.NewLoginClient("relay", "s3cret")); err != nil {
			t.Fatalf("AUTH LOGIN in plain text: %v", err)
		}
		// LOGIN continuation lines are masked.
		var texts []string
		for _, e := range h.Journal().Events(journal.OfKind(journal.KindSMTPCommand)) {
			texts = append(texts, e.Text)
		}
		if got := strings.Join(texts, "|"); got != "EHLO localhost|AUTH LOGIN ****|****" {
			t.Errorf("commands %q", got)
		}
	})
	t.Run("required", func(t *testing.T) {
		h := tlsHost(t, &Auth{Users: users, Required: true})
		c, err := startTLS(t, h)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Mail("a@origin.test", nil)
		if code(err) != 530 || enhanced(err) != (smtp.EnhancedCode{5, 7, 0}) {
			t.Fatalf("MAIL without AUTH: %v, want 530 5.7.0", err)
		}
		if err := c.Auth(sasl.NewPlainClient("", "relay", "s3cret")); err != nil {
			t.Fatal(err)
		}
		if err := send(c, "a@origin.test", []string{"b@example.test"}, message("authed")); err != nil {
			t.Fatalf("send after AUTH: %v", err)
		}
		if n := len(replies(h.Journal(), FaultAuth)); n != 1 {
			t.Errorf("%d auth faults, want 1", n)
		}
	})
}

// cramClient is the client side of CRAM-MD5 (RFC 2195).
type cramClient struct{ user, pass string }

func (c *cramClient) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }
func (c *cramClient) Next(challenge []byte) ([]byte, error) {
	mac := hmac.New(md5.New, []byte(c.pass))
	mac.Write(challenge)
	return []byte(c.user + " " + hex.EncodeToString(mac.Sum(nil))), nil
}

func TestForcedStartTLSAndAuthReplies(t *testing.T) {
	h := newHost(t, Behavior{
		TLS:     TLS{StartTLS: TLSOffered},
		Auth:    &Auth{Users: map[string]string{"relay": "s3cret"}},
		Replies: Replies{StartTLS: Forced(Reply{Code: 454, Enhanced: "4.7.0", Text: "TLS not available now", Times: 1}), Auth: Forced(Reply{Code: 454, Enhanced: "4.7.0", Times: 1})},
		Delays:  Delays{StartTLS: time.Millisecond, Auth: time.Millisecond},
	})
	if _, err := startTLS(t, h); code(err) != 454 {
		t.Fatalf("first STARTTLS: %v, want 454", err)
	}
	c, err := startTLS(t, h)
	if err != nil {
		t.Fatalf("second STARTTLS: %v", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "relay", "s3cret")); code(err) != 454 {
		t.Fatalf("first AUTH: %v, want 454", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "relay", "s3cret")); err != nil {
		t.Fatalf("second AUTH: %v", err)
	}
	j := h.Journal()
	if n, m := len(replies(j, FaultStartTLS)), len(replies(j, FaultAuthReply)); n != 1 || m != 1 {
		t.Errorf("starttls faults %d, auth faults %d; want 1, 1", n, m)
	}
	if n := count(j, journal.KindSMTPAuth, func(e journal.Event) bool { return !e.Auth.OK && e.Auth.Mechanism == "PLAIN" }); n != 1 {
		t.Errorf("%d failed auth events, want 1", n)
	}
}

func TestAuthAdvertisedOnlyUnderTLS(t *testing.T) {
	users := map[string]string{"u": "p"}
	for _, tc := range []struct {
		name string
		b    Behavior
		want bool
	}{
		{"starttls offered", Behavior{TLS: TLS{StartTLS: TLSOffered}, Auth: &Auth{Users: users}}, false},
		{"allow insecure", Behavior{TLS: TLS{StartTLS: TLSOffered}, Auth: &Auth{Users: users, AllowInsecure: true}}, true},
		{"no tls at all", Behavior{Auth: &Auth{Users: users}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, newHost(t, tc.b))
			if err := c.Hello("client.test"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := c.Extension("AUTH"); ok != tc.want {
				t.Errorf("AUTH advertised before TLS: %v, want %v", ok, tc.want)
			}
		})
	}
}

func TestGreylistCustomReply(t *testing.T) {
	h := newHost(t, Behavior{Greylist: &Greylist{Window: time.Hour, Reply: &Reply{Code: 450, Enhanced: "4.2.0", Text: "come back later"}}})
	c := dial(t, h)
	if err := c.Mail("a@origin.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.test", nil); code(err) != 450 || enhanced(err) != (smtp.EnhancedCode{4, 2, 0}) {
		t.Errorf("RCPT: %v, want 450 4.2.0", err)
	}
}
