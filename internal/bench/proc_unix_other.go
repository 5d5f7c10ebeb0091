//go:build unix && !linux

package bench

import "syscall"

// procAttr puts a process in a process group of its own (see Group).
// Only Linux can have a child killed when its parent dies (Pdeathsig).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
