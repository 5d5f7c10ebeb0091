package harness_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// closedConn is what Go says when a program uses a connection it closed
// itself: in a journal it means the network was torn down under a session.
// The reference relay says "session cut short" when its Close's grace runs
// out; no example scenario ends with a session that needs it.
const closedConn = "use of closed network connection"

// TestTeardownIsClean runs every example scenario the way `mxsim run`
// does and checks that closing the environment cut no session short: the
// relay stops before the hosts, and it lets a delivery in flight end
// (DATA's reply, QUIT) instead of closing its connection under it. Run
// closes the environment right after the last expectation, often while the
// relay is still reading the host's 250 to DATA.
func TestTeardownIsClean(t *testing.T) {
	scs, err := scenarios.LoadAll("../testdata/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	if len(scs) == 0 {
		t.Fatal("no scenarios under ../testdata/scenarios")
	}
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			res := harness.Run(context.Background(), sc, harness.RunOptions{})
			if res.Verdict != report.Pass {
				t.Fatalf("%s: %s: %s", sc.File, res.Verdict, res.Reason)
			}
			accepted := map[string]journal.Event{} // host sessions that took a message
			quit := map[string]bool{}              // host sessions that got QUIT
			for _, e := range res.Events {
				if strings.Contains(e.Text, closedConn) || strings.Contains(e.Err, closedConn) || strings.Contains(e.Text, "session cut short") {
					t.Errorf("%s: a passing run's journal shows a session cut by teardown:\n%s", sc.File, e.Format(res.Started))
				}
				switch {
				case e.Kind == journal.KindSMTPMessage:
					accepted[e.Session] = e
				case e.Kind == journal.KindSMTPCommand && strings.EqualFold(strings.TrimSpace(e.Text), "QUIT"):
					quit[e.Session] = true
				case e.Kind == journal.KindControl:
					// A step that changes a host (down, a new greeting) may
					// end its sessions itself: not teardown's doing.
					for s, m := range accepted {
						if strings.HasPrefix(e.Text, "set host "+m.Source+":") {
							delete(accepted, s)
						}
					}
				}
			}
			// The relay ends every session that delivered with QUIT (RFC
			// 5321 §4.1.1.10), also when the environment closes right after.
			for s, e := range accepted {
				if !quit[s] {
					t.Errorf("%s: session %s took a message but never got QUIT:\n%s", sc.File, s, e.Format(res.Started))
				}
			}
		})
	}
}

// probeRelay is a relay under test that, when stopped, checks that the
// network is still up: every host still accepts a connection and the DNS
// still accepts one over TCP.
type probeRelay struct {
	hosts   int   // how many hosts the network has (at .10 up, by the address plan)
	failAt  bool  // Start fails
	stopErr error // what Stop returns
	n       harness.Network
	stopped int
	down    []string // what did not answer during Stop
}

var _ harness.Relay = (*probeRelay)(nil)

func (p *probeRelay) Start(ctx context.Context, n harness.Network) error {
	if p.failAt {
		return errors.New("probe: refusing to start")
	}
	p.n = n
	return nil
}

func (p *probeRelay) Submission() harness.Submission  { return harness.Submission{Addr: "127.0.0.1:1"} }
func (p *probeRelay) Flush(ctx context.Context) error { return nil }
func (p *probeRelay) Stop(ctx context.Context) error {
	p.stopped++
	dns := netip.MustParseAddrPort(p.n.DNSAddr)
	addrs := []string{dns.String()}
	for i := range p.hosts {
		ip := dns.Addr().As4()
		ip[3] = byte(10 + i)
		addrs = append(addrs, netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(p.n.SMTPPort)).String())
	}
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			p.down = append(p.down, a)
			continue
		}
		c.Close()
	}
	return p.stopErr
}

// TestCloseStopsRelayFirst checks the order of teardown on every path:
// Env.Close, Run, and New failing at the relay's start. The relay is
// stopped while every host and the DNS still serve, and a relay that did
// not start is never stopped.
func TestCloseStopsRelayFirst(t *testing.T) {
	hosts := []harness.Host{{Name: "mx1.example.test"}, {Name: "mx2.example.test"}}

	t.Run("Close", func(t *testing.T) {
		p := &probeRelay{hosts: len(hosts)}
		env, err := harness.New(context.Background(), harness.Config{Hosts: hosts, Relay: p})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Close(); err != nil {
			t.Fatal(err)
		}
		if p.stopped != 1 || len(p.down) != 0 {
			t.Errorf("relay stopped %d times (want 1); down while it stopped: %v", p.stopped, p.down)
		}
	})

	sc, err := scenarios.Parse("order.yaml", []byte(`
name: order
hosts:
  mx1.example.test: {}
  mx2.example.test: {}
steps:
  - wait: 1ms
`))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Run", func(t *testing.T) {
		p := &probeRelay{hosts: 2}
		res := harness.Run(context.Background(), sc, harness.RunOptions{Relay: p})
		if res.Verdict != report.Pass {
			t.Fatalf("%s: %s", res.Verdict, res.Reason)
		}
		if p.stopped != 1 || len(p.down) != 0 {
			t.Errorf("relay stopped %d times (want 1); down while it stopped: %v", p.stopped, p.down)
		}
	})

	t.Run("RunReportsCloseError", func(t *testing.T) {
		p := &probeRelay{hosts: 2, stopErr: errors.New("probe: stuck")}
		res := harness.Run(context.Background(), sc, harness.RunOptions{Relay: p})
		if res.Verdict != report.Error || !strings.Contains(res.Reason, "probe: stuck") {
			t.Errorf("a run whose relay fails to stop: %s: %s, want error naming it", res.Verdict, res.Reason)
		}
	})

	t.Run("StartFails", func(t *testing.T) {
		p := &probeRelay{hosts: len(hosts), failAt: true}
		env, err := harness.New(context.Background(), harness.Config{Hosts: hosts, Relay: p})
		if err == nil {
			env.Close()
			t.Fatal("New succeeded with a relay that fails to start")
		}
		if p.stopped != 0 {
			t.Errorf("a relay that failed to start was stopped %d times", p.stopped)
		}
		// goleak (TestMain) checks that the hosts and DNS are gone.
	})
}
