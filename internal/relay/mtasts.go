package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// MTA-STS (RFC 8461), under Config.MTASTS. Before routing mail for a
// domain (not through a smarthost) the relay asks for the TXT record at
// _mta-sts.DOMAIN:
//
//   - no record (or none that starts with "v=STSv1", or more than one, or
//     a bad one): no policy, unless one is cached and not expired (§5.1);
//   - a record whose id is that of the cached policy: the cached policy;
//   - else the policy is fetched from
//     https://mta-sts.DOMAIN/.well-known/mta-sts.txt (Config.MTASTSPort),
//     the certificate checked against RootCAs for that name, no redirect
//     followed, 200 and Content-Type text/plain required (§3.3). A fetch
//     that fails leaves the cached policy in force, if any; else no policy.
//
// Under a policy in mode enforce only the MX hosts that match one of its
// mx patterns are tried (§4.1), and only over TLS with a certificate that
// chains to RootCAs and is valid for the MX host's name (§4.2), never in
// plaintext; a domain whose hosts are all refused is deferred with 4.7.5.
// Mode testing delivers as without a policy, and says in the journal what
// enforce would have refused; mode none is no policy. DANE (TLSA records
// that apply, under TLS dane) takes precedence over MTA-STS for a host
// (RFC 8461 §2).

// DefaultMTASTSPort is the port of the policy hosts (HTTPS).
const DefaultMTASTSPort = 443

// stsMode is a policy's mode (RFC 8461 §3.2).
type stsMode string

const (
	stsEnforce stsMode = "enforce"
	stsTesting stsMode = "testing"
	stsNone    stsMode = "none"
)

// stsPolicy is one domain's MTA-STS policy.
type stsPolicy struct {
	domain  string
	id      string
	mode    stsMode
	mx      []string // patterns, lowercase: "mx1.example.test", "*.example.test"
	maxAge  time.Duration
	fetched time.Time
}

// expired reports whether the cached policy is past its max_age.
func (p *stsPolicy) expired(now time.Time) bool { return now.Sub(p.fetched) > p.maxAge }

// matches reports whether the MX host name matches one of the policy's mx
// patterns (RFC 8461 §4.1): a name exactly, or "*." and one more label.
func (p *stsPolicy) matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.mx {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if label, parent, found := strings.Cut(host, "."); found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if pat == host {
			return true
		}
	}
	return false
}

// enforced reports whether the policy restricts delivery.
func (p *stsPolicy) enforced() bool { return p != nil && p.mode == stsEnforce }

// stsCache holds the policies fetched, by domain. The zero value is empty
// and ready.
type stsCache struct {
	mu       sync.Mutex
	policies map[string]*stsPolicy
}

func (c *stsCache) get(domain string) *stsPolicy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.policies[domain]
}

func (c *stsCache) put(p *stsPolicy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.policies == nil {
		c.policies = make(map[string]*stsPolicy)
	}
	c.policies[p.domain] = p
}

// maxPolicyBytes bounds a policy body (RFC 8461 §3.3 suggests 64 KiB).
const maxPolicyBytes = 64 << 10

// mtasts returns the MTA-STS policy in force for domain (nil: none), and
// says in the journal what it found. m names the message in the journal.
func (r *Relay) mtasts(ctx context.Context, m *message, domain string) *stsPolicy {
	if !r.cfg.MTASTS || r.smart != nil {
		return nil
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	cached := r.sts.get(domain)
	now := time.Now()
	if cached != nil && cached.expired(now) {
		cached = nil
	}
	id, why := r.stsRecord(ctx, domain)
	if id == "" {
		if cached != nil {
			r.logf(reply{}, "id=%s: MTA-STS: %s; the cached policy of %s (id %s, mode %s) stays in force", m.ID, why, domain, cached.id, cached.mode)
			return cached
		}
		if why != "" {
			r.logf(reply{}, "id=%s: MTA-STS: %s: no policy for %s", m.ID, why, domain)
		}
		return nil
	}
	if cached != nil && cached.id == id {
		return cached
	}
	p, err := r.fetchPolicy(ctx, domain)
	if err != nil {
		if cached != nil {
			r.logf(reply{}, "id=%s: MTA-STS: fetching the policy of %s (id %s) failed: %v; the cached one (id %s, mode %s) stays in force", m.ID, domain, id, err, cached.id, cached.mode)
			return cached
		}
		r.logf(reply{}, "id=%s: MTA-STS: fetching the policy of %s (id %s) failed: %v: no policy", m.ID, domain, id, err)
		return nil
	}
	p.id, p.fetched = id, now
	r.sts.put(p)
	r.logf(reply{}, "id=%s: MTA-STS: policy of %s fetched: id %s, mode %s, mx %s, max_age %d", m.ID, domain, id, p.mode, strings.Join(p.mx, " "), int(p.maxAge/time.Second))
	return p
}

// stsRecord looks up _mta-sts.DOMAIN and returns the id of its one
// "v=STSv1" record; "" and why when there is none to use.
func (r *Relay) stsRecord(ctx context.Context, domain string) (id, why string) {
	owner := "_mta-sts." + domain
	rrs, _, st, err := r.dns.lookup(ctx, owner, dns.TypeTXT)
	switch st {
	case lookupTemp:
		return "", fmt.Sprintf("TXT lookup of %s failed: %v", owner, err)
	case lookupNXDomain, lookupNoData:
		return "", ""
	}
	var recs []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			if v := strings.Join(t.Txt, ""); strings.HasPrefix(v, "v=STSv1;") || v == "v=STSv1" {
				recs = append(recs, v)
			}
		}
	}
	switch len(recs) {
	case 0:
		return "", ""
	case 1:
	default:
		// RFC 8461 §3.1: not exactly one record: no policy.
		return "", fmt.Sprintf("%d v=STSv1 records at %s", len(recs), owner)
	}
	for _, f := range strings.Split(recs[0], ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "id" {
			id = v
		}
	}
	if !validSTSID(id) {
		return "", fmt.Sprintf("bad id %q in %q at %s", id, recs[0], owner)
	}
	return id, ""
}

// validSTSID: 1 to 32 letters and digits (RFC 8461 §3.1).
func validSTSID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// errPolicy is wrapped by the errors of a policy that cannot be used.
var errPolicy = errors.New("bad MTA-STS policy")

// fetchPolicy fetches and parses the policy of domain over HTTPS (RFC
// 8461 §3.3), resolving the policy host through the relay's DNS server.
func (r *Relay) fetchPolicy(ctx context.Context, domain string) (*stsPolicy, error) {
	host := "mta-sts." + domain
	port := r.cfg.MTASTSPort
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			addrs, st := r.lookupAddrs(ctx, host)
			if len(addrs) == 0 {
				return nil, errors.New(noAddressText(host, st))
			}
			var last error
			for _, a := range addrs {
				d := net.Dialer{Timeout: r.cfg.Timeout}
				c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(port)))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
		// §3.3: the certificate must be valid for the policy host's name.
		TLSClientConfig:       &tls.Config{ServerName: host, RootCAs: r.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   r.cfg.Timeout,
		ResponseHeaderTimeout: r.cfg.Timeout,
		Proxy:                 nil,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{
		Transport: tr,
		Timeout:   r.cfg.Timeout,
		// §3.3: HTTP redirects MUST NOT be followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: HTTP %s", errPolicy, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("%w: Content-Type %q, want text/plain", errPolicy, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxPolicyBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", errPolicy, maxPolicyBytes)
	}
	p, err := parsePolicy(string(body))
	if err != nil {
		return nil, err
	}
	p.domain = domain
	return p, nil
}

// parsePolicy reads a policy body (RFC 8461 §3.2): "key: value" lines,
// version STSv1, mode, mx (one or more unless mode none), max_age.
func parsePolicy(body string) (*stsPolicy, error) {
	p := &stsPolicy{}
	version, age := "", -1
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: line %q has no \":\"", errPolicy, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			version = v
		case "mode":
			p.mode = stsMode(v)
		case "mx":
			p.mx = append(p.mx, strings.ToLower(strings.TrimSuffix(v, ".")))
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 31557600 {
				return nil, fmt.Errorf("%w: max_age %q", errPolicy, v)
			}
			age = n
		}
	}
	switch {
	case version != "STSv1":
		return nil, fmt.Errorf("%w: version %q, want STSv1", errPolicy, version)
	case p.mode != stsEnforce && p.mode != stsTesting && p.mode != stsNone:
		return nil, fmt.Errorf("%w: mode %q", errPolicy, p.mode)
	case age < 0:
		return nil, fmt.Errorf("%w: no max_age", errPolicy)
	case len(p.mx) == 0 && p.mode != stsNone:
		return nil, fmt.Errorf("%w: no mx in mode %s", errPolicy, p.mode)
	}
	p.maxAge = time.Duration(age) * time.Second
	return p, nil
}

// stsHosts applies policy p to the MX hosts of its domain: under enforce
// the hosts that do not match are dropped (rule 24), under testing they
// are kept and the journal says what enforce would do. skip, when no host
// is left, is the verdict: deferred with 4.7.5.
func (r *Relay) stsHosts(m *message, p *stsPolicy, hosts []mxHost) (kept []mxHost, skip *reply) {
	if p == nil || p.mode == stsNone {
		return hosts, nil
	}
	enforce := p.enforced() && !r.cfg.Bugs.STSEnforceAsTesting // planted bug: enforce treated as testing
	for _, h := range hosts {
		if p.matches(h.Name) {
			kept = append(kept, h)
			continue
		}
		if enforce {
			r.logf(reply{Code: codeLocalError}, "id=%s: MX host %s skipped: MTA-STS policy of %s (mode enforce, id %s) does not list it", m.ID, h.Name, p.domain, p.id)
			continue
		}
		r.logf(reply{}, "id=%s: MTA-STS policy of %s (mode %s, id %s) does not list MX host %s: delivering anyway", m.ID, p.domain, p.mode, p.id, h.Name)
		kept = append(kept, h)
	}
	if len(kept) == 0 && len(hosts) > 0 {
		return nil, &reply{Code: codeLocalError, Status: statusTLSUnavailable,
			Text: fmt.Sprintf("MTA-STS: no MX host of %s matches its policy (mode enforce, id %s, mx %s)", p.domain, p.id, strings.Join(p.mx, " "))}
	}
	return kept, nil
}

// stsTLS reports whether policy p makes TLS with a valid certificate
// mandatory (mode enforce, the planted bug off).
func (r *Relay) stsTLS(p *stsPolicy) bool {
	return p.enforced() && !r.cfg.Bugs.STSEnforceAsTesting
}

// stsTLSConfig makes cfg check the peer as RFC 8461 §4.2 asks: a chain
// to RootCAs, valid now, for the MX host's name.
func (r *Relay) stsTLSConfig(cfg *tls.Config, host string) {
	cfg.InsecureSkipVerify = false
	cfg.ServerName = host
	cfg.RootCAs = r.cfg.RootCAs
}

// stsKey marks a delivery context whose domain's policy enforces TLS.
type stsKey struct{}

// withSTS returns ctx marked: the hosts of this delivery must offer TLS
// with a valid certificate for their names (mode enforce).
func withSTS(ctx context.Context) context.Context { return context.WithValue(ctx, stsKey{}, true) }

// stsIn reports whether ctx is marked by withSTS.
func stsIn(ctx context.Context) bool { v, _ := ctx.Value(stsKey{}).(bool); return v }
