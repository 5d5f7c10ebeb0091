package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// External is a relay that is already running: mxsim only submits to it
// and, when told how, asks it to flush its queue.
func External(cfg ExternalConfig) Relay { return &external{cfg: cfg} }

// ExternalConfig configures an external relay.
type ExternalConfig struct {
	Submit   string // "host:port" where it accepts submissions
	User     string // AUTH credentials for submission, if it requires them
	Password string
	FlushCmd string // shell command that makes it retry its queue ("postqueue -f"); empty: flush does nothing
	// ResetCmd is a shell command run at Start, before each scenario,
	// that empties the relay's queue and forgets what it keeps by host
	// or domain (retry hints, TLS and callout caches); empty: none.
	ResetCmd string
	// CmdTimeout bounds FlushCmd and ResetCmd; 0 means DefaultCmdTimeout.
	// A command that runs longer is killed, with every process it started
	// that has not left its process group, and its step is an error.
	CmdTimeout time.Duration
	// Its own submission services, if it offers them: 587-style
	// (STARTTLS, AUTH required) and 465-style (TLS from connect), with
	// User and Password as the valid credentials.
	Submission, Submissions string
}

// DefaultCmdTimeout bounds an external relay's flush and reset commands
// when ExternalConfig.CmdTimeout is 0.
const DefaultCmdTimeout = 30 * time.Second

// ErrCommand is wrapped by the error of an external relay's flush or
// reset command that fails or times out: the run could not be set up as
// asked, which makes its scenario an error rather than a failure.
var ErrCommand = errors.New("command failed")

type external struct{ cfg ExternalConfig }

// external does not implement DecisionReporter: mxsim sees only what
// reaches the hosts, never the relay's own decisions.
var _ Relay = (*external)(nil)

func (x *external) Start(ctx context.Context, n Network) error {
	if x.cfg.Submit == "" {
		return errors.New("external relay: no submission address")
	}
	if x.cfg.ResetCmd == "" {
		return nil
	}
	return x.run(ctx, "reset", x.cfg.ResetCmd)
}

func (x *external) Submission() Submission {
	return Submission{Addr: x.cfg.Submit, User: x.cfg.User, Password: x.cfg.Password,
		SubmissionAddr: x.cfg.Submission, SubmissionsAddr: x.cfg.Submissions}
}

func (x *external) Flush(ctx context.Context) error {
	if x.cfg.FlushCmd == "" {
		return nil
	}
	return x.run(ctx, "flush", x.cfg.FlushCmd)
}

// run runs command with sh -c within the timeout. Its output goes to
// files, not pipes: a command that starts a daemon which keeps them open
// (a restart, "exim -qff &") ends when the shell does, and the daemon is
// left alone. On timeout its process group is killed.
func (x *external) run(ctx context.Context, what, command string) error {
	timeout := x.cfg.CmdTimeout
	if timeout <= 0 {
		timeout = DefaultCmdTimeout
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("external relay: %w: %s command %q: %s", ErrCommand, what, command, fmt.Sprintf(format, args...))
	}
	stdout, err := os.CreateTemp("", "mxsim-cmd-*")
	if err != nil {
		return fail("%v", err)
	}
	defer closeRemove(stdout)
	stderr, err := os.CreateTemp("", "mxsim-cmd-*")
	if err != nil {
		return fail("%v", err)
	}
	defer closeRemove(stderr)

	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, "sh", "-c", command)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	inGroup(cmd)
	cmd.WaitDelay = time.Second // for the kill to take
	err = cmd.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && cctx.Err() != nil:
		return fail("timed out after %v, killed%s", timeout, output(stderr, stdout))
	case ctx.Err() != nil:
		return fail("%v%s", ctx.Err(), output(stderr, stdout))
	}
	return fail("%v%s", err, output(stderr, stdout))
}

func closeRemove(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// maxOutput is how much of a command's output an error quotes: its end.
const maxOutput = 2000

// output is what a failed command wrote, for its error: its stderr, else
// its stdout, on one line, at most maxOutput bytes from the end.
func output(stderr, stdout *os.File) string {
	for _, f := range []*os.File{stderr, stdout} {
		b, _ := os.ReadFile(f.Name())
		s := strings.TrimSpace(string(b))
		if s == "" {
			continue
		}
		if len(s) > maxOutput {
			s = "…" + s[len(s)-maxOutput:]
		}
		return ": " + strings.Join(strings.Fields(s), " ")
	}
	return " (no output)"
}

func (x *external) Stop(ctx context.Context) error { return nil }

// CanFlush reports whether Flush can make the relay retry now: only with a
// flush command.
func (x *external) CanFlush() bool { return x.cfg.FlushCmd != "" }
