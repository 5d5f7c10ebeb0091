package mtactr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/journal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLogSocket sends syslog datagrams to a container's log socket, with
// no container: the parser's events reach the attached journal, the
// early event comes first and replaces the parser's relay.attempt, every
// line is kept in Log, and Close ends the reader.
func TestLogSocket(t *testing.T) {
	c := &Container{cfg: Config{Name: "test", Early: func(d []byte) *journal.Event {
		if strings.Contains(string(d), "refused") {
			return &journal.Event{Kind: journal.KindRelayAttempt, Peer: "early"}
		}
		return nil
	}}, all: journal.New(), done: make(chan struct{}), dir: t.TempDir()}
	var err error
	path := c.dir + "/log"
	if c.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"}); err != nil {
		t.Fatal(err)
	}
	go c.read()
	j := journal.New()
	c.Attach(j, func(line string) []journal.Event {
		return []journal.Event{{Kind: journal.KindRelayLog, Text: line}, {Kind: journal.KindRelayAttempt, Peer: "parsed"}}
	})
	w, err := net.Dial("unixgram", path)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer w.Close()
	for _, d := range []string{"<22>Nov 26 11:34:48 mta[12]: connection refused", "<22>mta[12]: other"} {
		if _, err := w.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitLog(ctx, 0, 5*time.Second, func(s string) bool { return s == "mta[12]: other" }); err != nil {
		t.Fatalf("no second line: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	var got []string
	for _, e := range j.Events() {
		got = append(got, string(e.Kind)+":"+e.Peer+e.Text)
	}
	want := "relay.attempt:early relay.log:mta[12]: connection refused relay.log:mta[12]: other relay.attempt:parsed"
	if strings.Join(got, " ") != want {
		t.Errorf("journal %q\nwant %q", strings.Join(got, " "), want)
	}
	if n := c.Log().Len(); n != 2 {
		t.Errorf("Log has %d lines, want 2", n)
	}
	if err := c.Claim(); !errors.Is(err, ErrClosed) {
		t.Errorf("Claim after Close: %v, want ErrClosed", err)
	}
}

func TestClaim(t *testing.T) {
	c := &Container{cfg: Config{Name: "test"}}
	if err := c.Claim(); err != nil {
		t.Fatal(err)
	}
	if err := c.Claim(); !errors.Is(err, ErrBusy) {
		t.Errorf("second Claim: %v, want ErrBusy", err)
	}
	c.Release()
	if err := c.Claim(); err != nil {
		t.Errorf("Claim after Release: %v", err)
	}
}

func TestSyslogText(t *testing.T) {
	for in, want := range map[string]string{
		"<22>Nov 26 11:34:48 postfix/smtp[12]: text\n": "postfix/smtp[12]: text",
		"<22>postfix/smtp[12]: text":                   "postfix/smtp[12]: text",
		"":                                             "",
	} {
		if got := SyslogText(in); got != want {
			t.Errorf("SyslogText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPort53Hint(t *testing.T) {
	ip := netip.MustParseAddr("127.9.9.53")
	err := port53Error(ip, fmt.Errorf("listen udp4: %w", syscall.EACCES))
	if !errors.Is(err, ErrPort53) || !strings.Contains(err.Error(), "run as root") ||
		!strings.Contains(err.Error(), "net.ipv4.ip_unprivileged_port_start") || !strings.Contains(err.Error(), "127.9.9.53") {
		t.Errorf("error %q: want ErrPort53 saying what to do", err)
	}
	err = port53Error(ip, syscall.EADDRINUSE)
	if !errors.Is(err, ErrPort53) || strings.Contains(err.Error(), "run as root") {
		t.Errorf("error %q: address in use needs no root hint", err)
	}
}

func TestSubnet(t *testing.T) {
	p, err := Subnet(netip.Prefix{})
	if err != nil || p.Bits() != 24 || !p.Addr().IsLoopback() || p.Addr().As4()[1] < 16 {
		t.Errorf("Subnet(zero) = %v, %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/24", "127.0.0.0/16", "::1/128"} {
		if _, err := Subnet(netip.MustParsePrefix(bad)); !errors.Is(err, ErrSubnet) {
			t.Errorf("Subnet(%s): %v, want ErrSubnet", bad, err)
		}
	}
}

func TestCommonCheck(t *testing.T) {
	c := Common{Ports: []Port{{"submit port", 0}, {"submission port", 0}}}
	if err := c.Check(); err != nil || c.StartTimeout != 60*time.Second || !c.Subnet.IsValid() {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	for _, bad := range []struct {
		c    Common
		want string
	}{
		{Common{Ports: []Port{{"submit port", 70000}}}, "submit port 70000 out of range"},
		{Common{Ports: []Port{{"a port", 25}, {"b port", 25}}}, "a port, b port: ports must differ (25, 25)"},
		{Common{StartTimeout: -time.Second}, "start timeout -1s is negative"},
		{Common{Image: "a b"}, `image "a b": not an image reference`},
		{Common{Subnet: netip.MustParsePrefix("10.0.0.0/24")}, "bad subnet"},
	} {
		if err := bad.c.Check(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.c, err, bad.want)
		}
	}
}

// FreePort draws below the ephemeral range, where no outgoing connection
// or bind to port 0 takes a port while an MTA rebinds it.
func TestFreePortBelowEphemeralRange(t *testing.T) {
	lo, hi := freePortRange()
	if lo >= hi {
		t.Fatalf("range %d..%d", lo, hi)
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	start, _ := strconv.Atoi(strings.Fields(string(b))[0])
	for range 20 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if start > 11000 && p >= start {
			t.Fatalf("FreePort() = %d, in the ephemeral range from %d", p, start)
		}
		l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		l.Close()
	}
}
