package relay

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// scriptHost is a hand-driven SMTP host at ip(i): each connection runs
// script, which reads lines and writes replies itself. It records every
// line it read, and closes everything at cleanup.
type scriptHost struct {
	mu    sync.Mutex
	conns int
	lines []string
}

// scripted starts a scriptHost whose connections run script.
func (n *network) scripted(i int, script func(h *scriptHost, rw *bufio.ReadWriter)) *scriptHost {
	n.t.Helper()
	h := &scriptHost{}
	l := n.listen(i)
	var wg sync.WaitGroup
	var cmu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			h.mu.Lock()
			h.conns++
			h.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				script(h, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c)))
			}()
		}
	}()
	n.t.Cleanup(func() {
		l.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	return h
}

// read reads one line and records it; ok is false at EOF.
func (h *scriptHost) read(rw *bufio.ReadWriter) (line string, ok bool) {
	line, err := rw.ReadString('\n')
	if err != nil {
		return "", false
	}
	line = strings.TrimRight(line, "\r\n")
	h.mu.Lock()
	h.lines = append(h.lines, line)
	h.mu.Unlock()
	return line, true
}

// say writes one reply line.
func say(rw *bufio.ReadWriter, line string) {
	_, _ = rw.WriteString(line + "\r\n")
	_ = rw.Flush()
}

// connections returns how many connections the host accepted.
func (h *scriptHost) connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns
}

// saw reports whether the host read a line starting with prefix.
func (h *scriptHost) saw(prefix string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.lines {
		if strings.HasPrefix(strings.ToUpper(l), prefix) {
			return true
		}
	}
	return false
}

// slowData is a host script that takes a message and answers the end of
// DATA only after end is closed (or 5s), then waits for QUIT.
func slowData(dataEnd chan<- struct{}, release <-chan struct{}) func(h *scriptHost, rw *bufio.ReadWriter) {
	return func(h *scriptHost, rw *bufio.ReadWriter) {
		say(rw, "220 mx1.example.test ESMTP")
		for {
			line, ok := h.read(rw)
			cmd := strings.ToUpper(line)
			switch {
			case !ok:
				return
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				say(rw, "250 mx1.example.test")
			case strings.HasPrefix(cmd, "DATA"):
				say(rw, "354 go ahead")
				for l, ok := h.read(rw); l != "." && ok; l, ok = h.read(rw) {
				}
				close(dataEnd)
				select {
				case <-release:
				case <-time.After(5 * time.Second):
				}
				say(rw, "250 2.0.0 queued")
			case strings.HasPrefix(cmd, "QUIT"):
				say(rw, "221 2.0.0 bye")
				return
			default:
				say(rw, "250 2.0.0 ok")
			}
		}
	}
}

// TestCloseLetsDeliveryInFlightFinish closes the relay while a host is
// still to answer the end of DATA: Close waits, the relay reads the 250,
// journals the delivery and says QUIT, and nothing is cut.
func TestCloseLetsDeliveryInFlightFinish(t *testing.T) {
	n := newNetwork(t, twoMX...)
	dataEnd, release := make(chan struct{}), make(chan struct{})
	mx1 := n.scripted(11, slowData(dataEnd, release))
	r := n.startRelay(Config{TLS: TLSNone})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	select {
	case <-dataEnd:
	case <-time.After(10 * time.Second):
		t.Fatalf("the message never reached the end of DATA\n%s", r.Journal())
	}
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	// Close must wait for the session: it has not returned yet.
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a session was still in DATA", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !mx1.saw("QUIT") {
		t.Errorf("the host never got QUIT\n%s", r.Journal())
	}
	if d := events(r, journal.KindRelayDeliver); len(d) != 1 {
		t.Errorf("%d relay.deliver events, want 1\n%s", len(d), r.Journal())
	}
	for _, e := range events(r, journal.KindRelayLog) {
		if e.Code != 0 || e.Err != "" {
			t.Errorf("a session failed during Close: %s", e.Format(r.Journal().Start()))
		}
	}
	if len(r.Queue()) != 0 {
		t.Errorf("queue after Close = %+v, want empty", r.Queue())
	}
}

// TestCloseCutsAHangingSessionAfterGrace closes the relay while a host
// never greets: Close waits out its grace (a second: Timeout is longer),
// then cuts the session and says so in the journal, without the socket's
// "use of closed network connection".
func TestCloseCutsAHangingSessionAfterGrace(t *testing.T) {
	n := newNetwork(t, twoMX...)
	connected := make(chan struct{})
	var once sync.Once
	n.scripted(11, func(h *scriptHost, rw *bufio.ReadWriter) {
		once.Do(func() { close(connected) })
		h.read(rw) // no greeting: wait for the relay to leave
	})
	r := n.startRelay(Config{Timeout: time.Minute})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	<-connected
	t0 := time.Now()
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(t0); d < closeGrace || d > closeGrace+2*time.Second {
		t.Errorf("Close took %v, want about its grace (%v)", d, closeGrace)
	}
	cut := false
	for _, e := range r.Journal().Events() {
		if strings.Contains(e.Text+e.Err, "use of closed network connection") {
			t.Errorf("journal shows the socket's error: %s", e.Format(r.Journal().Start()))
		}
		if e.Kind == journal.KindRelayLog && strings.Contains(e.Text, "session cut short: the relay is closing") {
			cut = true
		}
	}
	if !cut {
		t.Errorf("no relay.log says the session was cut by Close\n%s", r.Journal())
	}
	if q := r.Queue(); len(q) != 1 {
		t.Errorf("queue after Close = %+v, want the message still queued", q)
	}
}

// TestCloseStartsNoNewSession closes the relay while the best MX host is
// slow to answer EHLO with 421: the relay does not go on to the next MX
// host once Close has begun.
func TestCloseStartsNoNewSession(t *testing.T) {
	n := newNetwork(t, twoMX...)
	ehlo, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	n.scripted(11, func(h *scriptHost, rw *bufio.ReadWriter) {
		say(rw, "220 mx1.example.test ESMTP")
		h.read(rw)
		once.Do(func() { close(ehlo) })
		<-release
		say(rw, "421 4.3.2 going away")
	})
	mx2 := n.scripted(12, slowData(make(chan struct{}), nil))
	r := n.startRelay(Config{TLS: TLSNone})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	<-ehlo
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	// Let Close begin before mx1 answers; then the attempt must stop.
	for !r.closing() {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if mx2.connections() != 0 {
		t.Errorf("the relay opened a session to mx2 after Close began\n%s", r.Journal())
	}
	if got := attemptedHosts(r); len(got) != 1 {
		t.Errorf("attempts = %v, want mx1 only", got)
	}
}
