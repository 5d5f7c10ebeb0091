package fakesmtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// Session timeouts. RFC 5321 §4.5.3.2 asks clients for minutes; a fake
// host only needs to free idle connections eventually. Variables so that
// tests can shorten them (before they start a host).
var (
	readTimeout = time.Minute // without a line from the client, or a write taken by it
	tlsTimeout  = 10 * time.Second
)

// Config describes one simulated host.
type Config struct {
	Name     string           // host name, e.g. "mx1.example.test": greeting domain, journal Source, certificate name
	AltNames []string         // more names its certificates carry: other names its address is published under
	Addr     string           // "IP:port"; port 0 picks a free one (see Host.Addr); empty: "127.0.0.1:0"
	Behavior Behavior         // what the host does; the zero value accepts everything
	CA       *CA              // issues this host's certificates; nil: a new CA is made only if TLS is used
	Journal  *journal.Journal // where events go; nil: a new journal
	Loop     LoopMode         // how sessions are served; zero (LoopAuto): as MXSIM_FAKESMTP_LOOP says, else the event loop where there is one
	// Mode is how sessions on Addr run (PortMode); "": PortMX.
	Mode PortMode
	// Listeners are more addresses the host listens on, each with its
	// own mode: one host answering on 25, 587 and 465. They go down and
	// up with the host.
	Listeners []Listener
	// Resolver is where a host that checks messages (Behavior.Verify)
	// looks up SPF, DKIM and DMARC records: a resolver that asks the
	// simulated DNS (fakedns.Server.Resolver). Without one such a
	// behaviour is refused: a host never asks the system's resolver.
	Resolver *net.Resolver
}

// LoopMode chooses whether a host serves its sessions from an event loop
// (see the package documentation, Serving). Either way the replies and the
// journal are the same; only the cost of a session differs.
type LoopMode string

// Values of Config.Loop.
const (
	// LoopAuto, the zero value, takes the mode from the environment
	// variable MXSIM_FAKESMTP_LOOP ("on", "off"; empty or "auto": on),
	// read when the host is made, so that a whole test run can rule the
	// loop out without a change of code.
	LoopAuto LoopMode = ""
	// LoopOn serves sessions from one event loop per host where the
	// system has one (Linux's epoll); elsewhere it is LoopOff.
	LoopOn LoopMode = "on"
	// LoopOff gives every session a goroutine of its own from accept on.
	LoopOff LoopMode = "off"
)

// loopEnv is the environment variable that LoopAuto follows.
const loopEnv = "MXSIM_FAKESMTP_LOOP"

// useLoop reports whether m asks for the event loop, reading loopEnv for
// LoopAuto. An unknown value is an error rather than a silent default: a
// misspelt "of" must not leave the loop on in a run meant to rule it out.
func (m LoopMode) useLoop() (bool, error) {
	switch m {
	case LoopOn:
		return true, nil
	case LoopOff:
		return false, nil
	case LoopAuto:
		switch v := os.Getenv(loopEnv); v {
		case "", "auto", string(LoopOn):
			return true, nil
		case string(LoopOff):
			return false, nil
		default:
			return false, fieldErr("loop", "environment %s=%q: want on, off or auto", loopEnv, v)
		}
	}
	return false, fieldErr("loop", "unknown mode %q: want on, off or empty (auto)", string(m))
}

// Host is a fake MTA on one address. It is safe for concurrent use; its
// behaviour can change while sessions run.
type Host struct {
	name     string
	altNames []string
	addr     string
	anyAddr  bool // addr is 0.0.0.0 or ::, so a connection's local address is not addr
	useLoop  bool // Config.Loop resolved: serve from an event loop where there is one
	journal  *journal.Journal
	resolver *net.Resolver // Config.Resolver, for Behavior.Verify

	// Reply lines that name the host, made once.
	greeting string // "220 <name> ESMTP mxsim"
	heloLine string // "250 <name>"
	ehloLine string // "250-<name>", the first line of the EHLO reply

	beh atomic.Pointer[Behavior] // current behaviour, never mutated once stored

	ctl sync.Mutex // serialises Up, Down, SetBehavior and Close; taken before mu

	mu         sync.Mutex // guards what follows
	closed     bool
	lns        []*listener // Addr first, then Config.Listeners; their addresses never change after NewHost
	conns      map[*session]struct{}
	nconn      int
	counters   map[string]int // forced replies used, per stage, for Reply.Times
	grey       map[greyKey]greyEntry
	greySweep  time.Time        // when greylisted next drops the entries expired
	clock      func() time.Time // the journal's time (Journal.Now); greylisting and rate limits read it (tests set another)
	ipConns    map[string]int   // open connections per client address (Limits.ConnectionsPerClient)
	rates      [2]rateTable     // messages counted per client address and per recipient (Limits.MessagesPer*)
	ca         *CA
	tlsConfigs map[CertKind]*tls.Config

	wg sync.WaitGroup // accept loop and sessions

	readers sync.Pool // *bufio.Reader of readerSize, reused across sessions
	bodies  sync.Pool // *bytes.Buffer for reading DATA, reused across messages
}

// maxPooledBody is the largest DATA scratch buffer kept for reuse; a
// larger one (a rare big message) is left to the garbage collector.
const maxPooledBody = 4 << 20

// readerSize is the size of a session's read buffer: more than any valid
// command line (RFC 5321 §4.5.3.1.4: 512 octets).
const readerSize = 4096

type greyKey struct{ ip, from, to string }

type greyEntry struct {
	first   time.Time // the first attempt: a retry Window after it passes
	expires time.Time // forgotten from then on (Greylist.Lifetime)
	passed  bool
}

// NewHost validates cfg, binds its address (unless the behaviour is Down)
// and returns once the host accepts connections. On error nothing is left
// running.
func NewHost(cfg Config) (*Host, error) {
	name := strings.TrimSuffix(cfg.Name, ".")
	var errs []error
	if !validDomain(name) {
		errs = append(errs, fieldErr("name", "%q is not a host name", cfg.Name))
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		errs = append(errs, fieldErr("addr", "%q is not IP:port: %v", cfg.Addr, err))
	}
	if !cfg.Mode.valid() {
		errs = append(errs, fieldErr("mode", "unknown port mode %q (want %s)", cfg.Mode, oneOf(cfg.Mode.Values())))
	}
	lns := []*listener{{addr: ap.String(), mode: cfg.Mode}}
	seenAddr := map[string]bool{ap.String(): true}
	for i, l := range cfg.Listeners {
		lap, err := netip.ParseAddrPort(l.Addr)
		switch {
		case err != nil:
			errs = append(errs, fieldErr("listeners", "[%d]: %q is not IP:port: %v", i, l.Addr, err))
			continue
		case !l.Mode.valid():
			errs = append(errs, fieldErr("listeners", "[%d]: unknown port mode %q (want %s)", i, l.Mode, oneOf(l.Mode.Values())))
		case lap.Port() != 0 && seenAddr[lap.String()]:
			errs = append(errs, fieldErr("listeners", "[%d]: %s is listened on twice", i, lap))
		}
		seenAddr[lap.String()] = true
		lns = append(lns, &listener{addr: lap.String(), mode: l.Mode})
	}
	var alt []string
	for _, a := range cfg.AltNames {
		a = strings.TrimSuffix(a, ".")
		if !validDomain(a) || net.ParseIP(a) != nil {
			errs = append(errs, fieldErr("alt_names", "%q is not a host name", a))
		}
		alt = append(alt, a)
	}
	if err := cfg.Behavior.Validate(); err != nil {
		errs = append(errs, err)
	}
	useLoop, err := cfg.Loop.useLoop()
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("fakesmtp: host %q: %w", cfg.Name, errors.Join(errs...))
	}
	h := &Host{
		name:     name,
		altNames: alt,
		addr:     ap.String(),
		lns:      lns,
		journal:  cfg.Journal,
		greeting: "220 " + name + " ESMTP mxsim",
		heloLine: "250 " + name,
		ehloLine: "250-" + name,
		conns:    make(map[*session]struct{}),
		counters: make(map[string]int),
		grey:     make(map[greyKey]greyEntry),
		ipConns:  make(map[string]int),
		clock:    time.Now,
		ca:       cfg.CA,
		anyAddr:  ap.Addr().IsUnspecified(),
		useLoop:  useLoop,
		resolver: cfg.Resolver,
	}
	if h.journal == nil {
		h.journal = journal.New()
	}
	h.clock = h.journal.Now // the network's time: virtual when the journal's clock is (journal.UseClock)
	b := cfg.Behavior.clone()
	if err := h.checkResolver(&b); err != nil {
		return nil, fmt.Errorf("fakesmtp: host %q: %w", name, err)
	}
	if err := h.prepareTLS(&b); err != nil {
		return nil, fmt.Errorf("fakesmtp: host %q: %w", name, err)
	}
	h.beh.Store(&b)
	if b.State == Down {
		for _, l := range h.lns {
			if strings.HasSuffix(l.addr, ":0") {
				// Reserve a port number now so that the address is known
				// and stays the same when the host comes up.
				ln, err := listen(l.addr)
				if err != nil {
					return nil, fmt.Errorf("fakesmtp: host %q: listen %s: %w", name, l.addr, err)
				}
				l.addr = ln.Addr().String()
				ln.Close()
			}
		}
		h.addr = h.lns[0].addr
		return h, nil
	}
	if err := h.listen(); err != nil {
		return nil, fmt.Errorf("fakesmtp: host %q: %w", name, err)
	}
	return h, nil
}

// Name returns the host name.
func (h *Host) Name() string { return h.name }

// Addr returns "IP:port" as bound; it stays the same across Down and Up.
func (h *Host) Addr() string { return h.addr }

// Listeners returns every address the host listens on, as bound, with
// its mode: Addr (with Config.Mode) first, then Config.Listeners in
// order. They stay the same across Down and Up.
func (h *Host) Listeners() []Listener {
	out := make([]Listener, len(h.lns))
	for i, l := range h.lns {
		out[i] = Listener{Addr: l.addr, Mode: l.mode}
		if out[i].Mode == "" {
			out[i].Mode = PortMX
		}
	}
	return out
}

// prepareTLS issues the certificate b needs, on any of the host's
// listeners, so that the first handshake does not wait for it.
func (h *Host) prepareTLS(b *Behavior) error {
	for _, l := range h.lns {
		if eb := l.mode.apply(b); eb.usesTLS() {
			if _, err := h.tlsConfig(eb.certKind()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Journal returns the journal the host writes into.
func (h *Host) Journal() *journal.Journal { return h.journal }

// Behavior returns a copy of the current behaviour.
func (h *Host) Behavior() Behavior { return h.beh.Load().clone() }

// CA returns the CA that issues the host's certificates, making one if the
// host had none yet; nil only if making one failed.
func (h *Host) CA() *CA {
	h.mu.Lock()
	defer h.mu.Unlock()
	ca, _ := h.caLocked()
	return ca
}

func (h *Host) caLocked() (*CA, error) {
	if h.ca == nil {
		ca, err := NewCA()
		if err != nil {
			return nil, err
		}
		h.ca = ca
	}
	return h.ca, nil
}

// tlsConfig returns the server configuration serving a certificate of the
// given kind, issuing the certificate on first use.
func (h *Host) tlsConfig(kind CertKind) (*tls.Config, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.tlsConfigs[kind]; c != nil {
		return c, nil
	}
	ca, err := h.caLocked()
	if err != nil {
		return nil, err
	}
	cert, err := ca.Issue(kind, h.name, h.altNames...)
	if err != nil {
		return nil, err
	}
	if h.tlsConfigs == nil {
		h.tlsConfigs = make(map[CertKind]*tls.Config)
	}
	if kind != CertSelfSigned {
		// The chain ends with the CA, as a DANE-TA (2 x 1) TLSA record
		// of the CA needs (RFC 7672 §3.1.2); a relay that trusts the CA
		// anyway is not troubled by it.
		cert.Certificate = append(cert.Certificate, ca.cert.Raw)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	h.tlsConfigs[kind] = c
	return c, nil
}

// SetBehavior validates b and applies it atomically: new commands and
// connections see it, the host goes down or comes up as b.State says,
// and the Times counters of forced replies start again.
func (h *Host) SetBehavior(b Behavior) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("fakesmtp: host %q: %w", h.name, err)
	}
	nb := b.clone()
	if err := h.checkResolver(&nb); err != nil {
		return fmt.Errorf("fakesmtp: host %q: %w", h.name, err)
	}
	h.ctl.Lock()
	defer h.ctl.Unlock()
	if h.isClosed() {
		return fmt.Errorf("fakesmtp: host %q: set behavior: %w", h.name, ErrClosed)
	}
	if err := h.prepareTLS(&nb); err != nil {
		return fmt.Errorf("fakesmtp: host %q: %w", h.name, err)
	}
	if err := h.apply(&nb); err != nil {
		return err
	}
	h.mu.Lock()
	clear(h.counters)
	h.forgetRates(&nb)
	h.mu.Unlock()
	h.control("behavior set (state " + string(stateOf(&nb)) + ")")
	return nil
}

// Down stops listening and closes every connection: connecting is refused
// from now on. The address is kept for Up.
func (h *Host) Down() error {
	h.ctl.Lock()
	defer h.ctl.Unlock()
	if h.isClosed() {
		return fmt.Errorf("fakesmtp: host %q: down: %w", h.name, ErrClosed)
	}
	nb := *h.beh.Load()
	if nb.State == Down {
		return nil
	}
	nb.State = Down
	if err := h.apply(&nb); err != nil {
		return err
	}
	h.control("state down")
	return nil
}

// Up listens again on the same address and serves SMTP (State Up).
func (h *Host) Up() error {
	h.ctl.Lock()
	defer h.ctl.Unlock()
	if h.isClosed() {
		return fmt.Errorf("fakesmtp: host %q: up: %w", h.name, ErrClosed)
	}
	nb := *h.beh.Load()
	if stateOf(&nb) == Up {
		return nil
	}
	nb.State = Up
	if err := h.apply(&nb); err != nil {
		return err
	}
	h.control("state up")
	return nil
}

// apply stores nb and starts or stops listening as its state requires.
// The caller holds ctl.
func (h *Host) apply(nb *Behavior) error {
	if nb.State == Down {
		h.beh.Store(nb)
		h.stopListening("host down")
		return nil
	}
	old := h.beh.Swap(nb)
	if err := h.listen(); err != nil {
		h.beh.Store(old)
		return fmt.Errorf("fakesmtp: host %q: %w", h.name, err)
	}
	return nil
}

// CloseClientConnections closes every open connection; the host keeps
// listening.
func (h *Host) CloseClientConnections() {
	h.killAll("closed by host")
}

// Close stops listening, closes every connection and waits until all the
// host's goroutines have ended. It is idempotent and always returns nil.
func (h *Host) Close() error {
	h.ctl.Lock()
	defer h.ctl.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.stopListening("host closed")
	h.wg.Wait()
	return nil
}

func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// listen binds every address of the host and starts accepting on each,
// unless it already does. If one address cannot be bound, none is left
// bound. The caller holds ctl.
func (h *Host) listen() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lns[0].ln != nil {
		return nil
	}
	for i, lst := range h.lns {
		ln, err := listen(lst.addr)
		if err != nil {
			for _, done := range h.lns[:i] {
				done.ln.Close()
				done.ln = nil
			}
			return fmt.Errorf("listen %s: %w", lst.addr, err)
		}
		if strings.HasSuffix(lst.addr, ":0") {
			lst.addr = ln.Addr().String() // only in NewHost: the address never changes after
			if i == 0 {
				h.addr = lst.addr
			}
		}
		lst.ln = ln
	}
	for _, lst := range h.lns {
		if h.useLoop {
			if l, err := startLoop(h, lst, lst.ln); err == nil {
				lst.loop = l
				continue
			}
		}
		lst.acceptDone = make(chan struct{})
		h.wg.Add(1)
		go h.acceptLoop(lst, lst.ln, lst.acceptDone)
	}
	return nil
}

// stopListening closes the listeners, waits for their accept loops, then
// closes every connection and waits for their sessions. The caller holds ctl.
func (h *Host) stopListening(reason string) {
	type serving struct {
		ln   net.Listener
		done chan struct{}
		l    *loop
	}
	var all []serving
	h.mu.Lock()
	for _, lst := range h.lns {
		all = append(all, serving{lst.ln, lst.acceptDone, lst.loop})
		lst.ln, lst.acceptDone, lst.loop = nil, nil, nil
	}
	h.mu.Unlock()
	for _, s := range all {
		if s.l != nil {
			s.l.stop() // the loop no longer accepts; it ends with its last connection
		}
		if s.ln != nil {
			s.ln.Close()
		}
		if s.done != nil {
			<-s.done
		}
	}
	// No new session can start now: close the ones there are.
	h.killAll(reason)
	h.wg.Wait()
}

func (h *Host) killAll(reason string) {
	h.mu.Lock()
	all := make([]*session, 0, len(h.conns))
	for s := range h.conns {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.closeConn(reason, "")
	}
}

func (h *Host) acceptLoop(lst *listener, ln net.Listener, done chan struct{}) {
	defer h.wg.Done()
	defer close(done)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or similar: back off a little.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		h.startSession(lst, c)
	}
}

func (h *Host) startSession(lst *listener, c net.Conn) {
	b := lst.behavior(h.beh.Load())
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		c.Close()
		return
	}
	h.nconn++
	s := newSession(h, lst, c, h.nconn)
	over := h.admitLocked(s, b)
	h.wg.Add(1)
	h.mu.Unlock()
	go s.run(b, over)
}

// admitLocked registers a new session and returns the connection limit
// it is over (Limits.MaxConns, then Limits.ConnectionsPerClient), or
// nil. The caller holds mu.
func (h *Host) admitLocked(s *session, b *Behavior) *connRefusal {
	var over *connRefusal
	l := &b.Limits
	switch {
	case l.MaxConns > 0 && len(h.conns) >= l.MaxConns:
		over = &connRefusal{replyTooManyConns, FaultMaxConns, "too many connections (max " + strconv.Itoa(l.MaxConns) + ")"}
	case l.ConnectionsPerClient != nil && h.ipConns[s.ip] >= l.ConnectionsPerClient.Count:
		r := DefaultClientConnsReply
		if l.ConnectionsPerClient.Reply != nil {
			r = *l.ConnectionsPerClient.Reply
		}
		over = &connRefusal{r, FaultClientConns, "too many connections from " + s.ip + " (max " + strconv.Itoa(l.ConnectionsPerClient.Count) + ")"}
	}
	h.conns[s] = struct{}{}
	h.ipConns[s.ip]++
	return over
}

// connRefusal is a connection limit a new connection is over: the reply
// it gets instead of the greeting, the fault and the reason journaled.
type connRefusal struct {
	reply  Reply
	fault  string
	reason string
}

func (h *Host) forget(s *session) {
	h.mu.Lock()
	if _, ok := h.conns[s]; ok {
		delete(h.conns, s)
		if h.ipConns[s.ip]--; h.ipConns[s.ip] <= 0 {
			delete(h.ipConns, s.ip)
		}
	}
	h.mu.Unlock()
}

// rateTable holds when the messages of the last window were counted,
// per key (a client address or a recipient), oldest first: at most the
// limit's Count per key.
type rateTable struct {
	log   map[string][]time.Time
	count int           // the limit counted under (RateLimit.Count, Per):
	per   time.Duration // another limit starts from nothing
	sweep time.Time     // when the keys whose window has passed are dropped next
}

// Indexes of Host.rates.
const (
	rateClient = iota
	rateRecipient
)

// rateLimits returns the limits of b that Host.rates count, by index.
func rateLimits(b *Behavior) [2]*RateLimit {
	return [2]*RateLimit{b.Limits.MessagesPerClient, b.Limits.MessagesPerRecipient}
}

// forgetRates drops what was counted for the rate limits that nb does not
// have, or has with another count or window. The caller holds mu.
func (h *Host) forgetRates(nb *Behavior) {
	for i, l := range rateLimits(nb) {
		t := &h.rates[i]
		if l == nil || l.Count != t.count || l.Per != t.per {
			*t = rateTable{}
		}
	}
}

// rateTake counts one more message for key in table i, now, unless
// Count messages fall within the last Per already: then it reports
// false, and counts nothing. Checking and counting under one lock makes
// a limit exact when sessions run at once: of the MAILs (or RCPTs) that
// race, exactly Count pass.
func (h *Host) rateTake(i int, key string, l *RateLimit) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock()
	t := &h.rates[i]
	if t.log == nil || l.Count != t.count || l.Per != t.per {
		*t = rateTable{log: make(map[string][]time.Time), count: l.Count, per: l.Per}
	}
	if !now.Before(t.sweep) {
		for k, times := range t.log {
			if len(times) == 0 || !times[len(times)-1].After(now.Add(-l.Per)) {
				delete(t.log, k)
			}
		}
		t.sweep = now.Add(l.Per)
	}
	times := t.prune(key, now, l)
	if len(times) >= l.Count {
		return false
	}
	t.log[key] = append(times, now)
	return true
}

// prune drops the times of key that are Per old or older, and returns the
// rest.
func (t *rateTable) prune(key string, now time.Time, l *RateLimit) []time.Time {
	times := t.log[key]
	cut := 0
	for cut < len(times) && !times[cut].After(now.Add(-l.Per)) {
		cut++
	}
	if cut > 0 {
		times = append(times[:0], times[cut:]...)
		t.log[key] = times
	}
	return times
}

// fire reports whether forced reply r applies now, counting it against
// r.Times under key.
func (h *Host) fire(key string, r *Reply) bool {
	if r == nil {
		return false
	}
	if r.Times == 0 {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counters[key] >= r.Times {
		return false
	}
	h.counters[key]++
	return true
}

// pick returns the reply of the first rule of a stage that matches addr
// (lower-cased; "" at stages without addresses) and has occurrences left,
// counting the occurrence, or nil.
func (h *Host) pick(stage string, rules []Rule, addr string) *Reply {
	for i := range rules {
		rule := &rules[i]
		if rule.Match != "" {
			if ok, _ := path.Match(strings.ToLower(rule.Match), addr); !ok {
				continue
			}
		}
		if h.fire(stage+"["+strconv.Itoa(i)+"]", &rule.Reply) {
			return &rule.Reply
		}
	}
	return nil
}

// greylisted applies greylisting (RFC 6647) to a triplet: the first attempt is
// refused, a retry at least g.Window after the first attempt passes, and a
// triplet that passed stays passed, for as long as the host remembers it
// (Greylist.Lifetime). Expired entries are forgotten at once and dropped
// from the table by a sweep every quarter lifetime, on the next call: the
// table holds the triplets of the last lifetime and a quarter, and the
// sweeps cost a few map visits per triplet at most.
func (h *Host) greylisted(ip, from, to string, g *Greylist) bool {
	k := greyKey{ip, strings.ToLower(from), strings.ToLower(to)}
	life := g.lifetime()
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock()
	if !now.Before(h.greySweep) {
		for k, e := range h.grey {
			if !now.Before(e.expires) {
				delete(h.grey, k)
			}
		}
		h.greySweep = now.Add(life / 4)
	}
	e, ok := h.grey[k]
	switch {
	case !ok || !now.Before(e.expires):
		e = greyEntry{first: now}
	case !e.passed && now.Sub(e.first) >= g.Window:
		e.passed = true
	}
	windowEnd := e.first.Add(g.Window)
	if windowEnd.Before(now) {
		windowEnd = now
	}
	e.expires = windowEnd.Add(life)
	h.grey[k] = e
	return !e.passed
}

func (h *Host) control(text string) {
	h.journal.Append(journal.Event{Kind: journal.KindControl, Source: h.name, Local: h.addr, Text: "host " + h.name + ": " + text})
}

func stateOf(b *Behavior) State {
	if b.State == "" {
		return Up
	}
	return b.State
}

// listen binds a host's TCP listener. Accepted connections get no TCP
// keepalive: a simulated host on loopback has no idle peer to detect, and
// the four setsockopt calls Go makes per accepted connection to turn it on
// are a tenth of the system calls of a one-message session.
func listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", addr)
}
