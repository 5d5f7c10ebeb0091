package main

import (
	"strings"
	"testing"
)

func TestRelayEximFlags(t *testing.T) {
	if err := (&relayFlags{kind: "exim"}).check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []relayFlags{{kind: "exim", flushCmd: "exim -qff"}, {kind: "exim", dnsAddr: "127.0.0.53:5353"}} {
		if err := bad.check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestRunExim runs the Exim adapter's own scenarios through the CLI: one
// container for the whole run, each scenario configuring it.
func TestRunExim(t *testing.T) {
	requireDockerCLI(t)
	code, stdout, stderr := runCLI(t, "run", "-relay", "exim", "../../harness/exim/testdata")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "2 passed, 0 failed") {
		t.Errorf("summary:\n%s", stdout)
	}
	if n := strings.Count(stderr, "Creating container"); n > 1 {
		t.Errorf("%d containers started for one run, want 1", n)
	}
}
