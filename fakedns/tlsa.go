package fakedns

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// ErrBadTLSA: TLSAData was asked for a selector or matching type that
// RFC 6698 does not define.
var ErrBadTLSA = errors.New("bad TLSA parameters")

// TLSAOwner is the owner name of the TLSA records of an SMTP server
// (RFC 7672 §2.2.3): "_25._tcp.mx1.example.test.". The port is the one
// the client connects to.
func TLSAOwner(host string, port int) string {
	return fmt.Sprintf("_%d._tcp.%s", port, dns.Fqdn(strings.ToLower(host)))
}

// TLSAData returns the certificate association data of cert for a TLSA
// record (RFC 6698 §2.1), in hexadecimal: selector 0 takes the whole
// certificate (DER), 1 its SubjectPublicKeyInfo; matching type 0 keeps
// those bytes, 1 hashes them with SHA-256, 2 with SHA-512.
func TLSAData(cert *x509.Certificate, selector, matching int) (string, error) {
	var data []byte
	switch selector {
	case 0:
		data = cert.Raw
	case 1:
		data = cert.RawSubjectPublicKeyInfo
	default:
		return "", fmt.Errorf("fakedns: %w: selector %d (want 0 or 1)", ErrBadTLSA, selector)
	}
	switch matching {
	case 0:
	case 1:
		sum := sha256.Sum256(data)
		data = sum[:]
	case 2:
		sum := sha512.Sum512(data)
		data = sum[:]
	default:
		return "", fmt.Errorf("fakedns: %w: matching type %d (want 0, 1 or 2)", ErrBadTLSA, matching)
	}
	return hex.EncodeToString(data), nil
}

// TLSARecord returns a TLSA record of cert in zone-file form without its
// owner, as Zone.Records takes it: "TLSA 3 1 1 <hex>". Usage is written
// as given (RFC 7672 §3.1: SMTP uses 2, DANE-TA, and 3, DANE-EE).
func TLSARecord(usage, selector, matching int, cert *x509.Certificate) (string, error) {
	if usage < 0 || usage > 255 {
		return "", fmt.Errorf("fakedns: %w: usage %d", ErrBadTLSA, usage)
	}
	data, err := TLSAData(cert, selector, matching)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("TLSA %d %d %d %s", usage, selector, matching, data), nil
}
