package fakesmtp

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/journal"
)

// TestSetBehaviorWhileRunning changes the behaviour under running
// sessions (run with -race) and checks that every message a client saw
// accepted is in the journal.
func TestSetBehaviorWhileRunning(t *testing.T) {
	h := newHost(t, Behavior{})
	behaviors := []Behavior{
		{},
		{Replies: Replies{Rcpt: []Rule{{Match: "*@example.test", Reply: Reply{Code: 451, Times: 3}}}}},
		{Replies: Replies{Mail: Forced(Reply{Code: 421, Enhanced: "4.3.2"}), EndOfData: Forced(Reply{Code: 250, Text: "fine", Times: 2})}},
		{Delays: Delays{Mail: time.Millisecond, Rcpt: time.Millisecond}, Greylist: &Greylist{Window: 0}},
		{Relay: &RelayPolicy{Accept: []string{"other.test"}}, Limits: Limits{MaxRecipients: 1}},
		{Auth: &Auth{Users: map[string]string{"u": "p"}, Required: true}, TLS: TLS{StartTLS: TLSOffered}},
		{HangupAfter: 3},
		{DisconnectInData: 50},
		{State: Down},
	}
	const clients, perClient = 4, 25
	var accepted atomic.Int64
	var acceptedTo sync.Map
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var c *smtp.Client
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for n := 0; n < perClient; {
				select {
				case <-stop:
					return
				default:
				}
				if c == nil {
					conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
					if err != nil {
						time.Sleep(time.Millisecond) // host down: try again
						continue
					}
					c = smtp.NewClient(conn)
					c.CommandTimeout = 10 * time.Second
				}
				to := fmt.Sprintf("c%d-%d@example.test", i, n)
				err := send(c, "a@origin.test", []string{to}, message("live"))
				var se *smtp.SMTPError
				switch {
				case err == nil:
					accepted.Add(1)
					acceptedTo.Store(to, true)
					n++
				case errors.As(err, &se) && se.Code != 421:
					if rerr := c.Reset(); rerr != nil {
						c.Close()
						c = nil
					}
				default:
					c.Close()
					c = nil
				}
			}
			errc <- nil
		}(i)
	}
	for i := 0; i < 60; i++ {
		if err := h.SetBehavior(behaviors[i%len(behaviors)]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		_ = h.Behavior()
	}
	if err := h.SetBehavior(Behavior{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		close(stop)
		<-done
		t.Fatal("clients did not finish")
	}
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	h.Close()
	// A message can be recorded and its 250 lost with the connection
	// (host went down): the journal may hold more, never less.
	recorded := make(map[string]bool)
	for _, e := range h.Journal().Events(journal.OfKind(journal.KindSMTPMessage)) {
		recorded[e.Message.To[0]] = true
	}
	acceptedTo.Range(func(k, _ any) bool {
		if !recorded[k.(string)] {
			t.Errorf("accepted message to %s is not in the journal", k)
		}
		return true
	})
	if got := accepted.Load(); got != clients*perClient {
		t.Errorf("clients saw %d accepted, want %d", got, clients*perClient)
	}
	if c, d := count(h.Journal(), journal.KindSMTPConnect, nil), count(h.Journal(), journal.KindSMTPDisconnect, nil); c != d {
		t.Errorf("%d connects but %d disconnects", c, d)
	}
}

func TestPipelining(t *testing.T) {
	h := newHost(t, Behavior{Replies: Replies{Rcpt: []Rule{{Match: "no@*", Reply: Reply{Code: 550}}}}})
	conn, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := newRawClient(t, conn)
	r.expect("220")
	r.cmd("EHLO client.test", "250")
	// RFC 2920: one write for the whole envelope.
	r.write("MAIL FROM:<a@origin.test>\r\nRCPT TO:<no@example.test>\r\nRCPT TO:<yes@example.test>\r\nDATA\r\n")
	r.expect("250")
	r.expect("550 5.0.0")
	r.expect("250")
	r.expect("354")
	r.write("Subject: piped\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
	r.expect("250 2.0.0 Ok: queued")
	r.expect("250")
	r.expect("221")
	waitDisconnects(t, h, 1)
	var cmds []string
	for _, e := range h.Journal().Events(journal.OfKind(journal.KindSMTPCommand)) {
		cmds = append(cmds, e.Text)
	}
	want := "EHLO client.test|MAIL FROM:<a@origin.test>|RCPT TO:<no@example.test>|RCPT TO:<yes@example.test>|DATA|NOOP|QUIT"
	if got := strings.Join(cmds, "|"); got != want {
		t.Errorf("commands\n got %s\nwant %s", got, want)
	}
	msgs := h.Journal().Events(journal.OfKind(journal.KindSMTPMessage))
	if len(msgs) != 1 || string(msgs[0].Message.Raw) != "Subject: piped\r\n\r\nbody\r\n" || strings.Join(msgs[0].Message.To, ",") != "yes@example.test" {
		t.Errorf("messages %+v", msgs)
	}
}

func TestBDAT(t *testing.T) {
	h := newHost(t, Behavior{})
	conn, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := newRawClient(t, conn)
	r.expect("220")
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<a@origin.test>", "250")
	r.cmd("RCPT TO:<b@example.test>", "250")
	part1, part2 := "Subject: chunks\r\n\r\nQUIT\r\n", "RSET\r\nend\r\n"
	r.write(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1))
	r.expect("250")
	r.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2))
	r.expect("250")
	r.cmd("QUIT", "221")
	waitDisconnects(t, h, 1)
	msgs := h.Journal().Events(journal.OfKind(journal.KindSMTPMessage))
	if len(msgs) != 1 || string(msgs[0].Message.Raw) != part1+part2 {
		t.Fatalf("messages %+v", msgs)
	}
	var cmds []string
	for _, e := range h.Journal().Events(journal.OfKind(journal.KindSMTPCommand)) {
		cmds = append(cmds, e.Text)
	}
	if got, want := strings.Join(cmds, "|"), "EHLO client.test|MAIL FROM:<a@origin.test>|RCPT TO:<b@example.test>|BDAT 25|BDAT 11 LAST|QUIT"; got != want {
		t.Errorf("commands\n got %s\nwant %s", got, want)
	}
}
