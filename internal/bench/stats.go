// Package bench measures mxsim against the reference tools it is compared
// with, and writes docs/benchmarks.md. The flow of `make bench`:
//
//  1. scripts/bench.sh installs the references from Debian's packages
//     (Postfix's smtp-sink and smtp-source, NSD, dnsperf), stops any
//     service the packages started, and builds the drivers under cmd/;
//  2. cmd/benchrun starts every server as a process of its own on a
//     random loopback address (cmd/sink for a fakesmtp host, cmd/dnsserve
//     for fakedns, smtp-sink and nsd for the references) and drives each
//     with the same client and the same settings, alternating reference
//     and mxsim within each run so that both see the same machine load;
//  3. cmd/envbench measures what needs no external tool: starting and
//     closing an environment, and an environment of 10,000 domains;
//  4. every figure is the median of several runs; a ratio is the median
//     of the per-run ratios of runs made side by side;
//  5. for every missed target a CPU (or heap) profile of the same workload
//     is taken and its pprof top goes into the report next to how to read
//     the miss (Finding); Render writes the Markdown, and after it the
//     hand-written History section of the report it replaces (KeptPart).
//
// Nothing here asserts a timing: the tests check parsing, statistics and
// rendering only.
package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNoSamples is returned by the statistics of an empty sample.
var ErrNoSamples = errors.New("no samples")

// Median returns the median of xs (the mean of the two middle values for
// an even count). xs is not modified.
func Median(xs []float64) (float64, error) {
	if len(xs) == 0 {
		return 0, fmt.Errorf("bench: %w", ErrNoSamples)
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], nil
	}
	return (s[n/2-1] + s[n/2]) / 2, nil
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of xs by the
// nearest-rank method: the smallest value with at least p% of the sample
// at or below it. xs is not modified.
func Percentile(xs []float64, p float64) (float64, error) {
	if len(xs) == 0 {
		return 0, fmt.Errorf("bench: %w", ErrNoSamples)
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1], nil
}

// Ratios returns a[i]/b[i] for each pair where b[i] is not zero: the
// per-run ratios of two series measured side by side.
func Ratios(a, b []float64) []float64 {
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}
