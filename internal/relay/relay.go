// Package relay is mxsim's reference relay: a small but correct MTA that
// takes submissions over SMTP and delivers them by the rules of RFC 5321
// §5.1, the way a real MTA such as Postfix does. It is the relay under test
// of mxsim's own end-to-end tests and of `make demo`.
//
// The flow of one message:
//
//  1. A client submits over SMTP on Config.Listen (with AUTH PLAIN/LOGIN when
//     Config.SubmitUsers is set; 530 5.7.0 otherwise). The message gets an ID
//     and a Received header, is journaled as relay.submit and queued once
//     per recipient domain (once in all when a smarthost is configured).
//  2. A queue runner hands due jobs to at most maxWorkers delivery workers.
//  3. Route (route.go): look up MX at the DNS server of Config.DNS, never
//     the system resolver; follow a CNAME at the domain. NXDOMAIN bounces
//     (rule 2), SERVFAIL/timeout defers (rule 3), a null MX bounces with
//     556 5.1.10 without any address lookup (rule 12, RFC 7505), no MX means
//     the implicit MX of the domain itself (rule 4), MX records mean the
//     domain's own address is never used (rule 5). Hosts are sorted by
//     preference (rule 6), equal preferences are shuffled (rule 7), and a
//     relay that finds its own Hostname in the list drops it and all
//     worse preferences (rule 11). With Config.Smarthost the route is the
//     smarthost instead ("[host]": its address only).
//  4. Dial (deliver.go): for each of up to Config.MaxMXHosts hosts, resolve
//     A and AAAA and try every address on Config.Port (rule 8); refused
//     connections, timeouts, 4yz and 554 greetings move on to the next
//     address or host (rules 13, 14).
//  5. Hello: EHLO (HELO fallback), STARTTLS by Config.TLS (rules 19–22):
//     only when advertised, EHLO again after it; mandatory TLS skips a host
//     without STARTTLS or with a failed handshake or certificate check.
//  6. AUTH (auth.go) to the smarthost with Config.SmarthostAuth, never
//     before TLS unless Config.AllowInsecureAuth (rule 25); "*" only ever
//     answers a 334 challenge (RFC 4954 §4).
//  7. MAIL, one RCPT per recipient, DATA. Each recipient has its own fate
//     (rule 18): 2yz delivered (relay.deliver), 5yz bounced and never
//     retried (rule 14), 4yz at RCPT deferred to a later attempt; a 4yz at
//     MAIL or DATA moves all pending recipients to the next host.
//  8. Queue (queue.go): what is deferred (relay.defer) is retried after
//     Config.RetryInterval or at once on Flush (rule 15); greylisting is just
//     this path (rule 17). Mail older than Config.MaxLifetime bounces.
//  9. Bounce: relay.bounce is journaled and a DSN (multipart/report, null
//     reverse-path) is queued to the sender like any other message; a DSN
//     that fails is dropped, never bounced.
//
// Close stops accepting and starting sessions, lets the sessions in flight
// end (DATA's reply, QUIT) for up to a second, and only then cuts what is
// left: closing the relay, and the network after it, leaves no exchange
// half-done.
//
// Rule 28: with Config.Mynetworks set, a client outside those networks that
// has not authenticated is refused at RCPT with 550 5.7.1 (the relay serves
// no domain of its own). Config.Bugs plants one fault at a time, for
// mxsim's proof that its conformance library catches them (Variants).
//
// Choices where the RFCs leave room:
//   - a 4yz reply to RCPT defers that recipient; the relay does not try it at
//     the next MX in the same attempt (RFC 5321 §4.2.5: "try again later");
//   - when MX hosts exist but none has an address and every one of them is
//     NXDOMAIN (or the implicit MX has no address at all), the domain cannot
//     be routed and the mail bounces with 5.4.4 (like Postfix); any
//     temporary DNS failure among them defers instead;
//   - under TLSMay a failed TLS handshake makes the relay dial the same
//     address again at once and deliver in plaintext, without STARTTLS;
//   - an AUTH rejected by the smarthost, or a smarthost that offers no TLS
//     when AllowInsecureAuth is off, is a temporary failure of that host:
//     the mail is deferred, never bounced, and credentials never leave in
//     plaintext;
//   - a smarthost whose name is NXDOMAIN defers (a configuration problem
//     must not bounce the mail).
package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// TLSPolicy says when the relay uses STARTTLS towards remote hosts, after
// Postfix's smtp_tls_security_level.
type TLSPolicy string

// TLS policies.
const (
	TLSNone    TLSPolicy = "none"    // never STARTTLS
	TLSMay     TLSPolicy = "may"     // opportunistic: STARTTLS when advertised, no certificate checks, plaintext otherwise (default)
	TLSEncrypt TLSPolicy = "encrypt" // mandatory TLS, no certificate checks: a host without STARTTLS or with failed handshake is skipped
	TLSVerify  TLSPolicy = "verify"  // mandatory TLS + certificate must chain to RootCAs and match the MX host name, not expired
	TLSDane    TLSPolicy = "dane"    // DANE (RFC 7672): DNSSEC-secure TLSA records make TLS and a matching certificate mandatory; else as TLSMay
)

// Credentials are a user name and password for AUTH PLAIN or LOGIN.
type Credentials struct{ User, Password string }

// Config configures a Relay. Only DNS is required.
type Config struct {
	Hostname             string            // EHLO name; default "relay.test"
	Listen               string            // submission listener; default "127.0.0.1:0"
	DNS                  string            // "IP:port" of the DNS server to ask (required)
	Port                 int               // TCP port of remote SMTP hosts; default 25
	Smarthost            string            // "" = direct MX delivery; "host" = MX lookup of host; "[host]" = its A/AAAA only; optional ":port" overrides Port
	SmarthostAuth        *Credentials      // AUTH (PLAIN, else LOGIN) to the smarthost; never before TLS unless AllowInsecureAuth
	AllowInsecureAuth    bool              // allow AUTH to the smarthost without TLS
	SmarthostImplicitTLS bool              // TLS from connect to the smarthost (RFC 8314 "submissions"); implied by port 465
	TLS                  TLSPolicy         // default TLSMay
	RootCAs              *x509.CertPool    // for TLSVerify; nil: the system roots
	SubmitUsers          map[string]string // non-nil: submission requires AUTH (PLAIN/LOGIN) with these users and passwords
	// SubmissionListen and SubmissionsListen, when set, add the relay's own
	// submission services for its users (SubmitUsers, required then):
	// 587-style (RFC 6409: STARTTLS, AUTH only under TLS, MAIL before
	// AUTH refused with 530 5.7.0) and 465-style (RFC 8314 §3.3: TLS from
	// connect, AUTH required). "127.0.0.1:0" picks a free port.
	SubmissionListen  string
	SubmissionsListen string
	RetryInterval     time.Duration    // how often deferred mail is retried automatically; default 1m
	MaxLifetime       time.Duration    // deferred mail older than this bounces; default 5m
	MaxMXHosts        int              // at most this many MX hosts per attempt; default 5, at least 2 (rule 8)
	Timeout           time.Duration    // per DNS query / dial / command; default 10s
	Journal           *journal.Journal // where the relay writes its events (nil: a new journal)
	Rand              *rand.Rand       // source for shuffling equal preferences; nil: a new randomly seeded one
	// Mynetworks are the trusted client networks (Postfix mynetworks): a
	// client outside them that has not authenticated may not relay (rule
	// 28). Nil trusts every client, for tests that submit from anywhere.
	Mynetworks []netip.Prefix
	// MTASTS makes the relay look up and honour MTA-STS policies (RFC
	// 8461, mtasts.go) of the domains it delivers to directly, fetched
	// over HTTPS from mta-sts.DOMAIN on MTASTSPort (default 443), the
	// certificate checked against RootCAs.
	MTASTS     bool
	MTASTSPort int
	// Bugs plants faults on purpose (see Variants); the zero value is the
	// correct relay.
	Bugs Bugs
	// DKIM, when set, makes the relay sign the mail it accepts whose From
	// domain is DKIM.Domain or below it (see DKIM).
	DKIM *DKIM
}

// Defaults of Config.
const (
	DefaultHostname      = "relay.test"
	DefaultListen        = "127.0.0.1:0"
	DefaultPort          = 25
	DefaultRetryInterval = time.Minute
	DefaultMaxLifetime   = 5 * time.Minute
	DefaultMaxMXHosts    = 5
	DefaultTimeout       = 10 * time.Second
)

// maxWorkers bounds concurrent delivery attempts.
const maxWorkers = 4

// closeGrace bounds how long Close lets sessions in flight end by
// themselves (or Config.Timeout, when shorter).
const closeGrace = time.Second

// maxMessageBytes bounds a submitted message.
const maxMessageBytes = 32 << 20

// source is the journal Source of every event the relay writes.
const source = "relay"

// Errors returned by the relay.
var (
	// ErrConfig is wrapped by every error Start returns for a bad Config.
	ErrConfig = errors.New("invalid relay config")
	// ErrClosed is returned by Idle once the relay is closed.
	ErrClosed = errors.New("relay closed")
)

// Queued describes a job still in the queue (deferred): one message towards
// one destination (a recipient domain, or the smarthost).
type Queued struct {
	ID        string    // message ID, as in the journal's Text ("id=…")
	From      string    // envelope sender ("" for a DSN)
	To        []string  // recipients still pending for this destination
	Attempts  int       // delivery attempts made so far
	LastError string    // why the last attempt deferred
	NextTry   time.Time // when it is retried without Flush
}

// Relay is a running reference relay. Its methods are safe for concurrent use.
type Relay struct {
	cfg   Config
	smart *smarthost // nil: direct MX delivery

	submitTLS *tls.Config // STARTTLS on the submission listener
	j         *journal.Journal
	dns       *resolver

	listeners []*listener     // Listen first, then the submission services configured
	ctx       context.Context // cancelled when Close's grace is over: cuts sessions still running
	cancel    context.CancelFunc
	quit      chan struct{}  // closed when Close begins: no new attempt or session starts
	wg        sync.WaitGroup // runner and workers
	kick      chan struct{}  // wakes the runner (buffered, 1)

	idPrefix string

	sts stsCache // MTA-STS policies by domain (mtasts.go)

	randMu sync.Mutex
	rnd    *rand.Rand

	mu      sync.Mutex
	jobs    []*job
	running int
	seq     int
	closed  bool
	changed chan struct{} // closed and replaced when the queue state changes
}

// smarthost is a parsed Config.Smarthost.
type smarthost struct {
	Host     string // without brackets or trailing dot
	NoMX     bool   // "[host]": A/AAAA only
	Port     int
	Source   string // as configured
	Implicit bool   // TLS from connect (RFC 8314)
}

// Start validates cfg, binds the submission listener and starts the queue
// runner. On error nothing is left running.
func Start(cfg Config) (*Relay, error) {
	cfg, smart, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	submitTLS, err := selfSigned(cfg.Hostname)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		cfg:       cfg,
		smart:     smart,
		submitTLS: submitTLS,
		j:         cfg.Journal,
		dns:       &resolver{server: cfg.DNS, timeout: cfg.Timeout},
		ctx:       ctx,
		cancel:    cancel,
		quit:      make(chan struct{}),
		kick:      make(chan struct{}, 1),
		idPrefix:  randomToken(),
		rnd:       cfg.Rand,
		changed:   make(chan struct{}),
	}
	for _, b := range []struct {
		svc  service
		addr string
	}{{serviceSubmit, cfg.Listen}, {serviceSubmission, cfg.SubmissionListen}, {serviceSubmissions, cfg.SubmissionsListen}} {
		if b.addr == "" {
			continue
		}
		l, err := r.listen(b.svc, b.addr)
		if err != nil {
			for _, l := range r.listeners {
				l.ln.Close()
			}
			cancel()
			return nil, err
		}
		r.listeners = append(r.listeners, l)
	}
	for _, l := range r.listeners {
		go r.serve(l)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.run()
	}()
	r.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source, Local: r.Addr(),
		Text: fmt.Sprintf("relay %s listening on %s, DNS %s, port %d, TLS %s%s", cfg.Hostname, r.Addr(), cfg.DNS, cfg.Port, cfg.TLS, r.services())})
	return r, nil
}

// normalize applies defaults and checks every field of cfg.
func normalize(cfg Config) (Config, *smarthost, error) {
	bad := func(field string, value any, why string) error {
		return fmt.Errorf("relay: config %s %v: %s: %w", field, value, why, ErrConfig)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = DefaultHostname
	}
	cfg.Hostname = strings.TrimSuffix(strings.ToLower(cfg.Hostname), ".")
	if _, ok := dns.IsDomainName(cfg.Hostname); !ok || strings.ContainsAny(cfg.Hostname, " \t\r\n") || cfg.Hostname == "" {
		return cfg, nil, bad("Hostname", strconv.Quote(cfg.Hostname), "not a host name")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return cfg, nil, bad("Listen", strconv.Quote(cfg.Listen), "not host:port")
	}
	if cfg.DNS == "" {
		return cfg, nil, fmt.Errorf("relay: config DNS is required (IP:port of the DNS server): %w", ErrConfig)
	}
	if ap, err := netip.ParseAddrPort(cfg.DNS); err != nil || ap.Port() == 0 {
		return cfg, nil, bad("DNS", strconv.Quote(cfg.DNS), "not IP:port")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, nil, bad("Port", cfg.Port, "out of range 1-65535")
	}
	var smart *smarthost
	if cfg.Smarthost != "" {
		s, err := parseSmarthost(cfg.Smarthost, cfg.Port)
		if err != nil {
			return cfg, nil, bad("Smarthost", strconv.Quote(cfg.Smarthost), err.Error())
		}
		// RFC 8314 §3.3: port 465 speaks TLS from the first byte.
		s.Implicit = cfg.SmarthostImplicitTLS || s.Port == 465
		smart = s
	}
	if cfg.SmarthostImplicitTLS && smart == nil {
		return cfg, nil, fmt.Errorf("relay: config SmarthostImplicitTLS is set but Smarthost is empty: %w", ErrConfig)
	}
	if cfg.SmarthostAuth != nil {
		if smart == nil {
			return cfg, nil, fmt.Errorf("relay: config SmarthostAuth is set but Smarthost is empty: %w", ErrConfig)
		}
		if cfg.SmarthostAuth.User == "" {
			return cfg, nil, fmt.Errorf("relay: config SmarthostAuth has an empty User: %w", ErrConfig)
		}
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSMay
	case TLSNone, TLSMay, TLSEncrypt, TLSVerify, TLSDane:
	default:
		return cfg, nil, bad("TLS", strconv.Quote(string(cfg.TLS)), `want "none", "may", "encrypt", "verify" or "dane"`)
	}
	for _, l := range []struct{ field, addr string }{{"SubmissionListen", cfg.SubmissionListen}, {"SubmissionsListen", cfg.SubmissionsListen}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return cfg, nil, bad(l.field, strconv.Quote(l.addr), "not host:port")
		}
		if len(cfg.SubmitUsers) == 0 {
			return cfg, nil, fmt.Errorf("relay: config %s is set but SubmitUsers is empty: %w", l.field, ErrConfig)
		}
	}
	for u := range cfg.SubmitUsers {
		if u == "" {
			return cfg, nil, fmt.Errorf("relay: config SubmitUsers has an empty user name: %w", ErrConfig)
		}
	}
	if cfg.DKIM != nil {
		if err := cfg.DKIM.check(); err != nil {
			return cfg, nil, fmt.Errorf("relay: config DKIM: %w: %w", err, ErrConfig)
		}
	}
	if cfg.RetryInterval < 0 {
		return cfg, nil, bad("RetryInterval", cfg.RetryInterval, "negative")
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.MaxLifetime < 0 {
		return cfg, nil, bad("MaxLifetime", cfg.MaxLifetime, "negative")
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.MaxMXHosts == 0 {
		cfg.MaxMXHosts = DefaultMaxMXHosts
	}
	if cfg.MaxMXHosts < 2 {
		// RFC 5321 §5.1: the client SHOULD try at least two addresses (rule 8).
		return cfg, nil, bad("MaxMXHosts", cfg.MaxMXHosts, "must be at least 2 (RFC 5321 §5.1)")
	}
	if cfg.Timeout < 0 {
		return cfg, nil, bad("Timeout", cfg.Timeout, "negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	for _, p := range cfg.Mynetworks {
		if !p.IsValid() {
			return cfg, nil, bad("Mynetworks", p, "not a network prefix")
		}
	}
	if cfg.MTASTSPort == 0 {
		cfg.MTASTSPort = DefaultMTASTSPort
	}
	if cfg.MTASTSPort < 0 || cfg.MTASTSPort > 65535 {
		return cfg, nil, bad("MTASTSPort", cfg.MTASTSPort, "out of range 1-65535")
	}
	if cfg.Journal == nil {
		cfg.Journal = journal.New()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return cfg, smart, nil
}

// parseSmarthost reads Postfix relayhost syntax: "host", "[host]",
// "host:port", "[host]:port".
func parseSmarthost(s string, defPort int) (*smarthost, error) {
	sh := &smarthost{Port: defPort, Source: s}
	rest := s
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, errors.New("missing ']'")
		}
		sh.Host, sh.NoMX, rest = rest[1:end], true, rest[end+1:]
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		sh.Host, rest = rest[:i], rest[i:]
	} else {
		sh.Host, rest = rest, ""
	}
	if rest != "" {
		if !strings.HasPrefix(rest, ":") {
			return nil, fmt.Errorf("unexpected %q after host", rest)
		}
		p, err := strconv.Atoi(rest[1:])
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("bad port %q", rest[1:])
		}
		sh.Port = p
	}
	sh.Host = strings.TrimSuffix(strings.ToLower(sh.Host), ".")
	if _, ok := dns.IsDomainName(sh.Host); !ok || sh.Host == "" || strings.ContainsAny(sh.Host, " \t[]") {
		return nil, fmt.Errorf("bad host name %q", sh.Host)
	}
	return sh, nil
}

// Addr returns the submission address, "127.0.0.1:port".
func (r *Relay) Addr() string { return r.listeners[0].ln.Addr().String() }

// services describes the submission services for the start-up log line.
func (r *Relay) services() string {
	var s string
	for _, l := range r.listeners[1:] {
		s += fmt.Sprintf(", %s on %s", l.svc, l.ln.Addr())
	}
	return s
}

// Journal returns the journal the relay writes into.
func (r *Relay) Journal() *journal.Journal { return r.j }

// Close stops the relay in three steps, so that closing it (and the
// network after it) cuts no exchange short:
//
//  1. it stops accepting: the submission listener closes, the queue runner
//     starts no new attempt, and an attempt in progress starts no new
//     session (no next address, no next MX host); a submission in
//     progress gets 451 4.3.0 at the end of DATA;
//  2. it lets the sessions in flight end by themselves, DATA's reply and
//     QUIT included, for up to a grace of one second (Config.Timeout when
//     shorter);
//  3. then it cancels what is left, closing those connections, and waits
//     for every goroutine of the relay to end.
//
// Mail still queued stays queued (Queue lists it) and is never sent: the
// queue lives in memory. Close is idempotent.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.quit)
	r.notifyLocked()
	r.mu.Unlock()

	// Close the listeners ourselves and wait for Serve to return, so that
	// no connection handler can start after Shutdown has counted them.
	var err error
	for _, l := range r.listeners {
		if cerr := l.ln.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	for _, l := range r.listeners {
		<-l.done
	}
	done := make(chan error, 1)
	go func() {
		var serr error
		for _, l := range r.listeners {
			if e := l.srv.Shutdown(context.Background()); e != nil && serr == nil { // waits for every submission session
				serr = e
			}
		}
		r.wg.Wait() // and for the runner and every worker
		done <- serr
	}()
	grace := time.NewTimer(min(closeGrace, r.cfg.Timeout))
	defer grace.Stop()
	var serr error
	select {
	case serr = <-done:
		r.cancel()
	case <-grace.C:
		// Out of grace: cut the sessions still running (a host that
		// hangs, a submitter that idles) and wait for them to notice.
		r.cancel()
		for _, l := range r.listeners {
			l.ln.closeAll()
		}
		serr = <-done
	}
	if serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("relay: close submission listener %s: %w", r.Addr(), err)
	}
	return nil
}

// closing reports whether Close has begun.
func (r *Relay) closing() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

// shuffle randomises the order of hosts with a lock around the shared Rand.
func (r *Relay) shuffle(n int, swap func(i, j int)) {
	r.randMu.Lock()
	defer r.randMu.Unlock()
	r.rnd.Shuffle(n, swap)
}

// trackingListener remembers accepted connections so Close can end them
// before waiting for the server's handlers.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

var _ net.Listener = (*trackingListener)(nil)

// Accept accepts and tracks a connection; after closeAll it closes new ones at once.
func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return c, nil
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// closeAll closes every tracked connection and refuses new ones.
func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for c := range l.conns {
		c.(*trackedConn).Conn.Close()
	}
}

// trackedConn removes itself from its listener when closed.
type trackedConn struct {
	net.Conn
	l *trackingListener
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// journalLogger adapts the journal to go-smtp's Logger.
type journalLogger struct{ j *journal.Journal }

var _ smtp.Logger = journalLogger{}

// Printf appends a relay.log event.
func (l journalLogger) Printf(format string, v ...any) {
	l.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source, Text: "submission: " + fmt.Sprintf(format, v...)})
}

// Println appends a relay.log event.
func (l journalLogger) Println(v ...any) {
	l.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source, Text: "submission: " + strings.TrimSpace(fmt.Sprintln(v...))})
}
