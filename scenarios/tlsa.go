package scenarios

import "fmt"

// HostTLSA makes the harness publish a TLSA record (RFC 6698, used by
// DANE for SMTP, RFC 7672) for a host, computed from the certificate the
// host serves when the network starts, so that a scenario never writes a
// hash: the record goes at _PORT._tcp.HOST (PORT: the network's SMTP
// port), in the zone that holds the host's name. The zone must be
// secure: true for a DANE relay to use the record.
type HostTLSA struct {
	Pos Pos `yaml:"-"`
	// Usage: 3 (DANE-EE: the host's own certificate) or 2 (DANE-TA: the
	// certificate of the environment's CA, which signs the host's).
	Usage int `yaml:"usage" mx:"required,max=3"`
	// Selector: 0 the whole certificate, 1 its SubjectPublicKeyInfo.
	Selector int `yaml:"selector" mx:"required,max=1"`
	// Matching: 0 the data itself, 1 its SHA-256, 2 its SHA-512.
	Matching int `yaml:"matching" mx:"required,max=2"`
	// Mismatch publishes the record of another certificate (a fresh key
	// and, for usage 2, another CA): the host's certificate does not
	// match it, as after a renewal that forgot the TLSA record.
	Mismatch bool `yaml:"mismatch"`
}

// String renders t as the start of a TLSA record: "3 1 1".
func (t *HostTLSA) String() string {
	s := fmt.Sprintf("%d %d %d", t.Usage, t.Selector, t.Matching)
	if t.Mismatch {
		s += " (mismatch)"
	}
	return s
}

// hostTLSA checks a host's tlsa: option: the usages, selectors and
// matching types RFC 7672 lets SMTP use. A host without TLS may publish
// one too: a DANE relay must then not deliver to it in plaintext.
func (v *validator) hostTLSA(h *Host) {
	t := h.TLSA
	if t == nil {
		return
	}
	check := func(ptr *int, key string, ok bool, want string) {
		if !ok && (v.fresh(ptr) || !v.s.PosOf(ptr).IsValid()) {
			v.at(ptr, t.Pos, "host %s: tlsa %s %d: want %s", h.Name, key, *ptr, want)
		}
	}
	// RFC 7672 §3.1: SMTP clients use only DANE-TA(2) and DANE-EE(3).
	check(&t.Usage, "usage", t.Usage == 2 || t.Usage == 3, "2 (DANE-TA, the CA's certificate) or 3 (DANE-EE, the host's own); RFC 7672 §3.1 leaves 0 and 1 out of SMTP")
	check(&t.Selector, "selector", t.Selector == 0 || t.Selector == 1, "0 (certificate) or 1 (public key)")
	check(&t.Matching, "matching", t.Matching >= 0 && t.Matching <= 2, "0 (full), 1 (SHA-256) or 2 (SHA-512)")
}
