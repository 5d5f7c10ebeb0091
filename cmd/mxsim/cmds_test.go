package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRelayCmdFlagErrors: -reset-cmd and -cmd-timeout in their bad forms,
// for both commands that take the relay flags.
func TestRelayCmdFlagErrors(t *testing.T) {
	for _, cmd := range []string{"run", "conformance"} {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"-reset-cmd", "true"}, "-reset-cmd go with -relay external"},
			{[]string{"-relay", "postfix", "-reset-cmd", "true"}, "-reset-cmd go with -relay external, not postfix"},
			{[]string{"-relay", "external", "-submit", "127.0.0.1:2525", "-cmd-timeout", "0s"}, `invalid value "0s" for flag -cmd-timeout: want a positive duration`},
			{[]string{"-relay", "external", "-submit", "127.0.0.1:2525", "-cmd-timeout", "-5s"}, `invalid value "-5s" for flag -cmd-timeout`},
			{[]string{"-cmd-timeout", "soon"}, `invalid value "soon" for flag -cmd-timeout`},
		} {
			args := append([]string{cmd}, c.args...)
			if cmd == "run" {
				args = append(args, scenarioDir)
			}
			code, _, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, c.want) {
				t.Errorf("mxsim %q: exit %d, stderr %q; want %d and %q", args, code, stderr, exitUsage, c.want)
			}
		}
	}
}

// TestRunResetCmd: -reset-cmd runs before each scenario; one that fails
// makes the scenario an error that quotes its stderr.
func TestRunResetCmd(t *testing.T) {
	dir := t.TempDir()
	sc, sc2 := filepath.Join(dir, "flush.yaml"), filepath.Join(dir, "flush2.yaml")
	for i, f := range []string{sc, sc2} {
		if err := os.WriteFile(f, []byte("name: flush"+strconv.Itoa(i)+"\nsteps:\n  - flush: {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	count := filepath.Join(dir, "resets")
	dnsAddr, smtpPort := fixedAddrs(t)
	fixed := []string{"-dns-addr", dnsAddr, "-smtp-port", strconv.Itoa(smtpPort)}
	// The scenarios send nothing; the relay need only greet (mxsim
	// checks that it can be reached before the first scenario).
	submit := greeter(t, "220 relay.test ESMTP")
	code, stdout, stderr := runCLI(t, append(append([]string{"run", "-relay", "external", "-submit", submit, "-flush-cmd", "true",
		"-reset-cmd", "echo reset >> " + count}, fixed...), sc, sc2)...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(count); string(b) != "reset\nreset\n" {
		t.Errorf("resets %q, want one per scenario", b)
	}
	code, stdout, _ = runCLI(t, append(append([]string{"run", "-relay", "external", "-submit", submit,
		"-reset-cmd", "echo no spool here >&2; exit 1"}, fixed...), sc)...)
	if code != exitFail || !strings.Contains(stdout, "ERROR") || !strings.Contains(stdout, "no spool here") {
		t.Errorf("exit %d, want an ERROR quoting the reset command's stderr:\n%s", code, stdout)
	}
}
