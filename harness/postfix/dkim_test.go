package postfix_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// fakeTXT returns a LookupTXT for go-msgauth that asks the environment's
// fake DNS, never the system resolver.
func fakeTXT(dnsAddr string) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
		in, err := dns.Exchange(m, dnsAddr)
		if err != nil {
			return nil, err
		}
		if in.Rcode != dns.RcodeSuccess {
			return nil, &net.DNSError{Err: dns.RcodeToString[in.Rcode], Name: name, IsNotFound: in.Rcode == dns.RcodeNameError}
		}
		var out []string
		for _, rr := range in.Answer {
			if txt, ok := rr.(*dns.TXT); ok {
				out = append(out, strings.Join(txt.Txt, ""))
			}
		}
		return out, nil
	}
}

// TestOpenDKIMSigns: Postfix with OpenDKIM as its milter signs the mail
// of the scenario's dkim domain with the key the harness made; the
// message as the simulated host stored it verifies against the key
// published in the fake DNS. Mail from another domain goes unsigned, and
// a scenario without dkim runs without the milter.
func TestOpenDKIMSigns(t *testing.T) {
	pf := needPostfix(t)
	for _, tc := range []struct {
		name, relay, from string
		signed            bool
	}{
		{name: "rsa", relay: "{kind: postfix, dkim: {domain: origin.test, selector: sel}}", from: "alice@origin.test", signed: true},
		{name: "ed25519", relay: "{kind: postfix, dkim: {domain: origin.test, selector: sel, key_type: ed25519}}", from: "alice@origin.test", signed: true},
		{name: "subdomain", relay: "{kind: postfix, dkim: {domain: origin.test, selector: sel}}", from: "alice@mail.origin.test", signed: true},
		{name: "other domain", relay: "{kind: postfix, dkim: {domain: origin.test, selector: sel}}", from: "alice@elsewhere.test"},
		{name: "no dkim", relay: "{kind: postfix}", from: "alice@origin.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := scenarios.Parse("dkim.yaml", []byte(`name: dkim
dns:
  example.test: {mx: [{pref: 10, host: mx1.example.test}]}
hosts:
  mx1.example.test: {}
relay: `+tc.relay+`
steps:
  - send: {from: `+tc.from+`, to: [bob@example.test]}
`))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := harness.ConfigFor(sc)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Relay, err = pf.Relay(sc.Relay); err != nil {
				t.Fatal(err)
			}
			cfg.Plan = pf.Plan()
			env := harness.Start(t, cfg)
			ctx := context.Background()
			if err := env.Send(ctx, harness.Message{From: tc.from, To: []string{"bob@example.test"}}); err != nil {
				t.Fatalf("submit: %v\n%s", err, env.Journal())
			}
			if err := env.WaitDelivered(ctx, 20*time.Second, "bob@example.test", "mx1.example.test"); err != nil {
				t.Fatal(err)
			}
			var raw []byte
			for _, e := range env.Journal().Events(journal.OfKind(journal.KindSMTPMessage)) {
				raw = e.Message.Raw
			}
			verifs, err := dkim.VerifyWithOptions(strings.NewReader(string(raw)), &dkim.VerifyOptions{LookupTXT: fakeTXT(env.DNSAddr())})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !tc.signed {
				if len(verifs) != 0 {
					t.Fatalf("signed:\n%s", raw)
				}
				return
			}
			if len(verifs) != 1 || verifs[0].Domain != "origin.test" || verifs[0].Err != nil {
				var why error
				if len(verifs) > 0 {
					why = verifs[0].Err
				}
				t.Fatalf("%d signatures, want one by origin.test that verifies (%v):\n%s\n%s", len(verifs), why, raw, env.Journal())
			}
			waitLog(t, env.Journal(), "DKIM-Signature field added (s=sel, d=origin.test)")
		})
	}
}

// TestOpenDKIMNeedsKey: a scenario relay with dkim on a network whose
// relay settings carry no key (built in Go without RelaySettings.DKIM)
// is refused at start, not run unsigned or tempfailed.
func TestOpenDKIMNeedsKey(t *testing.T) {
	pf := needPostfix(t)
	r, err := pf.Relay(scenarios.Relay{DKIM: &scenarios.RelayDKIM{Domain: "origin.test", Selector: "sel"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = harness.New(context.Background(), relayNetwork(pf, r))
	if !errors.Is(err, postfix.ErrSettings) || !strings.Contains(err.Error(), "carry no DKIM key") {
		t.Errorf("start without a key: %v, want ErrSettings", err)
	}
}

// TestParamsDKIM: dkim puts OpenDKIM's socket in both milter lists, and
// a milter that does not answer defers the mail (tempfail).
func TestParamsDKIM(t *testing.T) {
	p, err := postfix.Params(scenarios.Relay{DKIM: &scenarios.RelayDKIM{Domain: "origin.test", Selector: "sel"}}, harness.Network{SMTPPort: 25})
	if err != nil {
		t.Fatal(err)
	}
	want := "unix:/run/mxsim-opendkim/opendkim.sock"
	if p["smtpd_milters"] != want || p["non_smtpd_milters"] != want || p["milter_default_action"] != "tempfail" {
		t.Errorf("params %v", p)
	}
	p, _ = postfix.Params(scenarios.Relay{}, harness.Network{SMTPPort: 25})
	if _, ok := p["smtpd_milters"]; ok {
		t.Errorf("milters without dkim: %v", p)
	}
}
