package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/internal/bench"
)

// smtpResult is one smtp-source run against one server.
type smtpResult struct {
	rate      float64       // messages per second
	cpuPerMsg time.Duration // the server's CPU time (user + system) per message
	recorded  int           // messages the fakesmtp journal holds (-1 for smtp-sink)
}

var reSinkCount = regexp.MustCompile(`sink: (\d+) messages`)

// placement says how the server and smtp-source run.
type placement struct {
	name           string // "shared cores", "one core each", …
	server, driver string // taskset CPU lists; "" = anywhere
	env            string // NAME=value for the fakesmtp sink; "" = none
}

// placements returns the setups the SMTP comparison runs in; the first
// holds the targets. Shared cores with Go's defaults is the setup of the
// issue (and of every earlier report) and what a test that runs fakesmtp
// next to its client gets. With two or more CPUs (and -pin) two more,
// without targets: each side on a core of its own (taskset: server on
// CPU 1, smtp-source on CPU 0), which shows whether the load generator is
// the limit, and shared cores with fakesmtp's event loop turned off
// (MXSIM_FAKESMTP_LOOP=off: a goroutine per connection, what systems
// without epoll get).
func (r *runner) placements() []placement {
	shared := placement{name: "shared cores"}
	if r.c.cpus < 2 || !r.c.pin {
		return []placement{shared}
	}
	return []placement{shared,
		{name: "one core each", server: "1", driver: "0"},
		{name: "shared cores, fakesmtp without event loop", env: "MXSIM_FAKESMTP_LOOP=off"},
	}
}

// pinned prefixes name and args with taskset when cpus is set.
func pinned(cpus, name string, args ...string) (string, []string) {
	if cpus == "" {
		return name, args
	}
	return "taskset", append([]string{"-c", cpus, name}, args...)
}

// smtpOnce starts a server ("smtp-sink" or "fakesmtp"), drives it with
// smtp-source and stops it.
func (r *runner) smtpOnce(ctx context.Context, pl placement, server string, size, msgs int, cpuprofile string) (smtpResult, error) {
	ap, err := bench.FreeAddr()
	if err != nil {
		return smtpResult{}, err
	}
	addr := ap.String()
	ready, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var p *bench.Proc
	switch server {
	case "smtp-sink":
		args := []string{"-h", "sink.bench.test", addr, "1024"}
		if os.Geteuid() == 0 {
			args = append([]string{"-u", "nobody"}, args...) // smtp-sink refuses to run as root
		}
		name, args := pinned(pl.server, "smtp-sink", args...)
		if p, err = r.g.Start(name, args...); err != nil {
			return smtpResult{}, err
		}
		err = bench.WaitTCP(ready, addr)
	default:
		args := []string{"-addr", addr}
		if cpuprofile != "" {
			args = append(args, "-cpuprofile", cpuprofile)
		}
		name, args := pinned(pl.server, r.binary("sink"), args...)
		if pl.env != "" {
			name, args = "env", append([]string{pl.env, name}, args...)
		}
		if p, err = r.g.Start(name, args...); err != nil {
			return smtpResult{}, err
		}
		err = p.WaitOutput(ready, "listening on")
	}
	if err != nil {
		p.Stop(time.Second)
		return smtpResult{}, err
	}
	runCtx, cancelRun := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelRun()
	name, args := pinned(pl.driver, "smtp-source",
		"-s", strconv.Itoa(r.c.smtpSessions), "-m", strconv.Itoa(msgs), "-l", strconv.Itoa(size),
		"-M", "source.bench.test", "-f", "bench@origin.test", "-t", "rcpt@example.test", addr)
	_, d, err := r.g.Run(runCtx, name, args...)
	cpu, cpuErr := bench.ProcessCPU(p.Pid()) // before Stop: the sink's exit counts and profiles
	stopErr := p.Stop(10 * time.Second)
	if err != nil {
		return smtpResult{}, fmt.Errorf("%s: %w", server, err)
	}
	if cpuErr != nil {
		return smtpResult{}, fmt.Errorf("%s: %w", server, cpuErr)
	}
	res := smtpResult{rate: float64(msgs) / d.Seconds(), cpuPerMsg: cpu / time.Duration(msgs), recorded: -1}
	if server == "fakesmtp" {
		if stopErr != nil {
			return res, stopErr
		}
		m := reSinkCount.FindStringSubmatch(p.Output())
		if m == nil {
			return res, fmt.Errorf("fakesmtp sink printed no count: %q", p.Output())
		}
		res.recorded, _ = strconv.Atoi(m[1])
	}
	return res, nil
}

func (r *runner) smtp(ctx context.Context) (bench.Section, error) {
	pls := r.placements()
	setup := fmt.Sprintf("Postfix's `smtp-source -s %d -m N -l SIZE` (one new connection per message, as smtp-source does without `-d`) "+
		"drives `smtp-sink` (`-u nobody`, backlog 1024) and a fakesmtp host with the zero Behavior "+
		"(`internal/bench/cmd/sink`: accepts everything and journals every command, reply and message with its raw bytes, "+
		"in a fresh journal per run). Each run measures both back to back, smtp-sink first in odd-numbered runs and "+
		"fakesmtp first in even-numbered ones; messages per second is N "+
		"divided by smtp-source's wall time; server CPU is the server process's user + system time (/proc) divided by N. "+
		"The sink prints how many messages its journal holds when it stops.",
		r.c.smtpSessions)
	if len(pls) > 1 {
		setup += " The targets are measured on **shared cores**: server and smtp-source both free to use both CPUs, the " +
			"fakesmtp sink with Go's defaults. Two more setups have no targets: **one core each** (`taskset`: the server on " +
			"CPU 1, smtp-source on CPU 0), and shared cores with fakesmtp's **event loop off** (`MXSIM_FAKESMTP_LOOP=off`: " +
			"a goroutine per connection, as on systems without epoll)."
	}
	sec := bench.Section{
		Title: "SMTP sink throughput: fakesmtp versus Postfix smtp-sink",
		Setup: setup,
		Table: bench.Table{Header: []string{"placement", "body", "messages", "smtp-sink msgs/s", "fakesmtp msgs/s", "ratio",
			"per-run ratios", "server CPU per message (smtp-sink / fakesmtp)", "recorded by fakesmtp"}},
	}
	recordedAll := true
	var recorded []string
	for k, pl := range pls {
		for _, sz := range []struct {
			id, label   string
			size, count int
		}{
			{"smtp-1k", "1 KiB", 1024, r.c.smtpMsgs},
			{"smtp-100k", "100 KiB", 100 * 1024, r.c.smtpBigMsgs},
		} {
			var ref, fake, refCPU, fakeCPU []float64
			minRec := -1
			for i := range r.c.runs {
				// Each server goes first in every other run, so that neither
				// always meets the machine as the other left it.
				var a, b smtpResult
				for _, server := range orderOf(i) {
					res, err := r.smtpOnce(ctx, pl, server, sz.size, sz.count, "")
					if err != nil {
						return sec, err
					}
					if server == "smtp-sink" {
						a = res
					} else {
						b = res
					}
				}
				r.logf("smtp %s, %s, run %d: smtp-sink %.0f/s (%s CPU/msg), fakesmtp %.0f/s (%s CPU/msg, recorded %d of %d)",
					sz.label, pl.name, i+1, a.rate, a.cpuPerMsg, b.rate, b.cpuPerMsg, b.recorded, sz.count)
				ref, fake = append(ref, a.rate), append(fake, b.rate)
				refCPU, fakeCPU = append(refCPU, float64(a.cpuPerMsg)), append(fakeCPU, float64(b.cpuPerMsg))
				if minRec < 0 || b.recorded < minRec {
					minRec = b.recorded
				}
			}
			rs := bench.Ratios(fake, ref)
			rat := med(rs)
			rec := fmt.Sprintf("%d of %d in every run", minRec, sz.count)
			if minRec != sz.count {
				recordedAll = false
				rec = fmt.Sprintf("**as few as %d of %d**", minRec, sz.count)
			}
			recorded = append(recorded, sz.label+", "+pl.name+": "+rec)
			sec.Table.Rows = append(sec.Table.Rows, []string{
				pl.name, sz.label, fmt.Sprintf("%d × %d sessions", sz.count, r.c.smtpSessions),
				fmt.Sprintf("%.0f", med(ref)), fmt.Sprintf("%.0f", med(fake)), ratio(rat), list(rs, ratio),
				fmt.Sprintf("%.0f µs / %.0f µs", med(refCPU)/1e3, med(fakeCPU)/1e3), rec,
			})
			if k > 0 {
				continue // the other setups explain; they have no targets
			}
			what := "fakesmtp ÷ smtp-sink msgs/s, " + sz.label
			if len(pls) > 1 {
				what += ", " + pl.name
			}
			t := bench.Target{ID: sz.id, What: what, Want: "≥ 1.00×", Got: ratio(rat), Met: rat >= 1.0}
			if !t.Met {
				t.Profile = r.smtpProfile(ctx, pl, sz.size, sz.count)
				t.Explain = bench.Finding(t.ID)
			}
			sec.Targets = append(sec.Targets, t)
		}
	}
	sec.Targets = append(sec.Targets, bench.Target{
		ID: "smtp-recorded", What: "fakesmtp journals every message", Want: "all", Met: recordedAll,
		Got: map[bool]string{true: "all", false: "not all"}[recordedAll], Explain: bench.Finding("smtp-recorded"),
	})
	sec.Notes = append(sec.Notes, "Recorded: "+strings.Join(recorded, "; ")+".")
	if len(pls) > 1 {
		sec.Notes = append(sec.Notes, bench.Finding("smtp-placement"))
	}
	return sec, nil
}

// orderOf returns the order of the two servers in run i: smtp-sink first
// in even runs, fakesmtp first in odd ones.
func orderOf(i int) []string {
	if i%2 == 0 {
		return []string{"smtp-sink", "fakesmtp"}
	}
	return []string{"fakesmtp", "smtp-sink"}
}

// smtpProfile runs fakesmtp once more under a CPU profile and returns its
// pprof top.
func (r *runner) smtpProfile(ctx context.Context, pl placement, size, msgs int) string {
	prof := filepath.Join(r.c.work, fmt.Sprintf("sink-%d.cpu.prof", size))
	if _, err := r.smtpOnce(ctx, pl, "fakesmtp", size, msgs, prof); err != nil {
		return "profile run failed: " + err.Error()
	}
	return fmt.Sprintf("$ sink -addr ADDR -cpuprofile sink.prof   # driven by smtp-source -s %d -m %d -l %d\n$ go tool pprof -top -nodecount=25 sink sink.prof\n", r.c.smtpSessions, msgs, size) +
		r.pprofTop(ctx, r.binary("sink"), prof)
}
