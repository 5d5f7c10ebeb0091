package fakesmtp

import (
	"crypto/x509"
	"fmt"
)

// Certificate returns the certificate the host serves for kind ("" is
// CertValid), issuing it now if it has not served it yet: what a
// harness publishes a TLSA record of (DANE, RFC 7672). The caller must
// not modify it.
func (h *Host) Certificate(kind CertKind) (*x509.Certificate, error) {
	if kind == "" {
		kind = CertValid
	}
	c, err := h.tlsConfig(kind)
	if err != nil {
		return nil, fmt.Errorf("fakesmtp: host %q: %w", h.name, err)
	}
	return c.Certificates[0].Leaf, nil
}
