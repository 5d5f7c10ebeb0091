package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/internal/relay"
)

// TestExternalUsageErrors: an external relay needs fixed addresses, and
// a relay profile describes only an external relay.
func TestExternalUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("route: direct\nrout: smarthost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badValue := filepath.Join(dir, "value.yaml")
	if err := os.WriteFile(badValue, []byte("tls: strict\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ext := []string{"-relay", "external", "-submit", "127.0.0.1:2525"}
	fixed := append(ext[:len(ext):len(ext)], "-dns-addr", "127.0.94.53:15353", "-smtp-port", "12528")
	args := func(cmd string, base []string, extra ...string) []string {
		a := append([]string{cmd}, base...)
		a = append(a, extra...)
		if cmd == "run" {
			a = append(a, scenarioDir)
		}
		return a
	}
	cases := []struct {
		args []string
		want []string
	}{
		{args("run", ext), []string{"needs -dns-addr IP:PORT and -smtp-port PORT", "cannot know addresses chosen at random"}},
		{args("run", ext, "-dns-addr", "127.0.94.53:15353"), []string{"needs -smtp-port PORT:"}},
		{args("run", ext, "-smtp-port", "25"), []string{"needs -dns-addr IP:PORT:"}},
		{args("conformance", ext), []string{"needs -dns-addr IP:PORT and -smtp-port PORT", "cannot know addresses chosen at random"}},
		{args("run", nil, "-route", "direct"), []string{"describe an external relay (-relay external)"}},
		{args("run", []string{"-relay", "reference"}, "-tls", "verify"), []string{"describe an external relay"}},
		{args("run", fixed, "-route", "pigeon"), []string{`route "pigeon": want direct or smarthost`}},
		{args("run", fixed, "-tls", "strict"), []string{`tls "strict": want none, may, encrypt, verify or dane`}},
		{args("run", fixed, "-route", "direct", "-smarthost", "smtp.example.test"), []string{"with route direct"}},
		{args("run", fixed, "-smarthost", "[smtp.example.test"), []string{`missing "]"`}},
		{args("run", fixed, "-smarthost-user", "relay"), []string{"user and password go together"}},
		{args("run", fixed, "-hostname", "a b"), []string{`hostname "a b"`}},
		{args("run", fixed, "-retry-interval", "soon"), []string{"-retry-interval"}},
		{args("run", fixed, "-retry-interval", "-1s"), []string{"retry_interval -1s"}},
		{args("run", fixed, "-submission", "587"), []string{`submission "587": want host:port`}},
		{args("run", fixed, "-profile", bad), []string{bad + ":2:1: unknown field \"rout\""}},
		{args("run", fixed, "-profile", badValue), []string{badValue, `tls "strict"`}},
		{args("run", fixed, "-profile", filepath.Join(dir, "missing.yaml")), []string{"-profile:", "missing.yaml"}},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitUsage {
			t.Errorf("mxsim %q: exit %d, want %d\n%s", c.args, code, exitUsage, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("mxsim %q: stderr %q lacks %q", c.args, stderr, w)
			}
		}
	}
}

// TestRunExternalProfile: against an external relay that delivers
// direct, a scenario whose relay section asks for a smarthost is not
// applicable, with the setting and the flag; one whose section fits the
// profile runs, and so does one without a relay section.
func TestRunExternalProfile(t *testing.T) {
	const dnsAddr = "127.0.95.53:15353"
	const smtpPort = 12529
	mta, err := relay.Start(relay.Config{DNS: dnsAddr, Port: smtpPort, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer mta.Close()
	path := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, "run", "-relay", "external", "-submit", mta.Addr(),
		"-dns-addr", dnsAddr, "-smtp-port", strconv.Itoa(smtpPort), "-route", "direct", "-tls", "may", "-json", path,
		scenarioDir+"/smarthost-auth-starttls.yaml", scenarioDir+"/tls-opportunistic.yaml", scenarioDir+"/mx-priority.yaml",
		scenarioDir+"/tls-verify-wrong-name.yaml")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct{ Name, Verdict, Reason string }
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	want := map[string][2]string{
		"smarthost-auth-starttls": {string(report.NotApplicable), "needs route smarthost; the relay is configured for direct delivery"},
		"tls-opportunistic":       {string(report.Pass), ""},
		"mx-priority":             {string(report.Pass), ""},
		"tls-verify-wrong-name":   {string(report.NotApplicable), "needs TLS policy verify; the relay is configured for may"},
	}
	results := doc.Results
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(results), len(want), stdout)
	}
	for _, r := range results {
		w, ok := want[r.Name]
		if !ok || r.Verdict != w[0] || r.Reason != w[1] {
			t.Errorf("%s: %s %q, want %s %q", r.Name, r.Verdict, r.Reason, w[0], w[1])
		}
	}

	// The smarthost the profile names makes the smarthost scenario
	// applicable as far as the route goes; its credentials then matter.
	code, stdout, _ = runCLI(t, "run", "-relay", "external", "-submit", mta.Addr(),
		"-dns-addr", dnsAddr, "-smtp-port", strconv.Itoa(smtpPort), "-smarthost", "[smtp.example.test]:587", "-tls", "encrypt",
		scenarioDir+"/smarthost-auth-starttls.yaml")
	if code != exitOK || !strings.Contains(stdout, "needs smarthost credentials relay; the profile gives none (--smarthost-user)") {
		t.Errorf("smarthost without credentials: exit %d\n%s", code, stdout)
	}
}
