package harness

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/scenarios"
)

// TLSA asks New to publish a TLSA record (DANE, RFC 7672) of a host's
// certificate at _PORT._tcp.NAME, PORT the port the host listens on, in
// the zone that holds the host's name (mark it Secure for a DANE relay
// to use it). Scenarios write it as a host's tlsa: (scenarios.HostTLSA).
type TLSA struct {
	// Usage: 3 (DANE-EE), the certificate the host serves when the
	// network starts (its Behavior's TLS.Cert kind); 2 (DANE-TA), the
	// environment's CA certificate.
	Usage int
	// Selector: 0 the whole certificate, 1 its SubjectPublicKeyInfo.
	Selector int
	// Matching: 0 the data itself, 1 SHA-256, 2 SHA-512.
	Matching int
	// Mismatch publishes the record of a certificate the host does not
	// serve (a fresh key; for usage 2, a fresh CA).
	Mismatch bool
}

// tlsaOf is the harness form of a scenario host's tlsa:.
func tlsaOf(t *scenarios.HostTLSA) *TLSA {
	if t == nil {
		return nil
	}
	return &TLSA{Usage: t.Usage, Selector: t.Selector, Matching: t.Matching, Mismatch: t.Mismatch}
}

// problems says what is wrong with t ("" when nothing is, or t is nil).
func (t *TLSA) problems() string {
	if t == nil {
		return ""
	}
	var bad []string
	if t.Usage != 2 && t.Usage != 3 {
		bad = append(bad, fmt.Sprintf("usage %d (want 2 or 3)", t.Usage))
	}
	if t.Selector != 0 && t.Selector != 1 {
		bad = append(bad, fmt.Sprintf("selector %d (want 0 or 1)", t.Selector))
	}
	if t.Matching < 0 || t.Matching > 2 {
		bad = append(bad, fmt.Sprintf("matching %d (want 0, 1 or 2)", t.Matching))
	}
	return strings.Join(bad, ", ")
}

// record returns the TLSA record of t for host h, whose certificates ca
// signs.
func (t *TLSA) record(h *fakesmtp.Host, kind fakesmtp.CertKind, ca *fakesmtp.CA) (string, error) {
	var cert *x509.Certificate
	var err error
	switch {
	case t.Usage == 2 && !t.Mismatch:
		cert = ca.Certificate()
	case t.Usage == 2:
		var other *fakesmtp.CA
		if other, err = fakesmtp.NewCA(); err == nil {
			cert = other.Certificate()
		}
	case !t.Mismatch:
		cert, err = h.Certificate(kind)
	default:
		var other *fakesmtp.CA
		if other, err = fakesmtp.NewCA(); err == nil {
			var c tls.Certificate
			if c, err = other.Issue(fakesmtp.CertValid, h.Name()); err == nil {
				cert = c.Leaf
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("harness: host %s: tlsa: %w", h.Name(), err)
	}
	rr, err := fakedns.TLSARecord(t.Usage, t.Selector, t.Matching, cert)
	if err != nil {
		return "", fmt.Errorf("harness: host %s: tlsa: %w", h.Name(), err)
	}
	return rr, nil
}

// withTLSA returns zones with the TLSA record of every host that asks for
// one (Host.TLSA), in the zone holding the host's name (the longest
// apex that is a suffix of it; a zone of its own when none is).
func (e *Env) withTLSA(zones []fakedns.Zone, hosts []Host) ([]fakedns.Zone, error) {
	for i, h := range hosts {
		if h.TLSA == nil {
			continue
		}
		rr, err := h.TLSA.record(e.hosts[i], h.Behavior.TLS.Cert, e.ca)
		if err != nil {
			return nil, err
		}
		name := canonical(h.Name)
		port := e.plan.SMTPPort
		if p := e.ports[name]; p != 0 {
			port = p
		}
		owner := fakedns.TLSAOwner(name, port)
		var best int
		zones, best = zoneHolding(zones, name, name)
		zones[best].Records[owner] = append(zones[best].Records[owner], rr)
	}
	return zones, nil
}
