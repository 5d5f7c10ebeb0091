package fakedns

import (
	"syscall"

	"golang.org/x/sys/unix" // already required by miekg/dns for the same option
)

// reusePortSupported says whether several UDP sockets can share a port.
const reusePortSupported = true

// reusePortControl sets SO_REUSEPORT on a socket before it is bound, so
// that the server's UDP sockets share one port (socket(7)).
func reusePortControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
