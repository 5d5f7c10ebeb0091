package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness/report"
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
// port.
func smarthostScenario(t *testing.T, port int) *scenarios.Scenario {
	t.Helper()
	src := fmt.Sprintf(`name: smarthost-port
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: {}
  smtp.example.test: {}
relay:
  smarthost: "[smtp.example.test]:%d"
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test, at: smtp.example.test}, within: 5s}
  - expect: {not_delivered: {to: bob@example.test, at: mx1.example.test}}
`, port)
	sc, err := scenarios.Parse("smarthost-port.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// With a fixed SMTP port (mxsim -smtp-port N), the smarthost named
// "[smtp.example.test]:P" listens on P, the other hosts on N, and the
// relay reaches it there: the reference relay, and a relay configured
// once with the profile's smarthost.
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
	// With a port picked at random every host shares it, and the
	// reference relay is told so.
	if res := Run(context.Background(), sc, RunOptions{}); res.Verdict != report.Pass {
		t.Fatalf("random plan: %s: %s %v", res.Verdict, res.Reason, res.Failures)
	}
}

// The profile's smarthost port wins for a relay configured once.
func TestSmarthostPortOfTheProfile(t *testing.T) {
	n, p := twoFreePorts(t)
	cfg := Config{Hosts: []Host{{Name: "smtp.example.test"}, {Name: "mx1.example.test"}}, Plan: Plan{SMTPPort: n}}
	smarthostPort(&cfg, "[smtp.example.test]:"+strconv.Itoa(p))
	if cfg.Hosts[0].Port != p || cfg.Hosts[1].Port != 0 {
		t.Fatalf("ports %d, %d; want %d, 0", cfg.Hosts[0].Port, cfg.Hosts[1].Port, p)
	}
	cfg = Config{Hosts: []Host{{Name: "smtp.example.test"}}}
	smarthostPort(&cfg, "[smtp.example.test]:587")
	if cfg.Hosts[0].Port != 0 {
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
