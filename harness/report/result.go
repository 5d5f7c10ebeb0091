// Package report renders the results of scenario and conformance runs for
// people and for CI: a progress line per scenario as it finishes, a summary
// table, JUnit XML, JSON, and one self-contained HTML file with, per
// scenario, the verdict, each failed expectation as expected vs actual, the
// transcript per host and a sequence diagram of the DNS and SMTP exchanges
// drawn as inline SVG.
//
//  1. a runner (harness.RunScenario, the CLI, the conformance runner) fills
//     one Result per scenario, Events copied from the environment's journal;
//  2. Progress prints one line when a Result is final;
//  3. Summary, WriteJUnit, WriteJSON (WriteJSONWith to keep the bytes of
//     the messages) and WriteHTML render a whole run.
package report

import (
	"time"

	"github.com/mxsim/mxsim/journal"
)

// Verdict is the outcome of one scenario or conformance case.
type Verdict string

// Verdicts, in the manner of Autobahn|Testsuite and h2spec.
const (
	Pass          Verdict = "pass"
	Fail          Verdict = "fail"          // an expectation was not met (a MUST, for conformance cases)
	Error         Verdict = "error"         // the scenario could not run (network did not start, relay failed…)
	NonStrict     Verdict = "non-strict"    // a SHOULD not met
	Informational Verdict = "informational" // observed and reported, no requirement
	NotApplicable Verdict = "not-applicable"
)

// Result is what one run of one scenario produced.
type Result struct {
	Name        string   `json:"name"`
	File        string   `json:"file,omitempty"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`

	// Conformance metadata; empty for plain scenarios.
	ID     string `json:"id,omitempty"`     // "MX-001"
	Level  string `json:"level,omitempty"`  // "MUST", "SHOULD", "INFO"
	Clause string `json:"clause,omitempty"` // "RFC 5321 §5.1"

	Relay    string        `json:"relay,omitempty"` // relay under test: "reference", "postfix 3.7.11"…
	Verdict  Verdict       `json:"verdict"`
	Reason   string        `json:"reason,omitempty"` // one line: why it did not pass, or why it does not apply
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`

	Failures []Failure `json:"failures,omitempty"`
	// Notes are remarks on how the run went that are not failures: a
	// check that could not be judged for this relay, an invariant the
	// scenario turned off, a case adapted to the relay profile.
	Notes []string `json:"notes,omitempty"`

	// Hosts are the simulated hosts, in address order, for the transcript
	// and the diagram's columns.
	Hosts []Host `json:"hosts,omitempty"`
	// Events is the environment's journal at the end of the run.
	Events []journal.Event `json:"events,omitempty"`
}

// Failure is one expectation that was not met.
type Failure struct {
	Pos      string `json:"pos,omitempty"`  // "scenario.yaml:14:5"
	Step     string `json:"step,omitempty"` // the step as written: "expect delivered to bob@example.test at mx2.example.test within 10s"
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	// Inconclusive: the condition could not be judged from what the
	// relay did (too few choices seen); the scenario is informational.
	Inconclusive bool `json:"inconclusive,omitempty"`
}

// Host is a simulated host as the report shows it.
type Host struct {
	Name     string `json:"name"`
	Addr     string `json:"addr"`
	Behavior string `json:"behavior,omitempty"` // one line: "down", "greylist 2s, STARTTLS offered"
}

// OK reports whether the verdict counts as success for the exit status:
// pass, informational and not-applicable do; non-strict does unless strict.
func (v Verdict) OK(strict bool) bool {
	switch v {
	case Pass, Informational, NotApplicable:
		return true
	case NonStrict:
		return !strict
	}
	return false
}
