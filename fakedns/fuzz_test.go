package fakedns_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/journal"
)

// FuzzServer sends arbitrary packets to a running server: pkt as one UDP
// datagram, stream as the bytes of one TCP connection (DNS over TCP frames
// each message with a two-byte length, RFC 1035 §4.2.2; the fuzzer may
// or may not). Empty values send nothing. It checks:
//
//   - every answer that comes back, over UDP or TCP, is a well-formed DNS
//     response (it unpacks, QR is set), whole frames only over TCP, and a
//     UDP answer fits the size the query allowed (512 octets, or its EDNS
//     buffer: RFC 1035 §4.2.1, RFC 6891 §6.2.3);
//   - the server closes a TCP connection once the client has half-closed
//     it, and never sends a partial frame;
//   - afterwards the server still answers a valid query, over UDP after
//     every input and over TCP every tcpCheckEvery inputs, and journals
//     that query.
//
// One server serves a fuzzing process (restarted every restartEvery
// inputs, so that its journal stays small); it has a fault of every kind
// (the delay a millisecond long), so the fault paths run too.
func FuzzServer(f *testing.F) {
	for _, s := range dnsSeeds(f) {
		f.Add(s.pkt, s.stream)
	}
	fx := &dnsFuzz{}
	f.Cleanup(func() {
		if err := fx.stop(); err != nil {
			f.Errorf("stop: %v", err)
		}
	})
	f.Fuzz(func(t *testing.T, pkt, stream []byte) {
		fx.input(t, pkt, stream)
	})
}

const (
	// restartEvery is how many inputs one server answers before the
	// target starts a fresh one.
	restartEvery = 4096
	// tcpCheckEvery is how often the valid query goes over TCP too.
	tcpCheckEvery = 32
	// ioTimeout bounds every wait for the server; a healthy one answers
	// in microseconds.
	ioTimeout = 10 * time.Second
	// dialGap spaces TCP connections: at most 250 a second per fuzzing
	// process (a few workers stay far below the rate at which loopback
	// connections fill the kernel's connection-tracking table).
	dialGap = 4 * time.Millisecond
	// checkName is the valid query; no fault touches it.
	checkName = "example.test."
)

// fuzzZones is the data of the fuzzed server: the usual record types, a
// CNAME chain and loop, a secure zone, a null MX, and a set too big for
// 512 octets.
func fuzzZones() []fakedns.Zone {
	var big []string
	for i := range 40 {
		big = append(big, fmt.Sprintf(`TXT "record %02d of a set that does not fit a 512-octet answer"`, i))
	}
	return []fakedns.Zone{
		{Name: "example.test", Records: map[string][]string{
			"@":            {"MX 10 mx1", "MX 20 mx2.example.test.", `TXT "v=spf1 -all"`, "A 127.0.0.10"},
			"mx1":          {"A 127.0.0.11", "AAAA ::1"},
			"mx2":          {"300 A 127.0.0.12"},
			"_25._tcp.mx1": {"TLSA 3 1 1 0123456789abcdef"},
			"www":          {"CNAME alias"},
			"alias":        {"CNAME mx1"},
			"loop1":        {"CNAME loop2"},
			"loop2":        {"CNAME loop1"},
			"big":          big,
			"flaky":        {"A 127.0.0.13"},
			"slow":         {"A 127.0.0.14"},
		}},
		{Name: "secure.test", Secure: true, Records: map[string][]string{"@": {"MX 10 mx.secure.test."}, "mx": {"A 127.0.0.20"}}},
		{Name: "null.test", Records: map[string][]string{"@": {"MX 0 ."}}},
		{Name: "sub.example.test", Records: map[string][]string{"@": {"MX 5 mx.sub.example.test."}}},
	}
}

func fuzzFaults() []fakedns.Fault {
	return []fakedns.Fault{
		{Name: "flaky.example.test", Type: "A", Kind: fakedns.ServFail},
		{Name: "gone.example.test", Kind: fakedns.Timeout},
		{Name: "tc.example.test", Kind: fakedns.Truncate},
		{Name: "refused.example.test", Type: "MX", Kind: fakedns.Refused, Times: 1000},
		{Name: "slow.example.test", Kind: fakedns.Delay, Delay: time.Millisecond},
		{Name: "nx.test", Zone: true, Kind: fakedns.NXDomain},
	}
}

// dnsFuzz is one fuzzing process's server and sockets. The fuzzing engine
// runs one input at a time per process, so only the answer reader runs
// beside it.
type dnsFuzz struct {
	srv      *fakedns.Server
	addr     netip.AddrPort
	inputs   int
	fuzzUDP  *net.UDPConn // sends pkt; answerReader reads what comes back
	check    *dns.Conn    // UDP, for the valid query
	nextID   uint16
	lastDial time.Time

	readerDone chan struct{}
	mu         sync.Mutex
	limits     map[uint16]int // query ID -> largest UDP answer allowed
	bad        []string       // malformed UDP answers seen by answerReader
}

// start starts a server and the sockets that talk to it.
func (fx *dnsFuzz) start() error {
	srv, err := fakedns.NewServer(fakedns.Config{Zones: fuzzZones(), Faults: fuzzFaults()})
	if err != nil {
		return err
	}
	fx.srv = srv
	fx.addr = netip.MustParseAddrPort(srv.Addr())
	fx.inputs = 0
	fx.limits = map[uint16]int{}
	if fx.fuzzUDP, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0"))); err != nil {
		return errors.Join(err, fx.stop())
	}
	c, err := net.Dial("udp", srv.Addr())
	if err != nil {
		return errors.Join(err, fx.stop())
	}
	fx.check = &dns.Conn{Conn: c}
	fx.readerDone = make(chan struct{})
	go fx.answerReader(fx.fuzzUDP, fx.readerDone)
	return nil
}

// stop closes the server and the sockets and waits for the reader.
func (fx *dnsFuzz) stop() error {
	var errs []error
	if fx.fuzzUDP != nil {
		errs = append(errs, fx.fuzzUDP.Close())
		<-fx.readerDone
		fx.fuzzUDP = nil
	}
	if fx.check != nil {
		errs = append(errs, fx.check.Close())
		fx.check = nil
	}
	if fx.srv != nil {
		errs = append(errs, fx.srv.Close())
		fx.srv = nil
	}
	return errors.Join(errs...)
}

// answerReader reads the answers to fuzzed datagrams until the socket is
// closed, and notes the ones that are not well-formed responses.
func (fx *dnsFuzz) answerReader(pc *net.UDPConn, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, dns.MaxMsgSize+1)
	for {
		n, _, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed by stop
		}
		if problem := checkAnswer(buf[:n]); problem != "" {
			fx.mu.Lock()
			fx.bad = append(fx.bad, problem)
			fx.mu.Unlock()
			continue
		}
		id := binary.BigEndian.Uint16(buf)
		fx.mu.Lock()
		if limit, ok := fx.limits[id]; ok && n > limit {
			fx.bad = append(fx.bad, fmt.Sprintf("UDP answer of %d octets to a query that allows %d (id %d)", n, limit, id))
		}
		fx.mu.Unlock()
	}
}

// checkAnswer returns what is wrong with an answer, or "".
func checkAnswer(b []byte) string {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return fmt.Sprintf("answer does not unpack: %v\n% x", err, b)
	}
	if !m.Response {
		return fmt.Sprintf("answer without QR: %v", m)
	}
	return ""
}

// udpLimit is the largest UDP answer a query allows: 512 octets, or the
// EDNS buffer it advertises (RFC 6891 §6.2.5: values below 512 mean 512).
func udpLimit(pkt []byte) int {
	m := new(dns.Msg)
	if m.Unpack(pkt) != nil {
		return dns.MaxMsgSize // FORMERR or NOTIMP: the header alone, any size fits
	}
	if opt := m.IsEdns0(); opt != nil {
		return max(512, int(opt.UDPSize()))
	}
	return 512
}

// input runs one fuzz input and the checks after it.
func (fx *dnsFuzz) input(t *testing.T, pkt, stream []byte) {
	if fx.srv == nil || fx.inputs >= restartEvery {
		if err := fx.stop(); err != nil {
			t.Fatalf("stop server: %v", err)
		}
		if err := fx.start(); err != nil {
			t.Fatalf("start server: %v", err)
		}
	}
	fx.inputs++
	if len(pkt) > 0 {
		if len(pkt) >= 2 {
			id := binary.BigEndian.Uint16(pkt)
			fx.mu.Lock()
			fx.limits[id] = max(fx.limits[id], udpLimit(pkt))
			fx.mu.Unlock()
		}
		if _, err := fx.fuzzUDP.WriteToUDPAddrPort(pkt, fx.addr); err != nil && len(pkt) <= 65507 {
			t.Fatalf("send UDP packet: %v", err)
		}
	}
	if len(stream) > 0 {
		fx.tcpStream(t, stream)
	}
	fx.validQuery(t, "udp")
	if fx.inputs%tcpCheckEvery == 0 {
		fx.validQuery(t, "tcp")
	}
	fx.mu.Lock()
	bad := fx.bad
	fx.bad = nil
	fx.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("bad UDP answers (to this input or one shortly before):\n%s", bad)
	}
}

// pace waits so that TCP connections are at least dialGap apart.
func (fx *dnsFuzz) pace() {
	if d := time.Until(fx.lastDial.Add(dialGap)); d > 0 {
		time.Sleep(d)
	}
	fx.lastDial = time.Now()
}

// tcpStream sends stream over a new TCP connection, half-closes it, and
// reads the answers until the server closes.
func (fx *dnsFuzz) tcpStream(t *testing.T, stream []byte) {
	fx.pace()
	c, err := net.DialTimeout("tcp", fx.srv.Addr(), ioTimeout)
	if err != nil {
		t.Fatalf("dial TCP: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(stream)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		wrote <- err
	}()
	got, rerr := io.ReadAll(c)
	werr := <-wrote
	var ne net.Error
	if errors.As(rerr, &ne) && ne.Timeout() {
		t.Fatalf("TCP: the server neither answered nor closed within %v of the client's half-close (write: %v)", ioTimeout, werr)
	}
	if rerr != nil {
		// A reset after the server gave up on garbage: what came before
		// is still checked.
		t.Logf("TCP read: %v", rerr)
	}
	for len(got) > 0 {
		if len(got) < 2 {
			t.Fatalf("TCP: %d stray octet(s) after the last frame", len(got))
		}
		n := int(binary.BigEndian.Uint16(got))
		if len(got) < 2+n {
			if rerr != nil {
				break // cut by the reset
			}
			t.Fatalf("TCP: partial frame: length %d, %d octets follow", n, len(got)-2)
		}
		if p := checkAnswer(got[2 : 2+n]); p != "" {
			t.Fatalf("TCP: %s", p)
		}
		got = got[2+n:]
	}
}

// validQuery asks MX example.test. over proto and checks the answer and
// its journal event.
func (fx *dnsFuzz) validQuery(t *testing.T, proto string) {
	mark := fx.srv.Journal().Len()
	fx.nextID++
	q := new(dns.Msg)
	q.SetQuestion(checkName, dns.TypeMX)
	q.Id = fx.nextID
	var (
		r     *dns.Msg
		err   error
		local string
	)
	switch proto {
	case "udp":
		local = fx.check.LocalAddr().String()
		r, err = exchangeOn(fx.check, q)
	case "tcp":
		fx.pace()
		var c net.Conn
		if c, err = net.DialTimeout("tcp", fx.srv.Addr(), ioTimeout); err != nil {
			t.Fatalf("valid query: dial TCP: %v", err)
		}
		local = c.LocalAddr().String()
		dc := &dns.Conn{Conn: c}
		r, err = exchangeOn(dc, q)
		dc.Close()
	}
	if err != nil {
		t.Fatalf("valid query over %s after this input: %v", proto, err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 2 {
		t.Fatalf("valid query over %s after this input: answer\n%v", proto, r)
	}
	found := 0
	for _, e := range fx.srv.Journal().Since(int64(mark)) {
		if e.Kind == journal.KindDNSQuery && e.Remote == local && e.DNS != nil && e.DNS.Name == checkName {
			found++
		}
	}
	if found != 1 {
		t.Fatalf("valid query over %s: %d journal events from %s, want 1", proto, found, local)
	}
}

// exchangeOn sends q on c and returns the answer with q's ID, skipping
// stale ones (a UDP answer that came after its query's deadline).
func exchangeOn(c *dns.Conn, q *dns.Msg) (*dns.Msg, error) {
	c.SetDeadline(time.Now().Add(ioTimeout))
	if err := c.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		r, err := c.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == q.Id {
			return r, nil
		}
	}
}

// dnsSeed is one seed input.
type dnsSeed struct{ pkt, stream []byte }

// dnsSeeds returns well-formed queries of every kind the server handles,
// each as a datagram and as a framed TCP stream, and a few malformed
// ones. testdata/fuzz/FuzzServer holds more hand-made ones.
func dnsSeeds(f *testing.F) []dnsSeed {
	f.Helper()
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			f.Fatalf("pack seed %v: %v", m, err)
		}
		return b
	}
	frame := func(msgs ...[]byte) []byte {
		var out []byte
		for _, m := range msgs {
			out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
			out = append(out, m...)
		}
		return out
	}
	query := func(name string, qtype uint16, edns uint16, do bool) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Id = 0x4d58
		if edns > 0 {
			m.SetEdns0(edns, do)
		}
		return pack(m)
	}
	var seeds []dnsSeed
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  uint16
		do    bool
	}{
		{"example.test.", dns.TypeMX, 0, false},
		{"EXAMPLE.Test.", dns.TypeA, 1232, false},
		{"mx1.example.test.", dns.TypeAAAA, 0, false},
		{"_25._tcp.mx1.example.test.", dns.TypeTLSA, 4096, true},
		{"www.example.test.", dns.TypeA, 0, false},
		{"loop1.example.test.", dns.TypeA, 0, false},
		{"big.example.test.", dns.TypeTXT, 0, false},
		{"big.example.test.", dns.TypeTXT, 600, false},
		{"nope.example.test.", dns.TypeA, 0, false},
		{"example.test.", dns.TypeANY, 0, false},
		{"secure.test.", dns.TypeMX, 1232, true},
		{"null.test.", dns.TypeMX, 0, false},
		{"outside.invalid.", dns.TypeA, 0, false},
		{"flaky.example.test.", dns.TypeA, 0, false},
		{"gone.example.test.", dns.TypeA, 0, false},
		{"tc.example.test.", dns.TypeMX, 0, false},
		{"slow.example.test.", dns.TypeA, 0, false},
		{"x.nx.test.", dns.TypeMX, 0, false},
		{"mx.sub.example.test.", dns.TypeA, 0, false},
	} {
		b := query(q.name, q.qtype, q.edns, q.do)
		seeds = append(seeds, dnsSeed{b, nil}, dnsSeed{nil, frame(b)})
	}
	mx := query("example.test.", dns.TypeMX, 0, false)
	tc := query("tc.example.test.", dns.TypeMX, 0, false)
	seeds = append(seeds,
		dnsSeed{mx, frame(mx, tc, mx)}, // pipelined over TCP (RFC 7766 §6.2.1.1)
		dnsSeed{mx[:headerSize], frame(mx[:headerSize])},
		dnsSeed{mx[:5], frame(mx)[:7]},
		dnsSeed{nil, mx}, // unframed
	)
	// Other opcodes, two questions, a response, a compression loop.
	notify := new(dns.Msg)
	notify.SetNotify("example.test.")
	update := new(dns.Msg)
	update.SetUpdate("example.test.")
	two := new(dns.Msg)
	two.Question = []dns.Question{{Name: "a.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, {Name: "b.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}
	resp := new(dns.Msg)
	resp.SetQuestion("example.test.", dns.TypeMX)
	resp.Response = true
	loop := append(append([]byte(nil), mx[:headerSize]...), 0xc0, headerSize, 0, 1, 0, 1)
	for _, m := range [][]byte{pack(notify), pack(update), pack(two), pack(resp), loop} {
		seeds = append(seeds, dnsSeed{m, frame(m)})
	}
	return seeds
}

// headerSize is the size of a DNS header (RFC 1035 §4.1.1).
const headerSize = 12
