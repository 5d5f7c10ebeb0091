package postfix_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/internal/mtactr"
)

// shared is the one Postfix container of this test package: every test
// that needs Postfix runs its scenarios on it, one after another.
var shared struct {
	pf      *postfix.Postfix
	err     error  // Docker required but Postfix did not start
	skip    string // Docker absent and not required
	started time.Duration
}

// dockerRequired tells whether a missing Docker is a failure: in CI
// (CI=true) or when MXSIM_REQUIRE_DOCKER is set.
func dockerRequired() bool {
	ci := os.Getenv("CI")
	return (ci != "" && ci != "false" && ci != "0") || os.Getenv("MXSIM_REQUIRE_DOCKER") != ""
}

type suite struct{ m *testing.M }

func (s suite) Run() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := mtactr.CheckDocker(ctx); err != nil {
		if dockerRequired() {
			shared.err = fmt.Errorf("Docker is required here (CI or MXSIM_REQUIRE_DOCKER): %w", err)
		} else {
			shared.skip = fmt.Sprintf("no Docker engine, Postfix tests skipped (set CI=true or MXSIM_REQUIRE_DOCKER=1 to make this a failure): %v", err)
		}
	} else {
		start := time.Now()
		shared.pf, shared.err = postfix.New(ctx, postfix.Config{BuildLog: os.Stderr})
		shared.started = time.Since(start)
	}
	code := s.m.Run()
	if shared.pf != nil {
		if err := shared.pf.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close postfix:", err)
			code = 1
		}
	}
	return code
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(suite{m},
		// The Docker client's idle HTTP connections close on their own.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		// Ginkgo's interrupt handler outlives RunSpecs by design.
		goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"),
	)
}

// needPostfix returns the shared Postfix, skipping the test where Docker
// is absent and not required, failing it where it is required.
func needPostfix(t *testing.T) *postfix.Postfix {
	t.Helper()
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatalf("postfix: %v", shared.err)
	}
	return shared.pf
}
