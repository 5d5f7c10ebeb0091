package fakesmtp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// wrongName is the only name on a CertWrongName certificate. The .invalid
// TLD (RFC 2606 §2) never matches a real host.
const wrongName = "wrong-name.invalid"

// CA is an ephemeral certificate authority (ECDSA P-256) that issues the
// certificates hosts serve. It is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewCA makes a CA with a fresh key, valid from an hour ago for ten years.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mxsim test CA " + serial.Text(16)[:8], Organization: []string{"mxsim"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: parse certificate: %w", err)
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Pool returns a new pool holding only the CA certificate: trust it to
// verify "valid" certificates.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// PEM returns the CA certificate in PEM form, to hand to a relay (e.g.
// Postfix smtp_tls_CAfile).
func (c *CA) PEM() []byte { return append([]byte(nil), c.pem...) }

// Issue makes a server certificate of the given kind for name:
//
//   - valid: signed by the CA for name;
//   - wrong-name: signed by the CA for "wrong-name.invalid" (not name);
//   - expired: signed by the CA for name, NotAfter in the past;
//   - self-signed: self-signed for name.
//
// An IP literal name goes into the IP SANs, anything else into the DNS SANs.
func (c *CA) Issue(kind CertKind, name string) (tls.Certificate, error) {
	if kind == "" {
		kind = CertValid
	}
	if !validCertKind(kind) {
		return tls.Certificate{}, fmt.Errorf("fakesmtp: ca: issue for %q: %w", name, fieldErr("kind", "unknown certificate kind %q", kind))
	}
	if !validDomain(name) {
		return tls.Certificate{}, fmt.Errorf("fakesmtp: ca: issue %s: %w", kind, fieldErr("name", "%q is not a host name", name))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fakesmtp: ca: issue %s for %q: %w", kind, name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	subject := name
	if kind == CertWrongName {
		subject = wrongName
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: subject, Organization: []string{"mxsim"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(0, 0, 30),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(subject); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{subject}
	}
	parent, signer := c.cert, c.key
	switch kind {
	case CertExpired:
		tmpl.NotBefore = now.Add(-48 * time.Hour)
		tmpl.NotAfter = now.Add(-24 * time.Hour)
	case CertSelfSigned:
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fakesmtp: ca: issue %s for %q: %w", kind, name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fakesmtp: ca: issue %s for %q: %w", kind, name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
