package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// DANE for SMTP (RFC 7672), under TLSDane. Before connecting to an MX
// host the relay asks for the TLSA records at _PORT._tcp.HOST:
//
//   - an answer without the AD bit (not DNSSEC-secure), or no records:
//     DANE does not apply; TLS is opportunistic, as under TLSMay;
//   - secure records, one usable at least (usage 2 or 3, selector 0 or 1,
//     matching type 0, 1 or 2; RFC 7672 §3.1): TLS is mandatory and the
//     certificate must match one of them, or the host gets nothing;
//   - secure records, none usable: TLS is mandatory, unauthenticated
//     (RFC 7672 §2.2);
//   - a failed lookup (SERVFAIL, timeout): the host is skipped (RFC 7672
//     §2.2: the client cannot tell whether DANE applies).

// danePolicy is what the TLSA records of one MX host ask for; nil when
// DANE does not apply.
type danePolicy struct {
	owner  string      // _25._tcp.mx1.example.test.
	usable []*dns.TLSA // usable records; none: TLS mandatory, unauthenticated
}

// mandatory reports whether TLS is required with host.
func (dp *danePolicy) mandatory() bool { return dp != nil }

// lookupDANE asks for the TLSA records of host on port. dp is nil when
// DANE does not apply; skip, when set, says why the host must not be
// tried. note, when set, is worth a line in the journal.
func (r *Relay) lookupDANE(ctx context.Context, host string, port int) (dp *danePolicy, skip *reply, note string) {
	owner := fmt.Sprintf("_%d._tcp.%s", port, dns.Fqdn(host))
	m := new(dns.Msg)
	m.SetQuestion(owner, dns.TypeTLSA)
	m.RecursionDesired = true
	// RFC 6840 §5.7: ask for the AD bit.
	m.AuthenticatedData = true
	m.SetEdns0(1232, true)
	var resp *dns.Msg
	var err error
	for _, netw := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: netw, Timeout: r.cfg.Timeout}
		qctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		resp, _, err = c.ExchangeContext(qctx, m, r.cfg.DNS)
		cancel()
		if err != nil || !resp.Truncated {
			break
		}
	}
	temp := func(why string) (*danePolicy, *reply, string) {
		return nil, &reply{Code: codeLocalError, Status: statusDNSTemp,
			Text: fmt.Sprintf("DANE: TLSA lookup of %s failed: %s; %s not tried", owner, why, host)}, ""
	}
	switch {
	case err != nil:
		return temp(errText(err))
	case resp.Rcode == dns.RcodeNameError:
		return nil, nil, ""
	case resp.Rcode != dns.RcodeSuccess:
		return temp(dns.RcodeToString[resp.Rcode])
	}
	var recs []*dns.TLSA
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			recs = append(recs, t)
		}
	}
	if len(recs) == 0 {
		return nil, nil, ""
	}
	if !resp.AuthenticatedData {
		return nil, nil, fmt.Sprintf("DANE: %d TLSA record(s) at %s are not DNSSEC-secure (no AD bit): ignored, opportunistic TLS with %s", len(recs), owner, host)
	}
	dp = &danePolicy{owner: owner}
	for _, t := range recs {
		if (t.Usage == 2 || t.Usage == 3) && t.Selector <= 1 && t.MatchingType <= 2 {
			dp.usable = append(dp.usable, t)
		}
	}
	if len(dp.usable) == 0 {
		return dp, nil, fmt.Sprintf("DANE: no usable TLSA record at %s (of %d): TLS required with %s, certificate not checked", owner, len(recs), host)
	}
	return dp, nil, fmt.Sprintf("DANE: %d usable TLSA record(s) at %s: TLS and a matching certificate required with %s", len(dp.usable), owner, host)
}

// errNoMatch is wrapped by the error of a certificate no TLSA record
// matches.
var errNoMatch = errors.New("no matching TLSA record")

// verify checks the certificate chain host presented against dp's usable
// records (RFC 7672 §3.1): DANE-EE(3) matches the host's own certificate,
// names and dates not checked (§3.1.1); DANE-TA(2) matches a certificate
// of the chain, or the full certificate in a "2 0 0" record, that the
// host's certificate must chain to, for host's name (§3.1.2, §3.2.2).
func (dp *danePolicy) verify(chain []*x509.Certificate, host string) error {
	if len(dp.usable) == 0 {
		return nil
	}
	if len(chain) == 0 {
		return fmt.Errorf("DANE: %s presented no certificate", host)
	}
	leaf := chain[0]
	var taErr error
	for _, t := range dp.usable {
		switch t.Usage {
		case 3:
			if matches(t, leaf) {
				return nil
			}
		case 2:
			var anchors []*x509.Certificate
			for _, c := range chain {
				if matches(t, c) {
					anchors = append(anchors, c)
				}
			}
			if t.Selector == 0 && t.MatchingType == 0 {
				if der, err := hex.DecodeString(t.Certificate); err == nil {
					if c, err := x509.ParseCertificate(der); err == nil {
						anchors = append(anchors, c)
					}
				}
			}
			for _, ta := range anchors {
				roots, inter := x509.NewCertPool(), x509.NewCertPool()
				roots.AddCert(ta)
				for _, c := range chain[1:] {
					inter.AddCert(c)
				}
				var err error
				if ta.Equal(leaf) {
					// The host's own certificate is the trust anchor: only
					// the name is left to check.
					err = leaf.VerifyHostname(host)
				} else {
					_, err = leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
				}
				if err == nil {
					return nil
				}
				taErr = err
			}
		}
	}
	if taErr != nil {
		return fmt.Errorf("DANE: %w for %s at %s: a DANE-TA record matches but the chain does not verify: %v", errNoMatch, host, dp.owner, taErr)
	}
	return fmt.Errorf("DANE: %w for %s at %s (%d usable: %s)", errNoMatch, host, dp.owner, len(dp.usable), describeTLSA(dp.usable))
}

// describeTLSA lists records as "3 1 1 ab12…".
func describeTLSA(recs []*dns.TLSA) string {
	s := make([]string, len(recs))
	for i, t := range recs {
		d := t.Certificate
		if len(d) > 12 {
			d = d[:12] + "…"
		}
		s[i] = fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, d)
	}
	return strings.Join(s, ", ")
}

// tlsConfig makes cfg check the peer by dp's records instead of the
// WebPKI (RFC 7672 §3: no CA list, no name check for DANE-EE).
func (dp *danePolicy) tlsConfig(cfg *tls.Config, host string) {
	cfg.InsecureSkipVerify = true
	cfg.RootCAs = nil
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return dp.verify(cs.PeerCertificates, host)
	}
}

// matches reports whether TLSA record t matches cert (hex in any case).
func matches(t *dns.TLSA, cert *x509.Certificate) bool {
	want, err := dns.CertificateToDANE(t.Selector, t.MatchingType, cert)
	return err == nil && strings.EqualFold(want, t.Certificate)
}

// dane returns the DANE policy for host under TLSDane (nil: DANE does not
// apply), or a reply when host must not be tried, and says so in the
// journal.
func (r *Relay) dane(ctx context.Context, m *message, h mxHost, addrs addrStatus, port int) (*danePolicy, *reply) {
	if r.cfg.TLS != TLSDane || r.cfg.Bugs.IgnoreTLSA {
		// Planted bug IgnoreTLSA: rule 23 wants the records looked up.
		return nil, nil
	}
	host := h.Name
	// RFC 7672 §2.2.2: TLSA records count only for a host whose addresses
	// came in secure answers; otherwise they are not even looked up, and
	// TLS stays opportunistic. An insecure MX answer does not stop DANE
	// (§2.2.1 allows it, as Postfix does: an unsigned domain hosted by a
	// provider whose signed zone publishes TLSA records).
	if addrs.Insecure {
		r.logf(reply{}, "id=%s: DANE: the address records of %s are not DNSSEC-secure: DANE does not apply, opportunistic TLS", m.ID, host)
		return nil, nil
	}
	dp, skip, note := r.lookupDANE(ctx, host, port)
	if skip != nil {
		r.logf(*skip, "id=%s: MX host %s skipped: %s", m.ID, host, skip.Text)
		return nil, skip
	}
	if note != "" {
		r.logf(reply{}, "id=%s: %s", m.ID, note)
	}
	return dp, nil
}
