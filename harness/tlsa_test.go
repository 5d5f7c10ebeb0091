package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/scenarios"
)

// servedCert runs STARTTLS with host over a real socket and returns the
// certificate it presents.
func servedCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	st, ok := c.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		t.Fatal("no TLS state")
	}
	_ = c.Quit()
	return st.PeerCertificates[0]
}

// tlsaAt asks the environment's DNS for the TLSA records of host.
func tlsaAt(t *testing.T, env *Env, host string) ([]*dns.TLSA, bool) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(fakedns.TLSAOwner(host, env.SMTPPort()), dns.TypeTLSA)
	r, err := dns.Exchange(m, env.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	var out []*dns.TLSA
	for _, rr := range r.Answer {
		out = append(out, rr.(*dns.TLSA))
	}
	return out, r.AuthenticatedData
}

func TestHostTLSA(t *testing.T) {
	offered := fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered}
	selfSigned := fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered, Cert: fakesmtp.CertSelfSigned}
	env := Start(t, Config{
		Zones: []fakedns.Zone{{Name: "example.test", Secure: true, Records: map[string][]string{}}},
		Hosts: []Host{
			{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{TLS: offered}, TLSA: &TLSA{Usage: 3, Selector: 1, Matching: 1}},
			{Name: "mx2.example.test", Behavior: fakesmtp.Behavior{TLS: offered}, TLSA: &TLSA{Usage: 3, Selector: 0, Matching: 2, Mismatch: true}},
			{Name: "mx3.other.test", Behavior: fakesmtp.Behavior{TLS: offered}, TLSA: &TLSA{Usage: 2, Selector: 0, Matching: 1}},
			{Name: "mx4.example.test", Behavior: fakesmtp.Behavior{TLS: selfSigned}, TLSA: &TLSA{Usage: 3, Selector: 0, Matching: 0}},
			{Name: "mx5.example.test", Behavior: fakesmtp.Behavior{TLS: offered}, TLSA: &TLSA{Usage: 2, Selector: 1, Matching: 2, Mismatch: true}},
			{Name: "mx6.example.test", Behavior: fakesmtp.Behavior{TLS: offered}},
		},
	})
	for _, c := range []struct {
		host   string
		secure bool
		match  bool
		ca     bool // the record is of the CA, not the host's certificate
	}{
		{"mx1.example.test", true, true, false},
		{"mx2.example.test", true, false, false},
		{"mx3.other.test", false, true, true},
		{"mx4.example.test", true, true, false},
		{"mx5.example.test", true, false, true},
	} {
		t.Run(c.host, func(t *testing.T) {
			recs, ad := tlsaAt(t, env, c.host)
			if len(recs) != 1 || ad != c.secure {
				t.Fatalf("records %v, AD %v; want one, AD %v", recs, ad, c.secure)
			}
			cert := servedCert(t, env.Host(c.host).Addr())
			if c.ca {
				cert = env.CA().Certificate()
			}
			if got := recs[0].Verify(cert) == nil; got != c.match {
				t.Errorf("record %v matches: %v, want %v", recs[0], got, c.match)
			}
		})
	}
	if recs, _ := tlsaAt(t, env, "mx6.example.test"); len(recs) != 0 {
		t.Errorf("mx6 asked for no TLSA but has %v", recs)
	}
}

func TestHostTLSABadConfig(t *testing.T) {
	for _, tl := range []TLSA{{Usage: 1, Selector: 1, Matching: 1}, {Usage: 3, Selector: 2, Matching: 1}, {Usage: 3, Selector: 1, Matching: 3}} {
		_, err := New(context.Background(), Config{Hosts: []Host{{Name: "mx1.example.test", TLSA: &tl}}})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `harness: bad config: Hosts[0].TLSA: host "mx1.example.test": `) {
			t.Errorf("TLSA %+v: %v", tl, err)
		}
	}
}

func TestConfigForTLSA(t *testing.T) {
	sc, err := scenarios.Parse("dane.yaml", []byte(`name: dane
dns:
  example.test: {secure: true, mx: [{pref: 10, host: mx1.example.test}]}
hosts:
  mx1.example.test: {tls: {starttls: offered}, tlsa: {usage: 3, selector: 1, matching: 2, mismatch: true}}
relay: {tls: dane}
steps:
  - send: {from: a@origin.test, to: [b@example.test]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFor(sc)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Hosts[0].TLSA; got == nil || *got != (TLSA{Usage: 3, Selector: 1, Matching: 2, Mismatch: true}) {
		t.Errorf("TLSA = %+v", got)
	}
	if !cfg.Zones[0].Secure {
		t.Error("zone not secure")
	}
}
