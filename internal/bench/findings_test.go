package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// history matches what a finding should not say: rounds and issues of
// past work, and figures of earlier reports.
var history = regexp.MustCompile(`(?i)\bround \d|\bissue \d|went from|last report|before round`)

// TestFinding: every target benchrun reports has a finding, and findings
// explain a miss without retelling what was done: that history is the
// hand-written end of docs/benchmarks.md.
func TestFinding(t *testing.T) {
	for _, id := range []string{"smtp-1k", "smtp-100k", "smtp-recorded", "smtp-placement", "dns", "env-start", "scale-start", "scale-rss"} {
		f := Finding(id)
		if f == "" {
			t.Errorf("Finding(%q) is empty", id)
		}
		if h := history.FindString(f); h != "" {
			t.Errorf("Finding(%q) tells history (%q): that goes in the History section of docs/benchmarks.md", id, h)
		}
	}
	if f := Finding("no-such-target"); f != "" {
		t.Errorf("Finding(unknown) = %q, want \"\"", f)
	}
}

func TestKeptPart(t *testing.T) {
	const kept = KeptMarker + "\n\n## History\n\nBy hand.\n"
	cases := []struct {
		name, file, want string
	}{
		{"none", "# mxsim benchmarks\n\ntext\n", ""},
		{"empty", "", ""},
		{"at the end", "# mxsim benchmarks\n\n" + kept, kept},
		{"first line", kept, kept},
		{"CRLF", "# x\r\n" + KeptMarker + "\r\nkept\r\n", KeptMarker + "\r\nkept\r\n"},
		{"no newline after it", "# x\n" + KeptMarker, KeptMarker},
		{"inside a line", "# x\nsee " + KeptMarker + "\nmore\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := KeptPart([]byte(c.file)); got != c.want {
				t.Errorf("KeptPart = %q, want %q", got, c.want)
			}
		})
	}
}

// TestRenderKeepsHandWritten: a re-run writes the hand-written end back
// unchanged, after the generated part, however often it runs.
func TestRenderKeepsHandWritten(t *testing.T) {
	r := &Report{Runs: 1, Command: "make bench", Sections: []Section{{Title: "SMTP", Setup: "set up."}}}
	r.Kept = KeptMarker + "\n\n## History\n\n- Round 1: by hand.\n"
	var first bytes.Buffer
	if err := r.Render(&first); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(first.String(), "\n\n"+r.Kept) {
		t.Fatalf("report does not end with a blank line and the kept part:\n%s", first.String())
	}
	r.Kept = KeptPart(first.Bytes())
	var second bytes.Buffer
	if err := r.Render(&second); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("second render differs:\n%s\n---\n%s", first.String(), second.String())
	}

	r.Kept = ""
	var none bytes.Buffer
	if err := r.Render(&none); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(none.String(), KeptMarker) {
		t.Error("report without a kept part has the marker")
	}
}

// TestBenchmarksDocHistory: the committed docs/benchmarks.md has a
// hand-written History that make bench keeps.
func TestBenchmarksDocHistory(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	kept := KeptPart(doc)
	if !strings.Contains(kept, "\n## History\n") {
		t.Errorf("docs/benchmarks.md: no History section after the line %q", KeptMarker)
	}
}
