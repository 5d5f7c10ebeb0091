package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/mxsim/mxsim/internal/bench"
)

// smtpResult is one smtp-source run against one server.
type smtpResult struct {
	rate     float64 // messages per second
	recorded int     // messages the fakesmtp journal holds (-1 for smtp-sink)
}

var reSinkCount = regexp.MustCompile(`sink: (\d+) messages`)

// smtpOnce starts a server ("smtp-sink" or "fakesmtp"), drives it with
// smtp-source and stops it.
func (r *runner) smtpOnce(ctx context.Context, server string, size, msgs int, cpuprofile string) (smtpResult, error) {
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
		if p, err = r.g.Start("smtp-sink", args...); err != nil {
			return smtpResult{}, err
		}
		err = bench.WaitTCP(ready, addr)
	default:
		args := []string{"-addr", addr}
		if cpuprofile != "" {
			args = append(args, "-cpuprofile", cpuprofile)
		}
		if p, err = r.g.Start(r.binary("sink"), args...); err != nil {
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
	_, d, err := r.g.Run(runCtx, "smtp-source",
		"-s", strconv.Itoa(r.c.smtpSessions), "-m", strconv.Itoa(msgs), "-l", strconv.Itoa(size),
		"-M", "source.bench.test", "-f", "bench@origin.test", "-t", "rcpt@example.test", addr)
	stopErr := p.Stop(10 * time.Second)
	if err != nil {
		return smtpResult{}, fmt.Errorf("%s: %w", server, err)
	}
	res := smtpResult{rate: float64(msgs) / d.Seconds(), recorded: -1}
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
	sec := bench.Section{
		Title: "SMTP sink throughput: fakesmtp versus Postfix smtp-sink",
		Setup: fmt.Sprintf("Postfix's `smtp-source -s %d -m N -l SIZE` (one new connection per message, as smtp-source does without `-d`) "+
			"drives `smtp-sink` (`-u nobody`, backlog 1024) and a fakesmtp host with the zero Behavior "+
			"(`internal/bench/cmd/sink`: accepts everything and journals every command, reply and message with its raw bytes, "+
			"in a fresh journal per run). Each run measures smtp-sink, then fakesmtp, back to back; messages per second is N "+
			"divided by smtp-source's wall time. The sink prints how many messages its journal holds when it stops.",
			r.c.smtpSessions),
		Table: bench.Table{Header: []string{"body", "messages", "smtp-sink msgs/s", "fakesmtp msgs/s", "ratio", "per-run ratios", "recorded by fakesmtp"}},
	}
	recordedAll := true
	recordedText := ""
	for _, sz := range []struct {
		id, label   string
		size, count int
	}{
		{"smtp-1k", "1 KiB", 1024, r.c.smtpMsgs},
		{"smtp-100k", "100 KiB", 100 * 1024, r.c.smtpBigMsgs},
	} {
		var ref, fake []float64
		minRec := -1
		for i := range r.c.runs {
			a, err := r.smtpOnce(ctx, "smtp-sink", sz.size, sz.count, "")
			if err != nil {
				return sec, err
			}
			b, err := r.smtpOnce(ctx, "fakesmtp", sz.size, sz.count, "")
			if err != nil {
				return sec, err
			}
			r.logf("smtp %s run %d: smtp-sink %.0f/s, fakesmtp %.0f/s (recorded %d of %d)", sz.label, i+1, a.rate, b.rate, b.recorded, sz.count)
			ref, fake = append(ref, a.rate), append(fake, b.rate)
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
		recordedText += sz.label + ": " + rec + "; "
		sec.Table.Rows = append(sec.Table.Rows, []string{
			sz.label, fmt.Sprintf("%d × %d sessions", sz.count, r.c.smtpSessions),
			fmt.Sprintf("%.0f", med(ref)), fmt.Sprintf("%.0f", med(fake)), ratio(rat),
			list(rs, ratio), rec,
		})
		t := bench.Target{ID: sz.id, What: "fakesmtp ÷ smtp-sink msgs/s, " + sz.label, Want: "≥ 1.00×", Got: ratio(rat), Met: rat >= 1.0}
		if !t.Met {
			t.Profile = r.smtpProfile(ctx, sz.size, sz.count)
			t.Action = bench.Finding(t.ID)
		}
		sec.Targets = append(sec.Targets, t)
	}
	sec.Targets = append(sec.Targets, bench.Target{
		ID: "smtp-recorded", What: "fakesmtp journals every message", Want: "all", Met: recordedAll,
		Got: map[bool]string{true: "all", false: "not all"}[recordedAll], Action: bench.Finding("smtp-recorded"),
	})
	sec.Notes = append(sec.Notes, "Recorded: "+recordedText[:len(recordedText)-2]+".")
	return sec, nil
}

// smtpProfile runs fakesmtp once more under a CPU profile and returns its
// pprof top.
func (r *runner) smtpProfile(ctx context.Context, size, msgs int) string {
	prof := filepath.Join(r.c.work, fmt.Sprintf("sink-%d.cpu.prof", size))
	if _, err := r.smtpOnce(ctx, "fakesmtp", size, msgs, prof); err != nil {
		return "profile run failed: " + err.Error()
	}
	return fmt.Sprintf("$ sink -addr ADDR -cpuprofile sink.prof   # driven by smtp-source -s %d -m %d -l %d\n$ go tool pprof -top -nodecount=25 sink sink.prof\n", r.c.smtpSessions, msgs, size) +
		r.pprofTop(ctx, r.binary("sink"), prof)
}
