package fakesmtp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/journal"
)

func TestAcceptAndJournal(t *testing.T) {
	h := newHost(t, Behavior{})
	c := dial(t, h)
	body := message("hello world")
	if err := send(c, "alice@origin.test", []string{"bob@example.test", "carol@example.test"}, body); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("quit: %v", err)
	}
	j := h.Journal()
	waitDisconnects(t, h, 1)
	msgs := j.Events(journal.OfKind(journal.KindSMTPMessage))
	if len(msgs) != 1 {
		t.Fatalf("got %d message events, want 1\n%s", len(msgs), j)
	}
	m := msgs[0]
	if !bytes.Equal(m.Message.Raw, []byte(body)) {
		t.Errorf("raw = %q, want %q", m.Message.Raw, body)
	}
	if m.Message.From != "alice@origin.test" || strings.Join(m.Message.To, ",") != "bob@example.test,carol@example.test" {
		t.Errorf("envelope = %q -> %q", m.Message.From, m.Message.To)
	}
	if m.Message.Subject != "hello world" || m.Message.ID != "<hello.world@origin.test>" || m.Message.Size != len(body) {
		t.Errorf("subject %q id %q size %d", m.Message.Subject, m.Message.ID, m.Message.Size)
	}
	if got := m.Message.Headers["From"]; len(got) != 1 || got[0] != "alice@origin.test" {
		t.Errorf("From header = %q", got)
	}
	for _, e := range j.Events() {
		if e.Source != hostName || e.Session != hostName+"#1" || e.Remote == "" || e.Local != h.Addr() {
			t.Errorf("event %d: source %q session %q remote %q local %q", e.Seq, e.Source, e.Session, e.Remote, e.Local)
		}
	}
	evs := j.Events()
	if first := evs[0]; first.Kind != journal.KindSMTPConnect || first.Text != "connect from "+first.Remote {
		t.Errorf("first event = %s %q", first.Kind, first.Text)
	}
	if last := evs[len(evs)-1]; last.Kind != journal.KindSMTPDisconnect || last.Text != "disconnect: client quit" {
		t.Errorf("last event = %s %q", last.Kind, last.Text)
	}
	// The message is recorded before its 250 reply.
	var msgSeq, okSeq int64
	for _, e := range evs {
		if e.Kind == journal.KindSMTPMessage {
			msgSeq = e.Seq
		}
		if e.Kind == journal.KindSMTPReply && strings.HasPrefix(e.Text, "250 2.0.0 Ok: queued") {
			okSeq = e.Seq
		}
	}
	if msgSeq == 0 || okSeq < msgSeq {
		t.Errorf("message event %d should precede the 250 reply %d", msgSeq, okSeq)
	}
	// Body lines never appear as commands.
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPCommand)) {
		if strings.Contains(e.Text, "Hello.") || strings.Contains(e.Text, "Subject") {
			t.Errorf("body line journaled as command: %q", e.Text)
		}
	}
	if got := j.Sessions(hostName); len(got) != 1 || got[0] != hostName+"#1" {
		t.Errorf("sessions = %q", got)
	}
}

func TestGreetingDefault(t *testing.T) {
	h := newHost(t, Behavior{})
	conn, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 200)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(buf[:n]), "220 mx1.example.test ESMTP mxsim\r\n"; got != want {
		t.Errorf("greeting %q, want %q", got, want)
	}
}

func TestSessionIDsCount(t *testing.T) {
	h := newHost(t, Behavior{})
	for i := 0; i < 3; i++ {
		c := dial(t, h)
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	waitDisconnects(t, h, 3)
	got := strings.Join(h.Journal().Sessions(hostName), " ")
	if want := "mx1.example.test#1 mx1.example.test#2 mx1.example.test#3"; got != want {
		t.Errorf("sessions %q, want %q", got, want)
	}
}

func TestDownUp(t *testing.T) {
	h := newHost(t, Behavior{})
	addr := h.Addr()
	c := dial(t, h)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := h.Down(); err != nil {
		t.Fatal(err)
	}
	// The open session was closed.
	if err := c.Noop(); err == nil {
		t.Error("NOOP after Down succeeded")
	}
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while down: %v, want connection refused", err)
	}
	if got := h.Behavior().State; got != Down {
		t.Errorf("state %q after Down", got)
	}
	if err := h.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if err := h.Up(); err != nil {
		t.Fatal(err)
	}
	if h.Addr() != addr {
		t.Errorf("addr changed: %s -> %s", addr, h.Addr())
	}
	c2 := dial(t, h)
	if err := send(c2, "a@origin.test", []string{"b@example.test"}, message("after up")); err != nil {
		t.Fatalf("send after Up: %v", err)
	}
	if n := count(h.Journal(), journal.KindControl, nil); n != 2 {
		t.Errorf("%d control events, want 2 (down, up)", n)
	}
}

func TestStartDown(t *testing.T) {
	h := newHost(t, Behavior{State: Down})
	if strings.HasSuffix(h.Addr(), ":0") {
		t.Fatalf("addr %s has no port", h.Addr())
	}
	if _, err := net.Dial("tcp", h.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v, want connection refused", err)
	}
	if err := h.SetBehavior(Behavior{}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, h)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
}

func TestBlackhole(t *testing.T) {
	h := newHost(t, Behavior{State: Blackhole})
	conn, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := conn.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read = %d, %v; want a timeout (no greeting)", n, err)
	}
	j := h.Journal()
	wait(t, j, "blackhole connect", has(journal.KindSMTPConnect, func(e journal.Event) bool { return e.Fault == FaultBlackhole }))
	conn.Close()
	wait(t, j, "blackhole disconnect", has(journal.KindSMTPDisconnect, func(e journal.Event) bool {
		return e.Text == "disconnect: blackhole: client closed connection"
	}))

	// A held connection is released by Close.
	conn2, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	waitDisconnects(t, h, 1)
	wait(t, j, "second connect", func(evs []journal.Event) bool { return count(j, journal.KindSMTPConnect, nil) == 2 })
	h.Close()
	conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn2.Read(make([]byte, 10)); err != io.EOF {
		t.Errorf("read after Close: %v, want EOF", err)
	}
}

func TestGreetingReplies(t *testing.T) {
	for _, tc := range []struct {
		reply string
		code  int
	}{{"421 4.3.2 shutting down", 421}, {"554 no SMTP service here", 554}} {
		t.Run(tc.reply, func(t *testing.T) {
			r, err := ParseReply(tc.reply)
			if err != nil {
				t.Fatal(err)
			}
			h := newHost(t, Behavior{Replies: Replies{Greeting: Forced(r)}})
			c := dial(t, h)
			err = c.Hello("client.test")
			if code(err) != tc.code {
				t.Fatalf("Hello: %v, want %d", err, tc.code)
			}
			j := h.Journal()
			wait(t, j, "refused", has(journal.KindSMTPRefused, func(e journal.Event) bool {
				return e.Code == tc.code && e.Fault == FaultGreeting && e.Session == ""
			}))
			if got := replies(j, FaultGreeting); len(got) != 1 || got[0].Text != tc.reply {
				t.Errorf("greeting replies %v", got)
			}
		})
	}
}

func TestHangupAfter(t *testing.T) {
	h := newHost(t, Behavior{HangupAfter: 2})
	c := dial(t, h)
	if err := c.Hello("client.test"); err != nil { // command 1
		t.Fatal(err)
	}
	if err := c.Mail("a@origin.test", nil); err != nil { // command 2
		t.Fatal(err)
	}
	err := c.Rcpt("b@example.test", nil) // command 3: no reply
	if err == nil || code(err) != 0 {
		t.Fatalf("Rcpt: %v, want a connection error", err)
	}
	j := h.Journal()
	wait(t, j, "hangup", has(journal.KindSMTPDisconnect, func(e journal.Event) bool {
		return e.Fault == FaultHangup && e.Text == "disconnect: hangup after 2 commands"
	}))
	cmds := j.Events(journal.OfKind(journal.KindSMTPCommand))
	if last := cmds[len(cmds)-1]; last.Text != "RCPT TO:<b@example.test>" {
		t.Errorf("last command %q", last.Text)
	}
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPReply)) {
		if e.Seq > cmds[len(cmds)-1].Seq {
			t.Errorf("reply after the hangup: %q", e.Text)
		}
	}
}

func TestCloseClientConnections(t *testing.T) {
	h := newHost(t, Behavior{})
	c := dial(t, h)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	h.CloseClientConnections()
	if err := c.Noop(); err == nil {
		t.Fatal("NOOP after CloseClientConnections succeeded")
	}
	wait(t, h.Journal(), "disconnect", has(journal.KindSMTPDisconnect, func(e journal.Event) bool {
		return e.Text == "disconnect: closed by host"
	}))
	c2 := dial(t, h)
	if err := c2.Hello("client.test"); err != nil {
		t.Fatalf("host stopped listening: %v", err)
	}
}

func TestCloseIdempotentAndClosedErrors(t *testing.T) {
	h, err := NewHost(Config{Name: hostName})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.Addr(), "127.0.0.1:") {
		t.Errorf("default addr %s", h.Addr())
	}
	if h.Journal() == nil {
		t.Fatal("no journal")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, err := range map[string]error{"Up": h.Up(), "Down": h.Down(), "SetBehavior": h.SetBehavior(Behavior{})} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	h.CloseClientConnections() // no panic
}

func TestNewHostCloseCycles(t *testing.T) {
	j := journal.New()
	for i := 0; i < 200; i++ {
		h, err := NewHost(Config{Name: hostName, Journal: j})
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if i%20 == 0 {
			c, err := smtp.Dial(h.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Hello("client.test"); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAddrInUse(t *testing.T) {
	h := newHost(t, Behavior{})
	_, err := NewHost(Config{Name: "mx2.example.test", Addr: h.Addr()})
	if err == nil || !strings.Contains(err.Error(), "mx2.example.test") || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("NewHost on a used address: %v", err)
	}
	// Up fails the same way and leaves the host down.
	h2, err := NewHost(Config{Name: "mx3.example.test", Addr: h.Addr(), Behavior: Behavior{State: Down}})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if err := h2.Up(); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Up on a used address: %v", err)
	}
	if got := h2.Behavior().State; got != Down {
		t.Errorf("state after failed Up: %q", got)
	}
}

func TestParseHeader(t *testing.T) {
	raw := "Received: from a\r\n\tby b\r\nsubject:  Hi  \r\nReceived: from c\r\nX-Empty:\r\nmessage-id: <1@x.test>\r\n\r\nBody: not a header\r\n"
	h := parseHeader([]byte(raw))
	want := map[string][]string{
		"Received":   {"from a by b", "from c"},
		"Subject":    {"Hi"},
		"X-Empty":    {""},
		"Message-Id": {"<1@x.test>"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("parseHeader = %q\nwant %q", h, want)
	}
	// Appending to one field's values must not overwrite another's: they
	// share a backing array.
	h["Received"] = append(h["Received"], "more")
	if h["Subject"][0] != "Hi" {
		t.Errorf("append to Received changed Subject: %q", h["Subject"])
	}
	for _, c := range []struct{ raw, key, want string }{
		{"A: 1\nB: 2\n\nC: 3\n", "B", "2"},              // bare LF
		{"A: 1\r\nno colon here\r\nB: 2\r\n", "A", "1"}, // body without blank line
		{"A: 1", "A", "1"},                              // no line end at all
	} {
		h := parseHeader([]byte(c.raw))
		if got := h[c.key]; len(got) != 1 || got[0] != c.want {
			t.Errorf("parseHeader(%q)[%s] = %q, want %q", c.raw, c.key, got, c.want)
		}
		if _, ok := h["C"]; ok {
			t.Errorf("parseHeader(%q) read past the header: %q", c.raw, h)
		}
	}
}

// TestLoopModeInvalid: an unknown Config.Loop, or an unknown value of
// MXSIM_FAKESMTP_LOOP for LoopAuto, is a field error: a misspelt "off"
// must not leave the loop on unnoticed.
func TestLoopModeInvalid(t *testing.T) {
	for _, tc := range []struct {
		mode LoopMode
		env  string
		want string
	}{
		{"sideways", "", `loop: unknown mode "sideways"`},
		{LoopAuto, "of", `loop: environment MXSIM_FAKESMTP_LOOP="of"`},
	} {
		t.Setenv(loopEnv, tc.env)
		h, err := NewHost(Config{Name: hostName, Loop: tc.mode})
		if err == nil {
			h.Close()
			t.Errorf("Loop %q with %s=%q: no error", tc.mode, loopEnv, tc.env)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Loop %q with %s=%q: %v, want ErrInvalid and %q", tc.mode, loopEnv, tc.env, err, tc.want)
		}
	}
}
