package fakesmtp_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/journal"
)

// FuzzSession plays an arbitrary client byte stream to a host over a real
// TCP connection. cuts says how the stream is split into writes: byte i
// is the length of write i minus one (low 7 bits), and its high bit adds
// a short pause after that write, so that the host sees the stream cut
// anywhere, lines split across reads as well as pipelined together; the
// rest goes in one last write, then the client half-closes.
//
// The host offers STARTTLS, AUTH (PLAIN, LOGIN, CRAM-MD5, allowed without
// TLS), CHUNKING, SIZE, a greylist, a relay policy and forced replies for
// some addresses. The target checks:
//
//   - the host never panics (a panic on the host's goroutine ends the
//     fuzzing process, which keeps the input);
//   - the session ends once the client has half-closed, within ioTimeout;
//   - the journal of the session is consistent: one connect, first; one
//     disconnect, last; reply codes 200..599 matching their text; and
//     what the client received is what the journal recorded, line for
//     line (up to a STARTTLS handshake, whose bytes are not SMTP);
//   - the host keeps serving: a fresh connection gets a 220 greeting.
//
// Both serving modes: make fuzz runs the target once with the event loop
// (Linux) and once with MXSIM_FAKESMTP_LOOP=off. One host serves a
// fuzzing process, replaced every restartEvery inputs so that its journal
// and greylist stay small.
func FuzzSession(f *testing.F) {
	for _, s := range smtpSeeds() {
		f.Add([]byte(s.stream), s.cuts)
	}
	fx := &smtpFuzz{}
	f.Cleanup(func() {
		if err := fx.stop(); err != nil {
			f.Errorf("stop: %v", err)
		}
	})
	f.Logf("fakesmtp event loop: MXSIM_FAKESMTP_LOOP=%q", os.Getenv("MXSIM_FAKESMTP_LOOP"))
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		fx.input(t, stream, cuts)
	})
}

const (
	fuzzHost = "mx.fuzz.test"
	// restartEvery is how many inputs one host serves before the target
	// starts a fresh one.
	restartEvery = 1024
	// ioTimeout bounds every wait for the host; a healthy one answers in
	// microseconds.
	ioTimeout = 10 * time.Second
	// dialGap spaces connections: at most 250 a second per fuzzing
	// process (two per input), far below the rate at which loopback
	// connections fill the kernel's connection-tracking table.
	dialGap = 4 * time.Millisecond
	// pause is the wait after a write whose cut has the high bit set.
	pause = 200 * time.Microsecond
	// maxCuts bounds the writes of one input (and so its pauses).
	maxCuts = 64
)

// fuzzBehavior turns on what a byte stream can reach without waiting.
func fuzzBehavior() fakesmtp.Behavior {
	return fakesmtp.Behavior{
		TLS: fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered},
		Auth: &fakesmtp.Auth{
			Mechanisms:    []string{fakesmtp.MechPlain, fakesmtp.MechLogin, fakesmtp.MechCRAMMD5},
			Users:         map[string]string{"alice": "secret"},
			AllowInsecure: true,
		},
		Greylist: &fakesmtp.Greylist{Window: time.Millisecond},
		Relay:    &fakesmtp.RelayPolicy{Accept: []string{"example.test", ".example.test"}},
		Limits:   fakesmtp.Limits{MaxSize: 4096, MaxRecipients: 5},
		Replies: fakesmtp.Replies{
			Mail: []fakesmtp.Rule{{Match: "spam@*", Reply: fakesmtp.Reply{Code: 550, Enhanced: "5.7.1", Text: "no spam"}}},
			Rcpt: []fakesmtp.Rule{{Match: "*@full.example.test", Reply: fakesmtp.Reply{Code: 452, Enhanced: "4.2.2", Text: "mailbox full", Times: 3}}},
		},
	}
}

// smtpFuzz is one fuzzing process's host. The fuzzing engine runs one
// input at a time per process.
type smtpFuzz struct {
	ca       *fakesmtp.CA
	h        *fakesmtp.Host
	inputs   int
	lastDial time.Time
}

func (fx *smtpFuzz) start() error {
	if fx.ca == nil {
		ca, err := fakesmtp.NewCA()
		if err != nil {
			return err
		}
		fx.ca = ca
	}
	h, err := fakesmtp.NewHost(fakesmtp.Config{Name: fuzzHost, Behavior: fuzzBehavior(), CA: fx.ca})
	if err != nil {
		return err
	}
	fx.h, fx.inputs = h, 0
	return nil
}

func (fx *smtpFuzz) stop() error {
	if fx.h == nil {
		return nil
	}
	err := fx.h.Close()
	fx.h = nil
	return err
}

// dial connects to the host, at most one connection per dialGap.
func (fx *smtpFuzz) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	if d := time.Until(fx.lastDial.Add(dialGap)); d > 0 {
		time.Sleep(d)
	}
	fx.lastDial = time.Now()
	c, err := net.DialTimeout("tcp", fx.h.Addr(), ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", fx.h.Addr(), err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c.(*net.TCPConn)
}

func (fx *smtpFuzz) input(t *testing.T, stream, cuts []byte) {
	if fx.h == nil || fx.inputs >= restartEvery {
		if err := fx.stop(); err != nil {
			t.Fatalf("close host: %v", err)
		}
		if err := fx.start(); err != nil {
			t.Fatalf("start host: %v", err)
		}
	}
	fx.inputs++
	j := fx.h.Journal()
	mark := int64(j.Len())

	// The fuzzed session: writes on this goroutine, replies read on
	// another so that the host never waits for its client.
	c := fx.dial(t)
	local := c.LocalAddr().String()
	type result struct {
		wire []byte
		err  error
	}
	read := make(chan result, 1)
	go func() {
		wire, err := io.ReadAll(c)
		read <- result{wire, err}
	}()
	writeErr := playStream(c, stream, cuts)
	if writeErr == nil {
		writeErr = c.CloseWrite()
	}
	res := <-read
	c.Close()
	var ne net.Error
	if errors.As(res.err, &ne) && ne.Timeout() {
		t.Fatalf("the host did not end the session within %v of the client's half-close (write: %v); received:\n%s\njournal:\n%s",
			ioTimeout, writeErr, res.wire, events(j.Since(mark)))
	}

	// A fresh connection is greeted.
	fx.greeted(t)

	// Every session since the mark has ended; check the fuzzed one.
	evs := waitEnded(t, j, mark)
	checkSession(t, evs, local, res.wire, res.err == nil)
}

// playStream writes stream cut as cuts says.
func playStream(c net.Conn, stream, cuts []byte) error {
	for i, cut := range cuts {
		if i == maxCuts || len(stream) == 0 {
			break
		}
		n := min(int(cut&0x7f)+1, len(stream))
		if _, err := c.Write(stream[:n]); err != nil {
			return err
		}
		stream = stream[n:]
		if cut&0x80 != 0 {
			time.Sleep(pause)
		}
	}
	if len(stream) > 0 {
		_, err := c.Write(stream)
		return err
	}
	return nil
}

// greeted checks that a new connection gets "220 <host>" and ends it
// with QUIT.
func (fx *smtpFuzz) greeted(t *testing.T) {
	t.Helper()
	c := fx.dial(t)
	defer c.Close()
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "220 "+fuzzHost+" ") {
		t.Fatalf("a fresh connection after this input: greeting %q, %v; want 220 %s", line, err, fuzzHost)
	}
	if _, err := io.WriteString(c, "QUIT\r\n"); err != nil {
		t.Fatalf("a fresh connection after this input: QUIT: %v", err)
	}
	if line, err = br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "221 ") {
		t.Fatalf("a fresh connection after this input: reply to QUIT %q, %v; want 221", line, err)
	}
}

// waitEnded waits until every session that connected after mark has
// its disconnect, and returns the events after mark.
func waitEnded(t *testing.T, j *journal.Journal, mark int64) []journal.Event {
	t.Helper()
	deadline := time.NewTimer(ioTimeout)
	defer deadline.Stop()
	for {
		changed := j.Changed()
		evs := j.Since(mark)
		open := map[string]bool{}
		for _, e := range evs {
			switch e.Kind {
			case journal.KindSMTPConnect:
				open[e.Session] = true
			case journal.KindSMTPDisconnect:
				delete(open, e.Session)
			}
		}
		if len(open) == 0 {
			return evs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("sessions %v have no disconnect %v after the client left; journal:\n%s", keys(open), ioTimeout, events(evs))
		}
	}
}

// checkSession checks the journal of the session from local against
// itself and against wire, the bytes the client received (all of them
// when clean, else a prefix).
func checkSession(t *testing.T, evs []journal.Event, local string, wire []byte, clean bool) {
	t.Helper()
	var session string
	for _, e := range evs {
		if e.Kind == journal.KindSMTPConnect && e.Remote == local {
			if session != "" {
				t.Fatalf("two connects from %s: %s and %s\n%s", local, session, e.Session, events(evs))
			}
			session = e.Session
		}
	}
	if session == "" {
		t.Fatalf("no connect from %s in the journal:\n%s", local, events(evs))
	}
	var mine []journal.Event
	for _, e := range evs {
		if e.Session == session {
			mine = append(mine, e)
		}
		if e.Kind == journal.KindSMTPRefused {
			t.Errorf("smtp.refused on a host without limits on connections: %s", e.Text)
		}
	}
	last := len(mine) - 1
	var replies bytes.Buffer // the replies before a TLS handshake, as sent
	tlsSeen := false
	for i, e := range mine {
		if e.Source != fuzzHost {
			t.Errorf("event %d of %s from %q, want %q", e.Seq, session, e.Source, fuzzHost)
		}
		switch e.Kind {
		case journal.KindSMTPConnect:
			if i != 0 {
				t.Errorf("connect is event %d of session %s, want the first", i+1, session)
			}
		case journal.KindSMTPDisconnect:
			if i != last {
				t.Errorf("disconnect is event %d of %d of session %s, want the last", i+1, len(mine), session)
			}
		case journal.KindSMTPReply:
			if e.Code < 200 || e.Code > 599 || !strings.HasPrefix(e.Text, strconv.Itoa(e.Code)) {
				t.Errorf("reply %q with code %d", e.Text, e.Code)
			}
			if strings.ContainsAny(e.Text, "\r\n") {
				t.Errorf("reply %q holds a line break", e.Text)
			}
			if !tlsSeen {
				replies.WriteString(e.Text + "\r\n")
			}
		case journal.KindSMTPTLS:
			tlsSeen = true
		}
	}
	if mine[last].Kind != journal.KindSMTPDisconnect {
		t.Errorf("session %s does not end with a disconnect", session)
	}
	if t.Failed() {
		t.Fatalf("journal of %s:\n%s", session, events(mine))
	}
	// The host journals a reply before it writes it: what the client got
	// is a prefix of the journal's replies, all of them after a clean
	// end. After STARTTLS the wire carries TLS records instead.
	want := replies.Bytes()
	got := wire
	if tlsSeen && len(got) > len(want) {
		got = got[:len(want)]
	}
	if !bytes.HasPrefix(want, got) || clean && !tlsSeen && !bytes.Equal(got, want) {
		t.Fatalf("the client received\n%q\nbut the journal of %s has the replies\n%q\n%s", got, session, want, events(mine))
	}
}

func events(evs []journal.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%5d %-16s %-20s %q", e.Seq, e.Kind, e.Session, e.Text)
		if e.Err != "" {
			fmt.Fprintf(&b, " err=%q", e.Err)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// smtpSeed is one seed input: a client stream and its cuts.
type smtpSeed struct {
	stream string
	cuts   []byte
}

// smtpSeeds are dialogues that reach each part of the host: a whole
// transaction, pipelining, BDAT, each AUTH mechanism, STARTTLS,
// greylisting and its retry, limits, forced replies, protocol errors, an
// over-long line, bare LF. testdata/fuzz/FuzzSession holds more.
func smtpSeeds() []smtpSeed {
	const (
		ehlo = "EHLO client.test\r\n"
		mail = "MAIL FROM:<alice@origin.test>\r\n"
		rcpt = "RCPT TO:<bob@example.test>\r\n"
		body = "Subject: fuzz\r\nMessage-ID: <1@origin.test>\r\n\r\nHello.\r\n..dot\r\n.\r\n"
		quit = "QUIT\r\n"
	)
	// Cuts: one write per line ending, a byte at a time with pauses, and
	// 7-byte writes.
	lines := func(s string) []byte {
		var cuts []byte
		for l := range strings.SplitAfterSeq(s, "\n") {
			for len(l) > 0 {
				n := min(len(l), 128)
				cuts = append(cuts, byte(n-1)|0x80)
				l = l[n:]
			}
		}
		return cuts
	}
	bytewise := bytes.Repeat([]byte{0x80}, maxCuts)
	sevens := bytes.Repeat([]byte{6}, maxCuts)
	dialogues := []string{
		ehlo + mail + rcpt + "DATA\r\n" + body + quit,
		"HELO client.test\r\n" + mail + rcpt + rcpt + "DATA\r\n" + body + "RSET\r\nNOOP\r\n" + quit,
		ehlo + mail + rcpt + "BDAT 14\r\nSubject: x\r\n\r\nBDAT 4 LAST\r\nHi\r\n" + quit,
		ehlo + mail + rcpt + "BDAT 0 LAST\r\n" + "BDAT 5\r\n" + quit,
		ehlo + "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" + mail + rcpt + "DATA\r\n" + body + quit,
		ehlo + "AUTH PLAIN\r\nAGFsaWNlAHdyb25n\r\nAUTH PLAIN *\r\n" + quit,
		ehlo + "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n" + quit,
		ehlo + "AUTH LOGIN YWxpY2U=\r\n*\r\n" + quit,
		ehlo + "AUTH CRAM-MD5\r\nYWxpY2UgMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\r\n" + quit,
		ehlo + "AUTH NOPE\r\nAUTH PLAIN !!!\r\n" + quit,
		ehlo + "STARTTLS\r\n\x16\x03\x01\x00\x05hello",
		ehlo + "STARTTLS extra\r\n" + mail + quit,
		ehlo + "MAIL FROM:<carol@origin.test>\r\nRCPT TO:<dave@example.test>\r\nRSET\r\nMAIL FROM:<carol@origin.test>\r\nRCPT TO:<dave@example.test>\r\n" + quit,
		ehlo + "MAIL FROM:<alice@origin.test> SIZE=999999 BODY=8BITMIME\r\nMAIL FROM:<alice@origin.test> SIZE=10 BODY=7BIT AUTH=<>\r\n" + quit,
		ehlo + mail + "RCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nRCPT TO:<d@example.test>\r\nRCPT TO:<e@example.test>\r\nRCPT TO:<f@example.test>\r\n" + quit,
		ehlo + "MAIL FROM:<spam@origin.test>\r\n" + mail + "RCPT TO:<x@full.example.test>\r\nRCPT TO:<x@elsewhere.test>\r\n" + quit,
		ehlo + mail + rcpt + "DATA\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 80) + ".\r\n" + quit,
		"DATA\r\nRCPT TO:<x@example.test>\r\nMAIL FROM:<>\r\nBDAT x\r\nVRFY bob\r\nEXPN list\r\nHELP\r\n\r\nmail from:<A@B>\r\n" + quit,
		strings.Repeat("WHAT\r\n", 21),
		ehlo + "NOOP " + strings.Repeat("x", 2100) + "\r\n" + quit,
		"ehlo client.test\nmail from:<alice@origin.test>\nrcpt to:<bob@example.test>\ndata\nbare LF body\n.\nquit\n",
		ehlo + mail + rcpt + "DATA\r\nunterminated body",
		"",
	}
	var seeds []smtpSeed
	for _, d := range dialogues {
		seeds = append(seeds, smtpSeed{d, nil}, smtpSeed{d, lines(d)})
	}
	full := dialogues[0]
	seeds = append(seeds, smtpSeed{full, bytewise}, smtpSeed{full, sevens})
	return seeds
}
