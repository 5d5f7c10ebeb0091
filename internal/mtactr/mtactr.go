// Package mtactr runs a real MTA in a container as the relay under test;
// the Postfix, Exim and OpenSMTPD adapters share it. A Container is
// started through testcontainers-go with host networking and one resolver
// (the fake DNS on 127.A.B.53:53); a host directory is mounted at
// /run/mxsim, holding a unix datagram socket, /run/mxsim/log, that the
// MTA's syslog(3) reaches when /dev/log points at it. Every line received
// there is kept (Log) and, while a scenario runs, turned into journal
// events by the adapter's parser (Attach).
//
// Docker must be reachable (DOCKER_HOST or /var/run/docker.sock).
// testcontainers-go runs without its reaper, so Close must be called.
package mtactr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/mxsim/mxsim/internal/mtaimage"
	"github.com/mxsim/mxsim/journal"
)

// Errors of this package, wrapped with details.
var (
	// ErrStart means the container or the MTA in it did not start.
	ErrStart = errors.New("did not start")
	// ErrPort53 means the fake DNS cannot bind port 53, which a real MTA
	// needs (a resolv.conf has no port).
	ErrPort53 = errors.New("cannot bind DNS port 53")
)

// Config says how to start a container.
type Config struct {
	Name  string     // the MTA's name, for errors and the container's label: "exim"
	Image string     // the image to run
	DNS   netip.Addr // the container's only resolver (port 53)
	// Script is the container's command, run with sh -c. It links
	// /dev/log to /run/mxsim/log and ends by exec'ing the MTA in the
	// foreground.
	Script string
	// Greeting is "127.0.0.1:port" where the MTA answers with 220 once
	// it is ready.
	Greeting     string
	StartTimeout time.Duration // default 60s
	// Early, if set, is given each log datagram before any other work and
	// may return the event whose order matters most: a failed connection,
	// which must reach the journal before the host the MTA tries next
	// records its own. The parser's relay.attempt events for that line
	// are then dropped.
	Early func(datagram []byte) *journal.Event
}

// Container is a running MTA container.
type Container struct {
	cfg  Config
	ctr  *testcontainers.DockerContainer
	dir  string // host directory mounted at /run/mxsim
	conn *net.UnixConn
	all  *journal.Journal // every log line, as relay.log
	done chan struct{}

	mu      sync.Mutex
	current *journal.Journal
	parse   func(line string) []journal.Event
	busy    bool
	closed  bool
}

// Start starts a container as cfg says. On error nothing is left running.
func Start(ctx context.Context, cfg Config) (*Container, error) {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		// The reaper image cannot be pulled where no registry is
		// reachable; Close removes the container instead.
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	c := &Container{cfg: cfg, all: journal.New(), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	var err error
	if c.dir, err = os.MkdirTemp("", "mxsim-"+cfg.Name+"-"); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", cfg.Name, ErrStart, err)
	}
	os.Chmod(c.dir, 0o755)
	sock := filepath.Join(c.dir, "log")
	if c.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"}); err != nil {
		close(c.done)
		return nil, fmt.Errorf("%s: %w: log socket %s: %w", cfg.Name, ErrStart, sock, err)
	}
	os.Chmod(sock, 0o666) // MTAs log as their own users
	go c.read()

	sctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	ctr, err := testcontainers.Run(sctx, cfg.Image,
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		testcontainers.WithCmd("sh", "-c", cfg.Script),
		testcontainers.WithLabels(map[string]string{"org.mxsim.role": cfg.Name + "-relay"}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.DNS = []netip.Addr{cfg.DNS}
			hc.Binds = append(hc.Binds, c.dir+":/run/mxsim")
		}),
	)
	if ctr != nil {
		c.ctr = ctr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: container from %s: %w", cfg.Name, ErrStart, cfg.Image, err)
	}
	if err := c.WaitGreeting(sctx, cfg.Greeting); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// WaitGreeting waits until addr answers with 220, or the container ends.
func (c *Container) WaitGreeting(ctx context.Context, addr string) error {
	var last error
	for {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if rerr == nil && strings.HasPrefix(line, "220") {
				return nil
			}
			err = fmt.Errorf("greeting %q: %v", strings.TrimSpace(line), rerr)
		}
		last = err
		if st, serr := c.ctr.State(ctx); serr == nil && !st.Running {
			return fmt.Errorf("%s: %w: container exited (status %d): %s", c.cfg.Name, ErrStart, st.ExitCode, c.Output())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w: no SMTP greeting at %s: %v; %s", c.cfg.Name, ErrStart, addr, last, c.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Output returns the container's last output lines and the MTA's last log
// lines, for error messages.
func (c *Container) Output() string {
	var parts []string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.ctr != nil {
		if rc, err := c.ctr.Logs(ctx); err == nil {
			b, _ := io.ReadAll(io.LimitReader(rc, 64*1024))
			rc.Close()
			if s := strings.TrimSpace(string(b)); s != "" {
				parts = append(parts, "output: "+LastLines(s, 5))
			}
		}
	}
	var lines []string
	for _, e := range c.all.Events() {
		lines = append(lines, e.Text)
	}
	if len(lines) > 0 {
		parts = append(parts, "log: "+LastLines(strings.Join(lines, "\n"), 5))
	}
	return strings.Join(parts, "; ")
}

// Exec runs a command in the container and returns its combined output
// and exit code.
func (c *Container) Exec(ctx context.Context, cmd ...string) (string, int, error) {
	code, r, err := c.ctr.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", -1, fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	b, _ := io.ReadAll(r)
	return string(b), code, nil
}

// Sh runs a shell script in the container; a failure is an error carrying
// the script's output.
func (c *Container) Sh(ctx context.Context, script string, args ...string) (string, error) {
	out, code, err := c.Exec(ctx, append([]string{"sh", "-c", script, "sh"}, args...)...)
	if err != nil {
		return out, err
	}
	if code != 0 {
		return out, fmt.Errorf("exit %d: %s", code, LastLines(out, 5))
	}
	return out, nil
}

// WriteFile writes data to path in the container.
func (c *Container) WriteFile(ctx context.Context, path string, data []byte, mode int64) error {
	return c.ctr.CopyToContainer(ctx, data, path, mode)
}

// Log is every line the MTA logged since the start, as relay.log events
// with the syslog priority and time stamp stripped.
func (c *Container) Log() *journal.Journal { return c.all }

// Attach sends the lines that follow to j, as the events parse returns
// for each (nil parse: a relay.log per line); Attach(nil, nil) detaches.
// Give each scenario a parser of its own when it keeps state (queue IDs).
func (c *Container) Attach(j *journal.Journal, parse func(line string) []journal.Event) {
	c.mu.Lock()
	c.current, c.parse = j, parse
	c.mu.Unlock()
}

func (c *Container) read() {
	defer close(c.done)
	buf := make([]byte, 64*1024)
	for {
		n, err := c.conn.Read(buf) // one datagram
		if err != nil {
			return // closed
		}
		c.mu.Lock()
		j, parse := c.current, c.parse
		c.mu.Unlock()
		var early *journal.Event
		if c.cfg.Early != nil {
			if early = c.cfg.Early(buf[:n]); early != nil {
				j.Append(*early) // a nil journal ignores it
			}
		}
		line := SyslogText(string(buf[:n]))
		if line == "" {
			continue
		}
		if j != nil {
			evs := []journal.Event{{Kind: journal.KindRelayLog, Source: "relay", Text: line}}
			if parse != nil {
				evs = parse(line)
			}
			for _, e := range evs {
				if e.Kind != journal.KindRelayAttempt || early == nil {
					j.Append(e)
				}
			}
		}
		c.all.Append(journal.Event{Kind: journal.KindRelayLog, Source: "relay", Text: line})
	}
}

// SyslogText strips the priority and time stamp of a syslog datagram:
// "<22>Nov 26 11:34:48 postfix/smtp[12]: text" → "postfix/smtp[12]: text".
func SyslogText(d string) string {
	d = strings.TrimRight(d, "\x00\r\n")
	if strings.HasPrefix(d, "<") {
		if i := strings.IndexByte(d, '>'); i > 0 {
			d = d[i+1:]
		}
	}
	// RFC 3164 time stamp: "Mmm dd hh:mm:ss ".
	if len(d) > 16 && d[3] == ' ' && d[6] == ' ' && d[9] == ':' && d[12] == ':' && d[15] == ' ' {
		d = d[16:]
	}
	return strings.TrimSpace(d)
}

// WaitLog waits up to d for a log line after the since-th that matches.
func (c *Container) WaitLog(ctx context.Context, since int64, d time.Duration, match func(string) bool) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return c.all.Wait(wctx, func(evs []journal.Event) bool {
		for _, e := range evs[min(int(since), len(evs)):] {
			if match(e.Text) {
				return true
			}
		}
		return false
	})
}

// Quiet waits until the MTA has logged nothing for gap, or for at most
// max: lines about the last deliveries may still be on their way when a
// scenario ends.
func (c *Container) Quiet(ctx context.Context, gap, max time.Duration) {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	for {
		t := time.NewTimer(gap)
		select {
		case <-c.all.Changed():
			t.Stop()
		case <-t.C:
			return
		case <-deadline.C:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// Close removes the container and the log socket.
func (c *Container) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	var errs []error
	if c.ctr != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := c.ctr.Terminate(ctx, testcontainers.StopTimeout(time.Second)); err != nil {
			errs = append(errs, fmt.Errorf("%s: remove container: %w", c.cfg.Name, err))
		}
		cancel()
	}
	if c.conn != nil {
		c.conn.Close() // wakes the reader with net.ErrClosed
		<-c.done
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
	return errors.Join(errs...)
}

// CheckDocker checks that a Docker engine answers.
func CheckDocker(ctx context.Context) error {
	cli, err := mtaimage.Client(ctx)
	if err != nil {
		return err
	}
	return cli.Close()
}

// CheckPort53 checks that the fake DNS can bind ip:53, which a real MTA
// needs (a resolv.conf has no port), and says what to do when it cannot.
func CheckPort53(ip netip.Addr) error {
	c, err := net.ListenPacket("udp4", netip.AddrPortFrom(ip, 53).String())
	if err != nil {
		return port53Error(ip, err)
	}
	c.Close()
	return nil
}

func port53Error(ip netip.Addr, err error) error {
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("%w at %s: %w: run as root, or lower net.ipv4.ip_unprivileged_port_start (sysctl -w net.ipv4.ip_unprivileged_port_start=53)", ErrPort53, ip, err)
	}
	return fmt.Errorf("%w at %s: %w", ErrPort53, ip, err)
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago,
// drawn below the kernel's ephemeral range (net.ipv4.ip_local_port_range)
// where there is room. An MTA in a container listens there, and some
// close and bind their sockets again on a reload (Exim re-executes its
// daemon on SIGHUP): a port of the ephemeral range could meanwhile be
// taken by any outgoing connection or any bind to port 0 on the machine,
// and the MTA would not come back (CI saw "socket bind() to port 39159
// for address 127.0.0.1 failed: Address already in use").
func FreePort() (int, error) {
	lo, hi := freePortRange()
	for range 50 {
		port := lo + rand.IntN(hi-lo+1)
		l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	// Crowded or no room below the range: let the kernel choose.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePortRange is where FreePort draws: from 10000 to just below the
// ephemeral range (32768 by Linux's default), or that default range when
// the ephemeral range starts too low to leave room.
func freePortRange() (lo, hi int) {
	lo, hi = 10000, 32767
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return lo, hi
	}
	if start, err := strconv.Atoi(f[0]); err == nil && start-1 >= lo+1000 {
		hi = start - 1
	}
	return lo, hi
}

// At returns the address .last of a /24.
func At(subnet netip.Prefix, last byte) netip.Addr {
	a := subnet.Addr().As4()
	a[3] = last
	return netip.AddrFrom4(a)
}

// LastLines returns the last n lines of s joined with " | ".
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// DockerRequired tells whether a missing Docker is a failure for tests:
// in CI (CI=true) or when MXSIM_REQUIRE_DOCKER is set.
func DockerRequired() bool {
	ci := os.Getenv("CI")
	return (ci != "" && ci != "false" && ci != "0") || os.Getenv("MXSIM_REQUIRE_DOCKER") != ""
}

// More errors of this package.
var (
	// ErrBusy means a scenario is already running on the container.
	ErrBusy = errors.New("another scenario is running")
	// ErrClosed means the container was closed.
	ErrClosed = errors.New("closed")
	// ErrSubnet means a subnet an MTA cannot live in.
	ErrSubnet = errors.New("bad subnet")
)

// Claim marks the container as running one scenario: ErrBusy when one
// already runs, ErrClosed after Close. Release ends the claim.
func (c *Container) Claim() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return fmt.Errorf("%s: %w", c.cfg.Name, ErrClosed)
	case c.busy:
		return fmt.Errorf("%s: %w", c.cfg.Name, ErrBusy)
	}
	c.busy = true
	return nil
}

// Release ends a Claim.
func (c *Container) Release() {
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
}

// Subnet checks the 127.A.B.0/24 whose .53 is an MTA's resolver; the zero
// value picks one at random, away from 127.0.0.x.
func Subnet(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		p = netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(16 + rand.IntN(239)), byte(rand.IntN(256)), 0}), 24)
	}
	if p.Bits() != 24 || !p.Addr().Is4() || !p.Addr().IsLoopback() {
		return p, fmt.Errorf("%w %s: want a /24 inside 127.0.0.0/8", ErrSubnet, p)
	}
	return p.Masked(), nil
}

// Common is what every adapter's Config holds; Check validates it and
// fills in the defaults, so the adapters agree on both.
type Common struct {
	Subnet       netip.Prefix  // the /24 of the resolver; zero: picked at random
	Image        string        // image reference; empty: the newest built
	StartTimeout time.Duration // zero: 60s
	Ports        []Port        // loopback ports the MTA listens on; 0: a free one
}

// Port is one named port of a Common.
type Port struct {
	Name string // "submit port"
	N    int
}

// Check validates c and fills in Subnet and StartTimeout. Ports must be
// in range and, where set, differ from each other.
func (c *Common) Check() error {
	var err error
	if c.Subnet, err = Subnet(c.Subnet); err != nil {
		return err
	}
	seen := map[int]bool{}
	dup := false
	var names, values []string
	for _, p := range c.Ports {
		if p.N < 0 || p.N > 65535 {
			return fmt.Errorf("%s %d out of range", p.Name, p.N)
		}
		dup = dup || p.N != 0 && seen[p.N]
		seen[p.N] = true
		names, values = append(names, p.Name), append(values, strconv.Itoa(p.N))
	}
	if dup {
		return fmt.Errorf("%s: ports must differ (%s)", strings.Join(names, ", "), strings.Join(values, ", "))
	}
	if c.StartTimeout < 0 {
		return fmt.Errorf("start timeout %v is negative", c.StartTimeout)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	if strings.ContainsAny(c.Image, " \t\n") {
		return fmt.Errorf("image %q: not an image reference", c.Image)
	}
	return nil
}
