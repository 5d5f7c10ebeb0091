//go:build unix

package bench

import (
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// signal sends SIGTERM, or SIGKILL with kill, to the process group of p:
// what the process forked goes too.
func (p *Proc) signal(kill bool) {
	sig := unix.SIGTERM
	if kill {
		sig = unix.SIGKILL
	}
	_ = unix.Kill(-p.cmd.Process.Pid, sig)
}

// stopped reports whether a process ended on the SIGTERM of Stop.
func stopped(ee *exec.ExitError) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == unix.SIGTERM
}
