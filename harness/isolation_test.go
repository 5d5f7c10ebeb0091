package harness

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/internal/relay"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// leftoverCase leaves its message in the relay's queue: the only MX
// defers it at RCPT, and the relay retries only an hour later. Before
// that, it asks the relay to flush and expects nothing delivered to bob:
// true the first time; the second time, against a relay that kept its
// queue, the flush delivers the first run's message into the second
// run's network.
const leftoverCase = `name: leftover
description: leaves its message queued at the relay
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: {}
steps:
  - flush: {}
  - expect: {not_delivered: {to: bob@example.test}}
  - set: {host: mx1.example.test, replies: {rcpt: {reply: "451 4.3.0 not now"}}}
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {deferred: {to: bob@example.test}}
`

// keptRelay is an MTA that mxsim does not start, as -relay external
// sees one: the reference relay, started once by the test and kept
// running from case to case with its queue. Its flush waits for the
// attempts it starts, as a flush command that waits for the queue run
// would.
type keptRelay struct {
	Relay // External: submission, nothing else
	r     *relay.Relay
}

func (k keptRelay) Flush(ctx context.Context) error {
	k.r.Flush()
	return k.r.Idle(ctx)
}

func (k keptRelay) CanFlush() bool { return true }

// freeTCPPort returns a port free for TCP (and, for DNS, UDP) on ip.
func freeTCPPort(t *testing.T, ip string) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatalf("no port free for TCP and UDP on %s", ip)
	return 0
}

// TestExternalRelayCaseTwice runs one case twice in a row against one
// external relay that keeps its queue: the first run leaves its message
// queued, and the second run's flush delivers it into the second run's
// network. Both runs must give the same verdict: the leftover is a
// stray, named in the notes and counted by no expectation, and each run
// has host addresses of its own.
func TestExternalRelayCaseTwice(t *testing.T) {
	sc, err := scenarios.Parse("leftover.yaml", []byte(leftoverCase))
	if err != nil {
		t.Fatal(err)
	}
	// A fixed plan, as an MTA configured once needs: DNS and the hosts'
	// port never change. High ports: no root needed.
	plan := Plan{Subnet: netip.MustParsePrefix("127.73.0.0/24"), DNSPort: freeTCPPort(t, "127.73.0.53"), SMTPPort: freeTCPPort(t, "127.73.1.10")}
	r, err := relay.Start(relay.Config{
		Hostname:      "relay.test",
		Listen:        "127.0.0.1:0",
		DNS:           netip.AddrPortFrom(plan.DNSAddr(), uint16(plan.DNSPort)).String(),
		Port:          plan.SMTPPort,
		RetryInterval: time.Hour, // nothing retried by itself during the test
		Timeout:       5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := Conformance(ctx, []*scenarios.Scenario{sc, sc}, Profile{Route: scenarios.RouteDirect}, ConformanceOptions{
		Relay: func(*scenarios.Scenario) (Relay, error) {
			return keptRelay{Relay: External(ExternalConfig{Submit: r.Addr()}), r: r}, nil
		},
		RelayName: "external (kept running)",
		Plan:      plan,
	})
	first, second := results[0], results[1]
	for i, res := range results {
		t.Logf("run %d: %s %s; notes: %q", i+1, res.Verdict, res.Reason, res.Notes)
	}

	// The first run left its message queued at the relay.
	subs := Submissions(journalOf(first.Events))
	if len(subs) != 1 {
		t.Fatalf("first run: %d submissions accepted, want 1", len(subs))
	}
	leftover := subs[0].ID

	// Without pinning, the second run's not_delivered would have failed:
	// its network did take a message to bob, the first run's.
	var leaked *journal.Event
	for _, e := range second.Events {
		if e.Kind == journal.KindSMTPMessage && hasRecipient(e.Message, "bob@example.test") && messageIdentity(e.Message) == leftover {
			leaked = &e
			break
		}
	}
	if leaked == nil {
		t.Fatalf("the second run's network never took the first run's message %s: the test shows nothing", leftover)
	}
	if err := rawCheckNotDelivered(second.Events, "bob@example.test"); err == nil {
		t.Fatalf("an unpinned not_delivered holds on the second run's journal; want it broken by event %d", leaked.Seq)
	}

	// With pinning, both runs agree, and the second names the stray.
	if first.Verdict != report.Pass || second.Verdict != first.Verdict {
		t.Fatalf("verdicts: first %s (%s), second %s (%s); want pass both times", first.Verdict, first.Reason, second.Verdict, second.Reason)
	}
	if q := r.Pending(); len(q) != 1 || !strings.Contains(string(q[0].Data), SubmissionHeader+": "+fmt.Sprintf("%x.", second.Started.UnixNano())) {
		t.Errorf("the relay's queue holds %d recipients after the runs; want one, the second run's message", len(q))
	}
	var named bool
	for _, n := range second.Notes {
		if strings.HasPrefix(n, "stray: ") && strings.Contains(n, leftover) && strings.Contains(n, "mx1.example.test") {
			named = true
		}
	}
	if !named {
		t.Errorf("second run's notes do not name the stray %s: %q", leftover, second.Notes)
	}
	for _, n := range first.Notes {
		if strings.HasPrefix(n, "stray: ") {
			t.Errorf("first run has a stray: %s", n)
		}
	}

	// Each run had host addresses of its own; DNS stayed where it was.
	if len(first.Hosts) == 0 || len(second.Hosts) == 0 || first.Hosts[0].Name != "mx1.example.test" || second.Hosts[0].Name != "mx1.example.test" {
		t.Fatalf("hosts: %+v, %+v", first.Hosts, second.Hosts)
	}
	a1, a2 := first.Hosts[0].Addr, second.Hosts[0].Addr
	port := ":" + strconv.Itoa(plan.SMTPPort)
	if a1 != "127.73.1.10"+port || a2 != "127.73.2.10"+port {
		t.Errorf("mx1 at %s, then %s; want 127.73.1.10%s, then 127.73.2.10%s", a1, a2, port, port)
	}
}

// journalOf rebuilds a journal from a result's events, for the checks
// (their Seq and Time are the new journal's own).
func journalOf(events []journal.Event) *journal.Journal {
	j := journal.New()
	for _, e := range events {
		j.Append(e)
	}
	return j
}

// rawCheckNotDelivered is not_delivered without pinning: any message to
// to in events breaks it.
func rawCheckNotDelivered(events []journal.Event, to string) error {
	for _, e := range events {
		if e.Kind == journal.KindSMTPMessage && hasRecipient(e.Message, to) {
			return checkFailed("%s was delivered (event %d)", to, e.Seq)
		}
	}
	return nil
}
