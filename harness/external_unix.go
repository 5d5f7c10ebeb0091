//go:build unix

package harness

import (
	"os/exec"
	"syscall"
)

// inGroup runs cmd in a process group of its own, which cancelling it
// kills whole: a shell's children die with it.
func inGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
