package fakesmtp

import (
	"encoding/base64"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// step is one command line of a scripted dialogue and the reply it must
// get: want is a prefix of the reply, code and enhanced code.
type step struct {
	send string // without CRLF
	want string
}

// Steps shared by the scripts below.
var (
	stepEHLO = step{"EHLO client.test", "250"}
	stepMail = step{"MAIL FROM:<a@origin.test>", "250 2.1.0 "}
	stepRcpt = step{"RCPT TO:<b@example.test>", "250 2.1.5 "}
	// stepsDeliver sends a small message with DATA.
	stepsDeliver = []step{
		{"DATA", "354 "},
		{"Subject: protocol\r\n\r\nbody\r\n.", "250 2.0.0 "},
	}
)

// steps joins steps and lists of steps into one script.
func steps(groups ...any) []step {
	var out []step
	for _, g := range groups {
		switch g := g.(type) {
		case step:
			out = append(out, g)
		case []step:
			out = append(out, g...)
		default:
			panic("steps: want a step or a []step")
		}
	}
	return out
}

// openRaw connects to h and reads the greeting. The connection is also
// closed at cleanup, should the test stop before its own defer.
func openRaw(t *testing.T, h *Host) (*rawClient, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Addr(), err)
	}
	t.Cleanup(func() { conn.Close() })
	r := newRawClient(t, conn)
	r.expect("220 ")
	return r, conn
}

// run plays a script, failing at the first reply that differs.
func (r *rawClient) run(script []step) {
	r.t.Helper()
	for _, s := range script {
		r.cmd(s.send, s.want)
	}
}

// expectEOF reads what is left on the connection and checks that the host
// closed it without saying more.
func (r *rawClient) expectEOF() {
	r.t.Helper()
	rest, err := io.ReadAll(r.tp.R)
	if err != nil || len(rest) != 0 {
		r.t.Fatalf("after the last reply: %q, %v; want EOF", rest, err)
	}
}

// commandTexts returns the Text of every smtp.command event of j, in order.
func commandTexts(j *journal.Journal) []string {
	var out []string
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPCommand)) {
		out = append(out, e.Text)
	}
	return out
}

// journaled returns the messages j recorded, in order.
func journaled(j *journal.Journal) []*journal.Message {
	var out []*journal.Message
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPMessage)) {
		out = append(out, e.Message)
	}
	return out
}

// oneMessage checks that j recorded exactly one message and returns it.
func oneMessage(t *testing.T, j *journal.Journal) *journal.Message {
	t.Helper()
	msgs := journaled(j)
	if len(msgs) != 1 {
		t.Fatalf("%d messages journaled, want 1\n%s", len(msgs), j)
	}
	return msgs[0]
}

// TestSequenceErrors: commands out of order get 503 5.5.1 (RFC 5321
// §4.1.4, §3.3) and leave the session, and the transaction, as they were.
func TestSequenceErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []step
		msgs   int // messages journaled
		check  func(t *testing.T, j *journal.Journal)
	}{
		{name: "MAIL before EHLO", script: steps(
			step{"MAIL FROM:<a@origin.test>", "503 5.5.1 "},
			step{"NOOP", "250 2.0.0 "},
			stepEHLO, stepMail)},
		{name: "RCPT before EHLO", script: steps(step{"RCPT TO:<b@example.test>", "503 5.5.1 "})},
		{name: "DATA before EHLO", script: steps(step{"DATA", "503 5.5.1 "}, step{"NOOP", "250 2.0.0 "})},
		{name: "RCPT before MAIL", script: steps(stepEHLO,
			step{"RCPT TO:<b@example.test>", "503 5.5.1 "},
			stepMail, stepRcpt)},
		{name: "DATA before MAIL", script: steps(stepEHLO, step{"DATA", "503 5.5.1 "}, stepMail)},
		{name: "DATA before RCPT", script: steps(stepEHLO, stepMail,
			step{"DATA", "503 5.5.1 "},
			stepRcpt, stepsDeliver), msgs: 1},
		{
			name: "nested MAIL",
			script: steps(stepEHLO, stepMail,
				step{"MAIL FROM:<c@origin.test>", "503 5.5.1 "},
				stepRcpt, stepsDeliver),
			msgs: 1,
			// The first MAIL still holds.
			check: func(t *testing.T, j *journal.Journal) {
				if m := oneMessage(t, j); m.From != "a@origin.test" {
					t.Errorf("From %q, want a@origin.test", m.From)
				}
			},
		},
		{name: "RSET clears the transaction", script: steps(stepEHLO, stepMail, stepRcpt,
			step{"RSET", "250 2.0.0 "},
			step{"RCPT TO:<b@example.test>", "503 5.5.1 "},
			step{"DATA", "503 5.5.1 "},
			stepMail, stepRcpt)},
		{name: "EHLO clears the transaction", script: steps(stepEHLO, stepMail, stepRcpt,
			stepEHLO,
			step{"DATA", "503 5.5.1 "},
			step{"RCPT TO:<b@example.test>", "503 5.5.1 "},
			stepMail)},
		{
			name: "a message ends the transaction",
			script: steps(stepEHLO, stepMail, stepRcpt, stepsDeliver,
				step{"DATA", "503 5.5.1 "},
				step{"RCPT TO:<b@example.test>", "503 5.5.1 "},
				stepMail, stepRcpt, stepsDeliver),
			msgs: 2,
		},
		// RFC 5321 §4.1.4: NOOP, RSET and QUIT are allowed at any time.
		{name: "NOOP and RSET before EHLO", script: steps(step{"NOOP", "250 2.0.0 "}, step{"RSET", "250 2.0.0 "}, stepEHLO)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, Behavior{})
			r, conn := openRaw(t, h)
			defer conn.Close()
			r.run(tc.script)
			if n := len(journaled(h.Journal())); n != tc.msgs {
				t.Errorf("%d messages journaled, want %d", n, tc.msgs)
			}
			if tc.check != nil {
				tc.check(t, h.Journal())
			}
		})
	}
}

// TestPathSyntax: the reverse-path and forward-path forms of RFC 5321
// §4.1.2 and the parameters of MAIL (RFC 1870, RFC 6152), the arguments
// of DATA and EHLO.
func TestPathSyntax(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   []step
		from     string   // with to: the message journaled
		to       []string // nil: no message
		wantText string   // part of the message event's Text
	}{
		{
			name:   "MAIL without brackets",
			script: steps(stepEHLO, step{"MAIL FROM:a@origin.test", "250 2.1.0 "}, stepRcpt, stepsDeliver),
			from:   "a@origin.test", to: []string{"b@example.test"},
		},
		{
			name:     "null reverse-path",
			script:   steps(stepEHLO, step{"MAIL FROM:<>", "250 2.1.0 "}, stepRcpt, stepsDeliver),
			from:     "",
			to:       []string{"b@example.test"},
			wantText: "message from <> to <b@example.test>",
		},
		{
			// RFC 5321 §2.4: verbs and argument keywords are case-insensitive.
			name:   "lower case",
			script: steps(step{"ehlo client.test", "250"}, step{"mail from:<a@origin.test>", "250 2.1.0 "}, step{"rcpt to:<b@example.test>", "250 2.1.5 "}, stepsDeliver),
			from:   "a@origin.test", to: []string{"b@example.test"},
		},
		{
			name:   "MAIL SIZE and BODY",
			script: steps(stepEHLO, step{"MAIL FROM:<a@origin.test> SIZE=100 BODY=8BITMIME", "250 2.1.0 "}),
		},
		{
			name: "MAIL without colon",
			// The session goes on, with no transaction open.
			script: steps(stepEHLO, step{"MAIL FROM <a@origin.test>", "501 5.5.4 "}, stepMail),
		},
		{
			name:   "MAIL unterminated path",
			script: steps(stepEHLO, step{"MAIL FROM:<a@origin.test", "501 5.5.4 "}, stepMail),
		},
		{
			// RFC 5321 §4.1.1.11: a parameter not recognised is 555.
			name:   "MAIL unknown parameter",
			script: steps(stepEHLO, step{"MAIL FROM:<a@origin.test> FOO=1", "555 5.5.4 "}, stepMail),
		},
		{
			name:   "MAIL bad SIZE",
			script: steps(stepEHLO, step{"MAIL FROM:<a@origin.test> SIZE=x", "501 5.5.4 "}, stepMail),
		},
		{
			// RFC 5321 §4.5.1: "<Postmaster>" without a domain, any case.
			name:   "RCPT postmaster",
			script: steps(stepEHLO, stepMail, step{"RCPT TO:<postmaster>", "250 2.1.5 "}, step{"RCPT TO:<Postmaster>", "250 2.1.5 "}, stepsDeliver),
			from:   "a@origin.test", to: []string{"postmaster", "Postmaster"},
		},
		{
			// RFC 5321 §4.1.2 A-d-l, to be ignored (§C).
			name: "RCPT source route",
			script: steps(stepEHLO, stepMail,
				step{"RCPT TO:<@route.test:b@example.test>", "250 2.1.5 "},
				step{"RCPT TO:<@one.test,@two.test:c@example.test>", "250 2.1.5 "},
				stepsDeliver),
			from: "a@origin.test", to: []string{"b@example.test", "c@example.test"},
		},
		{
			// RFC 5321 §4.1.2 Quoted-string: '>' inside quotes does not end the path.
			name:   "RCPT quoted local part",
			script: steps(stepEHLO, stepMail, step{`RCPT TO:<"a>b"@example.test>`, "250 2.1.5 "}, stepsDeliver),
			from:   "a@origin.test", to: []string{`"a>b"@example.test`},
		},
		{
			name:   "RCPT null path",
			script: steps(stepEHLO, stepMail, step{"RCPT TO:<>", "501 5.5.4 "}, stepRcpt),
		},
		{
			name:   "RCPT unknown parameter",
			script: steps(stepEHLO, stepMail, step{"RCPT TO:<b@example.test> FOO=1", "555 5.5.4 "}, stepRcpt),
		},
		{
			name:   "DATA with an argument",
			script: steps(stepEHLO, stepMail, stepRcpt, step{"DATA x", "501 5.5.4 "}, stepsDeliver),
			from:   "a@origin.test", to: []string{"b@example.test"},
		},
		{
			// RFC 5321 §4.1.1.1: the domain is required; without it the
			// client is still not greeted.
			name: "EHLO and HELO without argument",
			script: steps(step{"EHLO", "501 5.5.4 "}, step{"HELO", "501 5.5.4 "},
				step{"MAIL FROM:<a@origin.test>", "503 5.5.1 "},
				stepEHLO, stepMail),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, Behavior{})
			r, conn := openRaw(t, h)
			defer conn.Close()
			r.run(tc.script)
			j := h.Journal()
			if tc.to == nil {
				if n := len(journaled(j)); n != 0 {
					t.Errorf("%d messages journaled, want 0", n)
				}
				return
			}
			m := oneMessage(t, j)
			if m.From != tc.from || strings.Join(m.To, "|") != strings.Join(tc.to, "|") {
				t.Errorf("message from %q to %q, want from %q to %q", m.From, m.To, tc.from, tc.to)
			}
			if tc.wantText != "" {
				e := j.Events(journal.OfKind(journal.KindSMTPMessage))[0]
				if !strings.Contains(e.Text, tc.wantText) {
					t.Errorf("message event %q, want it to contain %q", e.Text, tc.wantText)
				}
			}
		})
	}
}

// TestUnknownCommand: 500 5.5.2, and the session goes on.
func TestUnknownCommand(t *testing.T) {
	h := newHost(t, Behavior{})
	r, conn := openRaw(t, h)
	defer conn.Close()
	r.run(steps(stepEHLO,
		step{"XYZZY plugh", "500 5.5.2 "},
		step{"", "500 5.5.2 "},
		step{"noop", "250 2.0.0 "},
		stepMail, stepRcpt, stepsDeliver))
	if got, want := strings.Join(commandTexts(h.Journal()), "|"), "EHLO client.test|XYZZY plugh||noop|"; !strings.HasPrefix(got, want) {
		t.Errorf("commands %q, want them to start with %q", got, want)
	}
	if n := len(journaled(h.Journal())); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// TestErrorLimit: after errLimit protocol errors of any kind (unknown
// command, bad syntax, line too long) the host says 421 and closes
// (RFC 5321 §3.8), and journals why.
func TestErrorLimit(t *testing.T) {
	h := newHost(t, Behavior{})
	r, conn := openRaw(t, h)
	defer conn.Close()
	r.cmd("EHLO client.test", "250")
	long := "NOOP " + strings.Repeat("x", maxLine)
	bad := []step{
		{"BOGUS", "500 5.5.2 "},
		{"MAIL FROM <a@origin.test>", "501 5.5.4 "},
		{long, "500 5.5.2 Line too long"},
	}
	for i := 1; i < errLimit; i++ {
		r.cmd(bad[i%len(bad)].send, bad[i%len(bad)].want)
		// Good commands do not end the session, nor clear the count.
		r.cmd("NOOP", "250 2.0.0 ")
	}
	r.cmd("BOGUS", "500 5.5.2 ")
	r.expect("421 4.7.0 ")
	r.expectEOF()
	waitDisconnects(t, h, 1)
	j := h.Journal()
	d := j.Events(journal.OfKind(journal.KindSMTPDisconnect))
	if len(d) != 1 || !strings.Contains(d[0].Text, "too many errors") {
		t.Errorf("disconnect events %+v, want one whose reason is too many errors", d)
	}
	if n := count(j, journal.KindSMTPReply, func(e journal.Event) bool { return e.Code == 421 }); n != 1 {
		t.Errorf("%d 421 replies journaled, want 1", n)
	}
}

// TestLongCommandLine: a command line longer than maxLine octets (CRLF
// included) is refused with 500 5.5.2 and skipped whole, however long and
// however it arrives; the session goes on, and the journal records the
// command without its text.
func TestLongCommandLine(t *testing.T) {
	for _, tc := range []struct {
		n      int  // octets of the line, CRLF included
		pieces bool // sent in several writes
		ok     bool
	}{
		{n: maxLine, ok: true},
		{n: maxLine + 1},
		{n: readerSize},
		{n: readerSize + 1}, // the CR fills the reader's buffer, LF follows
		{n: readerSize + 2},
		{n: 3 * readerSize},
		{n: 100000},
		{n: 3 * readerSize, pieces: true},
	} {
		name := strconv.Itoa(tc.n)
		if tc.pieces {
			name += " in pieces"
		}
		t.Run(name, func(t *testing.T) {
			h := newHost(t, Behavior{})
			r, conn := openRaw(t, h)
			defer conn.Close()
			// A valid command, if it were not too long.
			line := "NOOP " + strings.Repeat("x", tc.n-len("NOOP ")-2) + "\r\n"
			if len(line) != tc.n {
				t.Fatalf("line of %d octets, want %d", len(line), tc.n)
			}
			if tc.pieces {
				for rest := line; rest != ""; {
					k := min(len(rest), 1000)
					r.write(rest[:k])
					rest = rest[k:]
					time.Sleep(5 * time.Millisecond)
				}
			} else {
				r.write(line)
			}
			if tc.ok {
				r.expect("250 2.0.0 ")
			} else {
				r.expect("500 5.5.2 Line too long")
			}
			r.cmd("NOOP", "250 2.0.0 ")
			r.cmd("QUIT", "221 ")
			cmds := commandTexts(h.Journal())
			if len(cmds) != 3 || cmds[1] != "NOOP" || cmds[2] != "QUIT" {
				t.Fatalf("commands %q, want the long line, NOOP, QUIT", cmds)
			}
			switch {
			case tc.ok && cmds[0] != strings.TrimSuffix(line, "\r\n"):
				t.Errorf("accepted line journaled as %.40q…, want it whole", cmds[0])
			case !tc.ok && (cmds[0] == "" || len(cmds[0]) > 100 || strings.Contains(cmds[0], "xxxx")):
				t.Errorf("long line journaled as %.100q, want a short note without its text", cmds[0])
			}
		})
	}
}

// TestSimpleCommands: HELO's one-line reply, and the commands that need
// no transaction.
func TestSimpleCommands(t *testing.T) {
	h := newHost(t, Behavior{})
	r, conn := openRaw(t, h)
	defer conn.Close()
	// RFC 5321 §4.1.1.1: HELO is answered with one line, no extensions.
	if got := r.cmd("HELO client.test", "250 "); got != "250 "+hostName {
		t.Errorf("HELO reply %q, want %q", got, "250 "+hostName)
	}
	r.run(steps(
		step{"EXPN staff", "502 5.5.1 "},
		step{"HELP", "502 5.5.1 "},
		step{"VRFY b@example.test", "252 2.0.0 "},
		step{"NOOP", "250 2.0.0 "},
		step{"NOOP anything", "250 2.0.0 "},
		// HELO greets as EHLO does.
		stepMail, stepRcpt, stepsDeliver,
		step{"QUIT", "221 2.0.0 "},
	))
	r.expectEOF()
	if n := len(journaled(h.Journal())); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	waitDisconnects(t, h, 1)
	if d := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect)); !strings.Contains(d[0].Text, "client quit") {
		t.Errorf("disconnect %q", d[0].Text)
	}
}

// TestBDATProtocol: CHUNKING (RFC 3030).
func TestBDATProtocol(t *testing.T) {
	start := func(t *testing.T) (*Host, *rawClient) {
		h := newHost(t, Behavior{})
		r, _ := openRaw(t, h) // closed at cleanup
		return h, r
	}
	t.Run("two chunks", func(t *testing.T) {
		h, r := start(t)
		defer r.conn.Close()
		r.run(steps(stepEHLO, stepMail, stepRcpt))
		// BDAT data is taken as is: no dot-unstuffing, no end marker.
		c1, c2 := "..dot\r\n.\r\n", "tail!"
		r.write("BDAT 10\r\n" + c1)
		r.expect("250 2.0.0 ")
		r.write("BDAT 5 LAST\r\n" + c2)
		r.expect("250 2.0.0 ")
		m := oneMessage(t, h.Journal())
		if string(m.Raw) != c1+c2 || m.Size != 15 {
			t.Errorf("raw %q (size %d), want %q", m.Raw, m.Size, c1+c2)
		}
		if m.From != "a@origin.test" || strings.Join(m.To, ",") != "b@example.test" {
			t.Errorf("envelope %q → %q", m.From, m.To)
		}
		// The message ends the transaction.
		r.cmd("RCPT TO:<b@example.test>", "503 5.5.1 ")
	})
	t.Run("pipelined chunks", func(t *testing.T) {
		h, r := start(t)
		defer r.conn.Close()
		r.write("EHLO client.test\r\nMAIL FROM:<a@origin.test>\r\nRCPT TO:<b@example.test>\r\nBDAT 4\r\nQUITBDAT 0 LAST\r\nNOOP\r\n")
		for _, want := range []string{"250", "250 2.1.0 ", "250 2.1.5 ", "250 2.0.0 ", "250 2.0.0 ", "250 2.0.0 "} {
			r.expect(want)
		}
		if m := oneMessage(t, h.Journal()); string(m.Raw) != "QUIT" {
			t.Errorf("raw %q, want QUIT", m.Raw)
		}
	})
	t.Run("refused chunks are skipped", func(t *testing.T) {
		h, r := start(t)
		defer r.conn.Close()
		// The chunk would be an unknown command (500) if it were read as one.
		chunk := "XYZZY\r\n"
		bdat := "BDAT " + strconv.Itoa(len(chunk)) + "\r\n" + chunk
		r.write(bdat) // before EHLO
		r.expect("503 5.5.1 ")
		r.cmd("NOOP", "250 2.0.0 ")
		r.cmd("EHLO client.test", "250")
		r.write(bdat) // before MAIL
		r.expect("503 5.5.1 ")
		r.cmd("NOOP", "250 2.0.0 ")
		r.cmd("MAIL FROM:<a@origin.test>", "250 2.1.0 ")
		r.write("BDAT " + strconv.Itoa(len(chunk)) + " LAST\r\n" + chunk) // before RCPT
		r.expect("503 5.5.1 ")
		r.cmd("NOOP", "250 2.0.0 ")
		r.cmd("RCPT TO:<b@example.test>", "250 2.1.5 ")
		r.write("BDAT 2 LAST\r\nok")
		r.expect("250 2.0.0 ")
		if m := oneMessage(t, h.Journal()); string(m.Raw) != "ok" {
			t.Errorf("raw %q, want ok", m.Raw)
		}
		for _, c := range commandTexts(h.Journal()) {
			if strings.Contains(c, "XYZZY") {
				t.Errorf("chunk data journaled as a command: %q", c)
			}
		}
	})
	t.Run("syntax", func(t *testing.T) {
		h, r := start(t)
		defer r.conn.Close()
		r.run(steps(stepEHLO, stepMail, stepRcpt,
			step{"BDAT abc", "501 5.5.4 "},
			step{"BDAT", "501 5.5.4 "},
			step{"BDAT -1", "501 5.5.4 "},
			step{"BDAT 3 MORE", "501 5.5.4 "},
			step{"BDAT 3 LAST extra", "501 5.5.4 "},
			step{"NOOP", "250 2.0.0 "}))
		// The transaction is still open.
		r.write("BDAT 3 LAST\r\nabc")
		r.expect("250 2.0.0 ")
		if m := oneMessage(t, h.Journal()); string(m.Raw) != "abc" {
			t.Errorf("raw %q", m.Raw)
		}
	})
	t.Run("DATA and MAIL during BDAT", func(t *testing.T) {
		h, r := start(t)
		defer r.conn.Close()
		r.run(steps(stepEHLO, stepMail, stepRcpt))
		r.write("BDAT 3\r\nabc")
		r.expect("250 2.0.0 ")
		// RFC 3030 §3: DATA and BDAT do not mix in one transaction.
		r.cmd("DATA", "503 5.5.1 ")
		r.cmd("MAIL FROM:<c@origin.test>", "503 5.5.1 ")
		r.write("BDAT 3 LAST\r\ndef")
		r.expect("250 2.0.0 ")
		m := oneMessage(t, h.Journal())
		if string(m.Raw) != "abcdef" || m.From != "a@origin.test" {
			t.Errorf("message %q from %q, want abcdef from a@origin.test", m.Raw, m.From)
		}
	})
	t.Run("RSET drops the chunks", func(t *testing.T) {
		h, r := start(t)
		defer r.conn.Close()
		r.run(steps(stepEHLO, stepMail, stepRcpt))
		r.write("BDAT 5\r\nfirst")
		r.expect("250 2.0.0 ")
		r.run(steps(step{"RSET", "250 2.0.0 "}, stepMail, stepRcpt))
		r.write("BDAT 6 LAST\r\nsecond")
		r.expect("250 2.0.0 ")
		if m := oneMessage(t, h.Journal()); string(m.Raw) != "second" {
			t.Errorf("raw %q, want second", m.Raw)
		}
	})
}

// TestAuthProtocol: the AUTH dialogue of RFC 4954 §4 over a plain-text
// connection (AllowInsecure).
func TestAuthProtocol(t *testing.T) {
	const user, pass = "relay", "s3cret"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	plainResp := b64("\x00" + user + "\x00" + pass)
	authHost := func(t *testing.T) *Host {
		return newHost(t, Behavior{Auth: &Auth{Users: map[string]string{user: pass}, AllowInsecure: true}})
	}
	// noCredentials checks that the password is nowhere in the journal.
	noCredentials := func(t *testing.T, j *journal.Journal) {
		t.Helper()
		for _, e := range j.Events() {
			for _, secret := range []string{pass, b64(pass), plainResp, strings.TrimRight(plainResp, "=")} {
				if strings.Contains(e.Text, secret) {
					t.Errorf("credentials in the journal: %s %q", e.Kind, e.Text)
				}
			}
		}
	}
	authEvents := func(j *journal.Journal) []journal.Event {
		return j.Events(journal.OfKind(journal.KindSMTPAuth))
	}

	t.Run("PLAIN cancelled", func(t *testing.T) {
		h := authHost(t)
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.cmd("EHLO client.test", "250")
		// No initial response: an empty challenge (RFC 4422 §5, RFC 4954 §4).
		if got := r.cmd("AUTH PLAIN", "334"); strings.TrimSpace(got) != "334" {
			t.Errorf("challenge %q, want an empty one", got)
		}
		r.cmd("*", "501 ")
		r.cmd("NOOP", "250 2.0.0 ")
		j := h.Journal()
		if got, want := strings.Join(commandTexts(j), "|"), "EHLO client.test|AUTH PLAIN|*|NOOP"; got != want {
			t.Errorf("commands %q, want %q", got, want)
		}
		if a := authEvents(j); len(a) != 1 || a[0].Auth.OK {
			t.Errorf("auth events %+v, want one failure", a)
		}
		// Not authenticated: AUTH may be tried again.
		r.cmd("AUTH PLAIN "+plainResp, "235 2.7.0 ")
		noCredentials(t, j)
	})
	t.Run("PLAIN bad base64", func(t *testing.T) {
		h := authHost(t)
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.cmd("EHLO client.test", "250")
		// RFC 4954 §4: 501 with 5.5.2 when a response cannot be decoded.
		r.cmd("AUTH PLAIN !!!notbase64", "501 5.5.2 ")
		r.cmd("AUTH PLAIN", "334")
		r.cmd("###", "501 5.5.2 ")
		r.cmd("AUTH PLAIN "+plainResp, "235 2.7.0 ")
		if got, want := strings.Join(commandTexts(h.Journal()), "|"), "EHLO client.test|AUTH PLAIN ****|AUTH PLAIN|****|AUTH PLAIN ****"; got != want {
			t.Errorf("commands %q, want %q", got, want)
		}
	})
	t.Run("second AUTH", func(t *testing.T) {
		h := authHost(t)
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.cmd("EHLO client.test", "250")
		r.cmd("AUTH PLAIN "+plainResp, "235 2.7.0 ")
		// RFC 4954 §4: after a successful AUTH, any further AUTH gets 503.
		r.cmd("AUTH PLAIN "+plainResp, "503 5.5.1 ")
		r.cmd("AUTH LOGIN", "503 5.5.1 ")
		r.run(steps(stepMail, stepRcpt, stepsDeliver))
		a := authEvents(h.Journal())
		if len(a) != 1 || !a[0].Auth.OK || a[0].Auth.User != user || a[0].Auth.Mechanism != "PLAIN" {
			t.Errorf("auth events %+v, want one success", a)
		}
		noCredentials(t, h.Journal())
	})
	t.Run("during a transaction", func(t *testing.T) {
		h := authHost(t)
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.run(steps(stepEHLO, stepMail))
		// RFC 4954 §4: AUTH is not permitted during a mail transaction.
		r.cmd("AUTH PLAIN "+plainResp, "503 5.5.1 ")
		r.cmd("AUTH LOGIN", "503 5.5.1 ")
		r.cmd("RSET", "250 2.0.0 ")
		r.cmd("AUTH PLAIN "+plainResp, "235 2.7.0 ")
		if a := authEvents(h.Journal()); len(a) != 1 || !a[0].Auth.OK {
			t.Errorf("auth events %+v, want one success", a)
		}
	})
	t.Run("before EHLO and without mechanism", func(t *testing.T) {
		h := authHost(t)
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.cmd("AUTH PLAIN "+plainResp, "503 5.5.1 ")
		r.cmd("EHLO client.test", "250")
		r.cmd("AUTH", "501 5.5.4 ")
		r.cmd("AUTH FOO", "504 5.5.4 ")
		r.cmd("AUTH PLAIN "+plainResp, "235 2.7.0 ")
	})
	t.Run("host without AUTH", func(t *testing.T) {
		h := newHost(t, Behavior{})
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.cmd("EHLO client.test", "250")
		r.cmd("AUTH PLAIN "+plainResp, "502 5.5.1 ")
		r.cmd("AUTH LOGIN", "502 5.5.1 ")
		r.run(steps(stepMail, stepRcpt))
		if a := authEvents(h.Journal()); len(a) != 0 {
			t.Errorf("auth events %+v, want none", a)
		}
		noCredentials(t, h.Journal())
	})
	t.Run("LOGIN exchange", func(t *testing.T) {
		h := authHost(t)
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.cmd("EHLO client.test", "250")
		if got, want := r.cmd("AUTH LOGIN", "334 "), "334 "+b64("Username:"); got != want {
			t.Errorf("first challenge %q, want %q", got, want)
		}
		if got, want := r.cmd(b64(user), "334 "), "334 "+b64("Password:"); got != want {
			t.Errorf("second challenge %q, want %q", got, want)
		}
		r.cmd(b64(pass), "235 2.7.0 ")
		r.run(steps(stepMail, stepRcpt, stepsDeliver))
		j := h.Journal()
		a := authEvents(j)
		if len(a) != 1 || !a[0].Auth.OK || a[0].Auth.Mechanism != "LOGIN" || a[0].Auth.User != user || a[0].Auth.TLS {
			t.Errorf("auth events %+v, want one LOGIN success for %s without TLS", a, user)
		}
		if got, want := strings.Join(commandTexts(j)[:4], "|"), "EHLO client.test|AUTH LOGIN|****|****"; got != want {
			t.Errorf("commands %q, want %q", got, want)
		}
		noCredentials(t, j)
	})
	t.Run("LOGIN with initial response", func(t *testing.T) {
		h := authHost(t)
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.cmd("EHLO client.test", "250")
		if got, want := r.cmd("AUTH LOGIN "+b64(user), "334 "), "334 "+b64("Password:"); got != want {
			t.Errorf("challenge %q, want %q", got, want)
		}
		r.cmd(b64("wrong"), "535 5.7.8 ")
		if a := authEvents(h.Journal()); len(a) != 1 || a[0].Auth.OK || a[0].Auth.User != user {
			t.Errorf("auth events %+v, want one failure for %s", a, user)
		}
		// A failed AUTH leaves the client free to try again.
		r.cmd("AUTH LOGIN", "334 ")
		r.cmd(b64(user), "334 ")
		r.cmd(b64(pass), "235 2.7.0 ")
		noCredentials(t, h.Journal())
	})
}

// TestPipelinedWholeTransaction: two whole transactions, message bodies
// and QUIT in a single write; every reply comes back in order.
func TestPipelinedWholeTransaction(t *testing.T) {
	h := newHost(t, Behavior{})
	r, conn := openRaw(t, h)
	defer conn.Close()
	r.write("EHLO client.test\r\n" +
		"MAIL FROM:<a@origin.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n" +
		"Subject: one\r\n\r\nfirst\r\n.\r\n" +
		"MAIL FROM:<>\r\nRCPT TO:<c@example.test>\r\nRCPT TO:<d@example.test>\r\nDATA\r\n" +
		"Subject: two\r\n\r\n..stuffed\r\nQUIT\r\n.\r\n" +
		"QUIT\r\n")
	for _, want := range []string{
		"250", "250 2.1.0 ", "250 2.1.5 ", "354 ", "250 2.0.0 ",
		"250 2.1.0 ", "250 2.1.5 ", "250 2.1.5 ", "354 ", "250 2.0.0 ",
		"221 2.0.0 ",
	} {
		r.expect(want)
	}
	r.expectEOF()
	msgs := journaled(h.Journal())
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2\n%s", len(msgs), h.Journal())
	}
	if got, want := string(msgs[0].Raw), "Subject: one\r\n\r\nfirst\r\n"; got != want || msgs[0].From != "a@origin.test" {
		t.Errorf("first message %q from %q, want %q", got, msgs[0].From, want)
	}
	if got, want := string(msgs[1].Raw), "Subject: two\r\n\r\n.stuffed\r\nQUIT\r\n"; got != want || msgs[1].From != "" || strings.Join(msgs[1].To, ",") != "c@example.test,d@example.test" {
		t.Errorf("second message %q from %q to %q, want %q from <> to c, d", got, msgs[1].From, msgs[1].To, want)
	}
}

// TestRFCCorners checks four corners of the RFCs a first version of the
// session got wrong.
func TestRFCCorners(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name   string
		rule   string
		script []step
	}{
		{
			name: "MAIL FROM with an empty path",
			rule: `"MAIL FROM:" (nothing after the colon) is not the null reverse-path: ` +
				`RFC 5321 §4.1.1.2/§4.1.2 require Reverse-path = Path / "<>", so it is a syntax error (501 5.5.4)`,
			script: steps(stepEHLO, step{"MAIL FROM:", "501 5.5.4 "}, stepMail),
		},
		{
			name:   "VRFY without argument",
			rule:   `"VRFY" without argument: RFC 5321 §4.1.1.6 (vrfy = "VRFY" SP String) makes it a syntax error, 501 (§4.3.2)`,
			script: steps(stepEHLO, step{"VRFY", "501 "}),
		},
		{
			name: "AUTH response line too long",
			rule: `an AUTH response line longer than maxLine: ` +
				`RFC 4954 §6 (RFC 5248 registry, X.5.6): "500 5.5.6 Authentication Exchange line is too long" SHOULD be returned`,
			script: steps(stepEHLO, step{"AUTH PLAIN", "334"}, step{strings.Repeat("A", 3000), "500 5.5.6 "}),
		},
		{
			name: "initial response to a server-first mechanism",
			rule: `"AUTH CRAM-MD5 <initial-response>": ` +
				`RFC 4954 §4 requires 501 and §6 gives its enhanced code: "501 5.7.0 Client initiated Authentication Exchange"`,
			script: steps(stepEHLO, step{"AUTH CRAM-MD5 " + b64("x"), "501 5.7.0 "}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, Behavior{Auth: &Auth{
				Users:         map[string]string{"relay": "s3cret"},
				Mechanisms:    []string{MechPlain, MechLogin, "CRAM-MD5"},
				AllowInsecure: true,
			}})
			r, conn := openRaw(t, h)
			defer conn.Close()
			t.Log(tc.rule)
			r.run(tc.script)
		})
	}
}

// TestHangupAfterCounting: HangupAfter counts command lines, over-long ones
// included, but not the lines of a SASL exchange.
func TestHangupAfterCounting(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	t.Run("SASL lines are not commands", func(t *testing.T) {
		h := newHost(t, Behavior{HangupAfter: 3, Auth: &Auth{Users: map[string]string{"relay": "s3cret"}, AllowInsecure: true}})
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.run(steps(stepEHLO, // 1
			step{"AUTH LOGIN", "334 " + b64("Username:")}, // 2
			step{b64("relay"), "334 " + b64("Password:")},
			step{b64("s3cret"), "235 "},
			step{"NOOP", "250 "}, // 3
		))
		r.write("NOOP\r\n") // 4: not answered
		r.expectEOF()
		waitDisconnects(t, h, 1)
		if n := len(replies(h.Journal(), FaultHangup)); n != 0 {
			t.Errorf("hangup produced %d replies, want none", n)
		}
	})
	t.Run("an over-long line counts", func(t *testing.T) {
		h := newHost(t, Behavior{HangupAfter: 1})
		r, conn := openRaw(t, h)
		defer conn.Close()
		r.run(steps(stepEHLO))
		r.write("NOOP " + strings.Repeat("x", 3000) + "\r\n")
		r.expectEOF()
		waitDisconnects(t, h, 1)
		evs := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect))
		if len(evs) != 1 || evs[0].Fault != FaultHangup {
			t.Errorf("disconnect events %+v, want one with fault %s", evs, FaultHangup)
		}
	})
}
