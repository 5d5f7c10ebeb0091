package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// reasonWidth caps the reason column of the summary table, so one long
// failure message does not wrap every line of the table.
const reasonWidth = 120

// Progress writes one line for a finished result:
//
//	PASS  mx-failover-on-refused  (0.41s)
//	FAIL  greylist-retry  (10.02s)  scenario.yaml:14:5: expected …, but got …
//	PASS  MX-001 MUST  mx-preference-order  (0.12s)
//
// Only the first failed expectation is shown. A nil w writes nothing;
// write errors are ignored, as with fmt.Fprintf to a terminal.
func Progress(w io.Writer, r Result) {
	if w == nil {
		return
	}
	var b strings.Builder
	b.WriteString(r.Verdict.Label())
	b.WriteString("  ")
	if r.ID != "" {
		b.WriteString(r.ID)
		if r.Level != "" {
			b.WriteString(" " + r.Level)
		}
		b.WriteString("  ")
	}
	b.WriteString(oneLine(r.Name))
	b.WriteString("  (" + seconds(r.Duration) + ")")
	if why := r.Why(); why != "" && r.Verdict != Pass {
		b.WriteString("  " + why)
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(w, b.String())
}

// Summary writes a table of results (verdict, ID and level for conformance
// cases, name, duration, one-line reason) and a totals line that always
// starts with "N passed, N failed":
//
//	12 passed, 1 failed, 2 skipped (not applicable), 0 errors, in 3.2s
//
// A nil w writes nothing; write errors are ignored.
func Summary(w io.Writer, results []Result, elapsed time.Duration) {
	if w == nil {
		return
	}
	var b strings.Builder
	conformance := false
	for _, r := range results {
		if r.ID != "" {
			conformance = true
			break
		}
	}
	if len(results) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
		if conformance {
			fmt.Fprintln(tw, "VERDICT\tID\tLEVEL\tNAME\tTIME\tREASON")
		} else {
			fmt.Fprintln(tw, "VERDICT\tSCENARIO\tTIME\tREASON")
		}
		for _, r := range results {
			why := ""
			if r.Verdict != Pass {
				why = truncate(r.Why(), reasonWidth)
			}
			name := cell(r.Name)
			if conformance {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Verdict.Label(), dash(cell(r.ID)), dash(cell(r.Level)), name, seconds(r.Duration), why)
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Verdict.Label(), name, seconds(r.Duration), why)
			}
		}
		_ = tw.Flush()
		b.WriteByte('\n')
	}
	writeNotes(&b, results)
	fmt.Fprintf(&b, "%s, in %.1fs\n", Count(results), elapsed.Seconds())
	// tabwriter pads the last cell of short rows; trailing blanks are noise
	// in logs and golden files.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, _ = io.WriteString(w, strings.Join(lines, "\n"))
}

// writeNotes lists the results' notes, one line each, under "notes:".
func writeNotes(b *strings.Builder, results []Result) {
	head := false
	for _, r := range results {
		for _, n := range r.Notes {
			if !head {
				b.WriteString("notes:\n")
				head = true
			}
			name := r.Name
			if r.ID != "" {
				name = r.ID
			}
			fmt.Fprintf(b, "  %s: %s\n", oneLine(name), oneLine(n))
		}
	}
	if head {
		b.WriteByte('\n')
	}
}

// cell makes s safe for a tabwriter cell: one line, no tabs.
func cell(s string) string { return oneLine(s) }

// dash stands in for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
