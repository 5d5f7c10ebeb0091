package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// twoFreePorts returns two distinct free TCP ports.
func twoFreePorts(t *testing.T) (int, int) {
	t.Helper()
	a, err := freePort(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		b, err := freePort(netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		if b != a {
			return a, b
		}
	}
	t.Fatal("no second free port")
	return 0, 0
}

// smarthostScenario is AUTH-003's network with the smarthost named on
// port, which the smarthost lists (ports:).
func smarthostScenario(t *testing.T, port int) *scenarios.Scenario {
	t.Helper()
	src := fmt.Sprintf(`name: smarthost-port
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: {}
  smtp.example.test: {ports: [%d]}
relay:
  smarthost: "[smtp.example.test]:%d"
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test, at: smtp.example.test}, within: 5s}
  - expect: {not_delivered: {to: bob@example.test, at: mx1.example.test}}
`, port, port)
	sc, err := scenarios.Parse("smarthost-port.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// With a fixed SMTP port (mxsim -smtp-port N), the smarthost that lists
// port P (ports: [P]) listens on P, the other hosts on N, and the relay
// reaches it there: the reference relay, and a relay configured once
// with the profile's smarthost.
func TestSmarthostListensOnItsPort(t *testing.T) {
	n, p := twoFreePorts(t)
	sc := smarthostScenario(t, p)
	cfg, err := ConfigFor(sc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Plan = Plan{SMTPPort: n}
	smarthostPort(&cfg, sc.Relay.Smarthost)
	env, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	for name, want := range map[string]int{"smtp.example.test": p, "mx1.example.test": n} {
		_, port, _ := net.SplitHostPort(env.Host(name).Addr())
		if port != strconv.Itoa(want) {
			t.Errorf("%s listens on %s, want %d", name, port, want)
		}
		if got := env.Network().PortOf(name); got != want {
			t.Errorf("Network().PortOf(%s) = %d, want %d", name, got, want)
		}
	}
	if got := env.Network().PortFor("smtp.example.test", p); got != p {
		t.Errorf("fixed plan: Network().PortFor(smtp.example.test, %d) = %d, want it as it is", p, got)
	}
	env.Close()

	res := Run(context.Background(), sc, RunOptions{Plan: Plan{SMTPPort: n}})
	if res.Verdict != report.Pass {
		t.Fatalf("reference relay, fixed plan: %s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
	// A relay configured with the smarthost's port itself, as an MTA is.
	ref := Reference(ReferenceConfig{Smarthost: "[smtp.example.test]:" + strconv.Itoa(p), Mynetworks: trustedClients()})
	res = Run(context.Background(), sc, RunOptions{Relay: ref, Plan: Plan{SMTPPort: n}})
	if res.Verdict != report.Pass {
		t.Fatalf("relay configured with port %d: %s: %s %v", p, res.Verdict, res.Reason, res.Failures)
	}
	// With a port picked at random, P is mapped to a free port, and the
	// reference relay is told so.
	if res := Run(context.Background(), sc, RunOptions{}); res.Verdict != report.Pass {
		t.Fatalf("random plan: %s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
}

// A relay configured once (an external relay's profile) with another
// smarthost port than the scenario's: on a fixed plan the smarthost
// listens there too, and the relay reaches it.
func TestSmarthostPortOfAProfileRun(t *testing.T) {
	n, p := twoFreePorts(t)
	var q int
	for q == 0 || q == n || q == p {
		var err error
		if q, err = freePort(netip.MustParseAddr("127.0.0.1")); err != nil {
			t.Fatal(err)
		}
	}
	sc := smarthostScenario(t, p)
	ref := Reference(ReferenceConfig{Smarthost: "[smtp.example.test]:" + strconv.Itoa(q), Mynetworks: trustedClients()})
	res := Run(context.Background(), sc, RunOptions{Relay: ref, Plan: Plan{SMTPPort: n}, Smarthost: "[smtp.example.test]:" + strconv.Itoa(q)})
	if res.Verdict != report.Pass {
		t.Fatalf("relay configured with port %d, scenario's %d: %s: %s %v", q, p, res.Verdict, res.Reason, res.Failures)
	}
	if !sessionOn(res.Events, "smtp.example.test", q) {
		t.Errorf("no session at smtp.example.test on port %d", q)
	}
}

// The profile's smarthost port is added to the smarthost's ports for a
// relay configured once, on a fixed plan only.
func TestSmarthostPortOfTheProfile(t *testing.T) {
	n, p := twoFreePorts(t)
	cfg := Config{Hosts: []Host{{Name: "smtp.example.test"}, {Name: "mx1.example.test"}}, Plan: Plan{SMTPPort: n}}
	smarthostPort(&cfg, "[smtp.example.test]:"+strconv.Itoa(p))
	if !slices.Equal(cfg.Hosts[0].Ports, []int{p}) || cfg.Hosts[1].Ports != nil {
		t.Fatalf("ports %v, %v; want [%d], none", cfg.Hosts[0].Ports, cfg.Hosts[1].Ports, p)
	}
	cfg = Config{Hosts: []Host{{Name: "smtp.example.test", Ports: []int{25, 587}}}, Plan: Plan{SMTPPort: n}}
	smarthostPort(&cfg, "[smtp.example.test]:"+strconv.Itoa(p))
	if want := []int{25, 587, p}; !slices.Equal(cfg.Hosts[0].Ports, want) {
		t.Fatalf("ports %v, want %v", cfg.Hosts[0].Ports, want)
	}
	smarthostPort(&cfg, "[smtp.example.test]:587")
	if want := []int{25, 587, p}; !slices.Equal(cfg.Hosts[0].Ports, want) {
		t.Fatalf("a port listed already was added again: %v", cfg.Hosts[0].Ports)
	}
	cfg = Config{Hosts: []Host{{Name: "smtp.example.test", Port: 2500}}, Plan: Plan{SMTPPort: n}}
	smarthostPort(&cfg, "[smtp.example.test]:"+strconv.Itoa(p))
	if want := []int{25, p}; !slices.Equal(cfg.Hosts[0].Ports, want) {
		t.Fatalf("a host with a Port of its own: ports %v, want %v", cfg.Hosts[0].Ports, want)
	}
	cfg = Config{Hosts: []Host{{Name: "smtp.example.test"}}}
	smarthostPort(&cfg, "[smtp.example.test]:587")
	if cfg.Hosts[0].Ports != nil {
		t.Fatal("a random plan gave the smarthost a port of its own")
	}
}

func TestHostPortOutOfRange(t *testing.T) {
	for _, port := range []int{-1, 65536} {
		_, err := New(context.Background(), Config{Hosts: []Host{{Name: "smtp.example.test", Port: port}}})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `host "smtp.example.test": port `+strconv.Itoa(port)+" out of range") {
			t.Errorf("port %d: %v", port, err)
		}
	}
}

// A zone with rotate: true turns its MX set at each query, so a relay
// that follows DNS order (the no-shuffle variant) spreads its sessions
// too: why MX-007 keeps the order fixed.
func TestRotateSpreadsDNSOrder(t *testing.T) {
	src := `name: rotate
dns:
  example.test:
    rotate: true
    mx: [{pref: 10, host: mx1.example.test}, {pref: 10, host: mx2.example.test}]
hosts:
  mx1.example.test: {}
  mx2.example.test: {}
steps:
  - send: {from: alice@origin.test, to: ["user{n}@example.test"], count: 6}
  - expect:
      delivered: {to: user6@example.test}
      spread: {hosts: [mx1.example.test, mx2.example.test], at_least: 2}
      within: 10s
`
	sc, err := scenarios.Parse("rotate.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cfg := referenceConfig(sc.Relay)
	cfg.Variant = "no-shuffle"
	if res := Run(context.Background(), sc, RunOptions{Relay: Reference(cfg)}); res.Verdict != report.Pass {
		t.Fatalf("no-shuffle with rotation: %s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
}

// sessionOn reports whether host had a session on port: a connect event
// whose local address has that port.
func sessionOn(evs []journal.Event, host string, port int) bool {
	for _, e := range evs {
		if e.Kind != journal.KindSMTPConnect || e.Source != host {
			continue
		}
		if ap, err := netip.ParseAddrPort(e.Local); err == nil && int(ap.Port()) == port {
			return true
		}
	}
	return false
}
