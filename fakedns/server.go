package fakedns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// Config configures a Server.
type Config struct {
	// Addr is the "IP:port" to bind UDP and TCP; default "127.0.0.1:0".
	// Port 0: one free port, used by both.
	Addr string
	// Zones are the initial zones.
	Zones []Zone
	// Faults are the initial faults, as if set with SetFault.
	Faults []Fault
	// Journal is where queries are recorded; nil: a new journal (see
	// Server.Journal).
	Journal *journal.Journal
	// Source is the journal Source of events; default "dns".
	Source string
	// LoopbackOnly keeps the simulated network on loopback: Addr must be
	// a loopback address, and every A and AAAA record, in Zones and in
	// every live change (AddZone, AddRecord, SetRecords), must give an
	// address in 127.0.0.0/8 or ::1 (IPv4-mapped ones included), or the
	// call fails with an error wrapping ErrNotLoopback and ErrBadRecord.
	// Nothing a test publishes can then send a relay under test to the
	// Internet. harness.New sets it unless its Config allows otherwise.
	// The zero value serves any address, for a fakedns used on its own.
	LoopbackOnly bool
}

// Server is an authoritative DNS server for a set of zones, over UDP and
// TCP on one address. Its zones and faults can change while it serves.
// Create it with NewServer; the zero value is not usable.
//
// Answers from a Secure zone always carry the AD bit, whether or not the
// query set DO or AD: RFC 6840 §5.8 would have it only then, but stub
// resolvers such as Postfix's (smtp_dns_support_level = dnssec) send
// neither and trust the bit from their "validating resolver", which this
// server plays. A CNAME chain is secure only when every zone it crosses is.
type Server struct {
	addr         string
	source       string
	journal      *journal.Journal
	loopbackOnly bool // Config.LoopbackOnly: every zoneData checks its addresses

	udp      []*net.UDPConn // one per UDP socket (see udpSockets), read by serveUDP
	tcp      *dns.Server
	serveWG  sync.WaitGroup
	serveErr chan error    // errors of the serve loops, buffered one per loop
	closing  chan struct{} // closed by Close: delayed answers give up
	packets  sync.WaitGroup

	// faulty is whether any fault is set (len(faults) > 0), written under
	// mu: with none, a UDP query is answered on its socket's goroutine.
	faulty atomic.Bool

	closeOnce sync.Once
	closeErr  error

	replies sync.Pool // *reply: answer scratch (see reply)

	remMu   sync.RWMutex
	remotes map[netip.AddrPort]string // remote address texts (see remote)

	mu     sync.RWMutex
	zones  map[string]*zoneData
	faults map[faultKey]*faultState
}

var _ dns.Handler = (*Server)(nil)

// bindTries is how often NewServer tries a new free port when port 0 was
// asked and the UDP port it got is taken for TCP.
const bindTries = 16

// NewServer validates cfg, binds UDP and TCP and returns once both serve.
// On error nothing is left bound or running.
func NewServer(cfg Config) (*Server, error) {
	s := &Server{
		source:       cfg.Source,
		journal:      cfg.Journal,
		loopbackOnly: cfg.LoopbackOnly,
		closing:      make(chan struct{}),
		zones:        make(map[string]*zoneData, len(cfg.Zones)),
		faults:       make(map[faultKey]*faultState, len(cfg.Faults)),
	}
	s.replies.New = func() any { return &reply{buf: make([]byte, 0, dns.DefaultMsgSize)} }
	s.remotes = make(map[netip.AddrPort]string)
	if s.source == "" {
		s.source = "dns"
	}
	if s.journal == nil {
		s.journal = journal.New()
	}
	ap, err := parseAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	if cfg.LoopbackOnly && !ap.Addr().Unmap().IsLoopback() {
		return nil, fmt.Errorf("fakedns: addr %q: %w: %w (LoopbackOnly)", cfg.Addr, ErrBadAddr, ErrNotLoopback)
	}
	for _, z := range cfg.Zones {
		zd, err := newZoneData(z, cfg.LoopbackOnly)
		if err != nil {
			return nil, err
		}
		if _, dup := s.zones[zd.name]; dup {
			return nil, fmt.Errorf("fakedns: zone %s: %w", strings.TrimSuffix(zd.name, "."), ErrZoneExists)
		}
		s.zones[zd.name] = zd
	}
	for _, f := range cfg.Faults {
		if err := s.setFault(f); err != nil {
			return nil, err
		}
	}

	pcs, ln, err := bind(ap, udpSockets())
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.udp = pcs
	s.serveErr = make(chan error, len(pcs)+1)
	// The UDP sockets are bound, so queries wait in their buffers until the
	// loops read them: only the TCP server needs waiting for.
	for _, pc := range pcs {
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			if err := s.serveUDP(pc); err != nil {
				s.serveErr <- err
			}
		}()
	}
	started := make(chan struct{}, 1)
	s.tcp = &dns.Server{Listener: ln, Handler: s, NotifyStartedFunc: func() { started <- struct{}{} }}
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.tcp.ActivateAndServe(); err != nil {
			s.serveErr <- err
		}
	}()
	select {
	case <-started:
	case err := <-s.serveErr:
		// Closing the sockets ends whichever serve loop still runs.
		close(s.closing)
		for _, pc := range pcs {
			pc.Close()
		}
		ln.Close()
		s.serveWG.Wait()
		return nil, fmt.Errorf("fakedns: serve %s: %w", s.addr, err)
	}
	return s, nil
}

// parseAddr checks Addr is "IP:port" and fills the default.
func parseAddr(addr string) (netip.AddrPort, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("fakedns: addr %q: %w: want IP:port (%v)", addr, ErrBadAddr, err)
	}
	return ap, nil
}

// udpSockets is how many UDP sockets a server reads from: one per CPU the
// Go scheduler uses (at most maxUDPSockets), where SO_REUSEPORT lets them
// share the port, else one. The kernel spreads clients over them by their
// address, so several cores receive, answer and send at once, as NSD's
// server-count does.
func udpSockets() int {
	if !reusePortSupported {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), maxUDPSockets)
}

// maxUDPSockets bounds the UDP sockets of one server: a test network runs
// many servers, and more readers than cores gain nothing.
const maxUDPSockets = 4

// bind binds n UDP sockets (SO_REUSEPORT when n > 1), then TCP on the same
// port. With port 0 it retries when the free UDP port is taken for TCP.
func bind(ap netip.AddrPort, n int) ([]*net.UDPConn, net.Listener, error) {
	tries := 1
	if ap.Port() == 0 {
		tries = bindTries
	}
	lc := net.ListenConfig{}
	if n > 1 {
		lc.Control = reusePortControl
	}
	ctx := context.Background()
	closeAll := func(pcs []*net.UDPConn) {
		for _, pc := range pcs {
			pc.Close()
		}
	}
	var lastErr error
	for range tries {
		first, err := lc.ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			return nil, nil, fmt.Errorf("fakedns: bind udp %s: %w", ap, err)
		}
		bound := netip.AddrPortFrom(ap.Addr(), uint16(first.LocalAddr().(*net.UDPAddr).Port))
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(bound))
		if err != nil {
			first.Close()
			lastErr = fmt.Errorf("fakedns: bind tcp %s: %w", bound, err)
			if !errors.Is(err, syscall.EADDRINUSE) {
				break
			}
			continue
		}
		pcs := []*net.UDPConn{first.(*net.UDPConn)}
		for len(pcs) < n {
			pc, err := lc.ListenPacket(ctx, "udp", bound.String())
			if err != nil {
				closeAll(pcs)
				ln.Close()
				return nil, nil, fmt.Errorf("fakedns: bind udp %s (socket %d of %d): %w", bound, len(pcs)+1, n, err)
			}
			pcs = append(pcs, pc.(*net.UDPConn))
		}
		return pcs, ln, nil
	}
	return nil, nil, lastErr
}

// Addr returns the "IP:port" the server answers on, UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Journal returns the journal queries are recorded in.
func (s *Server) Journal() *journal.Journal { return s.journal }

// Close shuts both servers down and waits until no goroutine of the server
// is left; delayed answers are abandoned. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		ctx := context.Background()
		var errs []error
		for _, pc := range s.udp {
			errs = append(errs, pc.Close())
		}
		errs = append(errs, s.tcp.ShutdownContext(ctx))
		s.serveWG.Wait()
		s.packets.Wait()
		for len(s.serveErr) > 0 {
			errs = append(errs, <-s.serveErr)
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("fakedns: close %s: %w", s.addr, err)
		}
	})
	return s.closeErr
}

// Resolver returns a pure-Go resolver whose every connection, UDP or TCP,
// goes to this server, like httptest.Server.Client.
func (s *Server) Resolver() *net.Resolver {
	addr := s.addr
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// control appends a KindControl event for a live change.
func (s *Server) control(text string) {
	s.journal.Append(journal.Event{Kind: journal.KindControl, Source: s.source, Text: text})
}

// AddZone adds a zone. It is an error if the zone exists or a record is bad.
func (s *Server) AddZone(z Zone) error {
	zd, err := newZoneData(z, s.loopbackOnly)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if _, dup := s.zones[zd.name]; dup {
		s.mu.Unlock()
		return fmt.Errorf("fakedns: zone %s: %w", strings.TrimSuffix(zd.name, "."), ErrZoneExists)
	}
	s.zones[zd.name] = zd
	s.mu.Unlock()
	s.control("add zone " + zd.name)
	return nil
}

// RemoveZone removes a zone; its names no longer exist (NXDOMAIN from the
// simulated root), or fall to a parent zone.
func (s *Server) RemoveZone(name string) error {
	n, err := canonZone(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	_, ok := s.zones[n]
	delete(s.zones, n)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("fakedns: zone %s: %w", strings.TrimSuffix(n, "."), ErrNoZone)
	}
	s.control("remove zone " + n)
	return nil
}

// Zones returns a snapshot of the zones, sorted by name: names fully
// qualified, owners absolute, records in the form Zone.Records takes
// (including the automatic SOA and NS), so a snapshot can be fed back.
func (s *Server) Zones() []Zone {
	s.mu.RLock()
	out := make([]Zone, 0, len(s.zones))
	for _, zd := range s.zones {
		out = append(out, zd.snapshot())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// findZone returns the longest zone containing name (absolute, lower
// case), or nil. Called with s.mu held. It does not allocate.
func (s *Server) findZone(name string) *zoneData {
	for off := 0; ; {
		if zd, ok := s.zones[name[off:]]; ok {
			return zd
		}
		var end bool
		off, end = dns.NextLabel(name, off)
		if end {
			return nil
		}
	}
}

// zoneFor canonicalizes name and finds its zone, for live changes.
// Called with s.mu held.
func (s *Server) zoneFor(name string) (string, *zoneData, error) {
	n, err := canonName(name)
	if err != nil {
		return "", nil, fmt.Errorf("fakedns: %w", err)
	}
	zd := s.findZone(n)
	if zd == nil {
		return "", nil, fmt.Errorf("fakedns: %s: %w: inside no zone", n, ErrOutsideZone)
	}
	return n, zd, nil
}

// AddRecord adds one record at name (absolute, trailing dot optional),
// which must be inside a zone; the longest zone containing it gets it.
// text is written as in Zone.Records ("MX 10 mx1.example.test.").
func (s *Server) AddRecord(name, text string) error {
	s.mu.Lock()
	n, zd, err := s.zoneFor(name)
	if err == nil {
		var rec record
		if _, rec, err = zd.parse(n, text); err == nil {
			zd.insert(n, rec)
			zd.rebuild()
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.control("add " + n + " " + text)
	return nil
}

// SetRecords replaces all records of type typ at name with records
// (written as in Zone.Records, each of type typ). No records removes them.
// Nothing changes when one record is bad.
func (s *Server) SetRecords(name, typ string, records ...string) error {
	t, err := parseType(typ)
	if err != nil {
		return err
	}
	s.mu.Lock()
	n, zd, err := s.zoneFor(name)
	var recs []record
	if err == nil {
		for _, text := range records {
			_, rec, perr := zd.parse(n, text)
			if perr == nil && t != dns.TypeANY && rec.rr.Header().Rrtype != t {
				perr = &RecordError{Zone: zd.name, Owner: n, Record: text, Err: fmt.Errorf("%w: not of type %s", ErrBadRecord, dns.Type(t))}
			}
			if perr != nil {
				err = perr
				break
			}
			recs = append(recs, rec)
		}
	}
	if err == nil {
		zd.remove(n, t)
		for _, r := range recs {
			zd.insert(n, r)
		}
		zd.rebuild()
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.control("set " + n + " " + dns.Type(t).String() + " " + strings.Join(records, "; "))
	return nil
}

// RemoveRecords removes all records of type typ ("" or "ANY": every type)
// at name. The SOA of an apex comes back as the automatic one.
func (s *Server) RemoveRecords(name, typ string) error {
	t, err := parseType(typ)
	if err != nil {
		return err
	}
	s.mu.Lock()
	n, zd, err := s.zoneFor(name)
	if err == nil {
		zd.remove(n, t)
		zd.rebuild()
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.control("remove " + n + " " + dns.Type(t).String())
	return nil
}

// parseType parses a record type name; "" and "ANY" are TypeANY.
func parseType(typ string) (uint16, error) {
	u := strings.ToUpper(strings.TrimSpace(typ))
	if u == "" || u == "ANY" {
		return dns.TypeANY, nil
	}
	t, ok := dns.StringToType[u]
	if !ok {
		return 0, fmt.Errorf("fakedns: type %q: %w: unknown type", typ, ErrBadRecord)
	}
	return t, nil
}

// SetSecure marks a zone DNSSEC-secure or not (see Zone.Secure).
func (s *Server) SetSecure(zone string, secure bool) error {
	n, err := canonZone(zone)
	if err != nil {
		return err
	}
	s.mu.Lock()
	zd, ok := s.zones[n]
	if ok {
		zd.secure = secure
		zd.rebuild() // the record sets' journal details carry AD
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("fakedns: zone %s: %w", strings.TrimSuffix(n, "."), ErrNoZone)
	}
	s.control("zone " + n + " secure=" + strconv.FormatBool(secure))
	return nil
}

// SetFault validates f and installs it, replacing a fault with the same
// (Name, Type, Zone); its Times count starts afresh.
func (s *Server) SetFault(f Fault) error {
	if err := s.setFault(f); err != nil {
		return err
	}
	s.control("fault " + string(f.Kind) + " on " + f.Name + " " + f.Type)
	return nil
}

func (s *Server) setFault(f Fault) error {
	nf, key, err := normalizeFault(f)
	if err != nil {
		return err
	}
	fs := &faultState{f: nf}
	fs.remaining.Store(int64(nf.Times))
	s.mu.Lock()
	s.faults[key] = fs
	s.faulty.Store(true)
	s.mu.Unlock()
	return nil
}

// ClearFault removes the faults on (name, typ), zone-wide or not, and
// reports whether there was one.
func (s *Server) ClearFault(name, typ string) bool {
	n, err := canonName(name)
	if err != nil {
		return false
	}
	var qtype uint16
	if u := strings.ToUpper(strings.TrimSpace(typ)); u != "" && u != "ANY" {
		t, ok := dns.StringToType[u]
		if !ok {
			return false
		}
		qtype = t
	}
	s.mu.Lock()
	found := false
	for _, zone := range []bool{false, true} {
		k := faultKey{n, qtype, zone}
		if _, ok := s.faults[k]; ok {
			delete(s.faults, k)
			found = true
		}
	}
	s.faulty.Store(len(s.faults) > 0)
	s.mu.Unlock()
	if found {
		s.control("clear fault on " + n + " " + typ)
	}
	return found
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	clear(s.faults)
	s.faulty.Store(false)
	s.mu.Unlock()
	s.control("clear faults")
}

// Faults returns the faults in force, sorted by Name, Type, Zone. Times is
// what remains (a fault whose Times are used up is not listed); Name is
// fully qualified and Type is "" for every type.
func (s *Server) Faults() []Fault {
	s.mu.RLock()
	out := make([]Fault, 0, len(s.faults))
	for _, fs := range s.faults {
		if fs.spent() {
			continue
		}
		f := fs.f
		if f.Times > 0 {
			f.Times = int(fs.remaining.Load())
		}
		out = append(out, f)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return !a.Zone && b.Zone
	})
	return out
}
