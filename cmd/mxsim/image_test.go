package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/internal/mtactr"
)

func TestImageUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"image"}, exitUsage, "want exactly one image name: postfix"},
		{[]string{"image", "sendmail"}, exitUsage, `no image named "sendmail" (want one of postfix, exim, opensmtpd)`},
		{[]string{"image", "postfix", "-method", "podman"}, exitUsage, `method "podman"`},
		{[]string{"image", "postfix", "-suite", "Bookworm 12"}, exitUsage, `suite "Bookworm 12"`},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("mxsim %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func TestImageNoDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/none.sock")
	code, _, stderr := runCLI(t, "image", "postfix")
	if code != exitFail || !strings.Contains(stderr, "no Docker engine") {
		t.Errorf("exit %d, stderr %q: want 1 and no Docker engine", code, stderr)
	}
}

func TestRelayPostfixFlags(t *testing.T) {
	f := relayFlags{kind: "postfix"}
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []relayFlags{{kind: "postfix", submit: "127.0.0.1:25"}, {kind: "postfix", dnsAddr: "127.0.0.53:5353"}} {
		if err := bad.check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestRunPostfix runs the Postfix suite through the CLI: one container for
// the whole run, each scenario configuring it from its relay section.
func TestRunPostfix(t *testing.T) {
	requireDockerCLI(t)
	code, stdout, stderr := runCLI(t, "run", "-relay", "postfix", "../../testdata/postfix")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "5 passed, 0 failed") {
		t.Errorf("summary:\n%s", stdout)
	}
	if n := strings.Count(stderr, "Creating container"); n > 1 {
		t.Errorf("%d containers started for one run, want 1", n)
	}
}

// requireDockerCLI skips a test that needs Docker where there is none,
// except in CI (CI=true) or with MXSIM_REQUIRE_DOCKER set, where a missing
// Docker fails it.
func requireDockerCLI(t *testing.T) {
	t.Helper()
	err := mtactr.CheckDocker(context.Background())
	if err == nil {
		return
	}
	if mtactr.DockerRequired() {
		t.Fatalf("Docker is required here (CI or MXSIM_REQUIRE_DOCKER): %v", err)
	}
	t.Skipf("no Docker engine, skipped (set CI=true or MXSIM_REQUIRE_DOCKER=1 to make this a failure): %v", err)
}
