package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// procAttr puts a process in a process group of its own (see Group) and
// has the kernel kill it if the benchmark dies first (Pdeathsig), so that
// no server outlives an interrupted run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: unix.SIGKILL}
}
