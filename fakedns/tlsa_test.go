package fakedns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func testCert(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mx1.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestTLSAData checks every selector and matching type against miekg/dns's
// own computation, and that a secure zone serves the record with AD.
func TestTLSAData(t *testing.T) {
	cert := testCert(t)
	for sel := 0; sel <= 1; sel++ {
		for mt := 0; mt <= 2; mt++ {
			got, err := TLSAData(cert, sel, mt)
			if err != nil {
				t.Fatal(err)
			}
			want, err := dns.CertificateToDANE(uint8(sel), uint8(mt), cert)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("TLSAData(%d, %d) = %.16s…, want %.16s…", sel, mt, got, want)
			}
		}
	}
	rr, err := TLSARecord(3, 1, 1, cert)
	if err != nil || !strings.HasPrefix(rr, "TLSA 3 1 1 ") || len(rr) != len("TLSA 3 1 1 ")+64 {
		t.Fatalf("TLSARecord = %q, %v", rr, err)
	}
	owner := TLSAOwner("MX1.example.test", 2525)
	if owner != "_2525._tcp.mx1.example.test." {
		t.Fatalf("TLSAOwner = %q", owner)
	}
	s := start(t, Config{Zones: []Zone{{Name: "example.test", Secure: true, Records: map[string][]string{owner: {rr}}}}})
	for _, proto := range []string{"udp", "tcp"} {
		m := exchange(t, s, proto, owner, dns.TypeTLSA, 1232)
		if !m.AuthenticatedData || len(m.Answer) != 1 {
			t.Fatalf("%s: AD %v, answer %v", proto, m.AuthenticatedData, m.Answer)
		}
		if tl, ok := m.Answer[0].(*dns.TLSA); !ok || tl.Verify(cert) != nil {
			t.Errorf("%s: served %v does not match the certificate", proto, m.Answer[0])
		}
	}
}

func TestTLSABadParameters(t *testing.T) {
	cert := testCert(t)
	for _, c := range []struct{ u, s, m int }{{3, 2, 1}, {3, 1, 3}, {3, -1, 1}, {256, 1, 1}, {-1, 1, 1}} {
		if _, err := TLSARecord(c.u, c.s, c.m, cert); !errors.Is(err, ErrBadTLSA) {
			t.Errorf("TLSARecord(%d, %d, %d): %v, want ErrBadTLSA", c.u, c.s, c.m, err)
		}
	}
}
