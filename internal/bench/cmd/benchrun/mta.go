package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/mxsim/mxsim/internal/bench"
)

// mtaWall is the time `mxsim conformance -relay KIND` may take, container
// included, by the issue: Postfix under a minute; Exim and OpenSMTPD
// under 3 minutes (in CI).
var mtaWall = map[string]time.Duration{
	"postfix":   60 * time.Second,
	"exim":      3 * time.Minute,
	"opensmtpd": 3 * time.Minute,
}

// reConformanceSummary is the summary line of `mxsim conformance`
// ("38 passed, 0 failed, 2 informational, 0 errors, in 10.6s").
var reConformanceSummary = regexp.MustCompile(`(?m)^\d+ passed, .*\bin [0-9][0-9.a-zµ]*\s*$`)

// unsupported reports whether a conformance run ended because this mxsim
// does not know the relay kind (exit 2, "want reference, external, …").
func unsupported(out string, err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 2 && strings.Contains(out, "want reference, external")
}

// mta times `mxsim conformance -relay KIND` for the reference relay and
// each MTA in its container, the same number of runs each, the reference
// first in every run, and gives each MTA's wall time as a multiple of the
// reference's in the same run. scripts/matrix.sh (make matrix) runs the
// same commands and writes their verdicts to docs/mta-matrix.md.
func (r *runner) mta(ctx context.Context) (bench.Section, error) {
	sec := bench.Section{
		Title: "Conformance wall time per MTA",
		Setup: fmt.Sprintf("`mxsim conformance -relay KIND` with the default profile, %d run(s) per relay: the reference relay (in process) first, then each MTA "+
			"in its container (`mxsim image NAME`; Docker). The wall time is the whole command's, from start to exit: the container's start and "+
			"removal included. A ratio is the median of the per-run ratios to the reference relay's run just before. Verdicts are in "+
			"[mta-matrix.md](mta-matrix.md) (`make matrix`).", r.c.mtaRuns),
		Table: bench.Table{Header: []string{"relay", "verdicts (last run)", "wall time", "per-run wall time", "÷ reference"}},
	}
	type row struct {
		walls, ratios []float64
		summary       string
		skipped       string
	}
	rows := map[string]*row{}
	for _, k := range r.c.mtaRelays {
		rows[k] = &row{}
	}
	var refWall float64
	for i := range r.c.mtaRuns {
		for _, kind := range r.c.mtaRelays {
			rw := rows[kind]
			if rw.skipped != "" {
				continue
			}
			runCtx, cancel := context.WithTimeout(ctx, 15*time.Minute)
			out, d, err := r.g.Run(runCtx, r.binary("mxsim"), "conformance", "-relay", kind)
			cancel()
			if unsupported(out, err) {
				rw.skipped = "this mxsim has no -relay " + kind
				r.logf("mta %s: skipped: %s", kind, rw.skipped)
				continue
			}
			sum := reConformanceSummary.FindString(out)
			var ee *exec.ExitError
			if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1 && sum != "") {
				if kind == "reference" {
					return sec, fmt.Errorf("mxsim conformance -relay reference: %w", err)
				}
				rw.skipped = "did not run: " + strings.TrimSpace(lastLine(out))
				r.logf("mta %s: %s", kind, rw.skipped)
				continue
			}
			r.logf("mta %s run %d: %s (wall %v)", kind, i+1, strings.TrimSpace(sum), d.Round(100*time.Millisecond))
			rw.walls = append(rw.walls, float64(d))
			rw.summary = strings.TrimSpace(sum)
			if kind == "reference" {
				refWall = float64(d)
			} else if refWall > 0 {
				rw.ratios = append(rw.ratios, float64(d)/refWall)
			}
		}
	}
	for _, kind := range r.c.mtaRelays {
		rw := rows[kind]
		if rw.skipped != "" {
			sec.Table.Rows = append(sec.Table.Rows, []string{kind, rw.skipped, "—", "—", "—"})
			continue
		}
		ratioCell := "1.00× (itself)"
		if kind != "reference" {
			ratioCell = ratio(med(rw.ratios))
		}
		m := med(rw.walls)
		sec.Table.Rows = append(sec.Table.Rows, []string{kind, rw.summary, secs(m), list(rw.walls, secs), ratioCell})
		if limit, ok := mtaWall[kind]; ok {
			sec.Targets = append(sec.Targets, bench.Target{ID: "mta-" + kind,
				What: "`mxsim conformance -relay " + kind + "`, wall time with the container",
				Want: "< " + secs(float64(limit)), Got: secs(m), Met: m < float64(limit),
				Explain: "Per case the adapter reconfigures the MTA and empties its queue; the cases' own waits are the same as the reference relay's. " +
					"Run `mxsim conformance -relay " + kind + " -v` to see which cases take the time."})
		}
	}
	return sec, nil
}
