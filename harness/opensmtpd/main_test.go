package opensmtpd_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/harness/opensmtpd"
	"github.com/mxsim/mxsim/internal/mtactr"
)

// shared is the one OpenSMTPD container of this test package: every test
// that needs OpenSMTPD runs its scenarios on it, one after another.
var shared struct {
	o       *opensmtpd.OpenSMTPD
	err     error  // Docker required but OpenSMTPD did not start
	skip    string // Docker absent and not required
	started time.Duration
}

type suite struct{ m *testing.M }

func (s suite) Run() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := mtactr.CheckDocker(ctx); err != nil {
		if mtactr.DockerRequired() {
			shared.err = fmt.Errorf("Docker is required here (CI or MXSIM_REQUIRE_DOCKER): %w", err)
		} else {
			shared.skip = fmt.Sprintf("no Docker engine, OpenSMTPD tests skipped (set CI=true or MXSIM_REQUIRE_DOCKER=1 to make this a failure): %v", err)
		}
	} else {
		start := time.Now()
		shared.o, shared.err = opensmtpd.New(ctx, opensmtpd.Config{BuildLog: os.Stderr})
		shared.started = time.Since(start)
	}
	code := s.m.Run()
	if shared.o != nil {
		if err := shared.o.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close opensmtpd:", err)
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
	)
}

// needOpenSMTPD returns the shared OpenSMTPD, skipping the test where
// Docker is absent and not required, failing it where it is required.
func needOpenSMTPD(t *testing.T) *opensmtpd.OpenSMTPD {
	t.Helper()
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatalf("opensmtpd: %v", shared.err)
	}
	return shared.o
}
