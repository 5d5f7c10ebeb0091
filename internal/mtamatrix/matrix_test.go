package mtamatrix

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
)

func res(id string, v report.Verdict, reason string) report.Result {
	return report.Result{ID: id, Level: "MUST", Name: "title of " + id, Verdict: v, Reason: reason}
}

func configured(r report.Result, relay, cfg string) report.Result {
	r.Relay = relay
	r.Events = []journal.Event{{Kind: journal.KindRelayLog, Source: "relay", Text: relay + " configured: " + cfg}}
	return r
}

// fixture: the reference passes everything; Postfix fails MX-013 and
// skips SUBMIT-001.
func fixture() []Run {
	return []Run{
		{Kind: "postfix", Mode: Adapter, Status: Ran, Wall: 61500 * time.Millisecond, Results: []report.Result{
			configured(res("MX-001", report.Pass, ""), "postfix 3.7.11", "myhostname=relay.mxsim.test, smtp_tls_security_level=may"),
			configured(res("MX-013", report.Fail, "bounce status 5.1.0, want 5.1.10"), "postfix 3.7.11", "myhostname=relay.mxsim.test, smtp_tls_security_level=may"),
			configured(res("SUBMIT-001", report.NotApplicable, "needs submit_auth"), "postfix 3.7.11", "myhostname=relay.mxsim.test, smtp_tls_security_level=verify"),
		}},
		{Kind: "reference", Mode: Adapter, Status: Ran, Wall: 10 * time.Second, Results: []report.Result{
			res("MX-001", report.Pass, ""), res("MX-013", report.Pass, ""), res("SUBMIT-001", report.Pass, ""),
			res("MX-009", report.Informational, "behaved as described"),
		}},
		{Kind: "exim", Mode: Adapter, Status: Skipped, Detail: "this mxsim has no -relay exim"},
	}
}

func fixtureNotes() map[Key]string {
	return map[Key]string{
		{"postfix", "MX-013"}:     "Postfix bounces a null MX with 5.1.0.",
		{"postfix", "SUBMIT-001"}: "No SASL server in the image.",
	}
}

func render(t *testing.T, d *Doc) string {
	t.Helper()
	var b bytes.Buffer
	if err := d.Render(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestBuildComplete(t *testing.T) {
	d := Build(fixture(), fixtureNotes())
	if p := d.Problems(); len(p) != 0 {
		t.Fatalf("problems: %q", p)
	}
	out := render(t, d)
	for _, want := range []string{
		"| case | level | title | reference | postfix 3.7.11 |",
		"| MX-013 | MUST | title of MX-013 | PASS | [FAIL](#postfix-mx-013) |",
		"| MX-009 | MUST | title of MX-009 | INFO | — |",
		"| SUBMIT-001 | MUST | title of SUBMIT-001 | PASS | [N/A](#postfix-submit-001) |",
		"- mxsim: bounce status 5.1.0, want 5.1.10\n- postfix 3.7.11: Postfix bounces a null MX with 5.1.0.",
		"myhostname=relay.mxsim.test", // the common configuration
		"- SUBMIT-001: `smtp_tls_security_level=verify`",
		"- Not run: exim (adapter): this mxsim has no -relay exim",
		"| postfix 3.7.11 | adapter | 3 | 61.5 s |",
		"| reference | 3 | 0 | 0 | 1 | 0 | 0 | 4 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The wall times are in their own section, after everything else.
	if i, j := strings.Index(out, "## Wall time"), strings.Index(out, "61.5 s"); i < 0 || j < i {
		t.Errorf("wall time outside its section:\n%s", out)
	}
}

// TestMissingNote: a non-pass without a note is a problem naming the
// cell, and the document says so at the cell.
func TestMissingNote(t *testing.T) {
	notes := fixtureNotes()
	delete(notes, Key{"postfix", "MX-013"})
	d := Build(fixture(), notes)
	if !slices.Equal(d.Missing, []Key{{"postfix", "MX-013"}}) {
		t.Fatalf("missing = %v, want [postfix MX-013]", d.Missing)
	}
	p := d.Problems()
	if len(p) != 1 || !strings.Contains(p[0], "postfix MX-013: FAIL has no note") {
		t.Fatalf("problems = %q, want one naming postfix MX-013", p)
	}
	if out := render(t, d); !strings.Contains(out, "**no note yet** (internal/mtamatrix/notes.md, `## postfix MX-013`)") {
		t.Errorf("document does not mark the cell:\n%s", out)
	}
	// An informational case that did not behave as described needs one too.
	runs := fixture()
	runs[1].Results[3].Reason = "tried mx2 before mx1"
	if d := Build(runs, fixtureNotes()); !slices.Equal(d.Missing, []Key{{"reference", "MX-009"}}) {
		t.Errorf("missing = %v, want [reference MX-009]", d.Missing)
	}
}

// TestUnusedNote: a note for a relay that ran whose cell passes is
// reported; one for a relay that did not run is not.
func TestUnusedNote(t *testing.T) {
	notes := fixtureNotes()
	notes[Key{"postfix", "MX-001"}] = "stale"
	notes[Key{"exim", "MX-011"}] = "Exim freezes"
	d := Build(fixture(), notes)
	if !slices.Equal(d.Unused, []Key{{"postfix", "MX-001"}}) {
		t.Errorf("unused = %v, want [postfix MX-001]", d.Unused)
	}
	if len(d.Problems()) != 0 {
		t.Errorf("an unused note is not a problem: %q", d.Problems())
	}
}

// TestExternalDifference: a verdict through -relay external that is not
// the adapter's is listed and fails the check; a case the external
// profile does not cover is not compared.
func TestExternalDifference(t *testing.T) {
	runs := append(fixture(), Run{Kind: "postfix", Mode: External, Status: Ran, Wall: 80 * time.Second, Results: []report.Result{
		res("MX-001", report.Fail, "no host was attempted"),
		res("MX-013", report.NotApplicable, "needs hostname relay.example.test; the profile does not say the relay's"),
		res("SUBMIT-001", report.NotApplicable, "needs -submission"),
	}})
	d := Build(runs, fixtureNotes())
	want := []Difference{{Kind: "postfix", Case: "MX-001", Adapter: report.Pass, External: report.Fail, ExternalWhy: "no host was attempted"}}
	if !slices.Equal(d.Differences, want) {
		t.Fatalf("differences = %+v, want %+v", d.Differences, want)
	}
	if p := d.Problems(); len(p) != 1 || p[0] != "postfix MX-001: external (profile default) FAIL, adapter PASS" {
		t.Errorf("problems = %q", p)
	}
	out := render(t, d)
	for _, w := range []string{
		"| postfix | default | MX-001 | PASS:  | FAIL: no host was attempted |",
		"| postfix | [default](mtas/postfix/profile.yaml) | 1 | 0 | 1 | only MX-001 |",
		"postfix: not compared in any profile: MX-013, SUBMIT-001.",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// A second profile covers MX-013; its verdict is compared too.
	runs2 := append(slices.Clone(runs), Run{Kind: "postfix", Mode: External, Profile: "verify", Status: Ran, Results: []report.Result{
		res("MX-001", report.NotApplicable, "needs tls may"),
		res("MX-013", report.Pass, ""),
	}})
	d2 := Build(runs2, fixtureNotes())
	if len(d2.Differences) != 2 || d2.Differences[1].Profile != "verify" || d2.Differences[1].Case != "MX-013" {
		t.Errorf("differences with a second profile = %+v", d2.Differences)
	}
	if out := render(t, d2); !strings.Contains(out, "postfix: not compared in any profile: SUBMIT-001.") {
		t.Errorf("coverage over profiles wrong:\n%s", out)
	}
	// A case the adapter could not configure is not compared.
	runs3 := slices.Clone(runs)
	runs3[len(runs3)-1].Results = []report.Result{res("SUBMIT-001", report.Pass, "")}
	if d := Build(runs3, fixtureNotes()); len(d.Differences) != 0 {
		t.Errorf("adapter N/A, external PASS: differences %+v", d.Differences)
	}
	// Identical verdicts: no difference.
	runs[len(runs)-1].Results[0].Verdict = report.Pass
	if d := Build(runs, fixtureNotes()); len(d.Differences) != 0 || len(d.Problems()) != 0 {
		t.Errorf("identical verdicts: differences %v, problems %q", d.Differences, d.Problems())
	}
}

// TestDeterministic: the same runs in any order give the same bytes.
func TestDeterministic(t *testing.T) {
	a := render(t, Build(fixture(), fixtureNotes()))
	runs := fixture()
	slices.Reverse(runs)
	for i := range runs {
		slices.Reverse(runs[i].Results)
	}
	if b := render(t, Build(runs, fixtureNotes())); a != b {
		t.Errorf("output depends on input order:\n%s\n---\n%s", a, b)
	}
	if strings.Contains(a, time.Now().Format("2006-01-02")) {
		t.Errorf("output carries today's date")
	}
}

func TestParseNotes(t *testing.T) {
	n, err := ParseNotes("n.md", "# preamble\ntext\n## postfix MX-013\nline one\nline two\n\n## exim MX-011\nfreezes\n")
	if err != nil {
		t.Fatal(err)
	}
	if n[Key{"postfix", "MX-013"}] != "line one\nline two" || n[Key{"exim", "MX-011"}] != "freezes" || len(n) != 2 {
		t.Errorf("notes = %q", n)
	}
	for _, bad := range []struct{ text, want string }{
		{"## postfix mx-013\nx\n", `n.md:1: want a heading "## RELAY CASE-ID"`},
		{"## postfix MX-013\nx\n## postfix MX-013\ny\n", "n.md:3: second note for postfix MX-013"},
		{"## postfix MX-013\n\n## exim MX-011\nx\n", "n.md:1: note postfix MX-013 is empty"},
	} {
		if _, err := ParseNotes("n.md", bad.text); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseNotes(%q) = %v, want an error containing %q", bad.text, err, bad.want)
		}
	}
	// The embedded notes parse.
	if _, err := Notes(); err != nil {
		t.Error(err)
	}
}

func TestReadManifest(t *testing.T) {
	dir := t.TempDir()
	data, _ := json.Marshal(map[string]any{"results": []report.Result{res("MX-001", report.Pass, "")}})
	if err := os.WriteFile(filepath.Join(dir, "postfix.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(dir, "runs.tsv")
	os.WriteFile(m, []byte("# comment\npostfix\tadapter\t-\tran\t61.5\tpostfix.json\tmxsim conformance -relay postfix\n"+
		"exim\tadapter\t-\tskipped\t-\t-\tno -relay exim in this mxsim\n"+
		"postfix\texternal\tverify\tran\t20\tpostfix.json\n"), 0o644)
	runs, err := ReadManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || len(runs[0].Results) != 1 || runs[0].Wall != 61500*time.Millisecond || runs[0].Profile != "" ||
		runs[1].Status != Skipped || runs[1].Detail != "no -relay exim in this mxsim" || runs[2].Profile != "verify" || runs[2].Mode != External {
		t.Errorf("runs = %+v", runs)
	}
	for _, bad := range []struct{ line, want string }{
		{"postfix adapter - ran 1 x.json", "runs.tsv:1: want KIND MODE PROFILE STATUS SECONDS JSON"},
		{"postfix\tplugin\t-\tran\t1\tpostfix.json", `runs.tsv:1: mode "plugin"`},
		{"postfix\tadapter\t-\tdone\t1\tpostfix.json", `runs.tsv:1: status "done"`},
		{"postfix\tadapter\t-\tran\tsoon\tpostfix.json", `runs.tsv:1: seconds "soon"`},
		{"postfix\tadapter\t-\tran\t1\tnope.json", "runs.tsv:1: open"},
	} {
		os.WriteFile(m, []byte(bad.line+"\n"), 0o644)
		if _, err := ReadManifest(m); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ReadManifest(%q) = %v, want an error containing %q", bad.line, err, bad.want)
		}
	}
}

func TestStable(t *testing.T) {
	in := "relay bounce: postfix/smtp[2871]: 9D360E22D8: to=<bob@nomail.test>, relay=none, delay=0.09, delays=0.02/0.07/0/0, dsn=5.1.0; " +
		"connect to mx1.example.test[127.63.5.10]:25: Connection refused; submitted to 127.0.0.1:56801; DNS at 127.63.5.53:53"
	want := "relay bounce: postfix/smtp[…]: …: to=<bob@nomail.test>, relay=none, delay=…, delays=…, dsn=5.1.0; " +
		"connect to mx1.example.test[127.x.y.10]:25: Connection refused; submitted to 127.0.0.1:…; DNS at 127.x.y.53:53"
	if got := Stable(in); got != want {
		t.Errorf("Stable:\n got %q\nwant %q", got, want)
	}
	if Stable("RFC 5321 §4.5.4.1, 556 5.1.10 within 5s") != "RFC 5321 §4.5.4.1, 556 5.1.10 within 5s" {
		t.Error("Stable changed a reason without volatile parts")
	}
}
