package relay

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// ---- fake DNS ----------------------------------------------------------

// fakeDNS is a tiny authoritative server over a map, on 127.0.0.1 UDP+TCP.
type fakeDNS struct {
	Addr string

	mu      sync.Mutex
	records map[string][]dns.RR // owner (lower, fqdn) → records
	faults  map[string]int      // owner → rcode, or -1 for no answer (timeout)
	queries []string            // "name TYPE"
	ad      bool                // answers carry the AD bit (DNSSEC-secure)
	noAD    map[string]bool     // owner names whose answers never carry AD
}

// setAD makes every answer carry the AD bit, or none.
func (f *fakeDNS) setAD(ad bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ad = ad
}

// insecure makes the answers for the names carry no AD bit, whatever setAD
// says.
func (f *fakeDNS) insecure(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noAD == nil {
		f.noAD = map[string]bool{}
	}
	for _, n := range names {
		f.noAD[dns.Fqdn(strings.ToLower(n))] = true
	}
}

// newDNS starts a fake DNS server with zone-file lines ("a.test. A 127.0.0.1").
func newDNS(t *testing.T, lines ...string) *fakeDNS {
	t.Helper()
	f := &fakeDNS{records: map[string][]dns.RR{}, faults: map[string]int{}}
	for _, l := range lines {
		f.add(t, l)
	}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dns fixture: listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if i == 10 {
			t.Fatalf("dns fixture: listen tcp: %v", err)
		}
	}
	f.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(f.serve)
	done := make(chan error, 2)
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { done <- s.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatalf("dns fixture: serve: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Shutdown(); err != nil {
				t.Errorf("dns fixture: shutdown: %v", err)
			}
			<-done
		})
	}
	return f
}

// add inserts one zone-file record.
func (f *fakeDNS) add(t *testing.T, line string) {
	t.Helper()
	rr, err := dns.NewRR(line)
	if err != nil {
		t.Fatalf("dns fixture: record %q: %v", line, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := strings.ToLower(rr.Header().Name)
	f.records[n] = append(f.records[n], rr)
}

// fail makes every query at name answer rcode (-1: no answer at all).
func (f *fakeDNS) fail(name string, rcode int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rcode == 0 {
		delete(f.faults, dns.Fqdn(name))
		return
	}
	f.faults[dns.Fqdn(name)] = rcode
}

// asked reports whether name/qtype was queried.
func (f *fakeDNS) asked(name, qtype string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.queries {
		if q == dns.Fqdn(name)+" "+qtype {
			return true
		}
	}
	return false
}

func (f *fakeDNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	f.mu.Lock()
	m.AuthenticatedData = f.ad && !f.noAD[name]
	f.queries = append(f.queries, name+" "+dns.TypeToString[q.Qtype])
	rcode, faulty := f.faults[name]
	if faulty && rcode < 0 {
		f.mu.Unlock()
		return // timeout
	}
	if faulty {
		m.Rcode = rcode
	} else {
		for hops := 0; hops < 8; hops++ {
			rrs, exists := f.records[name]
			if !exists {
				m.Rcode = dns.RcodeNameError
				break
			}
			var cname *dns.CNAME
			found := false
			for _, rr := range rrs {
				if rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, rr)
					found = true
				}
				if c, ok := rr.(*dns.CNAME); ok {
					cname = c
				}
			}
			if found || cname == nil {
				break
			}
			// The server follows the chain in its answer, as real ones do.
			m.Answer = append(m.Answer, cname)
			name = strings.ToLower(cname.Target)
		}
	}
	f.mu.Unlock()
	_ = w.WriteMsg(m)
}

// ---- fake SMTP network ---------------------------------------------------

// network is a /24 of loopback addresses whose hosts share one port, as
// real MX hosts do.
type network struct {
	t      *testing.T
	prefix string // "127.A.B."
	port   int
	dns    *fakeDNS
}

// newNetwork picks a random 127.A.B.0/24 and starts DNS with the zone
// lines, in which "{net}" stands for "127.A.B.".
func newNetwork(t *testing.T, lines ...string) *network {
	t.Helper()
	n := &network{
		t:      t,
		prefix: fmt.Sprintf("127.%d.%d.", 1+mrand.IntN(250), 1+mrand.IntN(250)),
		dns:    newDNS(t),
	}
	n.zone(lines...)
	return n
}

// zone adds zone lines to the DNS ("{net}" stands for "127.A.B.").
func (n *network) zone(lines ...string) {
	n.t.Helper()
	for _, l := range lines {
		n.dns.add(n.t, strings.ReplaceAll(l, "{net}", n.prefix))
	}
}

// ip returns 127.A.B.n.
func (n *network) ip(i int) string { return fmt.Sprintf("%s%d", n.prefix, i) }

// listen binds ip(i) on the network's port (a free one the first time).
func (n *network) listen(i int) net.Listener {
	n.t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(n.ip(i), fmt.Sprint(n.port)))
	if err != nil {
		n.t.Fatalf("network: listen on %s: %v", n.ip(i), err)
	}
	if n.port == 0 {
		n.port = l.Addr().(*net.TCPAddr).Port
	}
	return l
}

// received is a message a fake host accepted.
type received struct {
	From     string
	To       []string
	Data     string
	TLS      bool
	AuthUser string
}

// hostOpts shape a fake SMTP host.
type hostOpts struct {
	TLS      *tls.Config                     // non-nil: offer STARTTLS
	Users    map[string]string               // non-nil: AUTH PLAIN/LOGIN required
	Insecure bool                            // offer AUTH without TLS
	Mail     error                           // reply to MAIL
	Rcpt     func(to string, seen int) error // reply to RCPT; seen counts earlier RCPTs for to
	Data     error                           // reply at end of DATA
}

// fakeHost is a go-smtp server recording what it accepts.
type fakeHost struct {
	Name string
	IP   string
	opts hostOpts

	mu       sync.Mutex
	msgs     []received
	rcptSeen map[string]int
	auths    int
	sessions int
}

// host starts a fake SMTP host at ip(i) named name.
func (n *network) host(i int, name string, opts hostOpts) *fakeHost {
	n.t.Helper()
	h := &fakeHost{Name: name, IP: n.ip(i), opts: opts, rcptSeen: map[string]int{}}
	l := n.listen(i)
	tl := &trackingListener{Listener: l, conns: map[net.Conn]struct{}{}}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		h.mu.Lock()
		h.sessions++
		h.mu.Unlock()
		return &hostSession{h: h, c: c}, nil
	}))
	s.Domain = name
	s.TLSConfig = opts.TLS
	s.AllowInsecureAuth = opts.Insecure
	s.ErrorLog = discardLogger{}
	done := make(chan error, 1)
	go func() { done <- s.Serve(tl) }()
	n.t.Cleanup(func() {
		// Close the listener first and wait for Serve, so no handler starts
		// after Shutdown counted them.
		tl.Close()
		<-done
		tl.closeAll()
		if err := s.Shutdown(context.Background()); err != nil && !errors.Is(err, net.ErrClosed) {
			n.t.Errorf("host %s: shutdown: %v", name, err)
		}
	})
	return h
}

// messages returns what h accepted so far.
func (h *fakeHost) messages() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.msgs...)
}

// counts returns the number of sessions (EHLO/HELO) and AUTH attempts.
func (h *fakeHost) counts() (sessions, auths int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions, h.auths
}

// rcpts returns how many RCPTs h saw for to.
func (h *fakeHost) rcpts(to string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rcptSeen[to]
}

type hostSession struct {
	h    *fakeHost
	c    *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*hostSession)(nil)

func (s *hostSession) AuthMechanisms() []string {
	if s.h.opts.Users == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *hostSession) Auth(mech string) (sasl.Server, error) {
	s.h.mu.Lock()
	s.h.auths++
	s.h.mu.Unlock()
	check := func(u, p string) error {
		if want, ok := s.h.opts.Users[u]; !ok || want != p {
			return smtp.ErrAuthFailed
		}
		s.user = u
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, u, p string) error { return check(u, p) }), nil
}

func (s *hostSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.h.opts.Users != nil && s.user == "" {
		return errAuthRequired
	}
	if s.h.opts.Mail != nil {
		return s.h.opts.Mail
	}
	s.from = from
	return nil
}

func (s *hostSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.h.mu.Lock()
	seen := s.h.rcptSeen[to]
	s.h.rcptSeen[to]++
	s.h.mu.Unlock()
	if s.h.opts.Rcpt != nil {
		if err := s.h.opts.Rcpt(to, seen); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *hostSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.h.opts.Data != nil {
		return s.h.opts.Data
	}
	_, isTLS := s.c.TLSConnectionState()
	s.h.mu.Lock()
	s.h.msgs = append(s.h.msgs, received{From: s.from, To: s.to, Data: string(b), TLS: isTLS, AuthUser: s.user})
	s.h.mu.Unlock()
	return nil
}

func (s *hostSession) Reset()        { s.from, s.to = "", nil }
func (s *hostSession) Logout() error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// greeter listens at ip(i) and answers every connection with line, then
// closes it (a 4yz or 554 greeting). It returns the number of connections.
func (n *network) greeter(i int, line string) func() int {
	n.t.Helper()
	l := n.listen(i)
	var mu sync.Mutex
	count := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			count++
			mu.Unlock()
			_, _ = fmt.Fprintf(c, "%s\r\n", line)
			// Read until the client leaves (QUIT or close), then close.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = bufio.NewReader(c).ReadString('\n')
			c.Close()
		}
	}()
	n.t.Cleanup(func() { l.Close(); <-done })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return count
	}
}

// ---- relay helpers --------------------------------------------------------

// startRelay starts a relay on the network and closes it at cleanup.
func (n *network) startRelay(cfg Config) *Relay {
	n.t.Helper()
	cfg.DNS = n.dns.Addr
	if cfg.Port == 0 {
		cfg.Port = n.port
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Rand == nil {
		cfg.Rand = mrand.New(mrand.NewPCG(1, 2))
	}
	r, err := Start(cfg)
	if err != nil {
		n.t.Fatalf("Start: %v", err)
	}
	n.t.Cleanup(func() {
		if err := r.Close(); err != nil {
			n.t.Errorf("Close: %v", err)
		}
	})
	return r
}

// submit sends one message to the relay, with AUTH PLAIN when user is set.
func submit(addr string, auth sasl.Client, from string, to ...string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: test\r\n\r\nhello\r\n", from, strings.Join(to, ">, <"))
	if err := c.SendMail(from, to, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

// mustSubmit submits and fails the test on error.
func mustSubmit(t *testing.T, r *Relay, from string, to ...string) {
	t.Helper()
	if err := submit(r.Addr(), nil, from, to...); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

// idle waits for the relay to be idle.
func idle(t *testing.T, r *Relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Idle(ctx); err != nil {
		t.Fatalf("Idle: %v\njournal:\n%s", err, r.Journal())
	}
}

// events returns the relay's events of kind.
func events(r *Relay, kind journal.Kind) []journal.Event {
	return r.Journal().Events(journal.OfKind(kind))
}

// attemptedHosts lists the host names of relay.attempt events, in order.
func attemptedHosts(r *Relay) []string {
	var out []string
	for _, e := range events(r, journal.KindRelayAttempt) {
		out = append(out, e.Text[:strings.IndexByte(e.Text, '[')])
	}
	return out
}

// ---- a tiny CA -------------------------------------------------------------

// testCA issues certificates for fake hosts.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	Pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mxsim test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{t: t, cert: cert, key: key, Pool: pool}
}

// serverTLS returns a server config with a certificate for name, expired
// or not, signed by the CA.
func (ca *testCA) serverTLS(name string, expired bool) *tls.Config {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	nb, na := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if expired {
		nb, na = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(mrand.Int64N(1 << 62)), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// errReply builds a go-smtp reply error.
func errReply(code int, e1, e2, e3 int, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{e1, e2, e3}, Message: msg}
}
