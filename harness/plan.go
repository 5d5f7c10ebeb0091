package harness

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
)

// Plan is the address plan of an environment (docs/architecture.md): a
// block of 127.0.0.0/8 — one /24 unless the network is large — with the
// DNS server on .53 of its first /24, hosts from .10 up, every host on the
// same SMTP port. Linux answers on all of 127.0.0.0/8 with no set-up.
type Plan struct {
	// Subnet is the block the environment lives in: a /24, or larger (up
	// to a /16) for networks of more than 244 hosts. The zero value picks
	// a random 127.A.B.0/24 (A from 16 up; a larger block when the hosts
	// need one), so that parallel environments, in this process or in
	// others, do not share addresses.
	Subnet netip.Prefix
	// DNSPort is the DNS server's port; 0 picks a free one. Real MTAs need
	// 53, since a resolv.conf carries no port.
	DNSPort int
	// SMTPPort is the port of every host; 0 picks a free one. Real MTAs
	// deliver to 25 unless told otherwise (Postfix: smtp_tcp_port).
	SMTPPort int
}

// FixedPlan is the plan for a real MTA configured once: DNS on
// 127.0.0.53:53 and hosts on port 25 of 127.0.0.10 and up. Binding those
// ports needs root or a lowered net.ipv4.ip_unprivileged_port_start.
func FixedPlan() Plan {
	return Plan{Subnet: netip.MustParsePrefix("127.0.0.0/24"), DNSPort: 53, SMTPPort: 25}
}

// resolve fills in a random subnet large enough for hosts hosts, and
// checks the plan.
func (p Plan) resolve(hosts int) (Plan, error) {
	if !p.Subnet.IsValid() {
		bits := 24
		for bits > 16 && capacity(bits) < hosts {
			bits--
		}
		// 127.A.B.0 with A in 16..254: away from 127.0.0.x, where
		// 127.0.0.1 and 127.0.0.53 (systemd-resolved) live.
		a := byte(16 + rand.IntN(239))
		b := byte(rand.IntN(256))
		p.Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{127, a, b, 0}), bits).Masked()
	}
	if p.Subnet.Bits() < 16 || p.Subnet.Bits() > 24 || !p.Subnet.Addr().Is4() || !p.Subnet.Addr().IsLoopback() {
		return p, fmt.Errorf("harness: %w: subnet %s: want a /24 (up to a /16) inside 127.0.0.0/8", ErrConfig, p.Subnet)
	}
	p.Subnet = p.Subnet.Masked()
	if p.DNSPort < 0 || p.DNSPort > 65535 {
		return p, fmt.Errorf("harness: %w: DNS port %d out of range", ErrConfig, p.DNSPort)
	}
	if p.SMTPPort < 0 || p.SMTPPort > 65535 {
		return p, fmt.Errorf("harness: %w: SMTP port %d out of range", ErrConfig, p.SMTPPort)
	}
	if c := capacity(p.Subnet.Bits()); hosts > c {
		return p, fmt.Errorf("harness: %w: %d hosts, at most %d fit in %s", ErrConfig, hosts, c, p.Subnet)
	}
	return p, nil
}

// capacity is how many hosts fit in a block of that many prefix bits:
// every address from .10 of the first /24 to the last, but .53 (DNS).
func capacity(bits int) int { return 1<<(32-bits) - 10 - 1 - 1 }

// DNSAddr returns the address of the DNS server: .53 of the first /24.
func (p Plan) DNSAddr() netip.Addr { return p.at(53) }

// hostAddr returns the address of the i-th host (from 0): .10 and up,
// skipping .53.
func (p Plan) hostAddr(i int) netip.Addr {
	n := 10 + i
	if n >= 53 {
		n++
	}
	return p.at(n)
}

// at returns the n-th address of the subnet.
func (p Plan) at(n int) netip.Addr {
	a := p.Subnet.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
