package harness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
	"github.com/onsi/gomega"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// authZones: signed.test signs with DKIM (selector sel), lists 127.0.0.1
// (where the test's client sends from) in SPF and publishes p=reject;
// unlisted.test lists another address in SPF, with p=reject;
// lenient.test lists another address too, with p=none.
func authZones(pub ed25519.PublicKey) []fakedns.Zone {
	key := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	return []fakedns.Zone{
		harness.Zone("example.test", harness.MX(10, "mx1.example.test")),
		{Name: "signed.test", Records: map[string][]string{
			"@":                {`TXT "v=spf1 ip4:127.0.0.1 -all"`},
			"sel._domainkey":   {`TXT "` + key + `"`},
			"_dmarc":           {`TXT "v=DMARC1; p=reject"`},
			"other._domainkey": {`TXT "v=DKIM1; k=ed25519; p="`}, // a revoked key
		}},
		{Name: "unlisted.test", Records: map[string][]string{
			"@":              {`TXT "v=spf1 ip4:192.0.2.1 -all"`},
			"sel._domainkey": {`TXT "` + key + `"`},
			"_dmarc":         {`TXT "v=DMARC1; p=reject"`},
		}},
		{Name: "lenient.test", Records: map[string][]string{
			"@":      {`TXT "v=spf1 ip4:192.0.2.1 -all"`},
			"_dmarc": {`TXT "v=DMARC1; p=none"`},
		}},
	}
}

// authMessage is a message from from, DKIM-signed for domain d when priv is
// set; tamper changes the body after signing.
func authMessage(t *testing.T, from, d string, priv ed25519.PrivateKey, tamper bool) []byte {
	t.Helper()
	raw := "From: <" + from + ">\r\nTo: <bob@example.test>\r\nSubject: auth\r\nMessage-ID: <1@" + d + ">\r\n\r\nHello.\r\n"
	if priv == nil {
		return []byte(raw)
	}
	var b bytes.Buffer
	if err := dkim.Sign(&b, strings.NewReader(raw), &dkim.SignOptions{Domain: d, Selector: "sel", Signer: priv}); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if tamper {
		out = bytes.Replace(out, []byte("Hello."), []byte("Hello, altered."), 1)
	}
	return out
}

// sendSigned submits raw straight to host over SMTP, from 127.0.0.1; it
// returns the SMTP error of a refusal.
func sendSigned(t *testing.T, env *harness.Env, from string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(env.Host("mx1.example.test").Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.signed.test"); err != nil {
		t.Fatal(err)
	}
	err = c.SendMail(from, []string{"bob@example.test"}, bytes.NewReader(raw))
	if err == nil {
		c.Quit()
	}
	return err
}

func TestVerifyEndToEnd(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		verify  fakesmtp.Verify
		from    string
		priv    ed25519.PrivateKey
		tamper  bool
		want    harness.AuthResults
		refused string // the enhanced code of the refusal; "" when taken
	}{
		{name: "all pass", verify: fakesmtp.Verify{SPF: true, DKIM: true, DMARC: true, Enforce: true},
			from: "alice@signed.test", priv: priv,
			want: harness.AuthResults{SPF: "pass", DKIM: "pass", DKIMDomain: "signed.test", DMARC: "pass"}},
		{name: "body altered after signing, SPF fail, p=reject: refused", verify: fakesmtp.Verify{DMARC: true, Enforce: true},
			from: "alice@unlisted.test", priv: priv, tamper: true, refused: "5.7.26"},
		{name: "body altered after signing, recorded", verify: fakesmtp.Verify{DMARC: true},
			from: "alice@unlisted.test", priv: priv, tamper: true,
			want: harness.AuthResults{SPF: "fail", DKIM: "fail", DKIMDomain: "unlisted.test", DMARC: "fail"}},
		{name: "aligned DKIM outweighs SPF fail", verify: fakesmtp.Verify{SPF: true, DKIM: true, DMARC: true, Enforce: true},
			from: "alice@unlisted.test", priv: priv,
			want: harness.AuthResults{SPF: "fail", DKIM: "pass", DMARC: "pass"}},
		{name: "unsigned, SPF fail, p=none: SPF refusal", verify: fakesmtp.Verify{DMARC: true, Enforce: true},
			from: "alice@lenient.test", refused: "5.7.23"},
		{name: "unsigned, SPF fail, p=none, recorded", verify: fakesmtp.Verify{DMARC: true},
			from: "alice@lenient.test",
			want: harness.AuthResults{SPF: "fail", DKIM: "none", DMARC: "fail"}},
		{name: "own SPF reply", verify: fakesmtp.Verify{SPF: true, Enforce: true, SPFReply: &fakesmtp.Reply{Code: 550, Enhanced: "5.7.1", Text: "not you"}},
			from: "alice@lenient.test", refused: "5.7.1"},
		{name: "DKIM only", verify: fakesmtp.Verify{DKIM: true},
			from: "alice@signed.test", priv: priv,
			want: harness.AuthResults{DKIM: "pass", DKIMDomain: "signed.test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := harness.New(context.Background(), harness.Config{
				Zones: authZones(pub),
				Hosts: []harness.Host{{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{Verify: &tc.verify}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			_, d, _ := strings.Cut(tc.from, "@")
			err = sendSigned(t, env, tc.from, authMessage(t, tc.from, d, tc.priv, tc.tamper))
			j := env.Journal()
			if tc.refused != "" {
				var se *smtp.SMTPError
				if !errors.As(err, &se) || se.Code != 550 || fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2]) != tc.refused {
					t.Fatalf("send: %v, want a 550 %s refusal", err, tc.refused)
				}
				if n := len(j.Events(journal.OfKind(journal.KindSMTPMessage))); n != 0 {
					t.Errorf("%d messages journaled, want none", n)
				}
				err := harness.CheckAuthResults(j, harness.AuthResults{At: "mx1.example.test", DMARC: "pass"})
				if err == nil || !strings.Contains(err.Error(), "refused 1 message(s) after its checks: 550 "+tc.refused) {
					t.Errorf("CheckAuthResults after a refusal: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			// The message event is journaled before the 250 is written.
			tc.want.At = "mx1.example.test"
			if err := harness.CheckAuthResults(j, tc.want); err != nil {
				t.Error(err)
			}
		})
	}
}

// The checks' lookups go to the fake DNS: each record the checks need
// appears as a dns.query event, and the check fails when a result is
// not the one asked for, naming the actual one.
func TestVerifyLookupsInJournal(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	env, err := harness.New(context.Background(), harness.Config{
		Zones: authZones(pub),
		Hosts: []harness.Host{{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{Verify: &fakesmtp.Verify{DMARC: true}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if err := sendSigned(t, env, "alice@signed.test", authMessage(t, "alice@signed.test", "signed.test", priv, false)); err != nil {
		t.Fatal(err)
	}
	j := env.Journal()
	for _, name := range []string{"signed.test.", "sel._domainkey.signed.test.", "_dmarc.signed.test."} {
		found := false
		for _, e := range j.Events(journal.OfKind(journal.KindDNSQuery)) {
			if e.DNS != nil && e.DNS.Name == name && e.DNS.Type == "TXT" && e.Source == "dns" {
				found = true
			}
		}
		if !found {
			t.Errorf("no TXT query for %s at the fake DNS", name)
		}
	}
	if err := harness.CheckQueried(j, "_dmarc.signed.test", "TXT"); err != nil {
		t.Error(err)
	}
	err = harness.CheckAuthResults(j, harness.AuthResults{At: "mx1.example.test", SPF: "fail", DKIMDomain: "other.test"})
	for _, want := range []string{"at mx1.example.test: spf=pass (127.0.0.1 is allowed to send for signed.test), dkim=pass header.d=signed.test, expected spf=fail dkim=pass (d=other.test)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckAuthResults: %v\nwant it to say %q", err, want)
		}
	}
	g := gomega.NewWithT(t)
	g.Expect(env).To(harness.HaveAuthResults(harness.AuthResults{At: "mx1.example.test", DKIMDomain: "signed.test", DMARC: "pass"}))
	g.Expect(env).NotTo(harness.HaveAuthResults(harness.AuthResults{At: "mx1.example.test", DMARC: "fail"}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.Wait(ctx, 5*time.Second, func(j *journal.Journal) error {
		return harness.CheckAuthResults(j, harness.AuthResults{At: "mx1.example.test", SPF: "pass", DKIM: "pass", DMARC: "pass", To: "bob@example.test"})
	}); err != nil {
		t.Error(err)
	}
}

// A host without a resolver refuses a behaviour that verifies: it would
// otherwise ask the system's resolver.
func TestVerifyNeedsResolver(t *testing.T) {
	b := fakesmtp.Behavior{Verify: &fakesmtp.Verify{SPF: true}}
	if _, err := fakesmtp.NewHost(fakesmtp.Config{Name: "mx1.example.test", Behavior: b}); err == nil || !strings.Contains(err.Error(), "no resolver") {
		t.Errorf("NewHost without a resolver: %v", err)
	}
	h, err := fakesmtp.NewHost(fakesmtp.Config{Name: "mx1.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.SetBehavior(b); !errors.Is(err, fakesmtp.ErrInvalid) {
		t.Errorf("SetBehavior without a resolver: %v, want ErrInvalid", err)
	}
}
