package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestProgressGolden(t *testing.T) {
	var b bytes.Buffer
	for _, r := range append(sampleResults(), conformanceResults()...) {
		Progress(&b, r)
	}
	golden(t, "progress.golden", b.Bytes())
}

func TestProgressLine(t *testing.T) {
	cases := []struct {
		name string
		r    Result
		want string
	}{
		{"pass", Result{Name: "mx-failover-on-refused", Verdict: Pass, Duration: 410 * time.Millisecond},
			"PASS  mx-failover-on-refused  (0.41s)\n"},
		{"fail shows the first failure only", greylistResult(),
			"FAIL  greylist-retry  (10.02s)  scenario.yaml:14:5: expected a message to bob@example.test accepted at mx3.example.test, but got no message accepted; last: deferred 451 4.7.1 greylisted " + hostile + " (+1 more)\n"},
		{"conformance", Result{ID: "MX-001", Level: "MUST", Name: "MX before A", Verdict: Pass, Duration: 120 * time.Millisecond},
			"PASS  MX-001 MUST  MX before A  (0.12s)\n"},
		{"error shows the reason", Result{Name: "x", Verdict: Error, Reason: "relay did not start:\nbind failed"},
			"ERROR  x  (0.00s)  relay did not start: bind failed\n"},
		{"not applicable", Result{Name: "dane", Verdict: NotApplicable, Reason: "no DNSSEC"},
			"SKIP  dane  (0.00s)  no DNSSEC\n"},
		{"unknown verdict", Result{Name: "odd", Verdict: "passed"}, "UNKNOWN  odd  (0.00s)\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			Progress(&b, c.r)
			if b.String() != c.want {
				t.Errorf("Progress =\n%q\nwant\n%q", b.String(), c.want)
			}
		})
	}
	Progress(nil, failoverResult()) // must not panic
}

func TestSummaryGolden(t *testing.T) {
	var b bytes.Buffer
	Summary(&b, sampleResults(), 12345*time.Millisecond)
	golden(t, "summary.golden", b.Bytes())

	b.Reset()
	Summary(&b, conformanceResults(), 10300*time.Millisecond)
	golden(t, "summary-conformance.golden", b.Bytes())
}

// totalsLine is the form CI tooling greps for.
var totalsLine = regexp.MustCompile(`^(\d+) passed, (\d+) failed`)

func TestSummaryTotalsLine(t *testing.T) {
	cases := []struct {
		name    string
		results []Result
		elapsed time.Duration
		want    string
	}{
		{"sample", sampleResults(), 12345 * time.Millisecond,
			"1 passed, 1 failed, 1 skipped (not applicable), 1 error, in 12.3s"},
		{"conformance", conformanceResults(), 3200 * time.Millisecond,
			"1 passed, 1 failed, 1 non-strict, 1 informational, 0 errors, in 3.2s"},
		{"empty", nil, 0, "0 passed, 0 failed, 0 errors, in 0.0s"},
		{"unknown verdict counts as error", []Result{{Name: "a", Verdict: "??"}, {Name: "b", Verdict: Pass}}, time.Second,
			"1 passed, 0 failed, 1 error, in 1.0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			Summary(&b, c.results, c.elapsed)
			out := strings.TrimRight(b.String(), "\n")
			last := out[strings.LastIndex(out, "\n")+1:]
			if last != c.want {
				t.Errorf("totals line = %q, want %q", last, c.want)
			}
			if !totalsLine.MatchString(last) {
				t.Errorf("totals line %q does not start with \"N passed, N failed\"", last)
			}
		})
	}
	Summary(nil, sampleResults(), 0) // must not panic
}

func TestSummaryTable(t *testing.T) {
	var b strings.Builder
	Summary(&b, sampleResults(), time.Second)
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[0], "VERDICT") {
		t.Fatalf("first line %q is not the table header", lines[0])
	}
	for i, name := range []string{"mx-failover-on-refused", "greylist-retry", "smarthost-auth-plain", "dane-tlsa-usage-3"} {
		if !strings.Contains(lines[i+1], name) {
			t.Errorf("row %d = %q, want %s", i+1, lines[i+1], name)
		}
		if strings.HasSuffix(lines[i+1], " ") {
			t.Errorf("row %d has trailing blanks: %q", i+1, lines[i+1])
		}
	}
	if strings.Contains(lines[1], "mx1") {
		t.Errorf("a pass shows no reason: %q", lines[1])
	}
}

// TestNotesInEveryReport: a result's notes reach the terminal summary, the
// JUnit system-out and the HTML report.
func TestNotesInEveryReport(t *testing.T) {
	rs := []Result{{Name: "mx-006", ID: "MX-006", Verdict: Pass, Notes: []string{"network adapted to the profile: hosts given STARTTLS"}},
		{Name: "plain", Verdict: Pass, Notes: []string{"invariant accounted_for not judged: this relay cannot list its queue"}}}
	var text, junit, html strings.Builder
	Summary(&text, rs, time.Second)
	if err := WriteJUnit(&junit, "suite", rs); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&html, "title", rs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"notes:\n  MX-006: network adapted to the profile: hosts given STARTTLS\n", "  plain: invariant accounted_for not judged"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(junit.String(), "note: invariant accounted_for not judged: this relay cannot list its queue") {
		t.Errorf("JUnit lacks the note:\n%s", junit.String())
	}
	if !strings.Contains(html.String(), `<p class="note">Note: network adapted to the profile`) {
		t.Error("HTML lacks the note")
	}
}
