// Package load drives a relay under test at volume through a simulated
// network that fails on a schedule, then proves from the journal that
// every message was delivered exactly once, or bounced where the network
// said 5yz, or is still queued. The flow of one run:
//
//  1. Run builds the network: generated from the seed (Network: domains,
//     MX hosts, preferences, equal-preference sets, null-MX and NXDOMAIN
//     domains) or taken from a scenario file, and starts it with the
//     relay under test (harness.New);
//  2. it draws every message from the seed (recipients, sizes): each
//     recipient address is used once in the whole run, so that a
//     recipient names its (message, recipient) pair;
//  3. it submits them at the target rate over a few connections, several
//     messages per session, while the chaos schedule (chaos.go) changes
//     the hosts and the DNS, and a tail of the journal (journal.go)
//     counts what happens for the progress line;
//  4. when submission ends, the chaos ends, and the relay is flushed
//     until its queue is empty or the drain limit passes;
//  5. the relay's queue is read, the network closed, and the accounting
//     (account.go) reads the journal once: deliveries as
//     harness.Deliveries counts them, bounces, attempts, latencies.
package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// ErrConfig is wrapped by every error about a bad Config.
var ErrConfig = errors.New("bad config")

// ErrSchedule is wrapped by the errors of a chaos schedule file.
var ErrSchedule = errors.New("bad chaos schedule")

// Config describes a load run. The zero values of the optional fields
// are documented defaults.
type Config struct {
	Relay     harness.Relay // the relay under test; Run starts and stops it
	RelayName string        // for the report
	Plan      harness.Plan  // address plan; zero: a fresh /24 and free ports
	CA        *fakesmtp.CA  // nil: a fresh CA
	// RelaySettings are what the relay is asked to be. Zero RetryInterval:
	// 10s (a load run retries often, but a relay that retries thousands
	// of deferred messages every second or two has no time left for new
	// mail); zero MaxLifetime: 24h (mail must not expire during a run).
	RelaySettings harness.RelaySettings

	Network  Network             // the generated network; ignored with Scenario
	Scenario *scenarios.Scenario // a scenario file's network, nil: generated

	Rate       float64       // messages per second, above 0
	Conns      int           // client connections at once; default 4
	PerSession int           // messages per connection, then QUIT; default 100
	Messages   int           // messages to submit
	Recipients int           // recipients per message; default 2
	Sizes      Sizes         // body sizes; default 1000 bytes
	Seed       uint64        // draws the network, the messages and the chaos
	Chaos      Schedule      // the chaos schedule (Builtin, ParseSchedule)
	Drain      time.Duration // how long the relay may take to drain; default 2m

	// Progress, when set, is called every ProgressEvery (default 1s)
	// while the run goes on, and once at the end.
	Progress      func(Stats)
	ProgressEvery time.Duration
	// Journal, when set, is called with the network's journal once the
	// network is up: a place to attach an observer (metrics).
	Journal func(*journal.Journal)
	// JournalLimits bound the journal. Zero: every event is kept and the
	// bytes of the last 4096 messages (the accounting needs the events,
	// not the bytes). A journal that drops events makes the accounting
	// untrustworthy: the Result says so and fails.
	JournalLimits journal.Limits
}

// DefaultRetryInterval is the relay's retry interval in a load run
// unless Config.RelaySettings says another.
const DefaultRetryInterval = 10 * time.Second

// Check reports the first bad value, naming its field.
func (c Config) Check() error {
	switch {
	case c.Relay == nil:
		return fmt.Errorf("load: %w: no relay", ErrConfig)
	case !(c.Rate > 0) || c.Rate > 1e6:
		return fmt.Errorf("load: %w: Rate %g: want a rate above 0 messages per second", ErrConfig, c.Rate)
	case c.Messages < 1:
		return fmt.Errorf("load: %w: Messages %d: want 1 or more", ErrConfig, c.Messages)
	case c.Conns < 0 || c.PerSession < 0 || c.Recipients < 0:
		return fmt.Errorf("load: %w: Conns, PerSession and Recipients: want 0 (the default) or more", ErrConfig)
	case c.Sizes.Min < 0 || c.Sizes.Max < 0:
		return fmt.Errorf("load: %w: Sizes: want sizes of 0 or more", ErrConfig)
	case c.Drain < 0:
		return fmt.Errorf("load: %w: Drain %v: want 0 (the default) or more", ErrConfig, c.Drain)
	}
	return c.Network.Check()
}

func (c *Config) defaults() {
	if c.Conns == 0 {
		c.Conns = 4
	}
	if c.PerSession == 0 {
		c.PerSession = 100
	}
	if c.Recipients == 0 {
		c.Recipients = 2
	}
	if c.Sizes == (Sizes{}) {
		c.Sizes = Sizes{Min: 1000}
	}
	if c.Drain == 0 {
		c.Drain = 2 * time.Minute
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = time.Second
	}
	if c.RelaySettings.RetryInterval == 0 {
		c.RelaySettings.RetryInterval = DefaultRetryInterval
	}
	if c.RelaySettings.MaxLifetime == 0 {
		c.RelaySettings.MaxLifetime = 24 * time.Hour
	}
	if c.JournalLimits == (journal.Limits{}) {
		c.JournalLimits = journal.Limits{MaxMessages: 4096}
	}
}

// Length is how long submission is planned to take: Messages / Rate. The
// built-in chaos schedules are laid over it.
func (c Config) Length() time.Duration {
	return time.Duration(float64(c.Messages) / c.Rate * float64(time.Second))
}

// Targets returns the hosts and the recipient domains a chaos schedule
// may name, for the network c describes (Builtin draws from them). The
// host that takes the relay's DSNs is never a target.
func (c Config) Targets() (hosts, domains []string, err error) {
	_, doms, hcfg, err := c.network()
	if err != nil {
		return nil, nil, err
	}
	for _, h := range hcfg.Hosts {
		if n := strings.ToLower(h.Name); n != bounceHost {
			hosts = append(hosts, n)
		}
	}
	for _, d := range doms {
		if d.Class == classMX {
			domains = append(domains, d.Name)
		}
	}
	return hosts, domains, nil
}

// CheckChaos reports the events of s that name a host or a domain the
// network of c does not have, each at its position.
func (c Config) CheckChaos(s Schedule) error {
	_, doms, hcfg, err := c.network()
	if err != nil {
		return err
	}
	return checkChaos(s, hcfg, doms)
}

func checkChaos(s Schedule, hcfg harness.Config, doms []domain) error {
	hostSet, domSet := map[string]bool{}, map[string]bool{}
	for _, h := range hcfg.Hosts {
		hostSet[strings.ToLower(h.Name)] = true
	}
	for _, d := range doms {
		domSet[d.Name] = true
	}
	return s.checkNames(hostSet, domSet)
}

// network builds the network of c.
func (c Config) network() (*rand.Rand, []domain, harness.Config, error) {
	rng := rand.New(rand.NewPCG(c.Seed, 0x10ad))
	if c.Scenario != nil {
		hcfg, doms, err := fromScenario(c.Scenario)
		return rng, doms, hcfg, err
	}
	hcfg, doms := c.Network.build(rng)
	return rng, doms, hcfg, nil
}

// Stats are the live counts of a run, for a progress line.
type Stats struct {
	Elapsed   time.Duration
	Planned   int    // messages to submit
	Submitted int    // messages finished at submission (accepted or refused)
	Accepted  int    // of which accepted
	Delivered int    // recipients delivered at the hosts (smtp.message)
	Deferred  int    // relay.defer events
	Bounced   int    // relay.bounce events
	Conns     int    // connections to the hosts (accepted and refused)
	Phase     string // chaos events in force, or "calm", "drain", "done"
	Queued    int    // recipients in the relay's queue (drain only; -1 unknown)
}

// Run runs the load test c describes. An error means the run could not
// be made (bad config, the network or the relay did not start); a run
// that lost or duplicated mail returns a Result whose OK is false.
func Run(ctx context.Context, c Config) (*Result, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	c.defaults()
	rng, doms, hcfg, err := c.network()
	if err != nil {
		return nil, err
	}
	if err := checkChaos(c.Chaos, hcfg, doms); err != nil {
		return nil, err
	}
	msgs := plan(rng, c, doms)

	hcfg.Relay, hcfg.Plan, hcfg.CA, hcfg.JournalLimits = c.Relay, c.Plan, c.CA, c.JournalLimits
	hcfg.RelaySettings = mergeSettings(hcfg.RelaySettings, c.RelaySettings)
	cpu0 := cpuTime()
	env, err := harness.New(ctx, hcfg)
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			env.Close()
		}
	}()
	j := env.Journal()
	if c.Journal != nil {
		c.Journal(j)
	}
	tl := newTail(j)
	tl.start()
	defer tl.stop()

	sub := &submitter{cfg: &c, sub: env.Relay().Submission(), j: j, msgs: msgs, errs: map[string]int{},
		idBase: fmt.Sprintf("%x.", j.Start().UnixNano())}
	ch := &chaos{sched: c.Chaos, base: map[string]fakesmtp.Behavior{}, active: map[int]bool{},
		host: env.Host, dns: env.DNS(), note: env.Control}

	start := time.Now()
	phase := func() string { return c.Chaos.phaseAt(time.Since(start)) }
	stats := func(ph string, queued int) Stats {
		t := tl.counts()
		return Stats{Elapsed: time.Since(start), Planned: len(msgs), Submitted: int(sub.done.Load()),
			Accepted: int(sub.nacc.Load()), Delivered: t.delivered, Deferred: t.deferred, Bounced: t.bounced,
			Conns: t.conns, Phase: ph, Queued: queued}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		sub.run(runCtx, start)
	}()

	// The chaos schedule and the progress line, until submission ends.
	var chaosErr error
	trans := c.Chaos.transitions()
	tick := time.NewTicker(c.ProgressEvery)
	defer tick.Stop()
	submitting := true
	for submitting {
		var next <-chan time.Time
		var t *time.Timer
		if len(trans) > 0 {
			t = time.NewTimer(time.Until(start.Add(trans[0].at)))
			next = t.C
		}
		select {
		case <-subDone:
			submitting = false
		case <-next:
			if err := ch.apply(trans[0]); err != nil && chaosErr == nil {
				chaosErr = err
			}
			trans = trans[1:]
		case <-tick.C:
			if c.Progress != nil {
				c.Progress(stats(phase(), -1))
			}
		}
		if t != nil {
			t.Stop()
		}
	}
	submitEnd := time.Now()
	if err := ch.endAll(); err != nil && chaosErr == nil {
		chaosErr = err
	}

	// Drain: flush until the queue is empty or the limit passes.
	res := &Result{Relay: c.RelayName, Seed: c.Seed, Chaos: c.Chaos, Start: start, SubmitEnd: submitEnd}
	queue, listed := drain(ctx, env, c, tl, sub, func(q int) {
		if c.Progress != nil {
			c.Progress(stats("drain", q))
		}
	})
	res.DrainEnd = time.Now()
	if err := env.Close(); err != nil {
		res.Notes = append(res.Notes, "the network did not close cleanly: "+err.Error())
	}
	closed = true
	tl.stop()
	res.CPU = cpuTime() - cpu0
	if chaosErr != nil {
		res.Notes = append(res.Notes, "the chaos schedule could not be applied in full: "+chaosErr.Error())
	}
	if ctx.Err() != nil {
		res.Notes = append(res.Notes, "interrupted: the run stopped early")
		res.Interrupted = true
	}
	if n := tl.counts().dsnUnread; n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d DSN(s) lost their bytes before they could be read: the recipients they report count as not bounced", n))
	}
	account(res, j, accountInput{dsn: tl.dsnBounced(), doms: doms, subs: sub.accepted(), planned: len(msgs), refused: sub.refused,
		refusals: sub.errs, clientConns: int(sub.conns.Load()), queue: queue, queueListed: listed})
	if c.Progress != nil {
		c.Progress(stats("done", len(queue)))
	}
	return res, nil
}

// mergeSettings lays the run's settings over a scenario's.
func mergeSettings(sc, run harness.RelaySettings) harness.RelaySettings {
	if sc.RetryInterval == 0 {
		sc.RetryInterval = run.RetryInterval
	}
	if sc.MaxLifetime == 0 {
		sc.MaxLifetime = run.MaxLifetime
	}
	if sc.Hostname == "" {
		sc.Hostname = run.Hostname
	}
	if sc.TLS == "" {
		sc.TLS = run.TLS
	}
	return sc
}

// plan draws the messages: K recipients each, the first in a domain
// drawn at random, each further one in the same domain three times in
// four (one transaction, where a per-recipient 4xx splits the message).
// Recipient addresses are unique in the run: m<msg>r<k>@domain.
func plan(rng *rand.Rand, c Config, doms []domain) []planned {
	out := make([]planned, c.Messages)
	for i := range out {
		d := doms[rng.IntN(len(doms))]
		to := make([]string, c.Recipients)
		for k := range to {
			if k > 0 && rng.IntN(4) == 3 {
				d = doms[rng.IntN(len(doms))]
			}
			to[k] = fmt.Sprintf("m%dr%d@%s", i+1, k, d.Name)
		}
		out[i] = planned{to: to, size: c.Sizes.draw(rng)}
	}
	return out
}

// drain flushes the relay every second until its queue is empty (a relay
// that can list it), or every accepted recipient has an outcome in the
// journal (one that cannot), or the limit passes. It returns the queue
// last listed and whether the relay could list it.
func drain(ctx context.Context, env *harness.Env, c Config, tl *tail, sub *submitter, progress func(int)) ([]harness.QueuedRecipient, bool) {
	deadline := time.Now().Add(c.Drain)
	pairs := 0
	for _, a := range sub.accepted() {
		pairs += len(a.to)
	}
	for {
		_ = env.Flush(ctx)
		q, err := env.Queue(ctx)
		listed := err == nil
		n := len(q)
		if !listed {
			n = -1
		}
		progress(n)
		if listed && len(q) == 0 {
			return nil, true
		}
		if !listed && tl.counts().settled >= pairs {
			return nil, false
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return q, listed
		}
		sleepCtx(ctx, time.Second)
	}
}

// sortedKeys returns m's keys by count, largest first.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if m[keys[a]] != m[keys[b]] {
			return m[keys[a]] > m[keys[b]]
		}
		return keys[a] < keys[b]
	})
	return keys
}
