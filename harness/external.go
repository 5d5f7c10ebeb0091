package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
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
	// Its own submission services, if it offers them: 587-style
	// (STARTTLS, AUTH required) and 465-style (TLS from connect), with
	// User and Password as the valid credentials.
	Submission, Submissions string
}

type external struct{ cfg ExternalConfig }

// external does not implement DecisionReporter: mxsim sees only what
// reaches the hosts, never the relay's own decisions.
var _ Relay = (*external)(nil)

func (x *external) Start(ctx context.Context, n Network) error {
	if x.cfg.Submit == "" {
		return errors.New("external relay: no submission address")
	}
	return nil
}

func (x *external) Submission() Submission {
	return Submission{Addr: x.cfg.Submit, User: x.cfg.User, Password: x.cfg.Password,
		SubmissionAddr: x.cfg.Submission, SubmissionsAddr: x.cfg.Submissions}
}

func (x *external) Flush(ctx context.Context) error {
	if x.cfg.FlushCmd == "" {
		return nil
	}
	out, err := exec.CommandContext(ctx, "sh", "-c", x.cfg.FlushCmd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("external relay: flush command %q: %w: %s", x.cfg.FlushCmd, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (x *external) Stop(ctx context.Context) error { return nil }

// CanFlush reports whether Flush can make the relay retry now: only with a
// flush command.
func (x *external) CanFlush() bool { return x.cfg.FlushCmd != "" }
