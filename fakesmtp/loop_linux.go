//go:build linux

package fakesmtp

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loop serves the connections of one listener from one goroutine, the way
// Postfix's smtp-sink and most C servers do: one epoll set holds the
// listener and every connection, and the loop reads whatever is ready,
// runs the session's handlers on the complete lines (the same handlers,
// journal and replies as a session served by its own goroutine) and
// writes the replies. The socket calls are raw system calls on
// non-blocking sockets, and the loop waits on the epoll set through Go's
// network poller: a message costs no goroutine, no thread hand-off and no
// wake-up of another thread, which on a machine shared with the client
// was most of a session's cost.
//
// The loop never waits for one client. A session whose next step would
// wait (a delay, STARTTLS, AUTH, BDAT, DisconnectInData, a line longer
// than maxLine, a client that does not read its replies), or whose host
// does something special at connect, is handed over to a goroutine of its
// own (session.run or session.resume) and leaves the loop for good. inline
// decides which commands the loop runs itself; a step that may wait
// panics if it runs on the loop anyway (session.mayWait).
type loop struct {
	h    *Host
	lst  *listener // the address it serves
	lfd  int       // the listener's descriptor, owned by the net.Listener
	epfd int
	ep   *os.File        // epfd, for waiting through Go's network poller
	rc   syscall.RawConn // of ep

	conns  map[int32]*loopConn
	events []unix.EpollEvent
	buf    []byte // what the last read got; nil until the first read
	now    time.Time

	handoffs  atomic.Int64 // sessions handed to a goroutine, for tests
	stopping  atomic.Bool
	accepting bool
	unlisted  chan struct{} // closed once the listener has left the epoll set
}

// sweepEvery is how often the loop closes connections idle for
// readTimeout (a variable for tests, like readTimeout).
var sweepEvery = deadlineEvery

// startLoop starts serving ln from an event loop. The caller holds h.mu.
func startLoop(h *Host, lst *listener, ln net.Listener) (*loop, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	lrc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	lfd := -1
	if err := lrc.Control(func(fd uintptr) { lfd = int(fd) }); err != nil {
		return nil, err
	}
	// The loop makes the direct socket system calls (accept4, sendto,
	// getsockname...), which 32-bit x86 kernels before Linux 4.3 lack:
	// they have only socketcall(2). There every session gets a goroutine.
	if _, e := rawSockname(lfd); e == unix.ENOSYS {
		return nil, errors.ErrUnsupported
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	if e := epollCtl(epfd, unix.EPOLL_CTL_ADD, lfd); e != 0 {
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", e)
	}
	ep := os.NewFile(uintptr(epfd), "fakesmtp-epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, err
	}
	l := &loop{
		h: h, lst: lst, lfd: lfd, epfd: epfd, ep: ep, rc: rc,
		conns:     make(map[int32]*loopConn),
		events:    make([]unix.EpollEvent, 128),
		accepting: true,
		unlisted:  make(chan struct{}),
	}
	// Set before the loop runs: stop may come at once.
	next := time.Now().Add(sweepEvery)
	_ = ep.SetReadDeadline(next)
	h.wg.Add(1)
	go l.run(next)
	return l, nil
}

// stop makes the loop drop the listener and returns once it has; the loop
// ends when its last connection is gone (see Host.stopListening).
func (l *loop) stop() {
	l.stopping.Store(true)
	_ = l.ep.SetReadDeadline(time.Unix(1, 0)) // wakes the loop
	<-l.unlisted
}

func (l *loop) run(next time.Time) {
	defer l.h.wg.Done()
	defer l.ep.Close()
	for {
		// After any SetReadDeadline of the loop's own, so that stop's
		// deadline in the past is either seen here or wakes the Read.
		if l.stopping.Load() && l.accepting {
			_ = epollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lfd)
			l.accepting = false
			close(l.unlisted)
		}
		if !l.accepting && len(l.conns) == 0 {
			return
		}
		var n int
		err := l.rc.Read(func(uintptr) bool {
			n = epollWait(l.epfd, l.events)
			return n > 0
		})
		l.now = time.Now()
		for _, ev := range l.events[:n] {
			if ev.Fd == int32(l.lfd) {
				if l.accepting {
					l.accept()
				}
			} else if c := l.conns[ev.Fd]; c != nil {
				l.readable(c)
			}
		}
		if err != nil || !l.now.Before(next) { // the deadline: sweep, or stop
			if !l.now.Before(next) {
				l.sweep()
				next = l.now.Add(sweepEvery)
			}
			_ = l.ep.SetReadDeadline(next)
		}
	}
}

// accept takes the connections waiting on the listener.
func (l *loop) accept() {
	for range 64 {
		var sa unix.RawSockaddrAny
		sl := uint32(unix.SizeofSockaddrAny)
		r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(l.lfd), uintptr(unsafe.Pointer(&sa)),
			uintptr(unsafe.Pointer(&sl)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
		case unix.EAGAIN, unix.ECONNABORTED, unix.EINTR:
			return
		default:
			// Out of file descriptors or similar: back off a little, as
			// Host.acceptLoop does.
			time.Sleep(5 * time.Millisecond)
			return
		}
		// active from the start: a Close before the loop is done with the
		// connection (a hand-off at connect closes fd) only marks it.
		l.start(&loopConn{fd: int(r), remote: sockaddrTCP(&sa), active: true})
	}
}

// start begins a session on an accepted connection: here if the host's
// behaviour asks nothing special at connect, else on a goroutine.
func (l *loop) start(c *loopConn) {
	h := l.h
	b := l.lst.behavior(h.beh.Load())
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		rawClose(c.fd)
		return
	}
	h.nconn++
	s := newSession(h, l.lst, c, h.nconn)
	c.s = s
	over := h.admitLocked(s, b)
	h.mu.Unlock()
	if over != nil || b.State == Blackhole || b.TLS.Implicit || b.Delays.Greeting > 0 || len(b.Replies.Greeting) > 0 {
		l.handoff(c, false, func() { s.run(b, over) })
		return
	}
	one := int32(1) // as Go does for its TCP connections
	_, _, _ = unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(c.fd), unix.IPPROTO_TCP, unix.TCP_NODELAY,
		uintptr(unsafe.Pointer(&one)), 4, 0)
	if e := epollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd); e != 0 {
		s.setReason("epoll_ctl: "+e.Error(), "")
		l.active(c, true)
		l.finalize(c)
		return
	}
	l.conns[int32(c.fd)] = c
	c.last = l.now
	s.evented = true
	l.active(c, true)
	s.connected(b)
	s.reply(codeReady, h.greeting, "")
	l.flush(c)
}

// readable reads what a connection has and serves it.
func (l *loop) readable(c *loopConn) {
	if l.buf == nil {
		// On first use: a network of a thousand hosts mostly idle holds no
		// read buffers.
		l.buf = make([]byte, 64<<10)
	}
	n, e := rawRead(c.fd, l.buf)
	switch {
	case e == unix.EAGAIN || e == unix.EINTR:
		return
	case e != 0:
		c.s.setReason(closeReason(c.opError("read", e)), "")
	case n == 0 && len(c.in) > 0:
		c.s.setReason("unexpected EOF", "") // in a command line, as session.readLine says
	case n == 0:
		c.s.setReason("client closed connection", "")
	}
	l.active(c, true)
	if n <= 0 || c.s.isClosed() {
		l.finalize(c)
		return
	}
	c.last = l.now
	l.serve(c, l.buf[:n])
}

// serve runs the session on data, the bytes just read: complete command
// lines go to session.command, message bytes to session.unstuff. A partial
// line waits in c.in for the next read.
func (l *loop) serve(c *loopConn, data []byte) {
	s := c.s
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	for len(data) > 0 && !s.isClosed() {
		if s.phase == phaseBody {
			used, done := s.unstuff(data)
			data = data[used:]
			if !done {
				break
			}
			b := s.behavior()
			if b.Delays.EndOfData > 0 || b.Verify.on() { // both may wait
				s.phase = phaseEndOfData
				l.handover(c, data)
				return
			}
			s.phase = phaseCommand
			if !s.endOfData(b) { // a 421 closes (session.forced)
				l.finalize(c)
				return
			}
			continue
		}
		i := bytes.IndexByte(data, '\n')
		if i >= maxLine || i < 0 && len(data) > maxLine {
			break // too long: session.readLine knows what to do
		}
		if i < 0 {
			c.in = append(c.in[:0], data...) // may overlap: append moves
			l.flush(c)
			return
		}
		if !s.command(data[:i+1]) {
			l.finalize(c)
			return
		}
		if s.yield {
			break
		}
		data = data[i+1:]
	}
	if s.isClosed() {
		l.finalize(c)
		return
	}
	if len(data) > 0 { // a line the loop does not run, and what follows it
		s.yield = false
		l.handover(c, data)
		return
	}
	c.in = c.in[:0]
	l.flush(c)
}

// flush writes the session's replies; a socket that does not take them
// all (the client is not reading) sends the session to a goroutine, which
// may wait for it.
func (l *loop) flush(c *loopConn) {
	if c.s.flush() != nil {
		l.finalize(c)
		return
	}
	if len(c.pending) > 0 {
		l.handover(c, c.in) // c.in: a partial command line
		return
	}
	l.release(c)
}

// handover moves a session in mid-dialogue to a goroutine: the replies
// the socket did not take go out first, then session.resume reads rest
// (copied now: it may be l.buf, which the next read reuses) and goes on
// from the session's phase.
func (l *loop) handover(c *loopConn, rest []byte) {
	rest = bytes.Clone(rest)
	l.handoff(c, true, func() {
		c.s.touch()          // the write may wait for the client: readTimeout at most
		_ = c.writePending() // on failure the session is closed: resume ends at once
		c.s.resume(rest)
	})
}

// active marks whether the loop is inside c's session: while it is, a
// Close from the session itself only marks the connection closing, and
// the loop closes it when the handler returns (see loopConn.Close).
func (l *loop) active(c *loopConn, on bool) {
	c.mu.Lock()
	c.active = on
	c.mu.Unlock()
}

// release marks that the loop has left c's session; a Close that came
// meanwhile is carried out now.
func (l *loop) release(c *loopConn) {
	c.mu.Lock()
	c.active = false
	closing := c.closing
	if closing {
		c.active = true
	}
	c.mu.Unlock()
	if closing {
		l.finalize(c)
	}
}

// finalize ends a session of the loop and closes its socket, which also
// takes it out of the epoll set. c is active.
func (l *loop) finalize(c *loopConn) {
	if c.lingerReason != "" && !c.s.isClosed() {
		// The session hung up (session.linger) with replies the socket
		// did not take: a goroutine writes them, then closes.
		l.handoff(c, true, func() {
			s := c.s
			defer s.h.wg.Done()
			defer s.finish()
			s.touch()
			if c.writePending() == nil {
				s.closeConn(c.lingerReason, c.lingerFault)
			}
		})
		return
	}
	c.s.finish()
	delete(l.conns, int32(c.fd))
	c.mu.Lock()
	c.fdClosed = true
	c.mu.Unlock()
	rawClose(c.fd)
}

// handoff moves a session to a goroutine, which runs serve: the socket
// leaves the epoll set and becomes a net.Conn of Go's own. c is active.
func (l *loop) handoff(c *loopConn, registered bool, serve func()) {
	if registered {
		delete(l.conns, int32(c.fd))
		_ = epollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd)
	}
	f := os.NewFile(uintptr(c.fd), "")
	nc, err := net.FileConn(f) // a duplicate descriptor
	f.Close()
	c.mu.Lock()
	c.fdClosed, c.active = true, false
	c.nc = nc
	closing := c.closing
	c.mu.Unlock()
	s := c.s
	l.handoffs.Add(1)
	if err != nil {
		s.setReason("cannot serve the connection: "+err.Error(), "")
		s.finish()
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(false) // FileConn turns it on; listen keeps it off
	}
	if closing {
		nc.Close()
	}
	s.evented = false
	s.h.wg.Add(1)
	go serve()
}

// linger reports whether a session of the loop that hangs up must wait
// for replies the socket did not take; if so the loop's finalize hands it
// to a goroutine, which writes them and then closes with reason, as
// session.hangup does on a session's own goroutine.
func (s *session) linger(reason, fault string) bool {
	c, ok := s.raw.(*loopConn)
	if !ok || !s.evented || len(c.pending) == 0 {
		return false
	}
	c.lingerReason, c.lingerFault = reason, fault
	return true
}

// sweep closes the connections idle for readTimeout.
func (l *loop) sweep() {
	for _, c := range l.conns {
		if l.now.Sub(c.last) >= readTimeout {
			c.s.setReason("idle timeout", "")
			l.active(c, true)
			l.finalize(c)
		}
	}
}

// loopConn is a connection of the event loop as its session sees it: writes
// are raw system calls while the loop serves it; after a hand-off
// everything goes to nc, a net.Conn over the same socket.
type loopConn struct {
	fd      int
	remote  *net.TCPAddr
	s       *session
	in      []byte    // a partial command line
	pending []byte    // replies the socket did not take
	last    time.Time // when the client last sent something

	lingerReason, lingerFault string // a hang-up waiting for pending (see session.linger)

	mu       sync.Mutex // guards what follows: Close may come from any goroutine
	active   bool       // the loop is inside the session
	closing  bool
	fdClosed bool     // fd is closed (or handed over to nc)
	nc       net.Conn // set once, at hand-off, before the session's goroutine starts
}

// Write sends the session's replies: straight to the socket in the loop,
// keeping what it does not take for the goroutine the session will be
// handed to.
func (c *loopConn) Write(p []byte) (int, error) {
	if c.nc != nil {
		return c.nc.Write(p)
	}
	if c.fdClosed { // the loop's own: only the loop writes while nc is nil
		return 0, net.ErrClosed
	}
	if len(c.pending) > 0 {
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	n, e := rawSend(c.fd, p)
	switch e {
	case 0:
	case unix.EAGAIN, unix.EINTR:
		n = 0
	default:
		return 0, c.opError("write", e)
	}
	if n < len(p) {
		c.pending = append(c.pending, p[n:]...)
	}
	return len(p), nil
}

// writePending writes, on the session's goroutine, the replies the loop
// could not.
func (c *loopConn) writePending() error {
	p := c.pending
	if len(p) == 0 {
		return nil
	}
	c.pending = nil
	if _, err := c.nc.Write(p); err != nil {
		c.s.closeConn("write failed: "+closeReason(err), "")
		return err
	}
	return nil
}

func (c *loopConn) Read(p []byte) (int, error) {
	if c.nc == nil {
		return 0, errors.ErrUnsupported // the loop reads, not the session
	}
	return c.nc.Read(p)
}

// Close closes the connection. While the loop is inside the session it
// only marks it (the loop closes it when the handler returns); otherwise
// it shuts the socket down, and the loop, seeing the end of input, closes
// it.
func (c *loopConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil {
		return c.nc.Close()
	}
	c.closing = true
	if !c.active && !c.fdClosed {
		_, _, _ = unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(c.fd), unix.SHUT_RDWR, 0)
	}
	return nil
}

// opError words a socket error as a net.Conn of Go's does, so that the
// journal says the same in both modes.
func (c *loopConn) opError(op string, e unix.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.remote, Err: os.NewSyscallError(op, e)}
}

func (c *loopConn) RemoteAddr() net.Addr { return c.remote }

func (c *loopConn) LocalAddr() net.Addr {
	if c.nc != nil {
		return c.nc.LocalAddr()
	}
	a, _ := rawSockname(c.fd)
	return a
}

// Deadlines: the loop sweeps idle connections itself (see loop.sweep).
func (c *loopConn) SetDeadline(t time.Time) error {
	if c.nc != nil {
		return c.nc.SetDeadline(t)
	}
	return nil
}

func (c *loopConn) SetReadDeadline(t time.Time) error {
	if c.nc != nil {
		return c.nc.SetReadDeadline(t)
	}
	return nil
}

func (c *loopConn) SetWriteDeadline(t time.Time) error {
	if c.nc != nil {
		return c.nc.SetWriteDeadline(t)
	}
	return nil
}

// sockaddrTCP converts a socket address from accept4 or getsockname.
func sockaddrTCP(sa *unix.RawSockaddrAny) *net.TCPAddr {
	switch sa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&p.Port))
		return &net.TCPAddr{IP: net.IP(bytes.Clone(p.Addr[:])), Port: int(port[0])<<8 | int(port[1])}
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&p.Port))
		return &net.TCPAddr{IP: net.IP(bytes.Clone(p.Addr[:])), Port: int(port[0])<<8 | int(port[1])}
	}
	return &net.TCPAddr{}
}

// Raw system calls (x/sys/unix's RawSyscall, the direct calls of every
// Linux architecture): no entersyscall, so the scheduler never hands the
// loop's thread over while the kernel delivers a reply on loopback.

func epollCtl(epfd, op, fd int) unix.Errno {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	return e
}

// epollWait returns the number of ready events without waiting.
func epollWait(epfd int, events []unix.EpollEvent) int {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(r)
}

// rawSockname returns the local address of socket fd (getsockname).
func rawSockname(fd int) (*net.TCPAddr, unix.Errno) {
	var sa unix.RawSockaddrAny
	sl := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&sl)))
	return sockaddrTCP(&sa), e
}

func rawRead(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// rawSend writes with MSG_NOSIGNAL: a client gone gives EPIPE, not SIGPIPE.
func rawSend(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	return int(r), e
}

func rawClose(fd int) { _, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }
