package fakedns

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// headerSize is the size of a DNS message header (RFC 1035 §4.1.1).
const headerSize = 12

// serveUDP answers the queries arriving on pc until Close. It reads and
// answers on one goroutine, with no read deadline and no control
// messages (each socket is bound to one address, so the answer leaves from
// the address the query came to): a busy server then spends its time on
// queries, not on starting a goroutine per packet as miekg/dns's server
// does. While a fault is set (one may delay its answer), each query gets a
// goroutine of its own instead, so a slow answer holds up no other.
func (s *Server) serveUDP(pc *net.UDPConn) error {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-s.closing:
				return nil
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return fmt.Errorf("fakedns: read udp %s: %w", s.addr, err)
		}
		if !s.faulty.Load() {
			s.serveUDPPacket(pc, buf[:n], from)
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		s.packets.Add(1)
		go func() {
			defer s.packets.Done()
			s.serveUDPPacket(pc, pkt, from)
		}()
	}
}

// serveUDPPacket answers one UDP query, the way miekg/dns's server would:
// its default accept rules first (responses are ignored; other opcodes than
// QUERY and NOTIFY get NOTIMP, malformed queries FORMERR, neither
// journaled), then the handler.
func (s *Server) serveUDPPacket(pc *net.UDPConn, b []byte, from netip.AddrPort) {
	if len(b) < headerSize {
		return
	}
	dh := dns.Header{
		Id:      binary.BigEndian.Uint16(b[0:]),
		Bits:    binary.BigEndian.Uint16(b[2:]),
		Qdcount: binary.BigEndian.Uint16(b[4:]),
		Ancount: binary.BigEndian.Uint16(b[6:]),
		Nscount: binary.BigEndian.Uint16(b[8:]),
		Arcount: binary.BigEndian.Uint16(b[10:]),
	}
	action := dns.DefaultMsgAcceptFunc(dh)
	if action == dns.MsgIgnore {
		return
	}
	req := new(dns.Msg)
	if action == dns.MsgAccept {
		if err := req.Unpack(b); err == nil {
			rp := s.respond(req, false, s.remoteText(from))
			if rp.send {
				_, _ = pc.WriteToUDPAddrPort(rp.out, from)
			}
			s.putReply(rp)
			return
		}
		action = dns.MsgReject
	}
	// RFC 1035 §4.1.1: FORMERR for a query we cannot interpret, NOTIMP for
	// a kind of query we do not support; the header alone answers.
	if err := req.Unpack(b[:headerSize]); err != nil {
		return
	}
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == dns.MsgRejectNotImplemented {
		req.Opcode = opcode
		req.Rcode = dns.RcodeNotImplemented
	}
	req.Question, req.Answer, req.Ns, req.Extra = nil, nil, nil, nil
	if out, err := req.Pack(); err == nil {
		_, _ = pc.WriteToUDPAddrPort(out, from)
	}
}
