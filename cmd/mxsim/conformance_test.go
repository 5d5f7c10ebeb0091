package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/internal/relay"
)

func TestConformancePassesOnReference(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "r.json")
	code, stdout, stderr := runCLI(t, "conformance", "-cases", "MX-006,RELAY-001", "-cases", "TLS-00[45]", "-json", jsonPath)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"VERDICT", "MX-006", "RELAY-001", "TLS-004", "TLS-005", "MUST", "4 passed, 0 failed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil || !strings.Contains(string(data), `"id": "RELAY-001"`) && !strings.Contains(string(data), `"id":"RELAY-001"`) {
		t.Errorf("JSON report: %v\n%.300s", err, data)
	}
}

func TestConformanceCatchesPlantedBug(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "r.html")
	code, stdout, _ := runCLI(t, "conformance", "-variant", "open-relay", "-cases", "RELAY-001", "-html", html)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s", code, exitFail, stdout)
	}
	if !strings.Contains(stdout, "FAIL") || !strings.Contains(stdout, "not conforming: RELAY-001") {
		t.Errorf("output:\n%s", stdout)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	// The evidence: expected vs actual, and the wire transcript of the MX
	// that got the relayed mail.
	for _, want := range []string{"RELAY-001", "submission refused at rcpt", "RCPT TO:&lt;bob@example.test&gt;"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
}

func TestConformanceStrictAndNotApplicable(t *testing.T) {
	// A SHOULD not met: non-strict passes, -strict fails.
	code, stdout, _ := runCLI(t, "conformance", "-variant", "retries-after-5xx", "-cases", "RETRY-009")
	if code != exitOK || !strings.Contains(stdout, "NON-STRICT") {
		t.Errorf("non-strict: exit %d\n%s", code, stdout)
	}
	code, _, _ = runCLI(t, "conformance", "-strict", "-variant", "retries-after-5xx", "-cases", "RETRY-009")
	if code != exitFail {
		t.Errorf("-strict: exit %d, want %d", code, exitFail)
	}
	// A case for another configuration is skipped with its reason.
	code, stdout, _ = runCLI(t, "conformance", "-route", "smarthost", "-cases", "MX-006,AUTH-003")
	if code != exitOK || !strings.Contains(stdout, "needs route direct; the relay is configured for a smarthost") ||
		!strings.Contains(stdout, "1 passed") {
		t.Errorf("not applicable: exit %d\n%s", code, stdout)
	}
}

// RETRY-010 judges an external relay by its retry interval: without
// -retry-interval it is not applicable, and says which flag to give.
func TestConformanceRetryIntervalFlag(t *testing.T) {
	code, stdout, stderr := runCLI(t, "conformance", "-relay", "external", "-submit", greeter(t, "220 relay.test ESMTP"),
		"-dns-addr", "127.0.92.53:15353", "-smtp-port", "12526", "-cases", "RETRY-010")
	if code != exitOK || !strings.Contains(stdout, "needs the relay's retry interval; the profile does not say it (--retry-interval)") {
		t.Errorf("external without -retry-interval: exit %d\n%s%s", code, stdout, stderr)
	}
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(prof, []byte("retry_interval: 5m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var pf profileFlags
	pf.file, pf.retryInterval = prof, 0
	if p, err := pf.profile(); err != nil || p.RetryInterval != 5*time.Minute {
		t.Errorf("profile file: %+v, %v", p, err)
	}
	pf.retryInterval = 30 * time.Second
	if p, err := pf.profile(); err != nil || p.RetryInterval != 30*time.Second {
		t.Errorf("flag over file: %+v, %v", p, err)
	}
}

func TestConformanceList(t *testing.T) {
	code, stdout, _ := runCLI(t, "conformance", "-list")
	if code != exitOK || strings.Count(stdout, "\n") < 26 || !strings.Contains(stdout, "RFC 7505 §3") {
		t.Errorf("-list: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "conformance", "-list-variants")
	if code != exitOK || strings.Count(stdout, "\n") != len(relay.Variants()) || !strings.Contains(stdout, "no-shuffle") {
		t.Errorf("-list-variants: exit %d\n%s", code, stdout)
	}
}

func TestConformanceUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badProfile := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badProfile, []byte("route: direct\ntls: may\nrelayhost: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-cases", "NOPE-*"}, `-cases: case pattern "NOPE-*": no conformance case matches`},
		{[]string{"-cases", "MX-["}, `case pattern "MX-["`},
		{[]string{"-tls", "strict"}, `tls "strict": want none, may, encrypt, verify or dane`},
		{[]string{"-route", "carrier-pigeon"}, `route "carrier-pigeon"`},
		{[]string{"-smarthost", "[bad host]:x"}, "smarthost"},
		{[]string{"-smarthost-user", "u"}, "user and password go together"},
		{[]string{"-hostname", "not a name"}, `hostname "not a name"`},
		{[]string{"-retry-interval", "-1s"}, "retry_interval -1s: want a positive duration"},
		{[]string{"-retry-interval", "soon"}, `invalid value "soon" for flag -retry-interval`},
		{[]string{"-variant", "nope"}, `-variant "nope": no such variant`},
		{[]string{"-variant", "open-relay", "-relay", "external", "-submit", "127.0.0.1:2525"}, "-variant goes with the reference relay"},
		{[]string{"-profile", filepath.Join(dir, "missing.yaml")}, "-profile:"},
		{[]string{"-profile", badProfile}, `unknown field "relayhost"`},
		{[]string{"-relay", "sendmail"}, `-relay "sendmail"`},
		{[]string{"-p", "0"}, "-p 0"},
		{[]string{"MX-001"}, `unexpected argument "MX-001"`},
	} {
		code, _, stderr := runCLI(t, append([]string{"conformance"}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("conformance %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}
