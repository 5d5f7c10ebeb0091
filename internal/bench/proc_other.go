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

// stopped reports whether a process ended because Stop killed it: an
// exit error after Stop is always that.
func stopped(*exec.ExitError) bool { return true }
