package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxsim/mxsim/scenarios"
)

// jsonNames runs mxsim with -json - and returns the names and verdicts of
// the results it wrote to stdout (human text must then be on stderr).
func jsonNames(t *testing.T, args ...string) (code int, names []string, verdicts map[string]string, stderr string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	var doc struct {
		Results []struct {
			Name    string `json:"name"`
			ID      string `json:"id"`
			Verdict string `json:"verdict"`
			Reason  string `json:"reason"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("mxsim %q: stdout is not the JSON report (%v):\n%s\nstderr:\n%s", args, err, stdout, stderr)
	}
	verdicts = map[string]string{}
	for _, r := range doc.Results {
		n := r.Name
		if r.ID != "" {
			n = r.ID
		}
		names = append(names, n)
		verdicts[n] = r.Verdict
	}
	return code, names, verdicts, stderr
}

// suiteNames are the names of the scenarios of testdata/scenarios.
func suiteNames(t *testing.T) []string {
	t.Helper()
	scs, err := scenarios.LoadAll(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sc := range scs {
		names = append(names, sc.Name)
	}
	slices.Sort(names)
	return names
}

// TestRunShardsCoverSuite: -shard 1/2 and -shard 2/2 together run every
// scenario of testdata/scenarios exactly once (one half read from the
// JSON report, the other from the JUnit report), and neither is empty.
func TestRunShardsCoverSuite(t *testing.T) {
	want := suiteNames(t)
	code, first, _, stderr := jsonNames(t, "run", "-shard", "1/2", "-json", "-", scenarioDir)
	if code != exitOK {
		t.Fatalf("-shard 1/2: exit %d\n%s", code, stderr)
	}
	junit := filepath.Join(t.TempDir(), "r.xml")
	code, stdout, stderr := runCLI(t, "run", "-shard", "2/2", "-junit", junit, scenarioDir)
	if code != exitOK {
		t.Fatalf("-shard 2/2: exit %d\n%s%s", code, stdout, stderr)
	}
	var suites struct {
		Suites []struct {
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	b, err := os.ReadFile(junit)
	if err != nil || xml.Unmarshal(b, &suites) != nil || len(suites.Suites) != 1 {
		t.Fatalf("JUnit report of -shard 2/2 unreadable: %v", err)
	}
	var second []string
	for _, c := range suites.Suites[0].Cases {
		second = append(second, c.Name)
	}
	if len(first) == 0 || len(second) == 0 || len(first)+len(second) != len(want) {
		t.Errorf("shards of %d and %d scenarios, want halves of %d:\n1/2: %v\n2/2: %v", len(first), len(second), len(want), first, second)
	}
	got := slices.Sorted(slices.Values(append(slices.Clone(first), second...)))
	if !slices.Equal(got, want) {
		t.Errorf("shards together ran\n%v\nwant each of\n%v\nonce", got, want)
	}
}

// TestConformanceShardsCoverLibrary: the shards of -list cover the
// library's cases once each, for several N.
func TestConformanceShardsCoverLibrary(t *testing.T) {
	ids := func(args ...string) []string {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"conformance", "-list"}, args...)...)
		if code != exitOK {
			t.Fatalf("conformance -list %q: exit %d\n%s", args, code, stderr)
		}
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
			out = append(out, strings.Fields(l)[0])
		}
		return out
	}
	all := ids()
	for _, n := range []int{2, 3, 7} {
		var got []string
		for k := 1; k <= n; k++ {
			share := ids("-shard", strconv.Itoa(k)+"/"+strconv.Itoa(n))
			if len(share) < len(all)/n || len(share) > len(all)/n+1 {
				t.Errorf("-shard %d/%d: %d cases of %d, want an even share", k, n, len(share), len(all))
			}
			got = append(got, share...)
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(all))) {
			t.Errorf("%d shards list %v, want %v once each", n, got, all)
		}
	}
}

// TestSelectFlags: -run and -tags choose by name, ID, title, tag, area
// and level; a filter that matches nothing says so and exits 1.
func TestSelectFlags(t *testing.T) {
	code, names, _, stderr := jsonNames(t, "run", "-run", "^mx-pri|cname", "-json", "-", scenarioDir)
	if code != exitOK || !slices.Equal(names, []string{"cname-mx", "mx-priority"}) {
		t.Errorf("-run: exit %d, ran %v\n%s", code, names, stderr)
	}
	if !strings.Contains(stderr, "2 passed, 0 failed") {
		t.Errorf("with -json -, the summary is not on stderr:\n%s", stderr)
	}
	code, names, _, stderr = jsonNames(t, "run", "-tags", "cname,RFC1870", "-json", "-", scenarioDir)
	if code != exitOK || !slices.Equal(names, []string{"cname-mx", "limits-size"}) {
		t.Errorf("-tags: exit %d, ran %v\n%s", code, names, stderr)
	}
	code, names, _, _ = jsonNames(t, "run", "-tags", "mx", "-run", "priority", "-json", "-", scenarioDir)
	if code != exitOK || !slices.Equal(names, []string{"mx-priority"}) {
		t.Errorf("-tags and -run: exit %d, ran %v", code, names)
	}
	code, _, stderr = runCLI(t, "run", "-run", "no-such-scenario", "-tags", "mx", scenarioDir)
	if want := fmt.Sprintf(`no scenario matches -run "no-such-scenario" and -tags "mx" (of %d loaded)`, len(suiteNames(t))); code != exitFail || !strings.Contains(stderr, want) {
		t.Errorf("no match: exit %d, %q", code, stderr)
	}

	list := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"conformance", "-list"}, args...)...)
		if code != exitOK {
			t.Fatalf("conformance -list %q: exit %d\n%s", args, code, stderr)
		}
		return stdout
	}
	if out := list("-run", "MX-00[12]"); strings.Count(out, "\n") != 3 || !strings.Contains(out, "MX-001") || !strings.Contains(out, "MX-002") {
		t.Errorf("conformance -run by ID:\n%s", out)
	}
	if out := list("-run", "certificate for another name"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "TLS-005") {
		t.Errorf("conformance -run by title:\n%s", out)
	}
	if out := list("-tags", "tls,should"); strings.Contains(out, "MX-006") || !strings.Contains(out, "TLS-005") || !strings.Contains(out, "SHOULD") {
		t.Errorf("conformance -tags by area and level:\n%s", out)
	}
	if code, _, stderr := runCLI(t, "conformance", "-tags", "nope"); code != exitFail || !strings.Contains(stderr, `no case matches -tags "nope"`) {
		t.Errorf("conformance -tags nope: exit %d, %q", code, stderr)
	}
}

// TestSelectFlagErrors: the bad forms of -run, -shard and the reports on
// stdout are usage errors that name the flag.
func TestSelectFlagErrors(t *testing.T) {
	for _, cmd := range []string{"run", "conformance"} {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"-run", "mx-("}, `invalid value "mx-(" for flag -run: want a regular expression`},
			{[]string{"-shard", "0/2"}, `invalid value "0/2" for flag -shard: want K/N with 1 ≤ K ≤ N`},
			{[]string{"-shard", "3/2"}, `invalid value "3/2" for flag -shard`},
			{[]string{"-shard", "x/y"}, `invalid value "x/y" for flag -shard`},
			{[]string{"-shard", "1/0"}, `invalid value "1/0" for flag -shard`},
			{[]string{"-shard", "2"}, `invalid value "2" for flag -shard`},
			{[]string{"-shard", "-1/2"}, `invalid value "-1/2" for flag -shard`},
			{[]string{"-json", "-", "-junit", "-"}, "-junit - and -json -: only one report can go to stdout"},
			{[]string{"-html", "-", "-json", "-"}, "-json - and -html -: only one report can go to stdout"},
		} {
			args := append([]string{cmd}, c.args...)
			if cmd == "run" {
				args = append(args, scenarioDir)
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, c.want) || stdout != "" {
				t.Errorf("mxsim %q: exit %d, stdout %q, stderr %q; want %d and %q", args, code, stdout, stderr, exitUsage, c.want)
			}
		}
	}
}

// TestReportToStdout: -junit - writes the JUnit report, and nothing else,
// to stdout; no file named "-" is made.
func TestReportToStdout(t *testing.T) {
	scs := scenarioPath(t)
	dir := t.TempDir()
	t.Chdir(dir)
	code, stdout, stderr := runCLI(t, "run", "-junit", "-", "-run", "mx-priority", scs)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var suites struct {
		Tests int `xml:"tests,attr"`
	}
	if !strings.HasPrefix(stdout, "<?xml") || xml.Unmarshal([]byte(stdout), &suites) != nil || suites.Tests != 1 {
		t.Errorf("stdout is not a JUnit report of 1 test:\n%s", stdout)
	}
	if !strings.Contains(stderr, "PASS  mx-priority") || !strings.Contains(stderr, "1 passed, 0 failed") {
		t.Errorf("progress and summary are not on stderr:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "-")); err == nil {
		t.Error(`a file named "-" was written`)
	}
	code, stdout, stderr = runCLI(t, "conformance", "-cases", "MX-006", "-json", "-")
	var doc struct {
		Results []struct{ ID string } `json:"results"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &doc) != nil || len(doc.Results) != 1 || doc.Results[0].ID != "MX-006" {
		t.Errorf("conformance -json -: exit %d, stdout:\n%s", code, stdout)
	}
	if !strings.Contains(stderr, "1 passed") {
		t.Errorf("conformance summary not on stderr:\n%s", stderr)
	}
}

// scenarioPath is testdata/scenarios as an absolute path (for tests that
// change directory).
func scenarioPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// copyScenarios copies scenarios of testdata/scenarios into dir.
func copyScenarios(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(scenarioDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunBrokenFileAmongValid: one broken file among valid ones is an
// error entry, with its file:line:col message, in the JUnit, JSON and
// HTML reports; the valid ones still run and pass; exit 1.
func TestRunBrokenFileAmongValid(t *testing.T) {
	dir := t.TempDir()
	copyScenarios(t, dir, "mx-priority.yaml", "cname-mx.yaml")
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("name: broken\nsteps:\n  - sned: {from: a@origin.test}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	junit, js, html := filepath.Join(out, "r.xml"), filepath.Join(out, "r.json"), filepath.Join(out, "r.html")
	code, stdout, stderr := runCLI(t, "run", "-junit", junit, "-json", js, "-html", html, dir)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFail, stdout, stderr)
	}
	const where = "broken.yaml:3:5: unknown key \"sned\""
	if !strings.Contains(stderr, where) || !strings.Contains(stdout, "ERROR") || !strings.Contains(stdout, "2 passed, 0 failed, 1 error") {
		t.Errorf("output lacks the error or the totals:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}

	var suites struct {
		Tests  int `xml:"tests,attr"`
		Errors int `xml:"errors,attr"`
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				File    string    `xml:"file,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	b, err := os.ReadFile(junit)
	if err != nil || xml.Unmarshal(b, &suites) != nil || len(suites.Suites) != 1 {
		t.Fatalf("JUnit report missing or unreadable: %v", err)
	}
	if suites.Tests != 3 || suites.Errors != 1 {
		t.Errorf("JUnit: %d tests, %d errors; want 3 and 1", suites.Tests, suites.Errors)
	}
	ran := map[string]bool{}
	for _, c := range suites.Suites[0].Cases {
		switch {
		case c.File == broken:
			if c.Error == nil || !strings.Contains(c.Error.Message, where) || !strings.Contains(c.Error.Text, "sned") {
				t.Errorf("JUnit: the broken file's entry has no error with %q: %+v", where, c)
			}
		case c.Error != nil || c.Failure != nil:
			t.Errorf("JUnit: %s did not pass", c.Name)
		default:
			ran[c.Name] = true
		}
	}
	if !ran["mx-priority"] || !ran["cname-mx"] {
		t.Errorf("JUnit: the valid scenarios did not all pass: %v", ran)
	}

	var doc struct {
		Results []struct {
			File    string `json:"file"`
			Verdict string `json:"verdict"`
			Reason  string `json:"reason"`
		} `json:"results"`
	}
	if b, err := os.ReadFile(js); err != nil || json.Unmarshal(b, &doc) != nil || len(doc.Results) != 3 {
		t.Fatalf("JSON report: %v, %d results", err, len(doc.Results))
	}
	if r := doc.Results[0]; r.File != broken || r.Verdict != "error" || !strings.Contains(r.Reason, where) {
		t.Errorf("JSON: first result %+v, want the broken file as an error", r)
	}
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), "broken.yaml:3:5") {
		t.Errorf("HTML report lacks the broken file's error: %v", err)
	}
}

// greeter listens on loopback and greets every connection with greeting,
// answering QUIT; it is closed at the end of the test.
func greeter(t *testing.T, greeting string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, greeting+"\r\n")
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if strings.EqualFold(strings.TrimSpace(sc.Text()), "QUIT") {
						io.WriteString(c, "221 bye\r\n")
						return
					}
					io.WriteString(c, "502 not here\r\n")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// closedPort returns a loopback address nobody listens on: a port just
// closed.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestExternalRelayUnreachable: an external relay nobody listens for (or
// that refuses in its greeting) is one error before any scenario or case,
// in the output and the JUnit report; exit 1.
func TestExternalRelayUnreachable(t *testing.T) {
	fixed := []string{"-dns-addr", "127.72.0.53:15353", "-smtp-port", "12572"}
	for _, c := range []struct {
		submit, want string
	}{
		{closedPort(t), "the relay does not answer at its submission address (-submit)"},
		{greeter(t, "554 5.7.1 no service for you"), "refuses connections at its submission address"},
	} {
		for _, cmd := range [][]string{
			{"run", "-relay", "external", "-submit", c.submit, scenarioDir + "/mx-priority.yaml", scenarioDir + "/cname-mx.yaml"},
			{"conformance", "-relay", "external", "-submit", c.submit, "-cases", "MX-00*"},
		} {
			junit := filepath.Join(t.TempDir(), "r.xml")
			args := append(append(cmd[:1:1], fixed...), append([]string{"-junit", junit}, cmd[1:]...)...)
			code, stdout, stderr := runCLI(t, args...)
			if code != exitFail || strings.Count(stdout, "ERROR") != 2 || !strings.Contains(stdout, c.want) ||
				!strings.Contains(stdout, "0 passed, 0 failed, 1 error") || strings.Contains(stdout, "FAIL") {
				t.Errorf("mxsim %q: exit %d, want %d and one error %q (its line and the table):\n%s%s", args, code, exitFail, c.want, stdout, stderr)
			}
			var suites struct {
				Tests  int `xml:"tests,attr"`
				Errors int `xml:"errors,attr"`
			}
			if b, err := os.ReadFile(junit); err != nil || xml.Unmarshal(b, &suites) != nil || suites.Tests != 1 || suites.Errors != 1 {
				t.Errorf("mxsim %q: JUnit report %v, %+v; want 1 test, an error", args, err, suites)
			}
		}
	}
}

// TestProgressOnTerminal takes the terminal path (isTerminal replaced):
// counted lines and a heartbeat naming the scenario being waited for on
// stderr, the summary alone on stdout. Without a terminal the output is
// as it always was (the other tests).
func TestProgressOnTerminal(t *testing.T) {
	terminal, every := isTerminal, heartbeatEvery
	isTerminal = func(io.Writer) bool { return true }
	heartbeatEvery = 100 * time.Millisecond
	t.Cleanup(func() { isTerminal, heartbeatEvery = terminal, every })

	dir := t.TempDir()
	copyScenarios(t, dir, "mx-priority.yaml")
	slow := "name: slow-one\nsteps:\n  - wait: 1s\n"
	if err := os.WriteFile(filepath.Join(dir, "slow.yaml"), []byte(slow), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "run", "-p", "1", dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"[1/2] PASS  mx-priority", "[2/2] PASS  slow-one", "… 1/2 done; waiting for slow-one (",
		", step 1 wait at " + filepath.Join(dir, "slow.yaml") + ":3:5)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout, "PASS  slow-one") || !strings.Contains(stdout, "2 passed, 0 failed") {
		t.Errorf("stdout has progress lines, or lacks the summary:\n%s", stdout)
	}

	code, stdout, stderr = runCLI(t, "conformance", "-cases", "MX-006,MX-004")
	if code != exitOK || !strings.Contains(stderr, "[1/2] PASS  MX-00") || !strings.Contains(stderr, "[2/2] PASS  MX-00") {
		t.Errorf("conformance: exit %d, stderr lacks counted lines:\n%s\nstdout:\n%s", code, stderr, stdout)
	}
}

// TestProgressHeartbeat: what a heartbeat names before and while
// scenarios run.
func TestProgressHeartbeat(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b}
	if got := p.heartbeat(time.Now()); got != "" {
		t.Errorf("idle heartbeat %q, want none", got)
	}
	p.waitFor("relay postfix to start")
	if got := p.heartbeat(time.Now()); got != "… waiting for relay postfix to start" {
		t.Errorf("heartbeat %q", got)
	}
	p.begin([]string{"a", "b", "c"}, 2)
	p.finished(1, "PASS  b\n")
	got := p.heartbeat(time.Now().Add(3 * time.Second))
	if !strings.HasPrefix(got, "… 1/3 done; waiting for a (3s), c (") {
		t.Errorf("heartbeat %q, want a and c running", got)
	}
	p.step(2, 4, "wait", "c.yaml:12:5")
	if got := p.heartbeat(time.Now()); !strings.HasSuffix(got, ", step 4 wait at c.yaml:12:5)") {
		t.Errorf("heartbeat %q, want the step c is at", got)
	}
	p.finished(-1, "PASS  unknown\n") // a line it cannot place still counts
	if !strings.HasSuffix(b.String(), "[2/3] PASS  unknown\n") {
		t.Errorf("lines:\n%s", b.String())
	}
}

// TestValidateSkipsOtherYAML: in a directory, a YAML file with no
// scenario key (a docker-compose.yaml) is skipped with a note; named on
// the command line it is validated and fails; a misspelt scenario is
// never taken for another format.
func TestValidateSkipsOtherYAML(t *testing.T) {
	dir := t.TempDir()
	copyScenarios(t, dir, "mx-priority.yaml")
	compose := filepath.Join(dir, "docker-compose.yaml")
	if err := os.WriteFile(compose, []byte("name: lab\nservices:\n  postfix:\n    image: postfix\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"validate", "run"} {
		code, stdout, stderr := runCLI(t, cmd, dir)
		if code != exitOK || !strings.Contains(stderr, "mxsim "+cmd+": "+compose+" skipped: not a scenario") ||
			strings.Contains(stdout, "docker-compose") {
			t.Errorf("mxsim %s DIR: exit %d, want 0 and a note\nstdout:\n%s\nstderr:\n%s", cmd, code, stdout, stderr)
		}
	}
	if code, stdout, _ := runCLI(t, "validate", dir); !strings.Contains(stdout, "1 scenario(s) valid") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
	code, _, stderr := runCLI(t, "validate", compose)
	if code != exitFail || !strings.Contains(stderr, compose+":2:1: unknown key \"services\"") {
		t.Errorf("named explicitly: exit %d, stderr %q; want it validated", code, stderr)
	}
	misspelt := filepath.Join(dir, "misspelt.yaml")
	if err := os.WriteFile(misspelt, []byte("name: x\nstesp:\n  - flush: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "validate", dir)
	if code != exitFail || !strings.Contains(stderr, "misspelt.yaml:2:1") || strings.Contains(stderr, "misspelt.yaml skipped") {
		t.Errorf("misspelt scenario in a directory: exit %d, stderr %q; want it reported", code, stderr)
	}
}
