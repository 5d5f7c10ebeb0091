package load

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// small is a quick run against the reference relay.
func small(t *testing.T, variant, chaos string, messages int) Config {
	t.Helper()
	c := Config{Relay: harness.Reference(harness.ReferenceConfig{Variant: variant}), RelayName: "reference",
		Rate: 400, Messages: messages, Seed: 1, Network: Network{Domains: 40, Hosts: 8, NullMX: 0.05, NXDomain: 0.05},
		Drain: 30 * time.Second}
	hosts, doms, err := c.Targets()
	if err != nil {
		t.Fatal(err)
	}
	// Laid over a second or two: the events must fall while mail flows.
	c.Chaos, err = Builtin(chaos, 1, c.Length(), hosts, doms)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReferenceFlakyExactlyOnce(t *testing.T) {
	c := small(t, "", "flaky", 600)
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("lost %d, duplicated %d, wrongly bounced %d, undecided %d, dropped %d: %+v %+v",
			len(res.Lost), len(res.Duplicated), len(res.WronglyBounced), res.Undecided, res.JournalDropped, res.Lost, res.Duplicated)
	}
	if res.Accepted != 600 || res.Delivered+res.Bounced+res.Queued != res.Pairs {
		t.Fatalf("accepted %d of 600; delivered %d + bounced %d + queued %d != %d pairs", res.Accepted, res.Delivered, res.Bounced, res.Queued, res.Pairs)
	}
	if res.Bounced == 0 {
		t.Error("no bounce, but the network has null-MX and NXDOMAIN domains")
	}
	if res.FirstAttempts == 0 || res.PreferenceShare < 0.99 {
		t.Errorf("preference: %d of %d first attempts at the best MX", res.FirstAtBest, res.FirstAttempts)
	}
	if res.Latency.N != res.Delivered || res.Latency.P99 <= 0 {
		t.Errorf("latency %+v for %d delivered", res.Latency, res.Delivered)
	}
	t.Logf("%d delivered, %d bounced, latency %+v, %d attempts, %d host conns, events %d", res.Delivered, res.Bounced, res.Latency, res.Attempts, res.HostConns, res.JournalEvents)
}

func TestReferenceNoChaos(t *testing.T) {
	c := small(t, "", "none", 300)
	c.Rate = 100
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("not ok: %+v", res.Lost)
	}
	t.Logf("%d delivered, %d bounced, latency %+v, %d attempts, %d host conns, events %d", res.Delivered, res.Bounced, res.Latency, res.Attempts, res.HostConns, res.JournalEvents)
}

// The planted bug resends-accepted sends a retry to every recipient of
// the message, those a host took already too: the check must list them.
func TestResendsAcceptedCaught(t *testing.T) {
	c := small(t, "resends-accepted", "none", 200)
	c.Rate = 200
	// Every host answers 451 to the second recipient of each message
	// for the first half of the run: the first is accepted, the second
	// retried, and the bug sends the first again.
	hosts, _, err := c.Targets()
	if err != nil {
		t.Fatal(err)
	}
	c.Chaos = Schedule{Name: "test", Events: []Event{{At: 0, For: c.Length() / 2, Kind: KindReply, Hosts: hosts,
		Stage: "rcpt", Reply: "451 4.3.0 later", Match: "*r1@*"}}}
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || len(res.Duplicated) == 0 {
		t.Fatalf("the duplicates of resends-accepted were not caught: %d delivered, %d duplicated", res.Delivered, len(res.Duplicated))
	}
	if len(res.Lost) != 0 {
		t.Errorf("lost %d: %+v", len(res.Lost), res.Lost[0])
	}
	d := res.Duplicated[0]
	if !strings.Contains(d.Why, "delivered 2 times") || !strings.HasSuffix(d.Recipient, "load.test") || !strings.Contains(d.Recipient, "r0@") {
		t.Errorf("duplicate %+v", d)
	}
	var delivered int
	for _, ev := range d.Evidence {
		if strings.Contains(ev, "smtp.message at ") {
			delivered++
		}
	}
	if delivered != 2 || !strings.Contains(d.Evidence[0], "client.submit") {
		t.Errorf("evidence of %s:\n%s", d.Recipient, strings.Join(d.Evidence, "\n"))
	}
	t.Logf("%d duplicated; first:\n%s", len(res.Duplicated), strings.Join(d.Evidence, "\n"))
}

// A journal that drops events makes the accounting untrustworthy: the
// run fails and says so, whatever it counted.
func TestJournalDroppedFailsLoudly(t *testing.T) {
	c := small(t, "", "none", 100)
	c.JournalLimits.MaxEvents = 300
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || res.JournalDropped == 0 {
		t.Fatalf("OK %v with %d events dropped", res.OK(), res.JournalDropped)
	}
	var b strings.Builder
	WriteSummary(&b, res)
	if !strings.Contains(b.String(), "DROPPED: THE ACCOUNTING IS NOT TRUSTWORTHY") || !strings.Contains(b.String(), "mxsim load FAIL") {
		t.Errorf("summary:\n%s", b.String())
	}
}

func TestConfigCheck(t *testing.T) {
	ok := Config{Relay: harness.Reference(harness.ReferenceConfig{}), Rate: 1, Messages: 1}
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Relay = nil }, "no relay"},
		{func(c *Config) { c.Rate = 0 }, "Rate 0"},
		{func(c *Config) { c.Messages = -1 }, "Messages -1"},
		{func(c *Config) { c.Conns = -1 }, "Conns"},
		{func(c *Config) { c.Sizes.Max = -1 }, "Sizes"},
		{func(c *Config) { c.Drain = -1 }, "Drain"},
		{func(c *Config) { c.Network.NullMX = 1.5 }, "NullMX 1.5"},
		{func(c *Config) { c.Network.NullMX, c.Network.NXDomain = 0.6, 0.6 }, "more than all"},
	} {
		cfg := ok
		c.mod(&cfg)
		_, err := Run(context.Background(), cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v", c.want, err)
		}
	}
}
