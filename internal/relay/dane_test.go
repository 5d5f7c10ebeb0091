package relay

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// leafOf returns the certificate a server configuration serves.
func leafOf(t *testing.T, c *tls.Config) *x509.Certificate {
	t.Helper()
	cert, err := x509.ParseCertificate(c.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// tlsaOf is "u s m <hex>" for cert.
func tlsaOf(t *testing.T, u, s, m uint8, cert *x509.Certificate) string {
	t.Helper()
	data, err := dns.CertificateToDANE(s, m, cert)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %d %d %s", u, s, m, data)
}

// logText is every relay.log line of r, one a line.
func logText(r *Relay) string {
	var b strings.Builder
	for _, e := range events(r, journal.KindRelayLog) {
		b.WriteString(e.Text + "\n")
	}
	return b.String()
}

func TestDANE(t *testing.T) {
	ca := newCA(t)
	valid := func() *tls.Config { return ca.serverTLS("mx1.example.test", false) }
	withCA := func() *tls.Config { // the chain holds the CA certificate too
		c := valid()
		c.Certificates[0].Certificate = append(c.Certificates[0].Certificate, ca.cert.Raw)
		return c
	}
	own := func(u, s, m uint8) func(*tls.Config) []string {
		return func(c *tls.Config) []string {
			if c == nil { // a host without TLS: a record of some certificate
				c = valid()
			}
			return []string{tlsaOf(t, u, s, m, leafOf(t, c))}
		}
	}
	caRec := func(s, m uint8) func(*tls.Config) []string {
		return func(*tls.Config) []string { return []string{tlsaOf(t, 2, s, m, ca.cert)} }
	}
	other := func(*tls.Config) []string { return []string{tlsaOf(t, 3, 1, 1, leafOf(t, valid()))} }
	fixed := func(recs ...string) func(*tls.Config) []string {
		return func(*tls.Config) []string { return recs }
	}
	cases := []struct {
		name       string
		tls        func() *tls.Config         // nil: no STARTTLS
		tlsa       func(*tls.Config) []string // records at _PORT._tcp.mx1; nil: none
		insecure   bool                       // the TLSA answer without AD
		insecureMX bool                       // the MX answer without AD: TLSA never asked
		insecureA  bool                       // the address answer without AD: TLSA never asked
		servfail   bool                       // the TLSA query fails
		bugs       Bugs
		delivered  bool
		wantTLS    bool
		wantLog    string // in the relay's log
	}{
		{name: "3 1 1 matches", tls: valid, tlsa: own(3, 1, 1), delivered: true, wantTLS: true, wantLog: "DANE: 1 usable TLSA record(s)"},
		{name: "3 0 0 matches", tls: valid, tlsa: own(3, 0, 0), delivered: true, wantTLS: true},
		{name: "3 0 1 matches", tls: valid, tlsa: own(3, 0, 1), delivered: true, wantTLS: true},
		{name: "3 1 2 matches", tls: valid, tlsa: own(3, 1, 2), delivered: true, wantTLS: true},
		{name: "3 1 0 matches", tls: valid, tlsa: own(3, 1, 0), delivered: true, wantTLS: true},
		{name: "DANE-EE ignores the CA", tls: func() *tls.Config { return newCA(t).serverTLS("mx1.example.test", false) }, tlsa: own(3, 1, 1), delivered: true, wantTLS: true},
		{name: "DANE-EE ignores the name", tls: func() *tls.Config { return ca.serverTLS("other.test", false) }, tlsa: own(3, 1, 1), delivered: true, wantTLS: true},
		{name: "DANE-EE ignores dates", tls: func() *tls.Config { return ca.serverTLS("mx1.example.test", true) }, tlsa: own(3, 1, 1), delivered: true, wantTLS: true},
		{name: "mismatch", tls: valid, tlsa: other, wantLog: "no matching TLSA record for mx1.example.test"},
		{name: "mismatch in upper case hex still a mismatch", tls: valid, tlsa: func(*tls.Config) []string { return []string{strings.ToUpper(other(nil)[0])} }, wantLog: "no matching TLSA record"},
		{name: "upper case hex matches", tls: valid, tlsa: func(c *tls.Config) []string { return []string{strings.ToUpper(own(3, 1, 1)(c)[0])} }, delivered: true, wantTLS: true},
		{name: "one of two records matches", tls: valid, tlsa: func(c *tls.Config) []string { return append(other(c), own(3, 1, 1)(c)...) }, delivered: true, wantTLS: true},
		{name: "2 0 1 of the CA in the chain", tls: withCA, tlsa: caRec(0, 1), delivered: true, wantTLS: true},
		{name: "2 1 1 of the CA in the chain", tls: withCA, tlsa: caRec(1, 1), delivered: true, wantTLS: true},
		{name: "2 0 0 of the CA not in the chain", tls: valid, tlsa: caRec(0, 0), delivered: true, wantTLS: true},
		{name: "2 1 1 of the CA not in the chain", tls: valid, tlsa: caRec(1, 1), wantLog: "no matching TLSA record"},
		{name: "DANE-TA checks the name", tls: func() *tls.Config {
			c := ca.serverTLS("other.test", false)
			c.Certificates[0].Certificate = append(c.Certificates[0].Certificate, ca.cert.Raw)
			return c
		}, tlsa: caRec(0, 1), wantLog: "a DANE-TA record matches but the chain does not verify"},
		{name: "insecure records are ignored", tls: valid, tlsa: other, insecure: true, delivered: true, wantTLS: true, wantLog: "not DNSSEC-secure (no AD bit): ignored"},
		{name: "insecure MX answer, secure host: DANE still applies", tls: valid, tlsa: other, insecureMX: true, wantLog: "no matching TLSA record for mx1.example.test"},
		{name: "insecure MX answer, secure host: a match is delivered", tls: valid, tlsa: own(3, 1, 1), insecureMX: true, delivered: true, wantTLS: true},
		{name: "insecure address answer, no STARTTLS: plaintext", tlsa: own(3, 1, 1), insecureA: true, delivered: true},
		{name: "insecure address answer: DANE does not apply", tls: valid, tlsa: other, insecureA: true, delivered: true, wantTLS: true, wantLog: "the address records of mx1.example.test are not DNSSEC-secure"},
		{name: "no records: opportunistic", tls: valid, delivered: true, wantTLS: true},
		{name: "no records, no STARTTLS: plaintext", delivered: true},
		{name: "records, no STARTTLS: not in plaintext", tlsa: own(3, 1, 1), wantLog: "does not offer STARTTLS but has TLSA records"},
		{name: "insecure records, no STARTTLS: plaintext", tlsa: own(3, 1, 1), insecure: true, delivered: true},
		{name: "TLSA lookup fails: host skipped", tls: valid, servfail: true, wantLog: "DANE: TLSA lookup of _"},
		{name: "only unusable records: TLS required", tlsa: fixed("1 1 1 00"), wantLog: "no usable TLSA record"},
		{name: "only unusable records: certificate not checked", tls: valid, tlsa: fixed("0 1 1 00"), delivered: true, wantTLS: true},
		{name: "planted bug ignores-tlsa delivers on a mismatch", tls: valid, tlsa: other, bugs: Bugs{IgnoreTLSA: true}, delivered: true, wantTLS: true},
		{name: "planted bug ignores-tlsa delivers in plaintext", tlsa: own(3, 1, 1), bugs: Bugs{IgnoreTLSA: true}, delivered: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, "example.test. MX 10 mx1.example.test.", "mx1.example.test. A {net}11")
			n.dns.setAD(true)
			opts := hostOpts{}
			if tc.tls != nil {
				opts.TLS = tc.tls()
			}
			mx1 := n.host(11, "mx1.example.test", opts)
			owner := fmt.Sprintf("_%d._tcp.mx1.example.test.", n.port)
			if tc.tlsa != nil {
				for _, rec := range tc.tlsa(opts.TLS) {
					n.zone(owner + " TLSA " + rec)
				}
			}
			if tc.servfail {
				n.dns.fail(owner, dns.RcodeServerFailure)
			}
			if tc.insecure {
				n.dns.insecure(owner)
			}
			if tc.insecureMX {
				n.dns.insecure("example.test")
			}
			if tc.insecureA {
				n.dns.insecure("mx1.example.test")
			}
			r := n.startRelay(Config{TLS: TLSDane, RootCAs: ca.Pool, Bugs: tc.bugs})
			mustSubmit(t, r, "alice@origin.test", "bob@example.test")
			idle(t, r)
			msgs := mx1.messages()
			if got := len(msgs) == 1; got != tc.delivered {
				t.Fatalf("delivered = %v, want %v\n%s", got, tc.delivered, r.Journal())
			}
			if tc.delivered && msgs[0].TLS != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", msgs[0].TLS, tc.wantTLS)
			}
			if !tc.delivered && (len(r.Queue()) != 1 || len(events(r, journal.KindRelayBounce)) != 0) {
				t.Errorf("want deferred, not bounced: queue %+v", r.Queue())
			}
			if tc.wantLog != "" && !strings.Contains(logText(r), tc.wantLog) {
				t.Errorf("relay log lacks %q:\n%s", tc.wantLog, logText(r))
			}
			wantAsked := !tc.bugs.IgnoreTLSA && !tc.insecureA
			if asked := n.dns.asked(owner, "TLSA"); asked != wantAsked {
				t.Errorf("TLSA asked = %v", asked)
			}
		})
	}
}

func TestDANEFailsOverToTheNextMX(t *testing.T) {
	ca := newCA(t)
	n := newNetwork(t, twoMX...)
	n.dns.setAD(true)
	c1, c2 := ca.serverTLS("mx1.example.test", false), ca.serverTLS("mx2.example.test", false)
	mx1 := n.host(11, "mx1.example.test", hostOpts{TLS: c1})
	mx2 := n.host(12, "mx2.example.test", hostOpts{TLS: c2})
	n.zone(fmt.Sprintf("_%d._tcp.mx1.example.test. TLSA %s", n.port, tlsaOf(t, 3, 1, 1, leafOf(t, c2))))
	n.zone(fmt.Sprintf("_%d._tcp.mx2.example.test. TLSA %s", n.port, tlsaOf(t, 3, 1, 1, leafOf(t, c2))))
	r := n.startRelay(Config{TLS: TLSDane})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, mx1, 0)
	if m := delivered(t, r, mx2, 1); !m[0].TLS {
		t.Error("mx2 got the message without TLS")
	}
}

func TestDANEPolicyAccepted(t *testing.T) {
	if _, _, err := normalize(Config{DNS: "127.0.0.1:53", TLS: TLSDane}); err != nil {
		t.Fatalf("TLSDane refused: %v", err)
	}
	_, _, err := normalize(Config{DNS: "127.0.0.1:53", TLS: "dnssec"})
	if err == nil || !strings.Contains(err.Error(), `"verify" or "dane"`) {
		t.Fatalf("bad policy: %v", err)
	}
}
