package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mxsim/mxsim/internal/bench"
)

func (r *runner) suite(ctx context.Context) (bench.Section, error) {
	sec := bench.Section{
		Title: "Suite speed: built-in scenarios against the reference relay",
		Setup: fmt.Sprintf("`mxsim run -p N %s` (the reference relay, in process); scenarios per second is the number of "+
			"scenarios divided by the elapsed time `mxsim run` prints. Several scenarios wait on purpose (greylisting windows, "+
			"slow hosts, DNS timeouts), so the suite's time is mostly those waits, not CPU.", r.c.scenarios),
		Table: bench.Table{Header: []string{"-p", "scenarios", "verdicts (last run)", "elapsed", "per-run elapsed", "scenarios/s"}},
	}
	for _, p := range []int{1, 4} {
		var el []float64
		var last bench.Suite
		for i := range r.c.runs {
			runCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			out, _, err := r.g.Run(runCtx, r.binary("mxsim"), "run", "-p", strconv.Itoa(p), r.c.scenarios)
			cancel()
			s, perr := bench.ParseSuite(out)
			if perr != nil {
				// Exit status 1 means some scenario failed: still a timing.
				return sec, fmt.Errorf("mxsim run -p %d: %w (run error: %v)", p, perr, err)
			}
			r.logf("suite -p %d run %d: %d scenarios in %v", p, i+1, s.Total(), s.Elapsed)
			el = append(el, float64(s.Elapsed))
			last = s
		}
		m := med(el)
		rate := float64(last.Total()) / (m / 1e9)
		sec.Table.Rows = append(sec.Table.Rows, []string{strconv.Itoa(p), strconv.Itoa(last.Total()),
			fmt.Sprintf("%d passed, %d failed, %d errors", last.Passed, last.Failed, last.Errors),
			secs(m), list(el, secs), fmt.Sprintf("%.2f", rate)})
		if last.Failed+last.Errors > 0 {
			sec.Notes = append(sec.Notes, fmt.Sprintf("At -p %d some scenarios did not pass; the timing still counts them.", p))
		}
	}
	return sec, nil
}

func secs(ns float64) string { return fmt.Sprintf("%.1f s", ns/1e9) }
