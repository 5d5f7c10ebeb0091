package fakesmtp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// wrongName is the only name on a CertWrongName certificate. The .invalid
// TLD (RFC 2606 §2) never matches a real host.
const wrongName = "wrong-name.invalid"

// CA is a certificate authority that issues the certificates hosts serve:
// an ephemeral one (NewCA, ECDSA P-256, in memory only), or a persistent
// one kept in a directory (CreateCA, LoadCA) that a real MTA can be told
// to trust once. It is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// NewCA makes a CA with a fresh key, valid from an hour ago for ten years.
func NewCA() (*CA, error) {
	ca, _, err := newCA()
	return ca, err
}

// newCA makes a CA and returns the key too, for CreateCA to write.
func newCA() (*CA, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("fakesmtp: ca: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
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
		return nil, nil, fmt.Errorf("fakesmtp: ca: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("fakesmtp: ca: parse certificate: %w", err)
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, key, nil
}

// Certificate returns the CA certificate (its subject, dates, raw DER).
// The caller must not modify it.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// Fingerprint returns the SHA-256 fingerprint of the CA certificate, as
// openssl x509 -fingerprint -sha256 prints it ("AB:CD:…").
func (c *CA) Fingerprint() string {
	sum := sha256.Sum256(c.cert.Raw)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
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
// alt are more names the certificate carries (in its DNS SANs, after
// name), except a wrong-name one, which carries only "wrong-name.invalid".
func (c *CA) Issue(kind CertKind, name string, alt ...string) (tls.Certificate, error) {
	if kind == "" {
		kind = CertValid
	}
	if !validCertKind(kind) {
		return tls.Certificate{}, fmt.Errorf("fakesmtp: ca: issue for %q: %w", name, fieldErr("kind", "unknown certificate kind %q", kind))
	}
	if !validDomain(name) {
		return tls.Certificate{}, fmt.Errorf("fakesmtp: ca: issue %s: %w", kind, fieldErr("name", "%q is not a host name", name))
	}
	for _, a := range alt {
		if !validDomain(a) || net.ParseIP(a) != nil {
			return tls.Certificate{}, fmt.Errorf("fakesmtp: ca: issue %s for %q: %w", kind, name, fieldErr("alt", "%q is not a host name", a))
		}
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
	if kind != CertWrongName {
		tmpl.DNSNames = append(tmpl.DNSNames, alt...)
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

// Files of a persistent CA, in its directory (CreateCA, LoadCA), named as
// mkcert names its own: the certificate to hand to relays, and the key
// that never leaves the directory.
const (
	CACertFile = "ca.pem"     // the CA certificate, PEM; mode 0644
	CAKeyFile  = "ca-key.pem" // its private key, PKCS #8 PEM; mode 0600, refused if group or others may read it
)

// Errors of a persistent CA. ErrNoCA: the directory holds no CA (neither
// file is there); ErrBadCA: what it holds cannot be used (the error says
// why, naming the file).
var (
	ErrNoCA  = errors.New("no CA")
	ErrBadCA = errors.New("unusable CA")
)

// CreateCA makes a new CA and keeps it in dir, which is created (mode
// 0700) if it does not exist: CACertFile (0644) and CAKeyFile (0600). It
// refuses to replace a CA already there (the error wraps fs.ErrExist).
func CreateCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: create %s: %w", dir, err)
	}
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("fakesmtp: ca: create in %s: %s: %w", dir, p, fs.ErrExist)
		}
	}
	ca, key, err := newCA()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: create in %s: %w", dir, err)
	}
	// The key first, exclusively, so that a CA is never half there with a
	// certificate whose key is missing.
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: create in %s: %w", dir, err)
	}
	if err := writeNew(certPath, ca.pem, 0o644); err != nil {
		os.Remove(keyPath)
		return nil, fmt.Errorf("fakesmtp: ca: create in %s: %w", dir, err)
	}
	return ca, nil
}

// writeNew writes a file that must not exist yet, with mode perm whatever
// the umask.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// LoadCA loads the CA kept in dir (see CreateCA). It checks what a relay
// that trusts the CA would need, and what keeps the key private: both
// files parse, the key is the certificate's, the certificate is a CA's
// and valid now, and the key file is not readable by group or others.
// A directory, or one without either file, is ErrNoCA; anything else
// wrong is ErrBadCA, naming the file and what to do.
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyInfo, keyErr := os.Stat(keyPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("fakesmtp: ca: %s: %w (neither %s nor %s is there)", dir, ErrNoCA, CACertFile, CAKeyFile)
	case errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("fakesmtp: ca: %w: %s is missing (%s is there)", ErrBadCA, certPath, CAKeyFile)
	case errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("fakesmtp: ca: %w: %s is missing (%s is there)", ErrBadCA, keyPath, CACertFile)
	case certErr != nil:
		return nil, fmt.Errorf("fakesmtp: ca: %w: %w", ErrBadCA, certErr)
	case keyErr != nil:
		return nil, fmt.Errorf("fakesmtp: ca: %w: %w", ErrBadCA, keyErr)
	}
	bad := func(path, format string, args ...any) error {
		return fmt.Errorf("fakesmtp: ca: %w: %s: %s", ErrBadCA, path, fmt.Sprintf(format, args...))
	}
	// Refused before it is read: a key others can read is no test CA's
	// key any more, and must not be used to sign what a relay trusts.
	if !keyInfo.Mode().IsRegular() {
		return nil, bad(keyPath, "not a regular file")
	}
	if m := keyInfo.Mode().Perm(); m&0o077 != 0 {
		return nil, bad(keyPath, "readable by group or others (mode %04o): make it private with chmod 600 %s", m, keyPath)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: %w: %w", ErrBadCA, err)
	}

	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, bad(certPath, "no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, bad(certPath, "%v", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, bad(certPath, "not a CA certificate (%s): it cannot sign the hosts' certificates", cert.Subject)
	}
	now := time.Now()
	if now.After(cert.NotAfter) {
		return nil, bad(certPath, "expired on %s: remove %s and run mxsim ca again, then trust the new %s", cert.NotAfter.UTC().Format(time.DateOnly), dir, CACertFile)
	}
	if now.Before(cert.NotBefore) {
		return nil, bad(certPath, "not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339))
	}

	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, bad(keyPath, "no PEM private key block")
	}
	var parsed any
	switch kb.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(kb.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	default:
		return nil, bad(keyPath, "PEM block %q is not a private key", kb.Type)
	}
	if err != nil {
		return nil, bad(keyPath, "%v", err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, bad(keyPath, "a %T cannot sign", parsed)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, bad(keyPath, "not the key of %s", certPath)
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("fakesmtp: ca: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
