package report

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// Sentinel errors of the writers. They come wrapped with the object they
// concern ("report: result 3 \"greylist-retry\": unknown verdict \"passed\"").
var (
	// ErrNilWriter: a writer function was given a nil io.Writer.
	ErrNilWriter = errors.New("nil writer")
	// ErrUnknownVerdict: a Result's Verdict is not one of the Verdict constants.
	ErrUnknownVerdict = errors.New("unknown verdict")
)

// Known reports whether v is one of the Verdict constants.
func (v Verdict) Known() bool {
	switch v {
	case Pass, Fail, Error, NonStrict, Informational, NotApplicable:
		return true
	}
	return false
}

// Label is the verdict as the terminal shows it: "PASS", "FAIL", "ERROR",
// "NON-STRICT", "INFO" or "SKIP" (not applicable); "UNKNOWN" for anything
// else.
func (v Verdict) Label() string {
	switch v {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	case Error:
		return "ERROR"
	case NonStrict:
		return "NON-STRICT"
	case Informational:
		return "INFO"
	case NotApplicable:
		return "SKIP"
	}
	return "UNKNOWN"
}

// Totals counts results by verdict. Results with an unknown verdict count
// as errors: a report never hides a result it cannot classify.
type Totals struct {
	Total         int `json:"total"`
	Passed        int `json:"passed"`
	Failed        int `json:"failed"`
	Errors        int `json:"errors"`
	NonStrict     int `json:"non_strict"`
	Informational int `json:"informational"`
	NotApplicable int `json:"not_applicable"`
}

// Count returns the totals of results.
func Count(results []Result) Totals {
	t := Totals{Total: len(results)}
	for _, r := range results {
		switch r.Verdict {
		case Pass:
			t.Passed++
		case Fail:
			t.Failed++
		case NonStrict:
			t.NonStrict++
		case Informational:
			t.Informational++
		case NotApplicable:
			t.NotApplicable++
		default:
			t.Errors++
		}
	}
	return t
}

// String renders the totals the way CI tooling reads them, always starting
// with "N passed, N failed": "12 passed, 1 failed, 2 skipped (not
// applicable), 0 errors". Non-strict, informational and skipped counts
// appear only when not zero.
func (t Totals) String() string {
	parts := []string{fmt.Sprintf("%d passed", t.Passed), fmt.Sprintf("%d failed", t.Failed)}
	if t.NonStrict > 0 {
		parts = append(parts, fmt.Sprintf("%d non-strict", t.NonStrict))
	}
	if t.Informational > 0 {
		parts = append(parts, fmt.Sprintf("%d informational", t.Informational))
	}
	if t.NotApplicable > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped (not applicable)", t.NotApplicable))
	}
	errs := "errors"
	if t.Errors == 1 {
		errs = "error"
	}
	parts = append(parts, fmt.Sprintf("%d %s", t.Errors, errs))
	return strings.Join(parts, ", ")
}

// Title is how reports name a result: "MX-001 MUST mx-preference-order" for
// a conformance case, the scenario name otherwise.
func (r Result) Title() string {
	var parts []string
	for _, s := range []string{r.ID, r.Level, r.Name} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

// Why returns the one-line reason a result did not pass: the first failed
// expectation ("scenario.yaml:14:5: expected …, but got …", with "(+N
// more)" when there are others), else Reason. Empty for a pass without a
// reason.
func (r Result) Why() string {
	if len(r.Failures) == 0 {
		return oneLine(r.Reason)
	}
	s := r.Failures[0].String()
	if n := len(r.Failures) - 1; n > 0 {
		s += fmt.Sprintf(" (+%d more)", n)
	}
	return s
}

// String renders f on one line: "pos: expected X, but got Y".
func (f Failure) String() string {
	var s string
	switch {
	case f.Expected != "" && f.Actual != "":
		s = "expected " + oneLine(f.Expected) + ", but got " + oneLine(f.Actual)
	case f.Expected != "":
		s = "expected " + oneLine(f.Expected)
	case f.Actual != "":
		s = oneLine(f.Actual)
	default:
		s = oneLine(f.Step)
	}
	if f.Pos != "" {
		s = f.Pos + ": " + s
	}
	return s
}

// checkResults returns an error naming the first result whose verdict is
// unknown.
func checkResults(results []Result) error {
	for i, r := range results {
		if !r.Verdict.Known() {
			return fmt.Errorf("report: result %d %q: %w %q", i+1, r.Name, ErrUnknownVerdict, r.Verdict)
		}
	}
	return nil
}

// origin is the instant event times are shown relative to: the start of
// the run, or the first event when that came earlier or Started is unset.
func origin(r Result) time.Time {
	t := r.Started
	if len(r.Events) > 0 {
		if first := r.Events[0].Time; t.IsZero() || (!first.IsZero() && first.Before(t)) {
			t = first
		}
	}
	return t
}

// sinceMS returns the time of e in milliseconds since start.
func sinceMS(e journal.Event, start time.Time) float64 {
	if e.Time.IsZero() || start.IsZero() {
		return 0
	}
	return float64(e.Time.Sub(start).Microseconds()) / 1000
}

// oneLine folds s onto one line: line breaks and tabs become spaces.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// truncate shortens s to at most n runes, ending with "…" when cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// seconds renders d the way progress lines do: "0.41s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}
