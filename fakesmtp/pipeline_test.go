package fakesmtp

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/journal"
)

// refUnstuff is go-smtp's dataReader state machine (data.go), one byte at
// a time: what go-smtp would hand Session.Data for raw, and whether raw
// holds the end marker.
func refUnstuff(raw []byte) (out []byte, done bool) {
	const (
		beginLine = iota
		dot
		dotCR
		cr
		data
	)
	st := beginLine
	for _, c := range raw {
		switch st {
		case beginLine:
			if c == '.' {
				st = dot
				continue
			}
			if c == '\r' {
				st = cr
				break
			}
			st = data
		case dot:
			if c == '\r' {
				st = dotCR
				continue
			}
			st = data
		case dotCR:
			if c == '\n' {
				return out, true
			}
			st = data
		case cr:
			if c == '\n' {
				st = beginLine
				break
			}
			st = data
		case data:
			if c == '\r' {
				st = cr
			}
		}
		out = append(out, c)
	}
	return out, false
}

// TestUnstuffMatchesGoSMTP feeds bodies with every dot-stuffing corner,
// split at every position, through the session's body reader and
// compares the result with go-smtp's reader, the reference.
func TestUnstuffMatchesGoSMTP(t *testing.T) {
	bodies := []string{
		"Subject: x\r\n\r\nhello\r\n.\r\n",
		"..leading dot\r\n.\r\n",
		"a\r\n..\r\n...\r\n.x\r\n.\r\n",
		".\rX\r\n.\r\n",               // a quirk of go-smtp: ".\r" then not LF drops both
		"bare\nLF\n.\nstill\r\n.\r\n", // bare LF ends no line
		"\r\r\n.\r\n",
		"cr\rmid\r\n.\r\r\n.\r\n",
		"no end marker\r\n.",
		".\r\n",
	}
	for _, body := range bodies {
		want, wantDone := refUnstuff([]byte(body))
		for split := 0; split <= len(body); split++ {
			s := &session{body: new(bytes.Buffer)}
			used1, done := s.unstuff([]byte(body[:split]))
			used := used1
			if !done {
				var used2 int
				used2, done = s.unstuff([]byte(body[split:]))
				used += used2
			}
			if got := s.body.String(); got != string(want) || done != wantDone {
				t.Errorf("%q split at %d: got %q done=%v, want %q done=%v", body, split, got, done, want, wantDone)
				continue
			}
			if done && used != len(body) && !strings.HasSuffix(body[:used], "\n") {
				t.Errorf("%q split at %d: used %d bytes", body, split, used)
			}
			if s.bodySize != int64(len(want)) {
				t.Errorf("%q split at %d: size %d, want %d", body, split, s.bodySize, len(want))
			}
		}
	}
}

// TestPipeliningBatched sends whole groups of commands in one write (RFC 2920)
// and checks every reply arrives, in order, and the journal has the
// dialogue and the message exactly.
func TestPipeliningBatched(t *testing.T) {
	h := newHost(t, Behavior{})
	conn, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := newRawClient(t, conn)
	r.expect("220 ")
	r.write("EHLO client.test\r\nMAIL FROM:<a@origin.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n")
	if got := r.expect("250-"); !strings.Contains(got, "PIPELINING") {
		t.Errorf("EHLO reply %q does not offer PIPELINING", got)
	}
	r.expect("250 ")
	r.expect("250 ")
	r.expect("250 ")
	r.expect("354 ")
	body := "Subject: piped\r\n\r\n..dot\r\nline\r\n"
	r.write(body + ".\r\nRSET\r\nQUIT\r\n")
	r.expect("250 ")
	r.expect("250 ")
	r.expect("221 ")
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("after QUIT: %v", err)
	}
	h.Close()
	msgs := h.Journal().Events(journal.OfKind(journal.KindSMTPMessage))
	if len(msgs) != 1 {
		t.Fatalf("%d messages journaled, want 1\n%s", len(msgs), h.Journal())
	}
	if got, want := string(msgs[0].Message.Raw), "Subject: piped\r\n\r\n.dot\r\nline\r\n"; got != want {
		t.Errorf("raw %q, want %q", got, want)
	}
	tr := h.Journal().Transcript(hostName + "#1")
	var cs []string
	for _, l := range tr {
		if strings.HasPrefix(l, "C: ") || strings.HasPrefix(l, "S: 2") || strings.HasPrefix(l, "S: 3") {
			cs = append(cs, l[:6])
		}
	}
	// Each command is recorded before its reply, replies in command order.
	want := "S: 220|C: EHL|S: 250|S: 250|S: 250|S: 250|S: 250|S: 250|C: MAI|S: 250|C: RCP|S: 250|C: RCP|S: 250|C: DAT|S: 354|S: 250|C: RSE|S: 250|C: QUI|S: 221"
	if got := strings.Join(cs, "|"); got != want {
		t.Errorf("transcript order\n got %s\nwant %s\n%s", got, want, strings.Join(tr, "\n"))
	}
}

// TestPipelinedHangup: the replies to the commands before a hangup go out
// before the connection closes, even when the client sent them together.
func TestPipelinedHangup(t *testing.T) {
	h := newHost(t, Behavior{HangupAfter: 2})
	conn, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := newRawClient(t, conn)
	r.expect("220 ")
	r.write("HELO client.test\r\nMAIL FROM:<a@origin.test>\r\nRCPT TO:<b@example.test>\r\n")
	r.expect("250 ")
	r.expect("250 ")
	if rest, err := io.ReadAll(conn); err != nil || len(rest) != 0 {
		t.Errorf("after hangup: %q, %v; want EOF", rest, err)
	}
}

// TestSizeLimitBoundary: SIZE is the largest message the host takes
// (RFC 1870 §3: "the maximum message size"): a message of MaxSize bytes is
// accepted, one byte more is refused, however it is sent.
func TestSizeLimitBoundary(t *testing.T) {
	const limit = 200
	h := newHost(t, Behavior{Limits: Limits{MaxSize: limit}})
	c := dial(t, h)
	body := func(n int) string {
		head := "Subject: s\r\n\r\n"
		return head + strings.Repeat("z", n-len(head)-2) + "\r\n"
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, body(limit)); err != nil {
		t.Errorf("%d bytes: %v, want accepted", limit, err)
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, body(limit+1)); code(err) != 552 {
		t.Errorf("%d bytes: %v, want 552", limit+1, err)
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, body(limit)+strings.Repeat(".x\r\n", 1000)); code(err) != 552 {
		t.Errorf("far too big: %v, want 552", err)
	}
	// The same limit over BDAT (RFC 3030).
	r, conn := openRaw(t, h)
	defer conn.Close()
	r.run(steps(stepEHLO, stepMail, stepRcpt))
	r.write("BDAT 150\r\n" + strings.Repeat("q", 150))
	r.expect("250")
	r.write("BDAT 51 LAST\r\n" + strings.Repeat("q", 51))
	r.expect("552 5.3.4")
	r.cmd("NOOP", "250")
	msgs := h.Journal().Events(journal.OfKind(journal.KindSMTPMessage))
	if len(msgs) != 1 || msgs[0].Message.Size != limit {
		t.Errorf("journaled %d messages, want one of %d bytes\n%s", len(msgs), limit, h.Journal())
	}
}
