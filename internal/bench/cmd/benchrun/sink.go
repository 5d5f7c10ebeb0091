package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/internal/bench"
	"github.com/mxsim/mxsim/internal/mtactr"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// The sink section answers issue 19's performance goal: mxsim must never
// be the bottleneck of a load test. Two measurements:
//
//  1. one Postfix (the image mxsim builds, in its container) relays the
//     same N messages into a single smtp-sink and into an mxsim network
//     (a fakesmtp host found by MX through the fake DNS), alternately in
//     each run; the rate is N over the time from the first submission to
//     the N-th delivery Postfix logs;
//  2. the harness's own limit: smtp-source processes, one per host of a
//     100-host fakesmtp network, against the same processes all driving
//     one smtp-sink.
const (
	sinkDomain  = "sink.bench.test"  // MX → smtp-sink
	mxsimDomain = "mxsim.bench.test" // MX → a fakesmtp host
	sinkHostIP  = 250                // last byte of smtp-sink's address in the Postfix comparison
	sinkTarget  = 0.95               // Postfix into mxsim ÷ Postfix into smtp-sink
)

// sourceArgs returns smtp-source's arguments: sessions in parallel,
// msgs messages in all of size bytes each, to rcpt at addr. With reuse
// (-d) each session sends its messages over one connection, so a run
// opens `sessions` connections instead of one per message.
func sourceArgs(sessions, msgs, size int, rcpt, addr string, reuse bool) []string {
	args := []string{"-s", strconv.Itoa(sessions), "-m", strconv.Itoa(msgs), "-l", strconv.Itoa(size),
		"-M", "source.bench.test", "-f", "bench@origin.test", "-t", rcpt}
	if reuse {
		args = append(args, "-d")
	}
	return append(args, addr)
}

// split divides total into parts shares that differ by one at most,
// the larger first.
func split(total, parts int) []int {
	out := make([]int, parts)
	for i := range out {
		out[i] = total / parts
		if i < total%parts {
			out[i]++
		}
	}
	return out
}

// sinkResult is one side of one run.
type sinkResult struct {
	rate      float64       // messages per second
	cpuPerMsg time.Duration // the receiver's CPU per message
	extra     time.Duration // Postfix comparison: this process's CPU per message (reading Postfix's log; with mxsim, the network too)
	count     int           // messages the receiver got, where it can tell (-1: smtp-sink)
	failed    int           // relay.defer and relay.bounce events of the run
}

func (r *runner) sink(ctx context.Context) (bench.Section, error) {
	sec := bench.Section{
		Title: "Postfix into mxsim versus Postfix into smtp-sink",
		Setup: fmt.Sprintf("Issue 19's goal: mxsim must never be the bottleneck of a load test. **Relay rows:** one Postfix "+
			"(`mxsim image postfix`, in its container with host networking, the adapter's configuration) receives `smtp-source -s %d -d -m %d -l 1024` "+
			"on its submission port and relays every message either to `rcpt@%s`, whose MX is one `smtp-sink -u nobody` (backlog 1024) "+
			"on port 25 of the network's /24, or to `rcpt@%s`, whose MX is one fakesmtp host with the zero Behavior (no STARTTLS, like smtp-sink) "+
			"in an mxsim network: same Postfix, same fake DNS, same message count and size, the two alternately in each run (smtp-sink first in "+
			"odd-numbered runs). A rate is N over the time from smtp-source's start to the N-th delivery in Postfix's log (relay.deliver in the journal). "+
			"Receiver CPU is smtp-sink's process time, or this process's, which holds the mxsim network and reads Postfix's log (the harness column "+
			"gives what reading the log alone costs: this process during the smtp-sink side). The row *both at once* starts the two smtp-source "+
			"processes together, so that the load of a busy machine weighs on both sides alike; a side's rate is N over the time to its own N-th "+
			"delivery. **Harness rows:** %d `smtp-source -s 1 -d` processes "+
			"send %d messages of 1 KiB in all, one process per host of a %d-host fakesmtp network (a fresh one per run, every message journaled with "+
			"its bytes), against the same processes all driving one smtp-sink. With `-d` each smtp-source session keeps its connection, so new "+
			"TCP connections stay far below 500 a second.",
			r.c.sinkSessions, r.c.sinkMsgs, sinkDomain, mxsimDomain, r.c.netHosts, r.c.netMsgs, r.c.netHosts),
		Table: bench.Table{Header: []string{"setup", "messages", "smtp-sink msgs/s", "mxsim msgs/s", "ratio", "per-run ratios",
			"receiver CPU per message (smtp-sink / mxsim)", "harness CPU per message (smtp-sink side)", "received by mxsim"}},
	}
	if err := r.sinkRelay(ctx, &sec); err != nil {
		return sec, err
	}
	if err := r.sinkNetwork(ctx, &sec); err != nil {
		return sec, err
	}
	return sec, nil
}

// sinkRelay measures Postfix relaying into smtp-sink and into mxsim.
func (r *runner) sinkRelay(ctx context.Context, sec *bench.Section) error {
	r.logf("sink: starting Postfix in its container")
	p, err := postfix.New(ctx, postfix.Config{Subnet: r.c.sinkSubnet}) // the zero Subnet: a random one
	if errors.Is(err, postfix.ErrNoDocker) && !mtactr.DockerRequired() {
		r.logf("sink: skipped the Postfix rows: %v", err)
		// As the mta section does for an MTA it cannot run: a row that
		// says so, no target (CI and MXSIM_REQUIRE_DOCKER=1 fail instead).
		sec.Table.Rows = append(sec.Table.Rows, []string{"Postfix relaying", "skipped: no Docker", "—", "—", "—", "—", "—", "—", "—"})
		return nil
	}
	if err != nil {
		return err
	}
	defer p.Close()
	subnet := p.Plan().Subnet
	r.logf("sink: Postfix %s (%s), resolver and smtp-sink on %s", p.Version(), p.Image(), subnet)
	relay, err := p.Relay(scenarios.Relay{})
	if err != nil {
		return err
	}
	sinkAddr := netip.AddrPortFrom(mtactr.At(subnet, sinkHostIP), 25).String()
	env, err := harness.New(ctx, harness.Config{
		Plan:  p.Plan(),
		Relay: relay,
		Zones: []fakedns.Zone{
			{Name: sinkDomain, Records: map[string][]string{"@": {"MX 10 smtp-sink." + sinkDomain + "."}, "smtp-sink": {"A " + mtactr.At(subnet, sinkHostIP).String()}}},
			{Name: mxsimDomain, Records: map[string][]string{"@": {"MX 10 mx." + mxsimDomain + "."}}},
			{Name: "origin.test", Records: map[string][]string{}},
		},
		Hosts: []harness.Host{{Name: "mx." + mxsimDomain}},
	})
	if err != nil {
		return err
	}
	defer env.Close()
	args := []string{"-h", "sink.bench.test", sinkAddr, "1024"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	sink, err := r.g.Start("smtp-sink", args...)
	if err != nil {
		return err
	}
	defer sink.Stop(5 * time.Second)
	ready, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = bench.WaitTCP(ready, sinkAddr)
	cancel()
	if err != nil {
		return fmt.Errorf("smtp-sink on %s: %w: %s", sinkAddr, err, sink.Output())
	}
	submit := env.Relay().Submission().Addr
	stopProfile, err := bench.StartCPUProfile(r.c.sinkProfile)
	if err != nil {
		return err
	}
	defer stopProfile()

	var ref, fake, refCPU, fakeCPU, harnessCPU []float64
	minRec, failed := -1, 0
	for i := range r.c.runs {
		var a, b sinkResult
		for _, side := range orderOf(i) {
			res, err := r.relayOnce(ctx, env, submit, side, sink.Pid())
			if err != nil {
				return err
			}
			if side == "smtp-sink" {
				a = res
			} else {
				b = res
			}
			failed += res.failed
		}
		r.logf("sink postfix run %d: into smtp-sink %.0f/s (%s CPU/msg), into mxsim %.0f/s (%s CPU/msg, received %d of %d)",
			i+1, a.rate, a.cpuPerMsg, b.rate, b.cpuPerMsg, b.count, r.c.sinkMsgs)
		ref, fake = append(ref, a.rate), append(fake, b.rate)
		refCPU, fakeCPU, harnessCPU = append(refCPU, float64(a.cpuPerMsg)), append(fakeCPU, float64(b.cpuPerMsg)), append(harnessCPU, float64(a.extra))
		if minRec < 0 || b.count < minRec {
			minRec = b.count
		}
	}
	rs := bench.Ratios(fake, ref)
	rat := med(rs)
	rec := fmt.Sprintf("%d of %d in every run", minRec, r.c.sinkMsgs)
	if minRec != r.c.sinkMsgs {
		rec = fmt.Sprintf("**as few as %d of %d**", minRec, r.c.sinkMsgs)
	}
	sec.Table.Rows = append(sec.Table.Rows, []string{
		"Postfix " + p.Version() + " relaying (`" + p.Image() + "`)", fmt.Sprintf("%d × 1 KiB", r.c.sinkMsgs),
		fmt.Sprintf("%.0f", med(ref)), fmt.Sprintf("%.0f", med(fake)), ratio(rat), list(rs, ratio),
		fmt.Sprintf("%.0f µs / %.0f µs", med(refCPU)/1e3, med(fakeCPU)/1e3), fmt.Sprintf("%.0f µs", med(harnessCPU)/1e3), rec,
	})
	// Both at once: background load then weighs on both sides alike.
	var bothRef, bothFake []float64
	for i := range r.c.runs {
		a, b, f, err := r.relayBoth(ctx, env, submit)
		if err != nil {
			return err
		}
		failed += f
		r.logf("sink postfix run %d, both at once: into smtp-sink %.0f/s, into mxsim %.0f/s", i+1, a, b)
		bothRef, bothFake = append(bothRef, a), append(bothFake, b)
	}
	brs := bench.Ratios(bothFake, bothRef)
	sec.Table.Rows = append(sec.Table.Rows, []string{
		"the same, both at once", fmt.Sprintf("%d × 1 KiB each", r.c.sinkMsgs),
		fmt.Sprintf("%.0f", med(bothRef)), fmt.Sprintf("%.0f", med(bothFake)), ratio(med(brs)), list(brs, ratio), "—", "—", "—",
	})
	if failed > 0 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("Postfix deferred or bounced %d times in all (there is no fault in this network: look at the journal).", failed))
	}
	sec.Targets = append(sec.Targets, bench.Target{ID: "sink-postfix", What: "Postfix into mxsim ÷ Postfix into smtp-sink msgs/s",
		Want: fmt.Sprintf("≥ %.2f×", sinkTarget), Got: ratio(rat), Met: rat >= sinkTarget && minRec == r.c.sinkMsgs,
		Explain: "Both sides share Postfix, its submission and the fake DNS; only the receiving end differs. A miss means the mxsim " +
			"side took longer to take the same messages: compare the receiver CPU column, and profile this process during the mxsim side."})
	return nil
}

// relayOnce submits r.c.sinkMsgs messages to Postfix for the side's
// domain and waits until Postfix has logged as many deliveries.
func (r *runner) relayOnce(ctx context.Context, env *harness.Env, submit, side string, sinkPid int) (sinkResult, error) {
	domain := mxsimDomain
	if side == "smtp-sink" {
		domain = sinkDomain
	}
	j := env.Journal()
	mark := int64(j.Len())
	recvBefore := len(j.Events(journal.OfKind(journal.KindSMTPMessage)))
	self0, err := bench.ProcessCPU(os.Getpid())
	if err != nil {
		return sinkResult{}, err
	}
	sink0, err := bench.ProcessCPU(sinkPid)
	if err != nil {
		return sinkResult{}, err
	}
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	src, err := r.g.Start("smtp-source", sourceArgs(r.c.sinkSessions, r.c.sinkMsgs, 1024, "rcpt@"+domain, submit, true)...)
	if err != nil {
		return sinkResult{}, err
	}
	delivered, failed, err := waitDeliveries(runCtx, j, mark, r.c.sinkMsgs)
	d := time.Since(t0)
	srcErr := src.Wait(runCtx)
	if err != nil {
		return sinkResult{}, fmt.Errorf("%s: %d of %d delivered: %w (smtp-source: %v %s)", side, delivered, r.c.sinkMsgs, err, srcErr, lastLine(src.Output()))
	}
	if srcErr != nil {
		return sinkResult{}, fmt.Errorf("%s: smtp-source: %w: %s", side, srcErr, lastLine(src.Output()))
	}
	self1, err := bench.ProcessCPU(os.Getpid())
	if err != nil {
		return sinkResult{}, err
	}
	sink1, err := bench.ProcessCPU(sinkPid)
	if err != nil {
		return sinkResult{}, err
	}
	n := time.Duration(r.c.sinkMsgs)
	res := sinkResult{rate: float64(r.c.sinkMsgs) / d.Seconds(), extra: (self1 - self0) / n, count: -1, failed: failed}
	if side == "smtp-sink" {
		res.cpuPerMsg = (sink1 - sink0) / n
	} else {
		res.cpuPerMsg = (self1 - self0) / n
		res.count = len(j.Events(journal.OfKind(journal.KindSMTPMessage))) - recvBefore
	}
	return res, nil
}

// relayBoth submits r.c.sinkMsgs messages for each side at once (two
// smtp-source processes started together) and returns each side's rate:
// N over the time until that side's N-th delivery.
func (r *runner) relayBoth(ctx context.Context, env *harness.Env, submit string) (sinkRate, mxsimRate float64, failed int, err error) {
	j := env.Journal()
	mark := int64(j.Len())
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	var srcs []*bench.Proc
	for _, domain := range []string{sinkDomain, mxsimDomain} {
		src, err := r.g.Start("smtp-source", sourceArgs(r.c.sinkSessions, r.c.sinkMsgs, 1024, "rcpt@"+domain, submit, true)...)
		if err != nil {
			return 0, 0, 0, err
		}
		srcs = append(srcs, src)
	}
	done, failed, err := waitDomains(runCtx, j, mark, r.c.sinkMsgs, sinkDomain, mxsimDomain)
	for _, src := range srcs {
		if werr := src.Wait(runCtx); werr != nil && err == nil {
			err = fmt.Errorf("smtp-source: %w: %s", werr, lastLine(src.Output()))
		}
	}
	if err != nil {
		return 0, 0, failed, fmt.Errorf("both at once: %w", err)
	}
	n := float64(r.c.sinkMsgs)
	return n / done[0].Sub(t0).Seconds(), n / done[1].Sub(t0).Seconds(), failed, nil
}

// waitDomains follows the journal from mark until n relay.deliver events
// have been appended for a recipient in each of domains, and returns when
// each domain got its n-th, with the relay.defer and relay.bounce events
// seen.
func waitDomains(ctx context.Context, j *journal.Journal, mark int64, n int, domains ...string) ([]time.Time, int, error) {
	counts := make([]int, len(domains))
	at := make([]time.Time, len(domains))
	failed, left := 0, len(domains)
	for {
		ch := j.Changed()
		for _, e := range j.Since(mark) {
			mark = e.Seq
			switch e.Kind {
			case journal.KindRelayDeliver:
				if e.Message == nil || len(e.Message.To) == 0 {
					continue
				}
				for i, d := range domains {
					if strings.HasSuffix(strings.ToLower(e.Message.To[0]), "@"+d) {
						counts[i]++
						if counts[i] == n {
							at[i] = e.Time
							left--
						}
					}
				}
			case journal.KindRelayDefer, journal.KindRelayBounce:
				failed++
			}
		}
		if left == 0 {
			return at, failed, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return at, failed, fmt.Errorf("delivered %v of %d each: %w", counts, n, ctx.Err())
		}
	}
}

// waitDeliveries follows the journal from mark until n relay.deliver
// events have been appended (reading each new event once), and returns
// how many were, with the relay.defer and relay.bounce events seen.
func waitDeliveries(ctx context.Context, j *journal.Journal, mark int64, n int) (delivered, failed int, err error) {
	for {
		ch := j.Changed()
		for _, e := range j.Since(mark) {
			mark = e.Seq
			switch e.Kind {
			case journal.KindRelayDeliver:
				delivered++
			case journal.KindRelayDefer, journal.KindRelayBounce:
				failed++
			}
		}
		if delivered >= n {
			return delivered, failed, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return delivered, failed, ctx.Err()
		}
	}
}

// sinkNetwork measures the harness's own limit: a 100-host fakesmtp
// network against one smtp-sink, driven by the same smtp-source processes.
func (r *runner) sinkNetwork(ctx context.Context, sec *bench.Section) error {
	var ref, fake, refCPU, fakeCPU []float64
	minRec := -1
	for i := range r.c.runs {
		var a, b sinkResult
		for _, side := range orderOf(i) {
			var res sinkResult
			var err error
			if side == "smtp-sink" {
				res, err = r.networkSinkOnce(ctx)
			} else {
				res, err = r.networkOnce(ctx)
			}
			if err != nil {
				return err
			}
			if side == "smtp-sink" {
				a = res
			} else {
				b = res
			}
		}
		r.logf("sink network run %d: smtp-sink %.0f/s (%s CPU/msg), %d fakesmtp hosts %.0f/s (%s CPU/msg, recorded %d of %d)",
			i+1, a.rate, a.cpuPerMsg, r.c.netHosts, b.rate, b.cpuPerMsg, b.count, r.c.netMsgs)
		ref, fake = append(ref, a.rate), append(fake, b.rate)
		refCPU, fakeCPU = append(refCPU, float64(a.cpuPerMsg)), append(fakeCPU, float64(b.cpuPerMsg))
		if minRec < 0 || b.count < minRec {
			minRec = b.count
		}
	}
	rs := bench.Ratios(fake, ref)
	rec := fmt.Sprintf("%d of %d in every run", minRec, r.c.netMsgs)
	if minRec != r.c.netMsgs {
		rec = fmt.Sprintf("**as few as %d of %d**", minRec, r.c.netMsgs)
	}
	sec.Table.Rows = append(sec.Table.Rows, []string{
		fmt.Sprintf("smtp-source straight in: one smtp-sink / %d fakesmtp hosts", r.c.netHosts), fmt.Sprintf("%d × 1 KiB", r.c.netMsgs),
		fmt.Sprintf("%.0f", med(ref)), fmt.Sprintf("%.0f", med(fake)), ratio(med(rs)), list(rs, ratio),
		fmt.Sprintf("%.0f µs / %.0f µs", med(refCPU)/1e3, med(fakeCPU)/1e3), "—", rec,
	})
	sec.Targets = append(sec.Targets, bench.Target{ID: "sink-network", What: fmt.Sprintf("a %d-host fakesmtp network journals every message", r.c.netHosts),
		Want: "all", Got: map[bool]string{true: "all", false: "not all"}[minRec == r.c.netMsgs], Met: minRec == r.c.netMsgs})
	return nil
}

// drive runs one smtp-source process per address, sharing msgs between
// them, and returns the wall time from the first start to the last exit.
func (r *runner) drive(ctx context.Context, addrs []string, msgs int) (time.Duration, error) {
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	shares := split(msgs, len(addrs))
	t0 := time.Now()
	type source struct {
		p    *bench.Proc
		addr string
	}
	var srcs []source
	for i, addr := range addrs {
		if shares[i] == 0 {
			continue
		}
		p, err := r.g.Start("smtp-source", sourceArgs(1, shares[i], 1024, "rcpt@example.test", addr, true)...)
		if err != nil {
			for _, s := range srcs {
				_ = s.p.Stop(time.Second)
			}
			return 0, err
		}
		srcs = append(srcs, source{p, addr})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(srcs))
	for i, s := range srcs {
		wg.Go(func() {
			if err := s.p.Wait(runCtx); err != nil {
				errs[i] = fmt.Errorf("smtp-source to %s: %w: %s", s.addr, err, lastLine(s.p.Output()))
				_ = s.p.Stop(time.Second)
			}
		})
	}
	wg.Wait()
	return time.Since(t0), errors.Join(errs...)
}

// networkOnce drives a fresh fakesmtp network of r.c.netHosts hosts.
func (r *runner) networkOnce(ctx context.Context) (sinkResult, error) {
	cfg := harness.Config{}
	addrs := make([]string, 0, r.c.netHosts)
	for i := range r.c.netHosts {
		cfg.Hosts = append(cfg.Hosts, harness.Host{Name: fmt.Sprintf("mx%d.bench.test", i+1)})
	}
	cfg.Zones = []fakedns.Zone{{Name: "bench.test", Records: map[string][]string{}}}
	env, err := harness.New(ctx, cfg)
	if err != nil {
		return sinkResult{}, err
	}
	defer env.Close()
	for _, h := range cfg.Hosts {
		addrs = append(addrs, env.Host(h.Name).Addr())
	}
	cpu0, err := bench.ProcessCPU(os.Getpid())
	if err != nil {
		return sinkResult{}, err
	}
	d, err := r.drive(ctx, addrs, r.c.netMsgs)
	if err != nil {
		return sinkResult{}, err
	}
	cpu1, err := bench.ProcessCPU(os.Getpid())
	if err != nil {
		return sinkResult{}, err
	}
	n := len(env.Journal().Events(journal.OfKind(journal.KindSMTPMessage)))
	return sinkResult{rate: float64(r.c.netMsgs) / d.Seconds(), cpuPerMsg: (cpu1 - cpu0) / time.Duration(r.c.netMsgs), count: n}, nil
}

// networkSinkOnce drives one smtp-sink with as many smtp-source
// processes as the network has hosts.
func (r *runner) networkSinkOnce(ctx context.Context) (sinkResult, error) {
	ap, err := bench.FreeAddr()
	if err != nil {
		return sinkResult{}, err
	}
	addr := ap.String()
	args := []string{"-h", "sink.bench.test", addr, "1024"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	p, err := r.g.Start("smtp-sink", args...)
	if err != nil {
		return sinkResult{}, err
	}
	defer p.Stop(5 * time.Second)
	ready, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = bench.WaitTCP(ready, addr)
	cancel()
	if err != nil {
		return sinkResult{}, err
	}
	addrs := make([]string, r.c.netHosts)
	for i := range addrs {
		addrs[i] = addr
	}
	d, err := r.drive(ctx, addrs, r.c.netMsgs)
	if err != nil {
		return sinkResult{}, err
	}
	cpu, err := bench.ProcessCPU(p.Pid())
	if err != nil {
		return sinkResult{}, err
	}
	return sinkResult{rate: float64(r.c.netMsgs) / d.Seconds(), cpuPerMsg: cpu / time.Duration(r.c.netMsgs), count: -1}, nil
}
