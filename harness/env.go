// Package harness turns a description of a mail network into running
// servers on loopback, drives a relay under test through it, and checks
// what happened. The flow of one test:
//
//  1. Start (or New) takes the address plan (docs/architecture.md): one
//     /24 of 127.0.0.0/8 per environment, DNS on .53, hosts from .10 up
//     (of a block of their own when Plan.Hosts says so), one SMTP port
//     shared by every host (MX records carry no port), and the more ports
//     a host lists (Host.Ports: 587, 465…);
//  2. it starts the fake DNS (fakedns) with the scenario's zones plus an A
//     record for every host that has none, and one fakesmtp host per
//     simulated host, all writing into one journal;
//  3. it starts the relay under test, if any, telling it the DNS address,
//     the SMTP port, the CA that signs the hosts' certificates and the
//     settings it is asked to run with (Network);
//  4. the test submits mail through Env.Send, waits with Env.Wait or
//     Env.WaitDelivered, and checks the journal with the Check functions
//     or the Gomega matchers built on them;
//  5. cleanup (t.Cleanup, or Env.Close) stops the relay, every host and
//     the DNS, and leaves no goroutine or socket behind.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// TB is the part of testing.TB that Start uses. *testing.T, *testing.B
// and Ginkgo's GinkgoT() satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Config describes a network to start.
type Config struct {
	Zones  []fakedns.Zone  // DNS zones; hosts without an A record get one automatically
	Faults []fakedns.Fault // DNS faults in force from the start
	Hosts  []Host          // simulated SMTP hosts, given addresses from .10 up in this order (Plan.Hosts)
	Plan   Plan            // address plan; the zero value picks a fresh /24 and free ports
	Relay  Relay           // relay under test, started after the network; nil for none
	// RelaySettings are what the relay under test is asked to be
	// (smarthost, TLS policy, retry interval, …): it receives them at
	// Start in Network.Relay. Checked with the rules of a scenario's
	// relay section.
	RelaySettings RelaySettings
	// AllowNonLoopback lets A and AAAA records, in Zones and in live
	// changes through DNS(), give addresses outside 127.0.0.0/8 and ::1.
	// The zero value refuses them (fakedns.Config.LoopbackOnly), so that
	// no test sends the relay under test off the machine; a scenario's
	// allow_non_loopback sets it.
	AllowNonLoopback bool

	// CA signs the hosts' valid, wrong-name and expired certificates. Nil:
	// a fresh ephemeral CA for this environment. A persistent CA
	// (fakesmtp.LoadCA) lets a relay that trusts it once verify the
	// hosts of every environment.
	CA *fakesmtp.CA

	// JournalLimits bound what the journal keeps (journal.NewBounded).
	// The zero value keeps every event, as tests need: expectations are
	// predicates over the whole journal. A long-running sandbox sets them.
	JournalLimits journal.Limits

	// VirtualClock runs the network on a virtual clock (journal.Clock):
	// the relay's retry waits, the hosts' greylist and rate windows and
	// the steps' waits pass without sleeping, measured in the clock's
	// time (docs/time.md). The relay must be the reference relay (or
	// none). The zero value keeps the real time.
	VirtualClock bool
	// MTASTS are MTA-STS policies (RFC 8461), each served by a web host
	// of its own with its TXT and A records added to the zones (MTASTS).
	MTASTS []MTASTS
}

// Host is one simulated SMTP host.
type Host struct {
	Name     string            // host name, e.g. "mx1.example.test"
	Behavior fakesmtp.Behavior // how it behaves; the zero value accepts everything
	// PublishAs are more names whose A record gives this host's address:
	// hosts that publish one name give it several addresses, in the order
	// of Config.Hosts. Such a name is no host and has no address record
	// in Zones.
	PublishAs []string
	// Port is the TCP port the host listens on; 0: the plan's SMTPPort.
	// A smarthost named with a port ("[smtp.example.test]:587") listens
	// there when the plan fixes the SMTP port (Run does this).
	Port int
	// Ports are the ports the host listens on, each on its own address
	// (a scenario host's ports:); empty: [25]. 25 is the shared MX port
	// (Port, else the plan's SMTPPort); 587 is submission (STARTTLS
	// offered, AUTH required before MAIL when the behaviour has Auth
	// users), 465 submission over implicit TLS (fakesmtp.ModeForPort);
	// any other port behaves as 25. Where the plan fixes the SMTP port
	// (real MTAs) a port is bound as it is; where it picks one, each
	// port but 25 is mapped to a free port, the same for every host
	// that lists it (Network.PortFor).
	Ports []int
	// TLSA, when set, publishes a TLSA record of the host's certificate
	// for DANE (see TLSA).
	TLSA *TLSA
}

// Env is a running simulated network. Its methods are safe for concurrent
// use.
type Env struct {
	plan    Plan
	journal *journal.Journal
	ca      *fakesmtp.CA
	dns     *fakedns.Server
	hosts   []*fakesmtp.Host
	byName  map[string]*fakesmtp.Host
	ports   map[string]int   // hosts on a port of their own (Host.Port, or Ports without 25)
	mapped  map[int]int      // listed ports (Host.Ports) of a random plan, to the ports bound
	listed  map[string][]int // Host.Ports of the hosts that list some
	relay   Relay
	// settings are Config.RelaySettings, for Network.
	settings RelaySettings
	sts      map[string]*PolicyHost // MTA-STS web hosts by domain (mtasts.go)
	stsPort  int                    // their port

	closeOnce sync.Once
	closeErr  error

	submissions atomic.Int64 // submissions made by Send, for their identifiers
}

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("bad config")

// ErrUnsupported is wrapped by a relay adapter's error for a setting the
// relay cannot take at all (Postfix without a SASL server cannot require
// AUTH at submission). A conformance case that needs such a setting is not
// applicable to that relay, rather than an error.
var ErrUnsupported = errors.New("not supported by this relay")

// Start starts the network described by cfg, registers its Close with
// t.Cleanup, and fails the test with a clear message if it cannot start.
func Start(t TB, cfg Config) *Env {
	t.Helper()
	env, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("harness.Start: %v", err)
		return nil
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Logf("harness: close: %v", err)
		}
	})
	return env
}

// New starts the network described by cfg. On error nothing is left
// running. The caller must Close the returned Env.
func New(ctx context.Context, cfg Config) (*Env, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	plan, err := cfg.Plan.resolve(len(cfg.Hosts) + len(cfg.MTASTS))
	if err != nil {
		return nil, err
	}
	env := &Env{
		plan:    plan,
		journal: journal.NewBounded(cfg.JournalLimits),
		byName:  make(map[string]*fakesmtp.Host),

		settings: cfg.RelaySettings,
	}
	if cfg.VirtualClock {
		env.journal.UseClock(journal.NewClock()) // before anyone shares the journal
	}
	ok := false
	defer func() {
		if !ok {
			env.Close()
		}
	}()

	// One CA per environment, even when no host offers TLS yet: hosts can
	// turn TLS on while running, and relays are told to trust it at start.
	env.ca = cfg.CA
	if env.ca == nil {
		if env.ca, err = fakesmtp.NewCA(); err != nil {
			return nil, fmt.Errorf("harness: certificate authority: %w", err)
		}
	}

	// Hosts first: their addresses become A records.
	port := plan.SMTPPort
	if port == 0 {
		if port, err = freePort(plan.hostAddr(0)); err != nil {
			return nil, err
		}
		if env.mapped, err = mapPorts(plan.hostAddr(0), port, cfg.Hosts); err != nil {
			return nil, err
		}
	}
	env.plan.SMTPPort = port
	addrs := make(map[string]netip.Addr, len(cfg.Hosts))
	var dnsAddr atomic.Pointer[string] // set once the fake DNS runs, below
	resolver := hostResolver(&dnsAddr)
	for i, h := range cfg.Hosts {
		ip := plan.hostAddr(i)
		hp := port
		if h.Port != 0 {
			hp = h.Port
		}
		ls := env.listeners(ip, hp, h.Ports)
		if len(h.Ports) > 0 {
			if env.listed == nil {
				env.listed = make(map[string][]int)
			}
			env.listed[canonical(h.Name)] = slices.Clone(h.Ports)
		}
		if p := int(netip.MustParseAddrPort(ls[0].Addr).Port()); p != port {
			if env.ports == nil {
				env.ports = make(map[string]int)
			}
			env.ports[canonical(h.Name)] = p
		}
		host, err := fakesmtp.NewHost(fakesmtp.Config{
			Name:      h.Name,
			AltNames:  h.PublishAs, // a certificate valid for every name the host is published as
			Addr:      ls[0].Addr,
			Mode:      ls[0].Mode,
			Listeners: ls[1:],
			Behavior:  h.Behavior,
			CA:        env.ca,
			Journal:   env.journal,
			Resolver:  resolver, // Behavior.Verify looks records up in the fake DNS
		})
		if err != nil {
			return nil, fmt.Errorf("harness: host %s: %w%s", h.Name, err, portsHint(ls))
		}
		env.hosts = append(env.hosts, host)
		env.byName[canonical(h.Name)] = host
		addrs[canonical(h.Name)] = ip
	}

	zones, err := withHostRecords(cfg.Zones, cfg.Hosts, addrs)
	if err != nil {
		return nil, err
	}
	if zones, err = env.withTLSA(zones, cfg.Hosts); err != nil {
		return nil, err
	}
	if zones, env.settings.DKIM, err = withDKIM(zones, cfg.RelaySettings.DKIM); err != nil {
		return nil, err
	}
	if zones, err = env.startMTASTS(cfg.MTASTS, len(cfg.Hosts), zones); err != nil {
		return nil, err
	}
	env.dns, err = fakedns.NewServer(fakedns.Config{
		Addr:         netip.AddrPortFrom(plan.DNSAddr(), uint16(plan.DNSPort)).String(),
		Zones:        zones,
		Faults:       cfg.Faults,
		Journal:      env.journal,
		LoopbackOnly: !cfg.AllowNonLoopback,
	})
	if err != nil {
		return nil, fmt.Errorf("harness: dns: %w%s", err, portHint(plan.DNSPort))
	}
	dnsAddr.Store(new(env.dns.Addr()))

	if cfg.Relay != nil {
		if err := cfg.Relay.Start(ctx, env.Network()); err != nil {
			return nil, fmt.Errorf("harness: relay: %w", err)
		}
		env.relay = cfg.Relay
	}
	ok = true
	return env, nil
}

// Validate checks cfg with the rules a scenario file is checked with,
// and reports every mistake at once, each naming the field of cfg it is
// about ("Zones[0].Records[\"@\"][1]: bad record …"), all matching
// ErrConfig. New calls it before it starts anything. Values that a
// scenario's decoder checks (names, ports, behaviours) are checked here;
// the rules across values (an MX must point at a host or at a name with
// an address, publish_as, the relay settings) are Scenario.Validate's.
// DNS faults are checked when the DNS starts.
func (cfg Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("harness: %w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if cfg.VirtualClock && cfg.Relay != nil {
		if _, ok := cfg.Relay.(quietReporter); !ok {
			bad("VirtualClock: relay %T cannot run under a virtual clock (only the reference relay can; retry others with Env.Flush)", cfg.Relay)
		}
	}
	seen := make(map[string]bool)
	for i, h := range cfg.Hosts {
		name := canonical(h.Name)
		switch {
		case name == "":
			bad("Hosts[%d]: host %d has no name", i, i+1)
		case !validDomain(name):
			bad("Hosts[%d]: host %q: not a valid host name", i, h.Name)
		case seen[name]:
			bad("Hosts[%d]: duplicate host %q", i, h.Name)
		}
		seen[name] = true
		if err := h.Behavior.Validate(); err != nil {
			bad("Hosts[%d]: host %q: %w", i, h.Name, err)
		}
		if why := h.TLSA.problems(); why != "" {
			bad("Hosts[%d].TLSA: host %q: %s", i, h.Name, why)
		}
		if h.Port < 0 || h.Port > 65535 {
			bad("Hosts[%d]: host %q: port %d out of range", i, h.Name, h.Port)
		}
		seenPort := make(map[int]bool, len(h.Ports))
		for k, p := range h.Ports {
			switch {
			case p < 1 || p > 65535:
				bad("Hosts[%d].Ports[%d]: host %q: port %d out of range 1..65535", i, k, h.Name, p)
			case seenPort[p]:
				bad("Hosts[%d].Ports[%d]: host %q: port %d listed twice", i, k, h.Name, p)
			}
			seenPort[p] = true
		}
		for k, p := range h.PublishAs {
			if !validDomain(canonical(p)) {
				bad("Hosts[%d].PublishAs[%d]: host %q: publish as %q: not a valid host name", i, k, h.Name, p)
			}
		}
	}
	zones := make(map[string]int)
	for i, z := range cfg.Zones {
		name := canonical(z.Name)
		if j, dup := zones[name]; dup {
			bad("Zones[%d]: duplicate zone %q (first at Zones[%d])", i, z.Name, j)
		} else if !validDomain(name) {
			bad("Zones[%d]: zone %q: not a valid domain", i, z.Name)
		} else {
			zones[name] = i
		}
	}
	stsSeen := make(map[string]bool)
	for i, p := range cfg.MTASTS {
		if why := p.problems(); why != "" {
			bad("MTASTS[%d]: %s", i, why)
		}
		if d := canonical(p.Domain); stsSeen[d] {
			bad("MTASTS[%d]: a second policy for %s", i, p.Domain)
		}
		stsSeen[canonical(p.Domain)] = true
	}
	for _, b := range cfg.RelaySettings.check() {
		bad("RelaySettings.%s", b)
	}
	sc, where := cfg.scenario()
	if err := sc.Validate(); err != nil {
		var list scenarios.ErrorList
		errors.As(err, &list)
		for _, e := range list {
			field := "Config"
			if e.Line > 0 && e.Line <= len(where) {
				field = where[e.Line-1]
			}
			bad("%s: %s", field, e.Msg)
			if strings.Contains(e.Msg, " is not on loopback ") {
				// Refused as fakedns refuses it (Config.LoopbackOnly).
				errs[len(errs)-1] = alsoIs{errs[len(errs)-1], fakedns.ErrNotLoopback}
			}
		}
	}
	return errors.Join(errs...)
}

// alsoIs is an error that matches target too, its text unchanged.
type alsoIs struct{ err, target error }

func (a alsoIs) Error() string   { return a.err.Error() }
func (a alsoIs) Unwrap() []error { return []error{a.err, a.target} }

// scenario returns cfg as a scenario to validate, and the field of cfg
// each of its positions stands for: a value at Pos{Line: n} is
// where[n-1]. Apex MX records that parse become the zone's MX list
// (whose targets are checked); every other record stays a record.
func (cfg Config) scenario() (*scenarios.Scenario, []string) {
	var where []string
	pos := func(format string, args ...any) scenarios.Pos {
		where = append(where, fmt.Sprintf(format, args...))
		return scenarios.Pos{Line: len(where), Col: 1}
	}
	sc := &scenarios.Scenario{AllowNonLoopback: cfg.AllowNonLoopback}
	for i, z := range cfg.Zones {
		apex := canonical(z.Name)
		if !validDomain(apex) {
			continue // reported by validate
		}
		sz := &scenarios.Zone{Name: apex, Pos: pos("Zones[%d]", i)}
		owners := make([]string, 0, len(z.Records))
		for o := range z.Records {
			owners = append(owners, o)
		}
		sort.Strings(owners)
		for _, o := range owners {
			owner := canonical(qualify(apex, o))
			for k, rec := range z.Records[o] {
				p := pos("Zones[%d].Records[%q][%d]", i, o, k)
				rec = withoutTTL(rec)
				if mx, ok := parseMX(apex, rec); ok && owner == apex {
					mx.Pos = p
					sz.MX = append(sz.MX, mx)
					continue
				}
				sz.Records = append(sz.Records, &scenarios.Records{Pos: p, Name: owner, Records: []string{rec}})
			}
		}
		sc.DNS = append(sc.DNS, sz)
	}
	for i, h := range cfg.Hosts {
		ports := h.Ports
		if h.Port != 0 {
			if len(ports) == 0 {
				ports = []int{25}
			}
			ports = append(slices.Clone(ports), h.Port) // where its 25 is
		}
		sc.Hosts = append(sc.Hosts, &scenarios.Host{Pos: pos("Hosts[%d]", i), Name: canonical(h.Name), PublishAs: h.PublishAs, Ports: ports})
	}
	sc.Relay = cfg.RelaySettings.scenario()
	sc.Relay.Pos = pos("RelaySettings")
	return sc, where
}

// qualify makes a name as a fakedns.Zone writes it absolute, as fakedns
// does: "@" and "" are the apex, a name with a final dot or ending in the
// apex is absolute, any other is relative to the apex.
func qualify(apex, name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	switch {
	case n == "" || n == "@":
		return apex + "."
	case strings.HasSuffix(n, "."):
		return n
	case n == apex || strings.HasSuffix(n, "."+apex):
		return n + "."
	}
	return n + "." + apex + "."
}

// withoutTTL drops the TTL and class a record may start with ("300 IN A
// 127.0.0.1", as ConfigFor writes them): the scenario's checks write
// their own.
func withoutTTL(rec string) string {
	rec = strings.TrimSpace(rec)
	for range 2 {
		first, rest, ok := strings.Cut(rec, " ")
		if !ok || first == "" || strings.Trim(first, "0123456789") != "" && !strings.EqualFold(first, "IN") {
			break
		}
		rec = strings.TrimSpace(rest)
	}
	return rec
}

// parseMX reads "MX 10 mx1.example.test." as an MX of the zone apex.
func parseMX(apex, rec string) (*scenarios.MX, bool) {
	f := strings.Fields(rec)
	if len(f) != 3 || !strings.EqualFold(f[0], "MX") {
		return nil, false
	}
	pref, err := strconv.Atoi(f[1])
	if err != nil || pref < 0 || pref > 65535 {
		return nil, false
	}
	host := "."
	if f[2] != "." {
		host = canonical(qualify(apex, f[2]))
		if !validDomain(host) {
			return nil, false // a bad record, reported as one
		}
	}
	return &scenarios.MX{Pref: pref, Host: host}, true
}

// withHostRecords returns the zones with an A record for every host that
// has no address record of its own, and one for every name it publishes
// its address as (Host.PublishAs); a name outside every zone gets a zone
// of its own. A published name that the zones give an address record is
// an error: its addresses would come two ways.
func withHostRecords(zones []fakedns.Zone, hosts []Host, addrs map[string]netip.Addr) ([]fakedns.Zone, error) {
	out := make([]fakedns.Zone, len(zones))
	for i, z := range zones {
		recs := make(map[string][]string, len(z.Records))
		for k, v := range z.Records {
			recs[k] = append([]string(nil), v...)
		}
		z.Records = recs
		out[i] = z
	}
	// Zones by apex, first one first: a host's zone is its longest suffix
	// that is an apex. (Comparing every host with every zone made New
	// O(hosts × zones): half its time with 10,000 zones.)
	byApex := make(map[string]int, len(out))
	for i, z := range out {
		if apex := canonical(z.Name); !hasKey(byApex, apex) {
			byApex[apex] = i
		}
	}
	zoneOf := func(name string) int {
		for suffix := name; ; {
			if i, ok := byApex[suffix]; ok {
				return i
			}
			dot := strings.IndexByte(suffix, '.')
			if dot < 0 {
				return -1
			}
			suffix = suffix[dot+1:]
		}
	}
	// add gives name the record rr; given reports whether the zones as
	// passed in give name an address already.
	add := func(name, rr string) (given bool) {
		zi := zoneOf(name)
		if zi < 0 {
			byApex[name] = len(out)
			out = append(out, fakedns.Zone{Name: name, Records: map[string][]string{name + ".": {rr}}})
			return false
		}
		if zi < len(zones) && hasAddress(zones[zi], name) {
			return true
		}
		out[zi].Records[name+"."] = append(out[zi].Records[name+"."], rr)
		return false
	}
	var errs []error
	for _, h := range hosts {
		name := canonical(h.Name)
		rr := addressRecord(addrs[name])
		add(name, rr) // the zones' own address records win
		for _, p := range h.PublishAs {
			if add(canonical(p), rr) {
				errs = append(errs, fmt.Errorf("harness: %w: host %q: publish as %q: the zones give that name an address already", ErrConfig, h.Name, p))
			}
		}
	}
	return out, errors.Join(errs...)
}

// addressRecord is the A (or AAAA) record of ip, as Zone.Records writes it.
func addressRecord(ip netip.Addr) string {
	if ip.Is6() {
		return "AAAA " + ip.String()
	}
	return "A " + ip.String()
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

// hasAddress reports whether z already gives name an A, AAAA or CNAME.
func hasAddress(z fakedns.Zone, name string) bool {
	apex := canonical(z.Name)
	for owner, recs := range z.Records {
		o := canonical(owner)
		switch {
		case o == "" || o == "@":
			o = apex
		case !strings.HasSuffix(o, apex):
			o = o + "." + apex
		}
		if o != name {
			continue
		}
		for _, r := range recs {
			for _, f := range strings.Fields(r) {
				switch strings.ToUpper(f) {
				case "A", "AAAA", "CNAME":
					return true
				}
			}
		}
	}
	return false
}

// Close stops the relay, every host and the DNS server. It is safe to call
// more than once.
func (e *Env) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		if e.relay != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			errs = append(errs, e.relay.Stop(ctx))
			cancel()
		}
		for _, h := range e.hosts {
			errs = append(errs, h.Close())
		}
		for _, h := range e.sts {
			errs = append(errs, h.close())
		}
		if e.dns != nil {
			errs = append(errs, e.dns.Close())
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// Journal returns the environment's journal.
func (e *Env) Journal() *journal.Journal { return e.journal }

// DNS returns the fake DNS server, for live changes to records and faults.
func (e *Env) DNS() *fakedns.Server { return e.dns }

// DNSAddr returns the "IP:port" of the fake DNS server.
func (e *Env) DNSAddr() string { return e.dns.Addr() }

// SMTPPort returns the shared TCP port the simulated hosts listen on
// (25 in their Ports); see Network.PortFor for the others.
func (e *Env) SMTPPort() int { return e.plan.SMTPPort }

// CA returns the certificate authority that signs the hosts' valid
// certificates.
func (e *Env) CA() *fakesmtp.CA { return e.ca }

// Relay returns the relay under test, or nil.
func (e *Env) Relay() Relay { return e.relay }

// Host returns the simulated host called name, or nil.
func (e *Env) Host(name string) *fakesmtp.Host { return e.byName[canonical(name)] }

// Hosts returns every simulated host in the order of the Config.
func (e *Env) Hosts() []*fakesmtp.Host { return append([]*fakesmtp.Host(nil), e.hosts...) }

// Network returns what a relay under test needs to know about this
// environment.
func (e *Env) Network() Network {
	n := Network{DNSAddr: e.dns.Addr(), SMTPPort: e.plan.SMTPPort, Journal: e.journal, HostPorts: e.ports, MappedPorts: e.mapped, ListedPorts: e.listed, Relay: e.settings, MTASTSPort: e.stsPort}
	if e.ca != nil {
		n.CAPEM = e.ca.PEM()
		n.CAPool = e.ca.Pool()
	}
	return n
}

// Control records a live change made by a test or an operator in the
// journal, so that reports show it between the exchanges it affects.
func (e *Env) Control(format string, args ...any) {
	e.journal.Append(journal.Event{Kind: journal.KindControl, Source: "harness", Text: fmt.Sprintf(format, args...)})
}

// Wait blocks until check returns nil for the journal, or timeout passes.
// The error then says what the check last said and prints the journal.
// The timeout is in the network's time: under a virtual clock
// (Config.VirtualClock) Wait moves the clock on while the network is
// quiet, as a scenario's steps do (docs/time.md).
func (e *Env) Wait(ctx context.Context, timeout time.Duration, check func(*journal.Journal) error) error {
	deadline := e.now().Add(timeout)
	var last error
	for {
		changed := e.journal.Changed() // before the check: an event during it wakes the wait
		if last = check(e.journal); last == nil {
			return nil
		}
		if !e.now().Before(deadline) {
			break
		}
		if err := e.await(ctx, changed, deadline); err != nil {
			break
		}
	}
	return &WaitError{Timeout: timeout, Last: last, Journal: e.journal.String()}
}

// WaitDelivered waits until a message to the recipient to has been
// accepted at host at ("" for any host).
func (e *Env) WaitDelivered(ctx context.Context, timeout time.Duration, to, at string) error {
	return e.Wait(ctx, timeout, func(j *journal.Journal) error { return CheckDelivered(j, to, at) })
}

// WaitError is returned when a Wait times out.
type WaitError struct {
	Timeout time.Duration
	Last    error  // what the check said last
	Journal string // the journal at the time, one event per line
}

// Error says what the check last said, then prints the journal.
func (w *WaitError) Error() string {
	return fmt.Sprintf("after %v: %v\njournal:\n%s", w.Timeout, w.Last, w.Journal)
}

// Unwrap returns the check's last error.
func (w *WaitError) Unwrap() error { return w.Last }

func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

func validDomain(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func freePort(ip netip.Addr) (int, error) {
	l, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return 0, fmt.Errorf("harness: find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portHint(port int) string {
	if port != 0 && port < 1024 {
		return fmt.Sprintf(" (port %d is privileged: run as root, or lower net.ipv4.ip_unprivileged_port_start)", port)
	}
	return ""
}

// hostResolver is the resolver of the hosts: it asks the fake DNS at the
// address addr holds, which is known once the DNS runs (it starts after
// the hosts, whose addresses it publishes).
func hostResolver(addr *atomic.Pointer[string]) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			a := addr.Load()
			if a == nil {
				return nil, fmt.Errorf("harness: host resolver: %w: the fake DNS is not running", ErrConfig)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, *a)
		},
	}
}
