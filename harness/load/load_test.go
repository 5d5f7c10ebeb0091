package load

import (
	"context"
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
