package relay

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// dkimTXT is the key record of k, split into strings of at most 255
// bytes as a zone file writes a long TXT record.
func dkimTXT(t *testing.T, k crypto.Signer) string {
	t.Helper()
	var kind string
	var pub []byte
	switch p := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			t.Fatal(err)
		}
		kind, pub = "rsa", der
	case ed25519.PublicKey:
		kind, pub = "ed25519", p
	}
	s := "v=DKIM1; k=" + kind + "; p=" + base64.StdEncoding.EncodeToString(pub)
	var parts []string
	for len(s) > 255 {
		parts, s = append(parts, `"`+s[:255]+`"`), s[255:]
	}
	return strings.Join(append(parts, `"`+s+`"`), " ")
}

// lookupTXT asks the DNS server at addr (never the system resolver) for
// name's TXT records, each record's strings joined.
func lookupTXT(addr string) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
		in, err := dns.Exchange(m, addr)
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

func TestDKIMSign(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		key     crypto.Signer
		from    string
		bugs    Bugs
		signed  bool
		wantErr string // from the verification; "" when it must pass
	}{
		{name: "rsa", key: rsaKey, from: "alice@origin.test", signed: true},
		{name: "ed25519", key: edKey, from: "alice@origin.test", signed: true},
		{name: "subdomain", key: rsaKey, from: "alice@mail.origin.test", signed: true},
		{name: "other domain", key: rsaKey, from: "alice@elsewhere.test"},
		{name: "suffix is not a subdomain", key: rsaKey, from: "alice@notorigin.test"},
		{name: "breaks-dkim-body", key: rsaKey, from: "alice@origin.test", bugs: Bugs{BreakDKIMBody: true}, signed: true, wantErr: "body hash did not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t,
				"example.test. MX 10 mx1.example.test.",
				"mx1.example.test. A {net}10",
				"sel._domainkey.origin.test. TXT "+dkimTXT(t, tc.key))
			mx := n.host(10, "mx1.example.test", hostOpts{})
			r := n.startRelay(Config{DKIM: &DKIM{Domain: "origin.test", Selector: "sel", Key: tc.key}, Bugs: tc.bugs})
			mustSubmit(t, r, tc.from, "bob@example.test")
			idle(t, r)
			msgs := mx.messages()
			if len(msgs) != 1 {
				t.Fatalf("mx1 got %d messages, want 1\n%s", len(msgs), r.Journal())
			}
			verifs, err := dkim.VerifyWithOptions(strings.NewReader(msgs[0].Data), &dkim.VerifyOptions{LookupTXT: lookupTXT(n.dns.Addr)})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !tc.signed {
				if len(verifs) != 0 {
					t.Fatalf("signed a message from %s:\n%s", tc.from, msgs[0].Data)
				}
				if log := logText(r); !strings.Contains(log, "dkim: not signed: From domain") {
					t.Errorf("relay log does not say why it did not sign:\n%s", log)
				}
				return
			}
			if len(verifs) != 1 {
				t.Fatalf("%d signatures, want 1:\n%s", len(verifs), msgs[0].Data)
			}
			v := verifs[0]
			if v.Domain != "origin.test" {
				t.Errorf("d=%s, want origin.test", v.Domain)
			}
			switch {
			case tc.wantErr == "" && v.Err != nil:
				t.Errorf("signature does not verify: %v\n%s", v.Err, msgs[0].Data)
			case tc.wantErr != "" && (v.Err == nil || !strings.Contains(v.Err.Error(), tc.wantErr)):
				t.Errorf("verification: %v, want %q", v.Err, tc.wantErr)
			}
			if tc.wantErr != "" && (dkim.IsPermFail(v.Err) || dkim.IsTempFail(v.Err)) {
				t.Errorf("verification error %v is a permerror or temperror, want dkim=fail", v.Err)
			}
			if !n.dns.asked("sel._domainkey.origin.test", "TXT") {
				t.Error("the key was not looked up in the test DNS")
			}
			if log := logText(r); !strings.Contains(log, "DKIM-Signature field added (s=sel, d=origin.test)") {
				t.Errorf("relay log does not say it signed:\n%s", log)
			}
		})
	}
}

// A signature made with another key than the one published fails.
func TestDKIMWrongKeyPublished(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 1024)
	k2, _ := rsa.GenerateKey(rand.Reader, 1024)
	n := newNetwork(t,
		"example.test. MX 10 mx1.example.test.",
		"mx1.example.test. A {net}10",
		"sel._domainkey.origin.test. TXT "+dkimTXT(t, k2))
	mx := n.host(10, "mx1.example.test", hostOpts{})
	r := n.startRelay(Config{DKIM: &DKIM{Domain: "origin.test", Selector: "sel", Key: k1}})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	msgs := mx.messages()
	if len(msgs) != 1 {
		t.Fatalf("mx1 got %d messages, want 1", len(msgs))
	}
	verifs, err := dkim.VerifyWithOptions(strings.NewReader(msgs[0].Data), &dkim.VerifyOptions{LookupTXT: lookupTXT(n.dns.Addr)})
	if err != nil || len(verifs) != 1 || verifs[0].Err == nil {
		t.Fatalf("verify: %v, %d signatures; want one that fails", err, len(verifs))
	}
}

func TestDKIMConfigErrors(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, tc := range []struct {
		d    DKIM
		want string
	}{
		{DKIM{Selector: "sel", Key: good}, `domain ""`},
		{DKIM{Domain: "Origin.test", Selector: "sel", Key: good}, `domain "Origin.test"`},
		{DKIM{Domain: "origin.test.", Selector: "sel", Key: good}, `domain "origin.test."`},
		{DKIM{Domain: "origin.test", Key: good}, `selector ""`},
		{DKIM{Domain: "origin.test", Selector: "a;b", Key: good}, `selector "a;b"`},
		{DKIM{Domain: "origin.test", Selector: "sel"}, "no key"},
		{DKIM{Domain: "origin.test", Selector: "sel", Key: ec}, "key of type *ecdsa.PublicKey: want RSA or ed25519"},
	} {
		d := tc.d
		_, err := Start(Config{DNS: "127.0.0.1:53", DKIM: &d})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config DKIM") {
			t.Errorf("%+v: %v, want ErrConfig saying %q", tc.d, err, tc.want)
		}
	}
}

func TestDKIMSigns(t *testing.T) {
	d := &DKIM{Domain: "origin.test", Selector: "sel"}
	for from, want := range map[string]bool{"origin.test": true, "mail.origin.test": true, "ORIGIN.test.": true,
		"notorigin.test": false, "test": false, "": false, "origin.test.example": false} {
		if got := d.signs(from); got != want {
			t.Errorf("signs(%q) = %v, want %v", from, got, want)
		}
	}
}
