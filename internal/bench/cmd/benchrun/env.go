package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mxsim/mxsim/internal/bench"
)

// envbench runs the envbench driver and decodes its JSON into v.
func (r *runner) envbench(ctx context.Context, v any, args ...string) error {
	runCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, _, err := r.g.Run(runCtx, r.binary("envbench"), args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(lastLine(out)), v); err != nil {
		return fmt.Errorf("envbench %v: output %q: %w", args, out, err)
	}
	return nil
}

func lastLine(s string) string {
	b := []byte(s)
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return string(b[i+1:])
		}
	}
	return string(b)
}

func (r *runner) env(ctx context.Context) (bench.Section, error) {
	sec := bench.Section{
		Title: "Environment start and close",
		Setup: fmt.Sprintf("`internal/bench/cmd/envbench -mode start`: `harness.New` then `Env.Close` of the network of harness's "+
			"`BenchmarkStartEnv` (fake DNS with two zones, three SMTP hosts of which one offers STARTTLS, a new CA), "+
			"%d cycles per run; the figure is the median over runs of each run's median cycle.", r.c.envCycles),
		Table: bench.Table{Header: []string{"figure", "median", "per-run medians", "per-run p90"}},
	}
	var meds, p90s []float64
	for i := range r.c.runs {
		var res struct {
			MedianNS float64 `json:"median_ns"`
			P90NS    float64 `json:"p90_ns"`
		}
		if err := r.envbench(ctx, &res, "-mode", "start", "-n", strconv.Itoa(r.c.envCycles)); err != nil {
			return sec, err
		}
		r.logf("env run %d: median %s, p90 %s", i+1, ms(res.MedianNS), ms(res.P90NS))
		meds, p90s = append(meds, res.MedianNS), append(p90s, res.P90NS)
	}
	m := med(meds)
	sec.Table.Rows = append(sec.Table.Rows, []string{"start + close (DNS, 3 hosts, CA)", ms(m), list(meds, ms), list(p90s, ms)})
	t := bench.Target{ID: "env-start", What: "environment start + close, median", Want: "< 5 ms", Got: ms(m), Met: m < 5e6}
	if !t.Met {
		prof := filepath.Join(r.c.work, "envbench-start.cpu.prof")
		var res json.RawMessage
		if err := r.envbench(ctx, &res, "-mode", "start", "-n", strconv.Itoa(r.c.envCycles*3), "-cpuprofile", prof); err != nil {
			t.Profile = "profile run failed: " + err.Error()
		} else {
			t.Profile = "$ envbench -mode start -n " + strconv.Itoa(r.c.envCycles*3) + " -cpuprofile start.prof\n$ go tool pprof -top -nodecount=25 envbench start.prof\n" +
				r.pprofTop(ctx, r.binary("envbench"), prof)
		}
		t.Explain = bench.Finding(t.ID)
	}
	sec.Targets = append(sec.Targets, t)
	return sec, nil
}

// scaleResult mirrors envbench's -mode scale output.
type scaleResult struct {
	Via      string  `json:"via"`
	Domains  int     `json:"domains"`
	Hosts    int     `json:"hosts"`
	StartNS  float64 `json:"start_ns"`
	CloseNS  float64 `json:"close_ns"`
	RSS      float64 `json:"rss_bytes"`
	HWM      float64 `json:"hwm_bytes"`
	Queries  int     `json:"queries"`
	P50NS    float64 `json:"p50_ns"`
	P99NS    float64 `json:"p99_ns"`
	Answered int     `json:"answered"`
}

func (r *runner) scale(ctx context.Context) (bench.Section, error) {
	sec := bench.Section{
		Title: fmt.Sprintf("Scale: %d domains, %d hosts", r.c.scaleDomains, r.c.scaleHosts),
		Setup: fmt.Sprintf("`internal/bench/cmd/envbench -mode scale`, a fresh process per run: %d zones `dN.test` (MX to one of the hosts, "+
			"a TXT) plus `hosts.test` with an A record per host; start time is from the first socket to the last server ready; "+
			"resident memory is VmRSS after start (after a GC), peak is VmHWM at the end; DNS latency is 2,000 sequential MX lookups "+
			"for random domains over UDP. The network is started by `harness.New` (its address plan gives more than 244 hosts a "+
			"larger block of 127.0.0.0/8), and, for comparison, wired from the same parts without it (fakedns, fakesmtp hosts, "+
			"one journal, one CA).", r.c.scaleDomains),
		Table: bench.Table{Header: []string{"started by", "domains", "hosts", "start", "per-run start", "RSS after start", "peak RSS", "DNS p50", "DNS p99", "close"}},
	}
	variants := []struct {
		label   string
		hosts   int
		harness bool
	}{
		{"harness.New", r.c.scaleHosts, true},
		{"fakedns + fakesmtp", r.c.scaleHosts, false},
	}
	var mainStart, mainRSS float64
	for vi, v := range variants {
		var start, closeT, rss, hwm, p50, p99 []float64
		for i := range r.c.runs {
			args := []string{"-mode", "scale", "-domains", strconv.Itoa(r.c.scaleDomains), "-hosts", strconv.Itoa(v.hosts)}
			if v.harness {
				args = append(args, "-harness")
			}
			var res scaleResult
			if err := r.envbench(ctx, &res, args...); err != nil {
				return sec, err
			}
			if res.Answered != res.Queries {
				return sec, fmt.Errorf("scale %s: %d of %d lookups answered", v.label, res.Answered, res.Queries)
			}
			r.logf("scale %s run %d: start %s, rss %s, p99 %s", v.label, i+1, ms(res.StartNS), mb(res.RSS), us(res.P99NS))
			start, closeT = append(start, res.StartNS), append(closeT, res.CloseNS)
			rss, hwm = append(rss, res.RSS), append(hwm, res.HWM)
			p50, p99 = append(p50, res.P50NS), append(p99, res.P99NS)
		}
		sec.Table.Rows = append(sec.Table.Rows, []string{v.label, strconv.Itoa(r.c.scaleDomains), strconv.Itoa(v.hosts),
			ms(med(start)), list(start, ms), mb(med(rss)), mb(med(hwm)), us(med(p50)), us(med(p99)), ms(med(closeT))})
		if vi == 0 {
			mainStart, mainRSS = med(start), med(rss)
		}
	}
	args := []string{"-mode", "scale", "-domains", strconv.Itoa(r.c.scaleDomains), "-hosts", strconv.Itoa(r.c.scaleHosts)}
	ts := bench.Target{ID: "scale-start", What: fmt.Sprintf("start of %d domains + %d hosts", r.c.scaleDomains, r.c.scaleHosts), Want: "< 1 s", Got: ms(mainStart), Met: mainStart < 1e9}
	if !ts.Met {
		prof := filepath.Join(r.c.work, "envbench-scale.cpu.prof")
		var res json.RawMessage
		if err := r.envbench(ctx, &res, append(args, "-cpuprofile", prof)...); err != nil {
			ts.Profile = "profile run failed: " + err.Error()
		} else {
			ts.Profile = "$ envbench -mode scale -cpuprofile scale.prof\n$ go tool pprof -top -nodecount=25 envbench scale.prof\n" + r.pprofTop(ctx, r.binary("envbench"), prof)
		}
		ts.Explain = bench.Finding(ts.ID)
	}
	tm := bench.Target{ID: "scale-rss", What: fmt.Sprintf("resident memory of %d domains + %d hosts", r.c.scaleDomains, r.c.scaleHosts), Want: "< 200 MB", Got: mb(mainRSS), Met: mainRSS < 200e6}
	if !tm.Met {
		prof := filepath.Join(r.c.work, "envbench-scale.heap.prof")
		var res json.RawMessage
		if err := r.envbench(ctx, &res, append(args, "-memprofile", prof)...); err != nil {
			tm.Profile = "profile run failed: " + err.Error()
		} else {
			tm.Profile = "$ envbench -mode scale -memprofile scale.heap\n$ go tool pprof -top -sample_index=inuse_space envbench scale.heap\n" + r.pprofTop(ctx, r.binary("envbench"), prof, "-sample_index=inuse_space")
		}
		tm.Explain = bench.Finding(tm.ID)
	}
	sec.Targets = append(sec.Targets, ts, tm)
	return sec, nil
}
