//go:build !linux

package fakesmtp

import (
	"errors"
	"net"
)

// loop is the event loop of loop_linux.go; elsewhere every session has a
// goroutine of its own (Host.acceptLoop).
type loop struct{}

func startLoop(*Host, *listener, net.Listener) (*loop, error) { return nil, errors.ErrUnsupported }

func (*loop) stop() {}

func (*session) linger(string, string) bool { return false }
