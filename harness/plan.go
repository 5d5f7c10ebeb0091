package harness

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
)

// maxHosts is how many hosts fit in one /24 from .10 up, leaving .53 to DNS.
const maxHosts = 244

// Plan is the address plan of an environment (DESIGN.md §3): one /24 of
// 127.0.0.0/8, the DNS server on .53, hosts from .10 up, every host on the
// same SMTP port. Linux answers on all of 127.0.0.0/8 with no set-up.
type Plan struct {
	// Subnet is the /24 the environment lives in. The zero value picks a
	// random 127.A.B.0/24 (A from 16 up), so that parallel environments,
	// in this process or in others, do not share addresses.
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

func (p Plan) resolve() (Plan, error) {
	if !p.Subnet.IsValid() {
		// 127.A.B.0/24 with A in 16..254: away from 127.0.0.x, where
		// 127.0.0.1 and 127.0.0.53 (systemd-resolved) live.
		a := byte(16 + rand.IntN(239))
		b := byte(rand.IntN(256))
		p.Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{127, a, b, 0}), 24)
	}
	if p.Subnet.Bits() != 24 || !p.Subnet.Addr().Is4() || !p.Subnet.Addr().IsLoopback() {
		return p, fmt.Errorf("%w: subnet %s: want a /24 inside 127.0.0.0/8", ErrConfig, p.Subnet)
	}
	p.Subnet = p.Subnet.Masked()
	if p.DNSPort < 0 || p.DNSPort > 65535 {
		return p, fmt.Errorf("%w: DNS port %d out of range", ErrConfig, p.DNSPort)
	}
	if p.SMTPPort < 0 || p.SMTPPort > 65535 {
		return p, fmt.Errorf("%w: SMTP port %d out of range", ErrConfig, p.SMTPPort)
	}
	return p, nil
}

// DNSAddr returns the address of the DNS server: .53 of the subnet.
func (p Plan) DNSAddr() netip.Addr { return p.at(53) }

// hostAddr returns the address of the i-th host (from 0): .10 and up,
// skipping .53.
func (p Plan) hostAddr(i int) netip.Addr {
	n := 10 + i
	if n >= 53 {
		n++
	}
	return p.at(byte(n))
}

func (p Plan) at(last byte) netip.Addr {
	a := p.Subnet.Addr().As4()
	a[3] = last
	return netip.AddrFrom4(a)
}
