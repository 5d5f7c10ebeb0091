package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// JUnit XML, in the shape Jenkins, GitLab and GitHub test reporters read
// (the Ant/Surefire schema).
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties *junitProps     `xml:"properties,omitempty"`
		Cases      []junitTestCase `xml:"testcase"`
	}
	junitProps struct {
		Props []junitProp `xml:"property"`
	}
	junitProp struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitTestCase struct {
		Classname string        `xml:"classname,attr"`
		Name      string        `xml:"name,attr"`
		File      string        `xml:"file,attr,omitempty"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		Skipped   *junitSkipped `xml:"skipped,omitempty"`
		SystemOut *junitText    `xml:"system-out,omitempty"`
		SystemErr *junitText    `xml:"system-err,omitempty"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",cdata"`
	}
	// junitText is multi-line text, kept readable in the file as CDATA.
	junitText struct {
		Text string `xml:",cdata"`
	}
	junitSkipped struct {
		Message string `xml:"message,attr,omitempty"`
	}
)

// WriteJUnit writes results as JUnit XML: one <testsuite> named suite, one
// <testcase> per result, with
//
//   - <failure> for Fail (message: the first failed expectation; text: every
//     failure with its position, step, expected and actual);
//   - <error> for Error, <skipped/> for NotApplicable;
//   - NonStrict and Informational as passed cases, their reason in
//     <system-err>;
//   - <system-out>: the journal, one Event.Format line per event.
//
// Attributes are escaped by encoding/xml; multi-line text goes into CDATA
// sections (split where it contains "]]>"), so the file stays readable.
// Characters XML cannot carry become U+FFFD. It returns an error, writing nothing, when w is nil or a result
// has an unknown verdict. An empty suite is named "mxsim".
func WriteJUnit(w io.Writer, suite string, results []Result) error {
	if w == nil {
		return fmt.Errorf("report: junit: %w", ErrNilWriter)
	}
	if err := checkResults(results); err != nil {
		return err
	}
	if suite == "" {
		suite = "mxsim"
	}
	tot := Count(results)
	var total time.Duration
	s := junitSuite{Name: suite, Tests: tot.Total, Failures: tot.Failed, Errors: tot.Errors, Skipped: tot.NotApplicable}
	var relays []string
	for i, r := range results {
		total += r.Duration
		if i == 0 && !r.Started.IsZero() {
			s.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
		}
		if r.Relay != "" && !slices.Contains(relays, r.Relay) {
			relays = append(relays, r.Relay)
		}
		s.Cases = append(s.Cases, junitCase(suite, r))
	}
	if len(relays) > 0 {
		s.Properties = &junitProps{Props: []junitProp{{Name: "relay", Value: strings.Join(relays, ", ")}}}
	}
	s.Time = secs(total)
	doc := junitSuites{Name: suite, Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Skipped: s.Skipped,
		Time: s.Time, Suites: []junitSuite{s}}

	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: junit: encode suite %q: %w", suite, err)
	}
	buf.WriteByte('\n')
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report: junit: write: %w", err)
	}
	return nil
}

// junitCase renders one result.
func junitCase(suite string, r Result) junitTestCase {
	c := junitTestCase{Classname: suite, Name: r.Name, File: r.File, Time: secs(r.Duration)}
	if r.ID != "" {
		// Group conformance cases by area: "MX-001" → "<suite>.MX".
		area, _, _ := strings.Cut(r.ID, "-")
		c.Classname = suite + "." + area
		c.Name = r.Title()
	}
	switch r.Verdict {
	case Fail:
		typ := "expectation"
		if r.Level != "" {
			typ = strings.TrimSpace(r.Level + " " + r.Clause)
		}
		c.Failure = &junitProblem{Message: r.Why(), Type: typ, Text: xmlSafe(failureText(r))}
	case Error:
		c.Error = &junitProblem{Message: oneLine(r.Reason), Type: "error", Text: xmlSafe(r.Reason)}
	case NotApplicable:
		c.Skipped = &junitSkipped{Message: oneLine(r.Reason)}
	case NonStrict, Informational:
		if why := r.Why(); why != "" {
			c.SystemErr = &junitText{Text: xmlSafe(r.Verdict.Label() + ": " + why + "\n")}
		}
	}
	var notes strings.Builder
	for _, n := range r.Notes {
		notes.WriteString("note: " + n + "\n")
	}
	if out := notes.String() + journalText(r); out != "" {
		c.SystemOut = &junitText{Text: xmlSafe(out)}
	}
	return c
}

// failureText lists every failed expectation of r, for the body of a
// <failure>.
func failureText(r Result) string {
	var b strings.Builder
	if r.Reason != "" {
		b.WriteString(r.Reason + "\n\n")
	}
	for i, f := range r.Failures {
		if i > 0 {
			b.WriteByte('\n')
		}
		head := f.Pos
		if f.Step != "" {
			head = strings.TrimSpace(head + " " + f.Step)
		}
		if head != "" {
			b.WriteString(head + "\n")
		}
		fmt.Fprintf(&b, "  expected: %s\n  actual:   %s\n", f.Expected, f.Actual)
	}
	if r.Clause != "" {
		fmt.Fprintf(&b, "\n%s (%s)\n", r.Clause, r.Level)
	}
	return b.String()
}

// journalText renders r's events, one Event.Format line each.
func journalText(r Result) string {
	if len(r.Events) == 0 {
		return ""
	}
	start := origin(r)
	var b strings.Builder
	for _, e := range r.Events {
		b.WriteString(e.Format(start))
		b.WriteByte('\n')
	}
	return b.String()
}

// xmlSafe replaces the characters XML 1.0 cannot carry (most control
// characters, unpaired surrogates) with U+FFFD. CDATA sections are not
// escaped by encoding/xml, so text bound for them goes through here.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		// XML 1.0 §2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
		switch {
		case r == 0x9 || r == 0xA || r == 0xD,
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}

// secs renders d for JUnit time attributes: seconds, three decimals.
func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
