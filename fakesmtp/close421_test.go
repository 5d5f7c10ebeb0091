package fakesmtp

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// TestReply421Closes: a host that answers 421 at any stage closes the
// connection after the reply (RFC 5321 §3.8, §4.2.2), on the event loop and
// on a goroutine of its own alike: the client reads the 421, then EOF, and
// a NOOP sent after it is never answered. The disconnect event says the
// host closed after the 421 (Code 421, Fault the stage).
func TestReply421Closes(t *testing.T) {
	r421 := Reply{Code: 421, Enhanced: "4.3.2", Text: "shutting down"}
	const body = "Subject: x\r\n\r\nhello\r\n.\r\n"
	type step struct{ send, want string } // send is written as is (CRLF included)
	tests := []struct {
		stage string
		fault string
		b     Behavior
		steps []step
	}{
		{"greeting", FaultGreeting, Behavior{Replies: Replies{Greeting: Forced(r421)}}, nil},
		{"ehlo", FaultEHLO, Behavior{Replies: Replies{EHLO: Forced(r421)}}, []step{{"EHLO c.test\r\n", "421"}}},
		{"helo", FaultEHLO, Behavior{Replies: Replies{EHLO: Forced(r421)}}, []step{{"HELO c.test\r\n", "421"}}},
		{"starttls", FaultStartTLS, Behavior{TLS: TLS{StartTLS: TLSOffered}, Replies: Replies{StartTLS: Forced(r421)}},
			[]step{{"EHLO c.test\r\n", "250"}, {"STARTTLS\r\n", "421"}}},
		{"auth", FaultAuthReply, Behavior{Auth: &Auth{Users: map[string]string{"u": "p"}, AllowInsecure: true}, Replies: Replies{Auth: Forced(r421)}},
			[]step{{"EHLO c.test\r\n", "250"}, {"AUTH PLAIN AHUAcA==\r\n", "421"}}},
		{"mail", FaultMail, Behavior{Replies: Replies{Mail: Forced(r421)}},
			[]step{{"EHLO c.test\r\n", "250"}, {"MAIL FROM:<a@b.test>\r\n", "421"}}},
		{"rcpt", FaultRcpt, Behavior{Replies: Replies{Rcpt: []Rule{{Match: "bob@*", Reply: r421}}}},
			[]step{{"EHLO c.test\r\n", "250"}, {"MAIL FROM:<a@b.test>\r\n", "250"}, {"RCPT TO:<carol@x.test>\r\n", "250"}, {"RCPT TO:<bob@x.test>\r\n", "421"}}},
		{"data", FaultData, Behavior{Replies: Replies{Data: Forced(r421)}},
			[]step{{"EHLO c.test\r\n", "250"}, {"MAIL FROM:<a@b.test>\r\n", "250"}, {"RCPT TO:<bob@x.test>\r\n", "250"}, {"DATA\r\n", "421"}}},
		{"end_of_data", FaultEndOfData, Behavior{Replies: Replies{EndOfData: Forced(r421)}},
			[]step{{"EHLO c.test\r\n", "250"}, {"MAIL FROM:<a@b.test>\r\n", "250"}, {"RCPT TO:<bob@x.test>\r\n", "250"}, {"DATA\r\n", "354"}, {body, "421"}}},
		{"end_of_data-bdat", FaultEndOfData, Behavior{Replies: Replies{EndOfData: Forced(r421)}},
			[]step{{"EHLO c.test\r\n", "250"}, {"MAIL FROM:<a@b.test>\r\n", "250"}, {"RCPT TO:<bob@x.test>\r\n", "250"}, {"BDAT 5 LAST\r\nhello", "421"}}},
		{"greylist", FaultGreylist, Behavior{Greylist: &Greylist{Reply: &r421}},
			[]step{{"EHLO c.test\r\n", "250"}, {"MAIL FROM:<a@b.test>\r\n", "250"}, {"RCPT TO:<bob@x.test>\r\n", "421"}}},
		{"relay", FaultRelay, Behavior{Relay: &RelayPolicy{Accept: []string{"example.test"}, Reject: &r421}},
			[]step{{"EHLO c.test\r\n", "250"}, {"MAIL FROM:<a@b.test>\r\n", "250"}, {"RCPT TO:<bob@x.test>\r\n", "421"}}},
	}
	for _, mode := range []LoopMode{LoopOn, LoopOff} {
		for _, tt := range tests {
			t.Run(string(mode)+"/"+tt.stage, func(t *testing.T) {
				if err := tt.b.Validate(); err != nil {
					t.Fatalf("behaviour: %v", err)
				}
				h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", Behavior: tt.b, Loop: mode})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { h.Close() })
				conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				rc := newRawClient(t, conn)
				if tt.steps == nil {
					rc.expect("421 4.3.2 shutting down")
				} else {
					rc.expect("220")
				}
				for _, st := range tt.steps {
					rc.write(st.send)
					got := rc.expect(st.want)
					if st.want == "421" && got != "421 4.3.2 shutting down" {
						t.Errorf("reply %q", got)
					}
				}
				// The host has closed: EOF, and a NOOP gets no answer.
				if l, err := rc.tp.ReadLine(); !errors.Is(err, io.EOF) {
					t.Fatalf("after the 421: read %q, %v; want EOF (the host closes)", l, err)
				}
				_, _ = conn.Write([]byte("NOOP\r\n")) // may fail: the socket is closed
				if l, err := rc.tp.ReadLine(); err == nil || strings.HasPrefix(l, "250") {
					t.Fatalf("NOOP after the 421: %q, %v; want no answer", l, err)
				}
				waitDisconnects(t, h, 1)
				evs := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect))
				d := evs[0]
				if d.Code != 421 || d.Fault != tt.fault {
					t.Errorf("disconnect event: code %d fault %q text %q; want 421, %q", d.Code, d.Fault, d.Text, tt.fault)
				}
				if tt.steps != nil && !strings.Contains(d.Text, "host closed the connection after 421 4.3.2 shutting down") {
					t.Errorf("disconnect text %q", d.Text)
				}
				if n := count(h.Journal(), journal.KindSMTPCommand, func(e journal.Event) bool { return e.Text == "NOOP" }); n != 0 {
					t.Errorf("the host read the NOOP after its 421:\n%s", h.Journal())
				}
			})
		}
	}
}

// TestReply4xxKeepsOpen: another 4yz (451, the greylisting one among them)
// keeps the session open; the client may go on.
func TestReply4xxKeepsOpen(t *testing.T) {
	for _, mode := range []LoopMode{LoopOn, LoopOff} {
		t.Run(string(mode), func(t *testing.T) {
			b := Behavior{Replies: Replies{Rcpt: Forced(Reply{Code: 451, Enhanced: "4.3.0", Text: "busy"})}, Greylist: &Greylist{}}
			h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", Behavior: b, Loop: mode})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			rc := newRawClient(t, conn)
			rc.expect("220")
			rc.cmd("EHLO c.test", "250")
			rc.cmd("MAIL FROM:<a@b.test>", "250")
			rc.cmd("RCPT TO:<bob@x.test>", "451 4.3.0 busy")
			rc.cmd("NOOP", "250")
			rc.cmd("QUIT", "221")
			waitDisconnects(t, h, 1)
			if d := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect))[0]; d.Code != 0 {
				t.Errorf("disconnect after QUIT: code %d, want 0", d.Code)
			}
		})
	}
}
