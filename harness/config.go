package harness

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/scenarios"
)

// RelayFor returns the adapter for a scenario's relay section.
func RelayFor(r scenarios.Relay) (Relay, error) {
	switch r.Kind {
	case scenarios.RelayReference, "":
		return Reference(referenceConfig(r)), nil
	case scenarios.RelayExternal:
		return External(ExternalConfig{Submit: r.Submit, FlushCmd: r.FlushCmd, ResetCmd: r.ResetCmd}), nil
	case scenarios.RelayPostfix, scenarios.RelayExim, scenarios.RelayOpenSMTPD:
		// harness/postfix (exim, opensmtpd) imports this package, so its
		// adapter cannot be made here: the caller starts one container
		// for the whole run.
		return nil, fmt.Errorf("harness: %w: relay kind %[2]s runs in a container: pass the Relay of package harness/%[2]s as RunOptions.Relay, or use mxsim run -relay %[2]s", ErrConfig, r.Kind)
	default:
		return nil, fmt.Errorf("harness: %w: unknown relay kind %q", ErrConfig, r.Kind)
	}
}

// trustedClients are the reference relay's Mynetworks under a scenario:
// the harness client's usual source address.
func trustedClients() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} }

func referenceConfig(r scenarios.Relay) ReferenceConfig {
	cfg := ReferenceConfig{
		Mynetworks:    trustedClients(),
		Hostname:      r.Hostname,
		TLS:           r.TLS,
		RetryInterval: r.RetryInterval,
		MaxLifetime:   r.MaxLifetime,
		MaxMXHosts:    r.MaxMXHosts,
		MTASTS:        r.MTASTS,
		// Scenarios wait for timeouts (blackholes, stalls) in real time:
		// a short one keeps suites fast while staying above any delay a
		// scenario is likely to set.
		Timeout: 3 * time.Second,
	}
	if r.Smarthost != "" {
		if sh, err := scenarios.ParseSmarthost(r.Smarthost); err == nil {
			// The port as the scenario names it: the relay connects
			// where the host listens for it (Network.PortFor), and 465
			// means TLS from connect (RFC 8314).
			cfg.Smarthost = Smarthost{Host: sh.Host, Port: sh.Port, MXLookup: sh.MXLookup}.String()
			cfg.SmarthostImplicitTLS = sh.Port == 465
		}
	}
	if r.SmarthostAuth != nil {
		cfg.SmarthostAuth = &ReferenceCredentials{User: r.SmarthostAuth.User, Password: r.SmarthostAuth.Password}
	}
	if r.SubmitAuth != nil {
		cfg.SubmitUsers = map[string]string{r.SubmitAuth.User: r.SubmitAuth.Password}
	}
	if r.Submission {
		cfg.SubmissionListen, cfg.SubmissionsListen = "127.0.0.1:0", "127.0.0.1:0"
	}
	return cfg
}

// ConfigFor turns a scenario's dns and hosts sections into a Config, and
// its relay section into the Config's RelaySettings. Domains that send
// mail in the scenario but have no zone get one, with a host that accepts
// everything, so that bounces have somewhere to go.
func ConfigFor(sc *scenarios.Scenario) (Config, error) {
	cfg := Config{AllowNonLoopback: sc.AllowNonLoopback, VirtualClock: sc.Clock == scenarios.ClockVirtual}
	var errs []error
	r := sc.Relay
	r.DKIM = nil // read below, its key file relative to the scenario's
	settings, err := RelaySettingsFor(r)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s:%s: relay: %w", sc.File, sc.Relay.Pos, err))
	}
	if d := sc.Relay.DKIM; d != nil {
		dir := ""
		if sc.File != "" {
			dir = filepath.Dir(sc.File)
		}
		if settings.DKIM, err = dkimOf(d, dir); err != nil {
			p := sc.PosOf(&d.KeyFile)
			if !p.IsValid() {
				p = d.Pos
			}
			errs = append(errs, fmt.Errorf("%s:%s: relay: %w", sc.File, p, err))
		}
	}
	cfg.RelaySettings = settings
	for _, z := range sc.DNS {
		fz := fakedns.Zone{Name: z.Name, Secure: z.Secure, Rotate: z.Rotate, Records: map[string][]string{}}
		for _, line := range z.ZoneFile() {
			owner, rest, _ := strings.Cut(line, " ")
			fz.Records[owner] = append(fz.Records[owner], rest)
		}
		cfg.Zones = append(cfg.Zones, fz)
		if z.Fault != nil {
			cfg.Faults = append(cfg.Faults, dnsFault(z.Fault, z.Name, true))
		}
		if z.MTASTS != nil {
			cfg.MTASTS = append(cfg.MTASTS, mtastsOf(z.Name, z.MTASTS))
		}
		for _, f := range z.Faults {
			cfg.Faults = append(cfg.Faults, dnsFault(f, f.Name, false))
		}
	}
	for _, h := range sc.Hosts {
		b, err := h.Behavior.Apply(fakesmtp.Behavior{})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%s: host %s: %w", sc.File, h.Pos, h.Name, err))
			continue
		}
		cfg.Hosts = append(cfg.Hosts, Host{Name: h.Name, Behavior: b, PublishAs: h.PublishAs, TLSA: tlsaOf(h.TLSA), Ports: h.Ports})
	}
	for _, d := range senderDomains(sc) {
		if sc.ZoneOf(d) != nil || sc.Host(d) != nil {
			continue
		}
		mx := senderMX(d)
		cfg.Zones = append(cfg.Zones, fakedns.Zone{Name: d, Records: map[string][]string{"@": {"MX 10 " + mx + "."}}})
		cfg.Hosts = append(cfg.Hosts, Host{Name: mx})
	}
	return cfg, errors.Join(errs...)
}

func dnsFault(f *scenarios.Fault, name string, zone bool) fakedns.Fault {
	return fakedns.Fault{Name: name, Type: f.Type, Zone: zone, Kind: fakedns.FaultKind(f.Kind), Delay: f.Delay, Times: f.Times}
}

// senderDomains lists the domains of every sender and every bounce
// recipient of the scenario, sorted.
func senderDomains(sc *scenarios.Scenario) []string {
	set := map[string]bool{}
	add := func(addr string) {
		if _, d, ok := strings.Cut(addr, "@"); ok && d != "" {
			set[strings.ToLower(d)] = true
		}
	}
	var conds func(c *scenarios.Conditions)
	conds = func(c *scenarios.Conditions) {
		if c != nil && c.Bounce != nil {
			add(c.Bounce.To)
		}
	}
	for _, s := range sc.Steps {
		switch {
		case s.Send != nil:
			add(s.Send.From)
		case s.Expect != nil:
			conds(&s.Expect.Conditions)
		case s.Wait != nil:
			conds(s.Wait.Until)
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}
