package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotReady is returned when a process does not become ready in time.
var ErrNotReady = errors.New("process not ready")

// Group owns the processes a benchmark starts. Every process runs in a
// process group of its own, so that stopping it also stops what it forked
// (nsd's server processes, smtp-sink after it dropped privileges). A
// Group is safe for concurrent use; StopAll is what a signal handler
// calls.
type Group struct {
	mu    sync.Mutex
	procs map[*Proc]struct{}
}

// Proc is one started process.
type Proc struct {
	Name string // the program, for messages
	g    *Group
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has been waited for
	err  error         // Wait's error, set before done is closed
}

// Start starts name with args in a new process group; stdout and stderr
// both go to an in-memory buffer (see Output).
func (g *Group) Start(name string, args ...string) (*Proc, error) {
	cmd := exec.Command(name, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	p := &Proc{Name: name, g: g, cmd: cmd, out: out, done: make(chan struct{})}
	g.mu.Lock()
	if g.procs == nil {
		g.procs = make(map[*Proc]struct{})
	}
	g.procs[p] = struct{}{}
	g.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Run starts name with args, waits until it exits or ctx ends (then the
// whole process group is stopped), and returns its output and how long
// it ran.
func (g *Group) Run(ctx context.Context, name string, args ...string) (string, time.Duration, error) {
	t0 := time.Now()
	p, err := g.Start(name, args...)
	if err != nil {
		return "", 0, err
	}
	err = p.Wait(ctx)
	d := time.Since(t0)
	if err != nil {
		_ = p.Stop(time.Second)
		return p.Output(), d, err
	}
	return p.Output(), d, nil
}

// StopAll stops every process of the group that is still running.
func (g *Group) StopAll() {
	g.mu.Lock()
	all := make([]*Proc, 0, len(g.procs))
	for p := range g.procs {
		all = append(all, p)
	}
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Go(func() { _ = p.Stop(2 * time.Second) })
	}
	wg.Wait()
}

// Output returns everything the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Pid returns the process ID (also its process group ID).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Wait waits until the process exits or ctx ends; it does not stop it.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		p.forget()
		if p.err != nil {
			return fmt.Errorf("bench: %s: %w: %s", p.Name, p.err, tail(p.Output(), 400))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bench: %s: %w", p.Name, ctx.Err())
	}
}

// Stop sends SIGTERM to the process group, waits up to grace for the
// process to exit, then sends SIGKILL to the group. It returns the exit
// error of the process, if it exited on its own terms with one. (Without
// process groups and signals, on Windows, it kills the process alone.)
func (p *Proc) Stop(grace time.Duration) error {
	defer p.forget()
	p.signal(false)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.signal(true)
		<-p.done
		return fmt.Errorf("bench: %s: killed after %v", p.Name, grace)
	}
	// Children of the group (nsd's servers) may outlive the leader.
	p.signal(true)
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && stopped(ee) {
		return nil // ended by our SIGTERM: the expected way
	}
	if p.err != nil {
		return fmt.Errorf("bench: %s: %w", p.Name, p.err)
	}
	return nil
}

// WaitOutput waits until the output contains s, the process exits, or
// ctx ends.
func (p *Proc) WaitOutput(ctx context.Context, s string) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if strings.Contains(p.Output(), s) {
			return nil
		}
		select {
		case <-p.done:
			if strings.Contains(p.Output(), s) {
				return nil
			}
			return fmt.Errorf("bench: %s exited before printing %q: %w: %s", p.Name, s, ErrNotReady, tail(p.Output(), 400))
		case <-ctx.Done():
			return fmt.Errorf("bench: %s: waiting for %q: %w (%w)", p.Name, s, ErrNotReady, ctx.Err())
		case <-tick.C:
		}
	}
}

func (p *Proc) forget() {
	p.g.mu.Lock()
	delete(p.g.procs, p)
	p.g.mu.Unlock()
}

// WaitTCP waits until addr accepts TCP connections, or ctx ends.
func WaitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %s: %w (%w)", addr, ErrNotReady, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// FreeAddr returns a random loopback address 127.A.B.C (A from 100 to 249)
// with a port that is free there for both TCP and UDP at the time of the
// call. Another process could take it before it is used: callers start
// their server at once.
func FreeAddr() (netip.AddrPort, error) {
	var last error
	for range 32 {
		ip := netip.AddrFrom4([4]byte{127, byte(100 + rand.IntN(150)), byte(rand.IntN(256)), byte(10 + rand.IntN(240))})
		ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			last = err
			continue
		}
		ap := netip.MustParseAddrPort(ln.Addr().String())
		pc, err := net.ListenPacket("udp", ap.String())
		ln.Close()
		if err != nil {
			last = err
			continue
		}
		pc.Close()
		return ap, nil
	}
	return netip.AddrPort{}, fmt.Errorf("bench: no free loopback address: %w", last)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// ProcessCPU returns the CPU time (user + system) process pid has used so
// far, read from /proc/PID/stat (proc(5)).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: cpu time of process %d: %w", pid, err)
	}
	d, err := parseProcStatCPU(string(b))
	if err != nil {
		return 0, fmt.Errorf("bench: cpu time of process %d: %w", pid, err)
	}
	return d, nil
}

// parseProcStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold blanks and parentheses itself, so fields count from the last ')'.
func parseProcStatCPU(line string) (time.Duration, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %q", line)
	}
	f := strings.Fields(line[i+1:]) // from field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("too few fields in %q", line)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad cpu time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
