package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The Docker client's idle HTTP connections (-relay postfix) close on their own.
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage: mxsim <command>"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"demo", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
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

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitOK || !strings.Contains(stdout, "demo") || stderr != "" {
			t.Errorf("mxsim %q: exit %d, stdout %q, stderr %q; want 0 and the commands on stdout", args, code, stdout, stderr)
		}
	}
}

// TestCommandHelp asks every command for its help, as "mxsim CMD -h" and
// "mxsim help CMD": exit 0, the help on stdout, nothing on stderr, and the
// flags of commands that have them.
func TestCommandHelp(t *testing.T) {
	flags := map[string]string{"run": "-relay", "conformance": "-cases", "sandbox": "-listen", "image": "-force", "relay": "-listen", "ca": "-dir"}
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK || stderr != "" || !strings.HasPrefix(stdout, "usage: mxsim "+c.name) {
				t.Errorf("mxsim %q: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, stdout, stderr)
			}
			if f := flags[c.name]; f != "" && !strings.Contains(stdout, "\nflags:\n") || !strings.Contains(stdout, f) {
				t.Errorf("mxsim %q: help lacks the flag %s:\n%s", args, f, stdout)
			}
		}
	}
	// After "--" a -h is an argument, not a request for help.
	if code, _, _ := runCLI(t, "validate", "--", "-h"); code == exitOK {
		t.Error("mxsim validate -- -h: exit 0, want the missing file reported")
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _ := runCLI(t, args...)
		if code != exitOK || !strings.HasPrefix(stdout, "mxsim ") || !strings.Contains(stdout, runtime.Version()) {
			t.Errorf("mxsim %q: exit %d, %q", args, code, stdout)
		}
	}
	if code, _, stderr := runCLI(t, "version", "x"); code != exitUsage || !strings.Contains(stderr, `unexpected argument "x"`) {
		t.Errorf("mxsim version x: exit %d, %q", code, stderr)
	}
}

func TestDemoDeliversThroughFailoverAndGreylisting(t *testing.T) {
	code, stdout, stderr := runCLI(t, "demo")
	if code != exitOK {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"delivered at mx2", "PASS", "dns.query", "relay.defer"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "FAIL") {
		t.Errorf("demo reports a failure:\n%s", stdout)
	}
}
