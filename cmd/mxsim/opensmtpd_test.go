package main

import (
	"strings"
	"testing"
)

// TestRunOpenSMTPD runs scenarios through the CLI against OpenSMTPD: one
// container for the whole run, each scenario configuring it from its
// relay section (greylist-flush flushes with smtpctl schedule all).
func TestRunOpenSMTPD(t *testing.T) {
	requireDockerCLI(t)
	code, stdout, stderr := runCLI(t, "run", "-relay", "opensmtpd",
		"../../testdata/scenarios/mx-priority.yaml", "../../testdata/scenarios/greylist-flush.yaml")
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
