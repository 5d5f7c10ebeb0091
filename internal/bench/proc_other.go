//go:build !unix

package bench

import (
	"os/exec"
	"syscall"
)

// Without process groups and signals (Windows), a process is started as
// it is, and stopping it kills the process alone: what it started may
// outlive it.

func procAttr() *syscall.SysProcAttr { return nil }

func (p *Proc) signal(bool) { _ = p.cmd.Process.Kill() }

// stopped reports whether a process ended because Stop killed it. Windows
// cannot tell a kill from an exit with an error: every exit error after
// Stop counts as the kill.
func stopped(*exec.ExitError) bool { return true }
