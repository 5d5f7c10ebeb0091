package fakedns

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

// TestUDPSockets: the server reads UDP on one SO_REUSEPORT socket per CPU
// (up to maxUDPSockets), all on its one port; clients from many source
// ports, which the kernel spreads over the sockets, are all answered,
// journaled with their own address, and Close stops every socket (goleak).
func TestUDPSockets(t *testing.T) {
	s := start(t, Config{Zones: exampleZones()})
	if got, want := len(s.udp), udpSockets(); got != want {
		t.Errorf("%d UDP servers, want %d", got, want)
	}
	const clients = 40
	seen := make(map[string]bool)
	for i := range clients {
		c, err := net.Dial("udp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		m.SetQuestion("example.test.", dns.TypeMX)
		q, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(q); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1232)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("client %d (%s): %v", i, c.LocalAddr(), err)
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil || r.Id != m.Id || len(r.Answer) != 2 {
			t.Errorf("client %d: answer %v, %v", i, &r, err)
		}
		seen[c.LocalAddr().String()] = true
		c.Close()
	}
	var remotes []string
	for _, e := range s.Journal().Events(journal.OfKind(journal.KindDNSQuery)) {
		if !seen[e.Remote] || e.DNS.Proto != "udp" {
			t.Errorf("event from %q (%s), not one of the clients", e.Remote, e.DNS.Proto)
		}
		remotes = append(remotes, e.Remote)
	}
	if len(remotes) != clients {
		t.Errorf("%d queries journaled, want %d", len(remotes), clients)
	}
}

// TestBindSharedPortTaken: with a fixed port, a port held by another
// socket without SO_REUSEPORT is an error, and nothing is left bound.
func TestBindSharedPortTaken(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if s, err := NewServer(Config{Addr: pc.LocalAddr().String()}); err == nil {
		s.Close()
		t.Fatalf("NewServer on a taken UDP port: no error")
	}
}
