package fakedns

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkQuery measures one MX query over UDP on a kept-open socket.
func BenchmarkQuery(b *testing.B) {
	s := start(b, Config{Zones: exampleZones()})
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeMX)
	m.SetEdns0(1232, false)
	q, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1232)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := conn.Write(q); err != nil {
			b.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if n < 12 || buf[3]&0x0f != 0 { // RCODE in the low bits of byte 3
			b.Fatalf("bad answer (%d bytes)", n)
		}
	}
}

// BenchmarkNewServer measures starting (both sockets serving) and closing.
func BenchmarkNewServer(b *testing.B) {
	zones := exampleZones()
	b.ReportAllocs()
	for b.Loop() {
		s, err := NewServer(Config{Zones: zones})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
