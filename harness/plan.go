package harness

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/mxsim/mxsim/fakesmtp"
)

// Plan is the address plan of an environment (docs/architecture.md): a
// block of 127.0.0.0/8 — one /24 unless the network is large — with the
// DNS server on .53 of its first /24, hosts from .10 up (of Hosts, when
// set), every host on the same SMTP port. Linux answers on all of
// 127.0.0.0/8 with no set-up.
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
	// Hosts is the block the hosts take their addresses from (.10 and up
	// of its first /24, .53 skipped), when it is not Subnet: a /24 (up to
	// a /16) inside 127.0.0.0/8 that does not overlap Subnet, where the
	// DNS server stays. It needs a Subnet. The zero value: Subnet.
	// ForCase sets it, so that each scenario of a run on fixed addresses
	// has host addresses of its own.
	Hosts netip.Prefix
}

// ForCase returns the plan of the k-th scenario (from 0) of a run on a
// plan with a fixed Subnet: the same DNS address and ports, hosts in a
// block of their own (Hosts), the (k+1)-th block of Subnet's size after
// Subnet, wrapping inside 127.0.0.0/8 and skipping Subnet itself. With
// FixedPlan, scenario 0 has its hosts in 127.0.1.0/24 (127.0.1.10 and
// up), scenario 1 in 127.0.2.0/24, and so on: a relay that keeps state
// by host address (retry hints, suspended routes, cached sessions) finds
// none from an earlier scenario of the run. The scheme is the same in
// every run: scenario k of the next run gets the same block again. A
// plan without a Subnet is returned as it is: each scenario picks a
// random one anyway.
func (p Plan) ForCase(k int) Plan {
	if !p.Subnet.IsValid() || k < 0 || p.Subnet.Bits() < 8 || p.Subnet.Bits() > 24 {
		return p
	}
	bits := p.Subnet.Bits()
	size := uint32(1) << (32 - bits)
	blocks := uint32(1) << (bits - 8) // blocks of that size in 127.0.0.0/8
	if blocks < 2 {
		return p
	}
	a := p.Subnet.Masked().Addr().As4()
	off := uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	own := off / size
	b := (own + 1 + uint32(k)%(blocks-1)) % blocks
	v := 127<<24 | b*size
	p.Hosts = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
	return p
}

// hostBlock is the block the hosts' addresses come from.
func (p Plan) hostBlock() netip.Prefix {
	if p.Hosts.IsValid() {
		return p.Hosts
	}
	return p.Subnet
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
	if p.Hosts.IsValid() && !p.Subnet.IsValid() {
		return p, fmt.Errorf("harness: %w: hosts block %s without a subnet: the DNS server's place must be fixed too", ErrConfig, p.Hosts)
	}
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
	if p.Hosts.IsValid() {
		if p.Hosts.Bits() < 16 || p.Hosts.Bits() > 24 || !p.Hosts.Addr().Is4() || !p.Hosts.Addr().IsLoopback() {
			return p, fmt.Errorf("harness: %w: hosts block %s: want a /24 (up to a /16) inside 127.0.0.0/8", ErrConfig, p.Hosts)
		}
		p.Hosts = p.Hosts.Masked()
		if p.Hosts.Overlaps(p.Subnet) {
			if p.Hosts != p.Subnet {
				return p, fmt.Errorf("harness: %w: hosts block %s overlaps subnet %s, where the DNS server is", ErrConfig, p.Hosts, p.Subnet)
			}
			p.Hosts = netip.Prefix{}
		}
	}
	if c := capacity(p.hostBlock().Bits()); hosts > c {
		return p, fmt.Errorf("harness: %w: %d hosts, at most %d fit in %s", ErrConfig, hosts, c, p.hostBlock())
	}
	return p, nil
}

// capacity is how many hosts fit in a block of that many prefix bits:
// every address from .10 of the first /24 to the last, but .53 (DNS).
func capacity(bits int) int { return 1<<(32-bits) - 10 - 1 - 1 }

// DNSAddr returns the address of the DNS server: .53 of the first /24.
func (p Plan) DNSAddr() netip.Addr { return p.at(53) }

// hostAddr returns the address of the i-th host (from 0): .10 and up of
// the hosts' block, skipping .53.
func (p Plan) hostAddr(i int) netip.Addr {
	n := 10 + i
	if n >= 53 {
		n++
	}
	return addrAt(p.hostBlock(), n)
}

// at returns the n-th address of the subnet.
func (p Plan) at(n int) netip.Addr { return addrAt(p.Subnet, n) }

// addrAt returns the n-th address of block.
func addrAt(block netip.Prefix, n int) netip.Addr {
	a := block.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// mapPorts picks, for a plan whose SMTP port was picked free (smtp), a
// free port for every port the hosts list besides 25 (Host.Ports),
// distinct from smtp and from each other: one port per listed number,
// shared by every host that lists it, as the SMTP port is. nil when no
// host lists one.
func mapPorts(ip netip.Addr, smtp int, hosts []Host) (map[int]int, error) {
	var mapped map[int]int
	taken := map[int]bool{smtp: true}
	for _, h := range hosts {
		for _, p := range h.Ports {
			if p == 25 || mapped[p] != 0 {
				continue
			}
			if mapped == nil {
				mapped = make(map[int]int)
			}
			for tries := 0; ; tries++ {
				free, err := freePort(ip)
				if err != nil {
					return nil, err
				}
				if !taken[free] {
					taken[free] = true
					mapped[p] = free
					break
				}
				if tries == 20 {
					return nil, fmt.Errorf("harness: no free port for port %d on %s", p, ip)
				}
			}
		}
	}
	return mapped, nil
}

// listeners returns the addresses a host at ip listens on, with their
// modes, for its Ports (empty: 25 only); smtp is what 25 means for it.
// A port the plan maps (random plan) is bound where it maps to, any other
// as it is. Two listed ports that come to one port (25 and the plan's
// own SMTP port) make one listener, the first listed.
func (e *Env) listeners(ip netip.Addr, smtp int, ports []int) []fakesmtp.Listener {
	if len(ports) == 0 {
		ports = []int{25}
	}
	var out []fakesmtp.Listener
	bound := make(map[int]bool, len(ports))
	for _, p := range ports {
		actual := p
		switch {
		case p == 25:
			actual = smtp
		case e.mapped[p] != 0:
			actual = e.mapped[p]
		}
		if bound[actual] {
			continue
		}
		bound[actual] = true
		out = append(out, fakesmtp.Listener{Addr: netip.AddrPortFrom(ip, uint16(actual)).String(), Mode: fakesmtp.ModeForPort(p)})
	}
	return out
}

// portsHint explains a failure to bind a privileged port among ls.
func portsHint(ls []fakesmtp.Listener) string {
	for _, l := range ls {
		if ap, err := netip.ParseAddrPort(l.Addr); err == nil {
			if h := portHint(int(ap.Port())); h != "" {
				return h
			}
		}
	}
	return ""
}
