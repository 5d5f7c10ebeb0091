package harness

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/fakedns"
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

// storedAt returns the bytes of the first message host accepted.
func storedAt(t *testing.T, env *Env, host string) []byte {
	t.Helper()
	for _, e := range env.Journal().Events(journal.OfKind(journal.KindSMTPMessage)) {
		if e.Source == host && e.Message != nil {
			return e.Message.Raw
		}
	}
	t.Fatalf("no message stored at %s\n%s", host, env.Journal())
	return nil
}

// verifyStored verifies the DKIM signatures of the message stored at host
// against the keys in the environment's DNS; it fails the test unless
// there is exactly one signature, by domain.
func verifyStored(t *testing.T, env *Env, host, domain string) *dkim.Verification {
	t.Helper()
	raw := storedAt(t, env, host)
	verifs, err := dkim.VerifyWithOptions(strings.NewReader(string(raw)), &dkim.VerifyOptions{LookupTXT: fakeTXT(env.DNSAddr())})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(verifs) != 1 || verifs[0].Domain != domain {
		t.Fatalf("%d signatures (want one by %s):\n%s", len(verifs), domain, raw)
	}
	return verifs[0]
}

// dkimScenario is a scenario whose relay signs for origin.test with the
// relay section given.
func dkimScenario(t *testing.T, file, relay string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse(file, []byte(`name: dkim
dns:
  example.test: {mx: [{pref: 10, host: mx1.example.test}]}
  origin.test: {txt: ["v=spf1 -all"]}
hosts:
  mx1.example.test: {}
relay: `+relay+`
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// startScenario starts sc's network with the reference relay (variant
// planted, if any) and sends one message from alice@origin.test.
func startScenario(t *testing.T, sc *scenarios.Scenario, variant string) *Env {
	t.Helper()
	cfg, err := ConfigFor(sc)
	if err != nil {
		t.Fatal(err)
	}
	ref := referenceConfig(sc.Relay)
	ref.Variant = variant
	cfg.Relay = Reference(ref)
	env := Start(t, cfg)
	if err := env.Send(context.Background(), Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitDelivered(context.Background(), 20*time.Second, "bob@example.test", "mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	return env
}

// TestReferenceSignsDKIM: the reference relay signs, the harness has
// published the key in the fake DNS, and the message as the host stored
// it verifies; the lookup went to the fake DNS (journaled). The
// breaks-dkim-body variant's message fails on its body hash.
func TestReferenceSignsDKIM(t *testing.T) {
	for _, tc := range []struct {
		name, relay, variant, wantErr string
		algo                          string
	}{
		{name: "rsa", relay: "{dkim: {domain: origin.test, selector: sel}}", algo: "rsa-sha256"},
		{name: "ed25519", relay: "{dkim: {domain: origin.test, selector: s2026.mail, key_type: ed25519}}", algo: "ed25519-sha256"},
		{name: "breaks-dkim-body", relay: "{dkim: {domain: origin.test, selector: sel}}", variant: "breaks-dkim-body", wantErr: "body hash did not verify", algo: "rsa-sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := dkimScenario(t, "dkim.yaml", tc.relay)
			env := startScenario(t, sc, tc.variant)
			v := verifyStored(t, env, "mx1.example.test", "origin.test")
			switch {
			case tc.wantErr == "" && v.Err != nil:
				t.Errorf("signature does not verify: %v\n%s", v.Err, storedAt(t, env, "mx1.example.test"))
			case tc.wantErr != "" && (v.Err == nil || !strings.Contains(v.Err.Error(), tc.wantErr)):
				t.Errorf("verification: %v, want %q", v.Err, tc.wantErr)
			}
			raw := string(storedAt(t, env, "mx1.example.test"))
			if !strings.Contains(raw, "a="+tc.algo+";") {
				t.Errorf("signature is not %s:\n%s", tc.algo, raw)
			}
			owner := sc.Relay.DKIM.Selector + "._domainkey.origin.test."
			if len(env.Journal().Events(func(e journal.Event) bool {
				return e.Kind == journal.KindDNSQuery && e.DNS != nil && strings.EqualFold(e.DNS.Name, owner) && e.DNS.Type == "TXT"
			})) == 0 {
				t.Errorf("no TXT query for %s in the journal", owner)
			}
		})
	}
}

// TestDKIMKeyPublished: the key record is in the zone holding its name
// (origin.test's own, next to its other records), in strings of at most
// 255 bytes, and matches the key the relay receives; without a zone for
// the domain, one is made.
func TestDKIMKeyPublished(t *testing.T) {
	var got Network
	spy := relayFunc(func(n Network) { got = n })
	env := Start(t, Config{
		Zones:         []fakedns.Zone{{Name: "origin.test", Records: map[string][]string{"@": {`TXT "v=spf1 -all"`}}}},
		RelaySettings: RelaySettings{DKIM: &DKIMSigning{Domain: "mail.origin.test", Selector: "sel"}},
		Relay:         spy,
	})
	d := got.Relay.DKIM
	if d == nil || d.Key == nil {
		t.Fatalf("the relay received no key: %+v", d)
	}
	m := new(dns.Msg)
	m.SetQuestion("sel._domainkey.mail.origin.test.", dns.TypeTXT)
	in, err := dns.Exchange(m, env.DNSAddr())
	if err != nil || len(in.Answer) != 1 {
		t.Fatalf("TXT: %v %v", err, in)
	}
	txt := in.Answer[0].(*dns.TXT).Txt
	if len(txt) < 2 {
		t.Errorf("a 2048-bit key's record in %d string(s), want several", len(txt))
	}
	for _, s := range txt {
		if len(s) > 255 {
			t.Errorf("string of %d bytes", len(s))
		}
	}
	want, _ := DKIMRecord(d.Key)
	if strings.Join(txt, "") != want {
		t.Errorf("published %q, want %q", strings.Join(txt, ""), want)
	}
	if rsaKey, ok := d.Key.(*rsa.PrivateKey); !ok || rsaKey.N.BitLen() != 2048 {
		t.Errorf("key %T, want RSA 2048", d.Key)
	}
	m.SetQuestion("origin.test.", dns.TypeTXT)
	if in, err := dns.Exchange(m, env.DNSAddr()); err != nil || len(in.Answer) != 1 {
		t.Errorf("the zone's own TXT is gone: %v %v", err, in)
	}

	// No zone holds the name: one is made for the domain.
	env = Start(t, Config{RelaySettings: RelaySettings{DKIM: &DKIMSigning{Domain: "lone.test", Selector: "k1", KeyType: scenarios.DKIMKeyEd25519}}})
	m.SetQuestion("k1._domainkey.lone.test.", dns.TypeTXT)
	if in, err := dns.Exchange(m, env.DNSAddr()); err != nil || len(in.Answer) != 1 || !strings.Contains(in.Answer[0].String(), "k=ed25519") {
		t.Errorf("lone.test: %v %v", err, in)
	}
}

// relayFunc is a relay under test that only records its Network.
type relayFunc func(Network)

func (f relayFunc) Start(_ context.Context, n Network) error { f(n); return nil }
func (f relayFunc) Submission() Submission                   { return Submission{} }
func (f relayFunc) Flush(context.Context) error              { return nil }
func (f relayFunc) Stop(context.Context) error               { return nil }

// TestDKIMKeyFile: a key_file relative to the scenario file is read and
// its public half published; RSA (PKCS #1) and ed25519 (PKCS #8).
func TestDKIMKeyFile(t *testing.T) {
	dir := t.TempDir()
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	ekDER, err := x509.MarshalPKCS8PrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
	os.WriteFile(filepath.Join(dir, "keys", "rsa.pem"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), 0o600)
	os.WriteFile(filepath.Join(dir, "keys", "ed.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ekDER}), 0o600)
	for name, pub := range map[string]any{"rsa.pem": &rk.PublicKey, "ed.pem": ek.Public()} {
		t.Run(name, func(t *testing.T) {
			sc := dkimScenario(t, filepath.Join(dir, "dkim.yaml"), "{dkim: {domain: origin.test, selector: sel, key_file: keys/"+name+"}}")
			env := startScenario(t, sc, "")
			if v := verifyStored(t, env, "mx1.example.test", "origin.test"); v.Err != nil {
				t.Errorf("does not verify: %v", v.Err)
			}
			want, _ := DKIMRecord(keyWithPublic{pub})
			if got, err := fakeTXT(env.DNSAddr())("sel._domainkey.origin.test"); err != nil || len(got) != 1 || got[0] != want {
				t.Errorf("published %q, %v; want the key file's %q", got, err, want)
			}
		})
	}
}

// keyWithPublic is a crypto.Signer of which only Public is used.
type keyWithPublic struct{ pub any }

func (k keyWithPublic) Public() crypto.PublicKey { return k.pub }
func (k keyWithPublic) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("not a key")
}

// TestDKIMBadForms: each bad form of relay dkim is reported where it is
// written, file:line:col.
func TestDKIMBadForms(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notakey.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	for _, tc := range []struct{ relay, want string }{
		{"{dkim: {domain: -bad-.test, selector: sel}}", `dkim.yaml:8:24: "domain": bad domain name "-bad-.test"`},
		{"{dkim: {domain: origin.test}}", `dkim.yaml:8:15: missing required key "selector" in dkim`},
		{"{dkim: {selector: sel}}", `dkim.yaml:8:15: missing required key "domain" in dkim`},
		{"{dkim: {domain: origin.test, selector: a_b}}", `dkim.yaml:8:47: dkim selector "a_b": want DNS labels`},
		{"{dkim: {domain: origin.test, selector: sel, key_type: dsa}}", `dkim.yaml:8:62: invalid key_type "dsa" (valid: rsa, ed25519)`},
		{"{dkim: {domain: origin.test, selector: sel, key_file: k.pem, key_type: rsa}}", `dkim.yaml:8:79: dkim key_type rsa: the key in key_file has its own type`},
		{"{kind: exim, dkim: {domain: origin.test, selector: sel}}", `dkim.yaml:8:27: dkim is a setting of relay kinds reference and postfix`},
		{"{kind: external, submit: \"127.0.0.1:2525\", dkim: {domain: origin.test, selector: sel}}", `dkim.yaml:8:57: dkim for relay kind external needs key_file`},
	} {
		_, err := scenarios.Parse("dkim.yaml", []byte(`name: dkim
dns:
  example.test: {mx: [{pref: 10, host: mx1.example.test}]}
hosts:
  mx1.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
relay: `+tc.relay+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.relay, err, tc.want)
		}
	}
	// Key files: read when the network is made, reported at key_file.
	for _, tc := range []struct{ file, want string }{
		{"missing.pem", `dkim.yaml:8:62: relay: dkim key_file "missing.pem": no such file or directory`},
		{"notakey.pem", `dkim.yaml:8:62: relay: dkim key_file "notakey.pem": no DKIM private key`},
	} {
		sc, err := scenarios.Parse(filepath.Join(dir, "dkim.yaml"), []byte(`name: dkim
dns:
  example.test: {mx: [{pref: 10, host: mx1.example.test}]}
hosts:
  mx1.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
relay: {dkim: {domain: origin.test, selector: sel, key_file: `+tc.file+"}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ConfigFor(sc)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), filepath.Join(dir, "dkim.yaml")+":") {
			t.Errorf("key_file %s:\n got %v\nwant %q", tc.file, err, tc.want)
		}
	}
	// In Go: RelaySettings.DKIM is checked like the rest of the settings.
	for _, tc := range []struct {
		d    DKIMSigning
		want string
	}{
		{DKIMSigning{Domain: "-x-", Selector: "sel"}, `RelaySettings.DKIM: bad domain "-x-"`},
		{DKIMSigning{Domain: "Origin.test", Selector: "sel"}, `RelaySettings.DKIM: domain "Origin.test": write it lowercase`},
		{DKIMSigning{Domain: "origin.test"}, "RelaySettings.DKIM: no selector"},
		{DKIMSigning{Domain: "origin.test", Selector: "sel", KeyType: "dsa"}, `RelaySettings.DKIM: invalid key type "dsa"`},
	} {
		d := tc.d
		_, err := New(context.Background(), Config{RelaySettings: RelaySettings{DKIM: &d}})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.d, err, tc.want)
		}
	}
	// The zones must not give the key's name records of their own.
	_, err := New(context.Background(), Config{
		Zones:         []fakedns.Zone{{Name: "origin.test", Records: map[string][]string{"sel._domainkey": {`TXT "v=DKIM1; p="`}}}},
		RelaySettings: RelaySettings{DKIM: &DKIMSigning{Domain: "origin.test", Selector: "sel"}},
	})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "sel._domainkey.origin.test records already") {
		t.Errorf("zone with the key's name: %v", err)
	}
}

// TestDKIMAppliesToExternal: a conformance case whose relay signs with a
// key made for the run does not apply to a relay configured once by its
// operator; with a key_file, or for a relay set up per case, it does.
func TestDKIMAppliesToExternal(t *testing.T) {
	made := &scenarios.Scenario{Relay: scenarios.Relay{DKIM: &scenarios.RelayDKIM{Domain: "origin.test", Selector: "sel"}}}
	file := &scenarios.Scenario{Relay: scenarios.Relay{DKIM: &scenarios.RelayDKIM{Domain: "origin.test", Selector: "sel", KeyFile: "k.pem"}}}
	if ok, why := (Profile{}).Applies(made, false); ok || !strings.Contains(why, "dkim key_file") {
		t.Errorf("external, key made for the run: %v %q", ok, why)
	}
	for _, c := range []struct {
		sc        *scenarios.Scenario
		reference bool
	}{{made, true}, {file, false}, {file, true}} {
		if ok, why := (Profile{}).Applies(c.sc, c.reference); !ok {
			t.Errorf("reference %v, key_file %q: not applicable: %s", c.reference, c.sc.Relay.DKIM.KeyFile, why)
		}
	}
}
