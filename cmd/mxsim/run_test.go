package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/internal/relay"
	"github.com/mxsim/mxsim/scenarios"
)

const scenarioDir = "../../testdata/scenarios"

func TestRunBuiltInScenariosPass(t *testing.T) {
	dir := t.TempDir()
	html, junit, js := filepath.Join(dir, "r.html"), filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.json")
	code, stdout, stderr := runCLI(t, "run", "-html", html, "-junit", junit, "-json", js, scenarioDir)
	if code != exitOK {
		t.Fatalf("mxsim run %s: exit %d\nstdout:\n%s\nstderr:\n%s", scenarioDir, code, stdout, stderr)
	}
	if !strings.Contains(stdout, " passed, 0 failed") {
		t.Errorf("summary lacks the totals line:\n%s", stdout)
	}
	page, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("HTML report missing or without a diagram: %v", err)
	}
	if fi, err := os.Stat(html); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o644 {
		t.Errorf("HTML report mode %v, want -rw-r--r--", fi.Mode())
	}
	var suites struct {
		Tests int `xml:"tests,attr"`
	}
	if b, err := os.ReadFile(junit); err != nil || xml.Unmarshal(b, &suites) != nil || suites.Tests == 0 {
		t.Errorf("JUnit report unreadable (%v) or empty (%d tests)", err, suites.Tests)
	}
	var doc map[string]any
	if b, err := os.ReadFile(js); err != nil || json.Unmarshal(b, &doc) != nil {
		t.Errorf("JSON report unreadable: %v", err)
	}
}

func TestRunWrongExpectationFailsReadably(t *testing.T) {
	code, stdout, stderr := runCLI(t, "run", "../../testdata/failing/wrong-expectation.yaml")
	if code != exitFail {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFail, stdout, stderr)
	}
	for _, want := range []string{
		"FAIL",
		"wrong-expectation.yaml:14:", // where the expectation is written
		"delivered to bob@example.test at mx2.example.test", // what was expected
		"delivered at mx1.example.test",                     // what happened instead
		"0 passed, 1 failed",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestRunVariantCaughtByInvariant: the failing scenario of testdata that
// no step of which counts deliveries passes with the correct relay and
// fails with the variant that re-sends to accepted recipients, on the
// at-most-once invariant, both deliveries named.
func TestRunVariantCaughtByInvariant(t *testing.T) {
	const sc = "../../testdata/failing/resends-to-accepted.yaml"
	if code, stdout, stderr := runCLI(t, "run", sc); code != exitOK {
		t.Fatalf("correct relay: exit %d\n%s%s", code, stdout, stderr)
	}
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "-variant", "resends-accepted", "-json", filepath.Join(dir, "r.json"), sc)
	if code != exitFail {
		t.Fatalf("variant: exit %d, want %d\n%s%s", code, exitFail, stdout, stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"invariant at_most_once", "delivered to ok@example.test twice", "first at mx1.example.test", "again at mx1.example.test", "variant resends-accepted"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "no scenario given"},
		{[]string{"run", "-p", "0", scenarioDir}, "-p 0"},
		{[]string{"run", "-relay", "carrier-pigeon", scenarioDir}, `-relay "carrier-pigeon": want reference, external, ` + strings.Join(containerKinds(), ", ")},
		{[]string{"run", "-relay", "external", scenarioDir}, "needs -submit"},
		{[]string{"run", "-relay", "external", "-submit", "nowhere", scenarioDir}, `-submit "nowhere"`},
		{[]string{"run", "-submit", "127.0.0.1:25", scenarioDir}, "go with -relay external"},
		{[]string{"run", "-dns-addr", "10.1.2.3:53", scenarioDir}, "-dns-addr"},
		{[]string{"run", "-smtp-port", "99999", scenarioDir}, "-smtp-port"},
		{[]string{"run", "-bogus", scenarioDir}, "flag provided but not defined"},
		{[]string{"run", "-variant", "nope", scenarioDir}, `-variant "nope": no such variant`},
		{[]string{"run", "-variant", "no-shuffle", "-relay", "external", "-submit", "127.0.0.1:25", "-dns-addr", "127.0.0.53:53", "-smtp-port", "25", scenarioDir}, "-variant goes with the reference relay"},
		{[]string{"validate"}, "no scenario given"},
		{[]string{"schema", "extra"}, "unexpected argument"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitUsage {
			t.Errorf("mxsim %q: exit %d, want %d", c.args, code, exitUsage)
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("mxsim %q: stderr %q lacks %q", c.args, stderr, c.want)
		}
	}
}

// TestRelayFlagHelp: the help of -relay names every kind the flag
// accepts.
func TestRelayFlagHelp(t *testing.T) {
	for _, cmd := range []string{"run", "conformance"} {
		_, stdout, _ := runCLI(t, cmd, "-h")
		_, help, _ := strings.Cut(stdout, "  -relay ")
		help, _, _ = strings.Cut(help, "\n  -")
		for _, kind := range append([]string{"reference", "external"}, containerKinds()...) {
			if !strings.Contains(help, kind) {
				t.Errorf("mxsim %s -h: -relay help lacks %q:\n%s", cmd, kind, help)
			}
		}
	}
}

func TestRunAndValidateBadFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\nsteps:\n  - sned: {}\n"), 0o644)
	for _, cmd := range []string{"run", "validate"} {
		code, _, stderr := runCLI(t, cmd, bad)
		if code != exitFail {
			t.Errorf("mxsim %s bad.yaml: exit %d, want %d", cmd, code, exitFail)
		}
		if !strings.Contains(stderr, "bad.yaml:3:") {
			t.Errorf("mxsim %s: error lacks file:line: %q", cmd, stderr)
		}
	}
	code, _, stderr := runCLI(t, "run", filepath.Join(dir, "missing.yaml"))
	if code != exitFail || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
}

func TestValidateGood(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", scenarioDir)
	if code != exitOK || !strings.Contains(stdout, "valid") {
		t.Fatalf("validate: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestSchemaIsJSON(t *testing.T) {
	code, stdout, _ := runCLI(t, "schema")
	var v map[string]any
	if code != exitOK || json.Unmarshal([]byte(stdout), &v) != nil || v["$schema"] == nil {
		t.Fatalf("schema: exit %d, not a JSON Schema: %.200s", code, stdout)
	}
}

func TestRunInterruptedWritesPartialReport(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "partial.html")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Interrupt once the first scenario has finished (its progress line
	// is the first output), so that the run is caught in the middle
	// however fast or slow the machine is.
	var out cancelOnWrite
	out.cancel = cancel
	var errb strings.Builder
	code := run(ctx, []string{"run", "-p", "1", "-html", html, scenarioDir}, &out, &errb)
	if code != exitFail {
		t.Fatalf("exit %d after interrupt, want %d", code, exitFail)
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("stderr does not say it was interrupted: %q", errb.String())
	}
	page, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(page), "interrupted") {
		t.Errorf("partial report missing or silent about the interruption: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
}

// cancelOnWrite is a writer that cancels a context at its first write.
// (It has no WriteString, so that every write comes through Write.)
type cancelOnWrite struct {
	b      strings.Builder
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.cancel()
	return w.b.Write(p)
}

func (w *cancelOnWrite) String() string { return w.b.String() }

// TestRunExternalRelayOnFixedAddresses plays a user whose MTA is already
// running, configured once to resolve through mxsim's DNS at a fixed
// address and to deliver to a fixed port: here a reference relay started
// on its own, outside the harness.
func TestRunExternalRelayOnFixedAddresses(t *testing.T) {
	const dnsAddr = "127.0.91.53:15353"
	const smtpPort = 12525
	mta, err := relay.Start(relay.Config{DNS: dnsAddr, Port: smtpPort, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer mta.Close()
	code, stdout, stderr := runCLI(t, "run", "-relay", "external", "-submit", mta.Addr(),
		"-dns-addr", dnsAddr, "-smtp-port", strconv.Itoa(smtpPort),
		scenarioDir+"/mx-failover-greeting-421.yaml", scenarioDir+"/mx-priority.yaml")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "2 passed, 0 failed") {
		t.Errorf("summary:\n%s", stdout)
	}

	// A host that is down leaves no trace: with a relay that reports
	// nothing, the failure must say why it cannot be seen.
	code, stdout, _ = runCLI(t, "run", "-relay", "external", "-submit", mta.Addr(), "-dns-addr", dnsAddr,
		"-smtp-port", strconv.Itoa(smtpPort), scenarioDir+"/mx-failover-refused.yaml")
	if code != exitFail || !strings.Contains(stdout, "mx1.example.test is down, and a connection to a host that is down is seen only when the relay reports") {
		t.Errorf("exit %d; the failure does not explain the unseen down host:\n%s", code, stdout)
	}
}

// TestRunUnsupportedSettingIsNotApplicable: a relay that cannot take a
// scenario's setting at all (harness.ErrUnsupported) makes the scenario
// not applicable, as conformance does; any other refusal is an error.
func TestRunUnsupportedSettingIsNotApplicable(t *testing.T) {
	sc, err := scenarios.LoadFile(scenarioDir + "/mx-priority.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		err  error
		want report.Verdict
	}{
		{fmt.Errorf("retry_interval: %w", harness.ErrUnsupported), report.NotApplicable},
		{errors.New("bad setting"), report.Error},
	} {
		suite := &relaySuite{name: "test", relay: func(*scenarios.Scenario) (harness.Relay, error) { return nil, c.err }}
		r := runOne(context.Background(), sc, 0, suite)
		if r.Verdict != c.want || !strings.Contains(r.Reason, c.err.Error()) {
			t.Errorf("relay error %v: verdict %s (%s), want %s", c.err, r.Verdict, r.Reason, c.want)
		}
	}
}
