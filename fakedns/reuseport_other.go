//go:build !linux

package fakedns

import "syscall"

// reusePortSupported says whether several UDP sockets can share a port:
// only Linux is relied on here.
const reusePortSupported = false

// reusePortControl is never used where reusePortSupported is false.
func reusePortControl(_, _ string, _ syscall.RawConn) error { return nil }
