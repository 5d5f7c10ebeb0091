package relay

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxCNAMEHops bounds CNAME chains followed at one name.
const maxCNAMEHops = 8

// lookupStatus classifies a DNS lookup.
type lookupStatus int

const (
	lookupOK       lookupStatus = iota // records found
	lookupNoData                       // the name exists, no record of the type (NODATA)
	lookupNXDomain                     // the name does not exist
	lookupTemp                         // SERVFAIL, REFUSED, timeout, network error
)

// resolver asks one DNS server directly, never the system resolver.
type resolver struct {
	server  string
	timeout time.Duration
}

// exchange sends one query over UDP, and again over TCP when the answer
// is truncated (RFC 1035 §4.2.1, RFC 7766).
func (res *resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	// RFC 6840 §5.7: ask for the AD bit, which DANE needs on the MX and
	// address answers too (RFC 7672 §2.2).
	m.AuthenticatedData = true
	m.SetEdns0(1232, false)
	var resp *dns.Msg
	var err error
	for _, netw := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: netw, Timeout: res.timeout}
		qctx, cancel := context.WithTimeout(ctx, res.timeout)
		resp, _, err = c.ExchangeContext(qctx, m, res.server)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("query %s %s at %s over %s: %w", dns.TypeToString[qtype], name, res.server, netw, err)
		}
		if !resp.Truncated {
			break
		}
	}
	return resp, nil
}

// lookup resolves name/qtype, following a CNAME chain in the answer or, when
// the answer stops at a CNAME, by asking again at its target (rule 1). It
// returns the records of qtype, the canonical name, and the status.
func (res *resolver) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, string, lookupStatus, error) {
	rrs, owner, st, _, err := res.lookupAD(ctx, name, qtype)
	return rrs, owner, st, err
}

// lookupAD is lookup that also says whether every answer it took was
// DNSSEC-secure (AD bit set), the CNAME hops included.
func (res *resolver) lookupAD(ctx context.Context, name string, qtype uint16) (_ []dns.RR, _ string, _ lookupStatus, secure bool, _ error) {
	target := dns.Fqdn(strings.ToLower(name))
	secure = true
	for range maxCNAMEHops {
		resp, err := res.exchange(ctx, target, qtype)
		if err != nil {
			return nil, target, lookupTemp, false, err
		}
		secure = secure && resp.AuthenticatedData
		// Walk the CNAME chain the server put in the answer.
		owner := target
		for range maxCNAMEHops {
			next := ""
			for _, rr := range resp.Answer {
				if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, owner) {
					next = strings.ToLower(c.Target)
				}
			}
			if next == "" {
				break
			}
			owner = next
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return nil, owner, lookupNXDomain, secure, nil
		default:
			return nil, owner, lookupTemp, false, fmt.Errorf("query %s %s at %s: %s", dns.TypeToString[qtype], target, res.server, dns.RcodeToString[resp.Rcode])
		}
		var rrs []dns.RR
		for _, rr := range resp.Answer {
			if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, owner) {
				rrs = append(rrs, rr)
			}
		}
		if len(rrs) > 0 {
			return rrs, owner, lookupOK, secure, nil
		}
		if owner == target {
			return nil, owner, lookupNoData, secure, nil
		}
		target = owner // the chain stops at a CNAME: ask again at its target
	}
	return nil, target, lookupTemp, false, fmt.Errorf("query %s %s at %s: CNAME chain longer than %d", dns.TypeToString[qtype], name, res.server, maxCNAMEHops)
}

// mxHost is one entry of the route: a host name and its preference.
type mxHost struct {
	Name     string // without trailing dot, lower case
	Pref     uint16
	Implicit bool // the domain itself (RFC 5321 §5.1 implicit MX)
}

// route returns the hosts to try for domain (or the smarthost), best first,
// or a verdict for all recipients when there is nothing to try.
func (r *Relay) route(ctx context.Context, domain string) ([]mxHost, *reply) {
	if r.smart != nil {
		if r.smart.NoMX {
			// Postfix relayhost "[host]": no MX lookup, the host's address only.
			return []mxHost{{Name: r.smart.Host}}, nil
		}
		hosts, verdict := r.lookupMX(ctx, r.smart.Host)
		if verdict != nil && verdict.permanent() {
			// A smarthost that does not resolve is a configuration problem:
			// defer, never bounce the mail.
			v := *verdict
			v.Code, v.Status = codeLocalError, statusDNSTemp
			v.Text = "smarthost " + r.smart.Host + ": " + v.Text
			return nil, &v
		}
		return hosts, verdict
	}
	return r.lookupMX(ctx, domain)
}

// lookupMX applies RFC 5321 §5.1 and RFC 7505 to the MX records of domain.
func (r *Relay) lookupMX(ctx context.Context, domain string) ([]mxHost, *reply) {
	rrs, canon, st, err := r.dns.lookup(ctx, domain, dns.TypeMX)
	switch st {
	case lookupNXDomain:
		// RFC 5321 §5.1 (rule 2): the domain does not exist: permanent.
		return nil, &reply{Code: codeMailboxNotFound, Status: statusBadDestSystem,
			Text: fmt.Sprintf("domain %s not found (NXDOMAIN)", domain)}
	case lookupTemp:
		// Rule 3: a temporary DNS failure defers, never bounces.
		return nil, &reply{Code: codeLocalError, Status: statusDNSTemp,
			Text: fmt.Sprintf("temporary DNS failure looking up MX of %s: %v", domain, err)}
	case lookupNoData:
		// RFC 5321 §5.1 (rule 4): no MX: the domain itself, preference 0.
		return []mxHost{{Name: strings.TrimSuffix(canon, "."), Implicit: true}}, nil
	}
	var hosts []mxHost
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		hosts = append(hosts, mxHost{Name: strings.TrimSuffix(strings.ToLower(mx.Mx), "."), Pref: mx.Preference})
	}
	if isNullMX(hosts) && r.cfg.Bugs.IgnoreNullMX {
		// Planted bug: a null MX taken for no MX at all.
		return []mxHost{{Name: strings.TrimSuffix(canon, "."), Implicit: true}}, nil
	}
	if isNullMX(hosts) {
		// RFC 7505 §3 (rule 12): the domain accepts no mail; no A fallback.
		return nil, &reply{Code: codeNullMXNoMail, Status: statusNullMX,
			Text: fmt.Sprintf("domain %s does not accept mail (null MX)", domain)}
	}
	// RFC 7505 §3: a "." among other MX records is not usable; drop it.
	hosts = slices.DeleteFunc(hosts, func(h mxHost) bool { return h.Name == "" })
	hosts = r.orderMX(hosts)
	hosts, looped := dropSelf(hosts, r.cfg.Hostname)
	if looped {
		// RFC 5321 §5.1 (rule 11): only hosts worse than ourselves were left.
		return nil, &reply{Code: codeTransactionFail, Status: statusRoutingLoop,
			Text: fmt.Sprintf("mail for %s loops back to myself (%s)", domain, r.cfg.Hostname)}
	}
	if r.cfg.Bugs.UseDomainAddress {
		// Planted bug: RFC 5321 §5.1 (rule 5) forbids the domain's own
		// address once MX records exist.
		hosts = append(hosts, mxHost{Name: strings.TrimSuffix(canon, "."), Pref: 65535, Implicit: true})
	}
	return hosts, nil
}

// isNullMX reports a single MX 0 "." (RFC 7505 §3).
func isNullMX(hosts []mxHost) bool {
	return len(hosts) == 1 && hosts[0].Name == "" && hosts[0].Pref == 0
}

// orderMX sorts hosts by preference, lowest first (RFC 5321 §5.1, rule 6),
// and shuffles hosts of equal preference (rule 7: "MUST be randomized").
func (r *Relay) orderMX(hosts []mxHost) []mxHost {
	switch {
	case r.cfg.Bugs.IgnorePreference:
		// Planted bug: the DNS answer's order is kept.
	case r.cfg.Bugs.HighestFirst:
		// Planted bug: highest preference number first.
		slices.SortStableFunc(hosts, func(a, b mxHost) int { return int(b.Pref) - int(a.Pref) })
	default:
		slices.SortStableFunc(hosts, func(a, b mxHost) int { return int(a.Pref) - int(b.Pref) })
	}
	if r.cfg.Bugs.NoShuffle {
		// Planted bug: equal preferences keep the DNS answer's order.
		return hosts
	}
	for i := 0; i < len(hosts); {
		j := i
		for j < len(hosts) && hosts[j].Pref == hosts[i].Pref {
			j++
		}
		group := hosts[i:j]
		r.shuffle(len(group), func(a, b int) { group[a], group[b] = group[b], group[a] })
		i = j
	}
	return hosts
}

// dropSelf removes self and every host of equal or worse preference
// (RFC 5321 §5.1, rule 11). looped is true when nothing is left because of it.
func dropSelf(hosts []mxHost, self string) ([]mxHost, bool) {
	for i, h := range hosts {
		if h.Name == self {
			kept := slices.DeleteFunc(slices.Clone(hosts[:i]), func(x mxHost) bool { return x.Pref >= h.Pref })
			return kept, len(kept) == 0
		}
	}
	return hosts, false
}

// addrStatus tells how an MX host's address lookup went.
type addrStatus struct {
	NXDomain bool  // both A and AAAA said NXDOMAIN
	NoData   bool  // no address and no temporary error
	Temp     error // a temporary failure, if any
	// Insecure: an answer that gave addresses was not DNSSEC-secure, so
	// DANE does not apply to the host (RFC 7672 §2.2.2).
	Insecure bool
}

// lookupAddrs resolves both A and AAAA of host (rule 8: every address).
// IPv4 addresses come first.
func (r *Relay) lookupAddrs(ctx context.Context, host string) ([]netip.Addr, addrStatus) {
	var addrs []netip.Addr
	var st addrStatus
	nx := 0
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, _, s, secure, err := r.dns.lookupAD(ctx, host, qt)
		if len(rrs) > 0 && !secure {
			st.Insecure = true
		}
		switch s {
		case lookupNXDomain:
			nx++
		case lookupTemp:
			st.Temp = err
		}
		for _, rr := range rrs {
			var ip []byte
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	st.NXDomain = nx == 2
	st.NoData = len(addrs) == 0 && st.Temp == nil
	return addrs, st
}
