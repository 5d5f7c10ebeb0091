package harness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// MTASTS is a domain's MTA-STS policy (RFC 8461), published by New: the
// TXT record _mta-sts.DOMAIN "v=STSv1; id=ID;", and an A record for
// mta-sts.DOMAIN at a simulated web host of its own (the next address of
// the plan after the SMTP hosts), which serves the policy over HTTPS at
// /.well-known/mta-sts.txt (Content-Type text/plain) with a certificate
// for mta-sts.DOMAIN from the environment's CA. The web host listens on
// 443 when the plan fixes the SMTP port at 25 (a real MTA's resolver
// asks there), else on a free port, given to the relay as
// Network.MTASTSPort. Scenarios write it as a zone's mta_sts
// (scenarios.ZoneMTASTS).
type MTASTS struct {
	Domain string            // the mail domain, "example.test"
	Mode   scenarios.STSMode // enforce, testing or none
	MX     []string          // mx patterns: "mx1.example.test", "*.example.test"
	MaxAge int               // max_age in seconds; 0: 86400
	ID     string            // the TXT record's id; "": "1"
	Cert   fakesmtp.CertKind // the web host's certificate; "": valid
	// Missing makes the web host answer 404 Not Found.
	Missing bool
}

// mtastsOf is the harness form of a zone's mta_sts.
func mtastsOf(domain string, p *scenarios.ZoneMTASTS) MTASTS {
	return MTASTS{Domain: domain, Mode: p.Mode, MX: p.MX, MaxAge: p.MaxAge, ID: p.ID, Cert: p.Cert, Missing: p.Missing}
}

// withDefaults fills in MaxAge, ID and Cert, and writes the names
// lowercase.
func (p MTASTS) withDefaults() MTASTS {
	p.Domain = canonical(p.Domain)
	if p.MaxAge == 0 {
		p.MaxAge = scenarios.DefaultSTSMaxAge
	}
	if p.ID == "" {
		p.ID = scenarios.DefaultSTSID
	}
	if p.Cert == "" {
		p.Cert = fakesmtp.CertValid
	}
	mx := make([]string, len(p.MX))
	for i, m := range p.MX {
		mx[i] = canonical(m)
	}
	p.MX = mx
	return p
}

// problems says what is wrong with p ("" when nothing is).
func (p MTASTS) problems() string {
	var bad []string
	if d := canonical(p.Domain); d == "" || !validDomain(d) {
		bad = append(bad, fmt.Sprintf("domain %q: not a valid domain", p.Domain))
	}
	switch p.Mode {
	case scenarios.STSEnforce, scenarios.STSTesting:
		if len(p.MX) == 0 {
			bad = append(bad, fmt.Sprintf("mode %s needs MX patterns", p.Mode))
		}
	case scenarios.STSNone:
	default:
		bad = append(bad, fmt.Sprintf("mode %q (want enforce, testing or none)", p.Mode))
	}
	for _, m := range p.MX {
		if why := scenarios.ValidSTSPattern(canonical(m)); why != "" {
			bad = append(bad, fmt.Sprintf("mx %q: %s", m, why))
		}
	}
	if p.MaxAge < 0 || p.MaxAge > scenarios.MaxSTSMaxAge {
		bad = append(bad, fmt.Sprintf("max_age %d out of range 0..%d", p.MaxAge, scenarios.MaxSTSMaxAge))
	}
	if p.ID != "" && !scenarios.ValidSTSID(p.ID) {
		bad = append(bad, fmt.Sprintf("id %q: want 1 to 32 letters and digits", p.ID))
	}
	if p.Cert != "" && !validCert(p.Cert) {
		bad = append(bad, fmt.Sprintf("cert %q (valid: %s)", p.Cert, strings.Join(p.Cert.Values(), ", ")))
	}
	return strings.Join(bad, ", ")
}

func validCert(k fakesmtp.CertKind) bool {
	for _, v := range k.Values() {
		if string(k) == v {
			return true
		}
	}
	return false
}

// Body is the policy file the web host serves (RFC 8461 §3.2).
func (p MTASTS) Body() string {
	p = p.withDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: %s\r\n", p.Mode)
	for _, m := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", m)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", p.MaxAge)
	return b.String()
}

// TXT is the policy's TXT record data, as a zone file writes it.
func (p MTASTS) TXT() string {
	return `TXT "v=STSv1; id=` + p.withDefaults().ID + `;"`
}

// PolicyHost is the simulated web host that serves one domain's MTA-STS
// policy.
type PolicyHost struct {
	name    string // mta-sts.DOMAIN
	addr    string // "IP:port"
	srv     *http.Server
	ln      net.Listener
	j       *journal.Journal
	fetches atomic.Int64
	served  chan struct{} // closed when the server's goroutine returns

	mu     sync.Mutex
	policy MTASTS
	cert   tls.Certificate
	ca     *fakesmtp.CA
}

// Name returns the web host's name, mta-sts.DOMAIN.
func (h *PolicyHost) Name() string { return h.name }

// Addr returns the "IP:port" the web host listens on.
func (h *PolicyHost) Addr() string { return h.addr }

// Fetches returns how many times the policy was asked for.
func (h *PolicyHost) Fetches() int { return int(h.fetches.Load()) }

// Policy returns the policy the web host serves.
func (h *PolicyHost) Policy() MTASTS {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.policy
}

// startPolicyHost starts the web host of policy p on addr.
func startPolicyHost(p MTASTS, addr netip.AddrPort, ca *fakesmtp.CA, j *journal.Journal) (*PolicyHost, error) {
	p = p.withDefaults()
	h := &PolicyHost{name: "mta-sts." + p.Domain, j: j, ca: ca}
	if err := h.setPolicy(p); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("harness: MTA-STS web host %s: %w%s", h.name, err, portHint(int(addr.Port())))
	}
	h.ln, h.addr = ln, ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/mta-sts.txt", h.serve)
	h.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // failed handshakes are what some cases are about
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				h.mu.Lock()
				defer h.mu.Unlock()
				c := h.cert
				return &c, nil
			},
		},
	}
	h.srv.SetKeepAlivesEnabled(false)
	h.served = make(chan struct{})
	go func() {
		defer close(h.served)
		_ = h.srv.ServeTLS(ln, "", "")
	}()
	return h, nil
}

// setPolicy makes h serve p, with a certificate of p's kind.
func (h *PolicyHost) setPolicy(p MTASTS) error {
	cert, err := h.ca.Issue(p.Cert, h.name)
	if err != nil {
		return fmt.Errorf("harness: MTA-STS web host %s: %w", h.name, err)
	}
	// The CA's certificate after the host's, as the SMTP hosts send it.
	cert.Certificate = append(cert.Certificate, h.ca.Certificate().Raw)
	h.mu.Lock()
	h.policy, h.cert = p, cert
	h.mu.Unlock()
	return nil
}

// serve answers GET /.well-known/mta-sts.txt.
func (h *PolicyHost) serve(w http.ResponseWriter, r *http.Request) {
	h.fetches.Add(1)
	p := h.Policy()
	code := http.StatusOK
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		code = http.StatusMethodNotAllowed
		http.Error(w, "GET only", code)
	case p.Missing:
		code = http.StatusNotFound
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(p.Body()))
	}
	h.j.Append(journal.Event{Kind: journal.KindControl, Source: h.name, Remote: r.RemoteAddr, Local: h.addr, Code: code,
		Text: fmt.Sprintf("https %s %s from %s: %d (policy id %s, mode %s)", r.Method, r.URL.Path, r.RemoteAddr, code, p.ID, p.Mode)})
}

// close stops the web host and waits for its handlers.
func (h *PolicyHost) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = h.srv.Close()
	}
	<-h.served
	return err
}

// mtastsPort is the port the policy hosts listen on under plan p: 443
// when the SMTP port is fixed at 25 (a real MTA), else a free one (0).
func mtastsPort(p Plan) int {
	if p.SMTPPort == 25 {
		return 443
	}
	return 0
}

// startMTASTS starts a web host for each policy, from address first of
// the hosts' block on, and returns the zones with the policies' TXT and A
// records.
func (e *Env) startMTASTS(policies []MTASTS, first int, zones []fakedns.Zone) ([]fakedns.Zone, error) {
	port := mtastsPort(e.plan)
	for i, p := range policies {
		ip := e.plan.hostAddr(first + i)
		hp := port
		if hp == 0 {
			var err error
			if hp, err = freePort(ip); err != nil {
				return nil, err
			}
			port = hp // every web host on the same port: the relay is told one
		}
		h, err := startPolicyHost(p, netip.AddrPortFrom(ip, uint16(hp)), e.ca, e.journal)
		if err != nil {
			return nil, err
		}
		if e.sts == nil {
			e.sts = make(map[string]*PolicyHost)
		}
		e.sts[canonical(p.Domain)] = h
		e.stsPort = hp
		p = h.Policy()
		zones = addRecord(zones, p.Domain, "_mta-sts."+p.Domain+".", p.TXT())
		zones = addRecord(zones, p.Domain, h.name+".", addressRecord(ip))
	}
	return zones, nil
}

// addRecord adds rr at owner (absolute) to the zone that holds domain (the
// longest apex that is a suffix of it), or to a new zone of domain.
func addRecord(zones []fakedns.Zone, domain, owner, rr string) []fakedns.Zone {
	zones, i := zoneHolding(zones, domain, domain)
	zones[i].Records[owner] = append(zones[i].Records[owner], rr)
	return zones
}

// zoneHolding returns the index of the zone that holds name (the longest
// apex that is name or a suffix of it), after appending a zone of apex
// newApex when none does; the zone's Records are ready for writing.
func zoneHolding(zones []fakedns.Zone, name, newApex string) ([]fakedns.Zone, int) {
	best := -1
	for j, z := range zones {
		apex := canonical(z.Name)
		if (name == apex || strings.HasSuffix(name, "."+apex)) && (best < 0 || len(apex) > len(canonical(zones[best].Name))) {
			best = j
		}
	}
	if best < 0 {
		zones = append(zones, fakedns.Zone{Name: newApex})
		best = len(zones) - 1
	}
	if zones[best].Records == nil {
		zones[best].Records = map[string][]string{}
	}
	return zones, best
}

// MTASTSHost returns the web host of domain's MTA-STS policy, or nil.
func (e *Env) MTASTSHost(domain string) *PolicyHost { return e.sts[canonical(domain)] }

// SetMTASTS changes domain's MTA-STS policy while the network runs: its
// web host serves p (its Domain is domain's) and the TXT record gets p's
// id. The domain must have a policy from the Config.
func (e *Env) SetMTASTS(domain string, p MTASTS) error {
	h := e.MTASTSHost(domain)
	if h == nil {
		return fmt.Errorf("harness: %w: no MTA-STS policy for %s in the Config", ErrConfig, domain)
	}
	p.Domain = canonical(domain)
	if why := p.problems(); why != "" {
		return fmt.Errorf("harness: %w: MTA-STS policy of %s: %s", ErrConfig, domain, why)
	}
	p = p.withDefaults()
	if err := h.setPolicy(p); err != nil {
		return err
	}
	e.Control("set mta_sts %s: mode %s, id %s, mx %s", p.Domain, p.Mode, p.ID, strings.Join(p.MX, " "))
	return e.dns.SetRecords("_mta-sts."+p.Domain+".", "TXT", p.TXT())
}
