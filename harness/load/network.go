package load

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

// Network describes a generated network: Domains mail domains served by
// Hosts MX hosts, all under one zone (Zone). Each domain gets one of four
// MX shapes, drawn from the run's seed: one host; two hosts of equal
// preference (RFC 5321 §5.1: the relay must spread over them); one host
// and a backup of higher preference number; two equal hosts and a backup.
// A share of the domains publishes a null MX (RFC 7505: every recipient
// bounces with a 5yz) and a share does not exist at all (NXDOMAIN: a 5yz
// too).
type Network struct {
	Domains  int     // mail domains; default 200
	Hosts    int     // MX hosts; default 20
	NullMX   float64 // share of the domains with a null MX, 0..1
	NXDomain float64 // share of the domains that do not exist, 0..1
}

// Zone is the one zone a generated network lives in.
const Zone = "load.test"

// Sender is the envelope sender of every message the load generator
// submits. Its domain has an MX of its own (bounceHost), outside every
// chaos schedule, so that the relay's DSNs leave its queue.
const Sender = "load@sender." + Zone

// bounceHost takes the relay's DSNs to Sender.
const bounceHost = "dsn." + Zone

// Domain classes: what the network says about every recipient there.
const (
	classMX       = "mx"       // delivered to its MX hosts
	classNullMX   = "null-mx"  // bounced: the domain says it takes no mail
	classNXDomain = "nxdomain" // bounced: the domain does not exist
)

// domain is one recipient domain of the run.
type domain struct {
	Name  string
	Class string
	MX    []mxRec // by preference, lowest first; empty for null MX and NXDOMAIN
}

type mxRec struct {
	Pref int
	Host string
}

// best returns the hosts of the lowest preference.
func (d domain) best() []string {
	var out []string
	for _, m := range d.MX {
		if m.Pref == d.MX[0].Pref {
			out = append(out, m.Host)
		}
	}
	return out
}

func (n Network) withDefaults() Network {
	if n.Domains == 0 {
		n.Domains = 200
	}
	if n.Hosts == 0 {
		n.Hosts = 20
	}
	return n
}

// Check reports the first bad value, naming its field.
func (n Network) Check() error {
	switch {
	case n.Domains < 0:
		return fmt.Errorf("load: %w: Domains %d: want 1 or more", ErrConfig, n.Domains)
	case n.Hosts < 0:
		return fmt.Errorf("load: %w: Hosts %d: want 1 or more", ErrConfig, n.Hosts)
	case n.NullMX < 0 || n.NullMX > 1:
		return fmt.Errorf("load: %w: NullMX %g: want a share from 0 to 1", ErrConfig, n.NullMX)
	case n.NXDomain < 0 || n.NXDomain > 1:
		return fmt.Errorf("load: %w: NXDomain %g: want a share from 0 to 1", ErrConfig, n.NXDomain)
	case n.NullMX+n.NXDomain > 1:
		return fmt.Errorf("load: %w: NullMX and NXDomain share more than all the domains", ErrConfig)
	}
	return nil
}

// build returns the network's configuration and its domains, drawn from
// rng: the same seed gives the same network.
func (n Network) build(rng *rand.Rand) (harness.Config, []domain) {
	n = n.withDefaults()
	hosts := make([]string, n.Hosts)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("mx%d.%s", i+1, Zone)
	}
	z := fakedns.Zone{Name: Zone, Records: map[string][]string{
		"sender": {"MX 10 " + bounceHost + "."},
	}}
	nNull := int(float64(n.Domains) * n.NullMX)
	nNX := int(float64(n.Domains) * n.NXDomain)
	doms := make([]domain, n.Domains)
	for i := range doms {
		d := domain{Name: fmt.Sprintf("d%d.%s", i+1, Zone), Class: classMX}
		owner := fmt.Sprintf("d%d", i+1)
		switch {
		case i < nNull:
			d.Class = classNullMX
			d.Name = fmt.Sprintf("null%d.%s", i+1, Zone)
			z.Records[fmt.Sprintf("null%d", i+1)] = []string{"MX 0 ."}
		case i < nNull+nNX:
			// No record at all: the zone answers NXDOMAIN.
			d.Class = classNXDomain
			d.Name = fmt.Sprintf("gone%d.%s", i+1, Zone)
		default:
			pick := rng.Perm(len(hosts))
			switch shape := rng.IntN(4); {
			case shape == 0 || len(hosts) == 1:
				d.MX = []mxRec{{10, hosts[pick[0]]}}
			case shape == 1 || len(hosts) == 2:
				d.MX = []mxRec{{10, hosts[pick[0]]}, {10, hosts[pick[1]]}}
			case shape == 2:
				d.MX = []mxRec{{10, hosts[pick[0]]}, {20, hosts[pick[1]]}}
			default:
				d.MX = []mxRec{{10, hosts[pick[0]]}, {10, hosts[pick[1]]}, {20, hosts[pick[2]]}}
			}
			for _, m := range d.MX {
				z.Records[owner] = append(z.Records[owner], fmt.Sprintf("MX %d %s.", m.Pref, m.Host))
			}
		}
		doms[i] = d
	}
	cfg := harness.Config{Zones: []fakedns.Zone{z}, Hosts: harness.Hosts(append(hosts, bounceHost)...)}
	return cfg, doms
}

// fromScenario returns the network of a scenario file: its zones and
// hosts as the scenario gives them, and as recipient domains every zone
// with MX records (a null MX is a domain of that class). Its steps and
// expectations are not used.
func fromScenario(sc *scenarios.Scenario) (harness.Config, []domain, error) {
	cfg, err := harness.ConfigFor(sc)
	if err != nil {
		return cfg, nil, err
	}
	var doms []domain
	for _, z := range sc.DNS {
		if len(z.MX) == 0 {
			continue
		}
		d := domain{Name: strings.TrimSuffix(z.Name, "."), Class: classMX}
		for _, m := range z.MX {
			if m.Host == "." || m.Host == "" {
				d.Class, d.MX = classNullMX, nil
				break
			}
			d.MX = append(d.MX, mxRec{m.Pref, strings.TrimSuffix(m.Host, ".")})
		}
		slices.SortStableFunc(d.MX, func(a, b mxRec) int { return a.Pref - b.Pref })
		doms = append(doms, d)
	}
	if len(doms) == 0 {
		return cfg, nil, fmt.Errorf("load: %w: scenario %s: no zone with MX records to send to", ErrConfig, sc.File)
	}
	// The relay's DSNs need somewhere to go.
	has := slices.ContainsFunc(cfg.Zones, func(z fakedns.Zone) bool { return strings.TrimSuffix(z.Name, ".") == Zone })
	if !has {
		cfg.Zones = append(cfg.Zones, fakedns.Zone{Name: Zone, Records: map[string][]string{"sender": {"MX 10 " + bounceHost + "."}}})
		cfg.Hosts = append(cfg.Hosts, harness.Host{Name: bounceHost})
	}
	return cfg, doms, nil
}
