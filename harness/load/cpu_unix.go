//go:build unix

package load

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process used so far (user and system):
// the fakes, the harness, and the reference relay when it runs here.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
