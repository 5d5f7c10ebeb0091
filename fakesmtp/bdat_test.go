package fakesmtp

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// loopModes are the two ways a host serves its sessions; the BDAT tests
// run under both, whatever MXSIM_FAKESMTP_LOOP says.
var loopModes = []LoopMode{LoopOn, LoopOff}

// newHostLoop is newHost with a serving mode.
func newHostLoop(t *testing.T, b Behavior, mode LoopMode) *Host {
	t.Helper()
	h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", Behavior: b, Loop: mode})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// bdat is a BDAT command with its chunk.
func bdat(chunk string, last bool) string {
	s := "BDAT " + strconv.Itoa(len(chunk))
	if last {
		s += " LAST"
	}
	return s + "\r\n" + chunk
}

// replyEvent returns the last reply event of j with the given code.
func replyEvent(t *testing.T, j *journal.Journal, code int) journal.Event {
	t.Helper()
	evs := j.Events(journal.OfKind(journal.KindSMTPReply), func(e journal.Event) bool { return e.Code == code })
	if len(evs) == 0 {
		t.Fatalf("no %d reply journaled\n%s", code, j)
	}
	return evs[len(evs)-1]
}

// TestBDATStages: the reply to BDAT LAST is the end-of-data stage, the
// first chunk is the data stage, as with DATA (RFC 3030 §2).
func TestBDATStages(t *testing.T) {
	msg := "Subject: chunks\r\n\r\nbody\r\n"
	for _, mode := range loopModes {
		t.Run(string(mode), func(t *testing.T) {
			t.Run("end_of_data 4yz to BDAT LAST", func(t *testing.T) {
				h := newHostLoop(t, Behavior{Replies: Replies{EndOfData: Forced(Reply{Code: 451, Enhanced: "4.3.0", Text: "try again"})}}, mode)
				r, _ := openRaw(t, h)
				r.run(steps(stepEHLO, stepMail, stepRcpt))
				r.write(bdat(msg[:10], false))
				r.expect("250 2.0.0 10 octets received")
				r.write(bdat(msg[10:], true))
				r.expect("451 4.3.0 try again")
				if e := replyEvent(t, h.Journal(), 451); e.Fault != FaultEndOfData {
					t.Errorf("451 journaled with fault %q, want %q", e.Fault, FaultEndOfData)
				}
				if n := len(journaled(h.Journal())); n != 0 {
					t.Errorf("%d messages journaled, want none", n)
				}
				// The transaction is over: a new one goes through.
				r.run(steps(stepMail, stepRcpt))
				r.write(bdat(msg, true))
				r.expect("451 ")
			})
			t.Run("end_of_data 5yz and 2xx to one chunk", func(t *testing.T) {
				h := newHostLoop(t, Behavior{Replies: Replies{EndOfData: []Rule{
					{Reply: Reply{Code: 554, Enhanced: "5.7.1", Text: "spam", Times: 1}},
					{Reply: Reply{Code: 250, Text: "queued as X1"}},
				}}}, mode)
				r, _ := openRaw(t, h)
				r.run(steps(stepEHLO, stepMail, stepRcpt))
				r.write(bdat(msg, true))
				r.expect("554 5.7.1 spam")
				r.run(steps(stepMail, stepRcpt))
				r.write(bdat(msg, true))
				r.expect("250 2.0.0 queued as X1")
				if m := oneMessage(t, h.Journal()); string(m.Raw) != msg {
					t.Errorf("raw %q, want %q", m.Raw, msg)
				}
			})
			t.Run("data reply answers the first chunk", func(t *testing.T) {
				h := newHostLoop(t, Behavior{Replies: Replies{Data: Forced(Reply{Code: 452, Enhanced: "4.3.1", Text: "no room", Times: 1})}}, mode)
				r, _ := openRaw(t, h)
				r.run(steps(stepEHLO, stepMail, stepRcpt))
				// The chunks are pipelined: the first is refused, the
				// transaction is over, the next is read and refused too
				// (RFC 3030 §2), and NOOP is a command again.
				r.write(bdat("first\r\n", false) + bdat("NOOP\r\n", true) + "NOOP\r\n")
				r.expect("452 4.3.1 no room")
				r.expect("503 5.5.1 ")
				r.expect("250 2.0.0 Ok")
				if e := replyEvent(t, h.Journal(), 452); e.Fault != FaultData {
					t.Errorf("452 journaled with fault %q, want %q", e.Fault, FaultData)
				}
				// Times 1: the retry goes through; the data stage is its
				// first chunk only, the second gets its 250.
				r.run(steps(stepMail, stepRcpt))
				r.write(bdat(msg[:5], false))
				r.expect("250 2.0.0 5 octets received")
				r.write(bdat(msg[5:], true))
				r.expect("250 2.0.0 Ok: queued")
				if m := oneMessage(t, h.Journal()); string(m.Raw) != msg {
					t.Errorf("raw %q, want %q", m.Raw, msg)
				}
			})
			t.Run("data reply to BDAT LAST in one chunk", func(t *testing.T) {
				h := newHostLoop(t, Behavior{Replies: Replies{
					Data:      Forced(Reply{Code: 554, Text: "no data"}),
					EndOfData: Forced(Reply{Code: 451, Text: "not reached"}),
				}}, mode)
				r, _ := openRaw(t, h)
				r.run(steps(stepEHLO, stepMail, stepRcpt))
				r.write(bdat(msg, true))
				r.expect("554 5.0.0 no data")
				r.cmd("NOOP", "250 2.0.0 Ok")
				if n := count(h.Journal(), journal.KindSMTPReply, func(e journal.Event) bool { return e.Fault == FaultEndOfData }); n != 0 {
					t.Errorf("%d end-of-data replies, want none", n)
				}
			})
			t.Run("data 421 closes", func(t *testing.T) {
				h := newHostLoop(t, Behavior{Replies: Replies{Data: Forced(Reply{Code: 421, Text: "bye"})}}, mode)
				r, _ := openRaw(t, h)
				r.run(steps(stepEHLO, stepMail, stepRcpt))
				r.write(bdat(msg, true))
				r.expect("421 4.0.0 bye")
				r.expectEOF()
				waitDisconnects(t, h, 1)
				if d := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect)); d[0].Fault != FaultData || d[0].Code != 421 {
					t.Errorf("disconnect %+v, want fault %s, code 421", d[0], FaultData)
				}
			})
		})
	}
}

// TestBDATDisconnectInData: disconnect_in_data hangs up during the chunks,
// before the end of the message, as during a DATA body.
func TestBDATDisconnectInData(t *testing.T) {
	for _, mode := range loopModes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHostLoop(t, Behavior{DisconnectInData: 12}, mode)
			// A message shorter than the limit is taken.
			r, _ := openRaw(t, h)
			r.run(steps(stepEHLO, stepMail, stepRcpt))
			r.write(bdat("short", true))
			r.expect("250 2.0.0 Ok: queued")
			// The count runs over the chunks of a message: the second
			// chunk passes the limit, the host hangs up without a reply.
			r.run(steps(stepMail, stepRcpt))
			r.write(bdat("12345678", false))
			r.expect("250 2.0.0 8 octets received")
			r.write(bdat("abcdefgh", true))
			r.expectEOF()
			waitDisconnects(t, h, 1)
			d := h.Journal().Events(journal.OfKind(journal.KindSMTPDisconnect))
			if d[0].Fault != FaultDisconnect || !strings.Contains(d[0].Text, "disconnect in data after 12 bytes") {
				t.Errorf("disconnect %q (fault %q), want one after 12 bytes, fault %s", d[0].Text, d[0].Fault, FaultDisconnect)
			}
			if n := len(journaled(h.Journal())); n != 1 {
				t.Errorf("%d messages journaled, want only the short one", n)
			}
		})
	}
}

// TestBDATDelays: the data delay comes before the reply to the first
// chunk, the end-of-data delay before the reply to BDAT LAST. A client
// that leaves during either ends the session at once, and the disconnect
// says it left during a delay: that is how the test knows which reply
// was delayed, without a clock.
func TestBDATDelays(t *testing.T) {
	long := time.Minute
	for _, mode := range loopModes {
		t.Run(string(mode), func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				delays Delays
				before string // chunks answered before the delayed one
				send   string // the chunk whose reply is delayed
			}{
				{"data", Delays{Data: long}, "", bdat("first", false)},
				{"end_of_data", Delays{EndOfData: long}, bdat("first", false), bdat("", true)},
			} {
				t.Run(tc.name, func(t *testing.T) {
					h := newHostLoop(t, Behavior{Delays: tc.delays}, mode)
					r, conn := openRaw(t, h)
					r.run(steps(stepEHLO, stepMail, stepRcpt))
					if tc.before != "" {
						r.write(tc.before)
						r.expect("250 2.0.0 5 octets received")
					}
					r.write(tc.send)
					n := strings.Count(tc.before+tc.send, "BDAT")
					wait(t, h.Journal(), "the delayed chunk's command", func(evs []journal.Event) bool {
						c := 0
						for _, e := range evs {
							if e.Kind == journal.KindSMTPCommand && strings.HasPrefix(e.Text, "BDAT") {
								c++
							}
						}
						return c == n
					})
					conn.Close()
					waitDisconnects(t, h, 1)
					if d := disconnects(h); !strings.Contains(d[0], "during a delay") {
						t.Errorf("disconnect %q, want one during a delay", d[0])
					}
				})
			}
			// Short delays at both stages: the message goes through.
			h := newHostLoop(t, Behavior{Delays: Delays{Data: time.Millisecond, EndOfData: time.Millisecond}}, mode)
			r, _ := openRaw(t, h)
			r.run(steps(stepEHLO, stepMail, stepRcpt))
			r.write(bdat("one", false) + bdat("two", true))
			r.expect("250 2.0.0 3 octets received")
			r.expect("250 2.0.0 Ok: queued")
		})
	}
}

// TestNoChunking: a host told not to advertise CHUNKING leaves it out of
// its EHLO reply and does not know BDAT: 502, and the chunk is read as
// command lines, as by a host without the extension. DATA works.
func TestNoChunking(t *testing.T) {
	for _, mode := range loopModes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHostLoop(t, Behavior{Extensions: Extensions{NoChunking: true}}, mode)
			r, _ := openRaw(t, h)
			ehlo := r.cmd("EHLO client.test", "250")
			if strings.Contains(ehlo, "CHUNKING") || !strings.Contains(ehlo, "PIPELINING") {
				t.Errorf("EHLO reply %q: want PIPELINING and no CHUNKING", ehlo)
			}
			r.run(steps(stepMail, stepRcpt))
			r.write(bdat("XYZZY\r\n", true))
			r.expect("502 5.5.1 ")
			r.expect("500 5.5.2 ") // XYZZY, read as a command
			r.run(steps(stepsDeliver))
			oneMessage(t, h.Journal())
			// The default host advertises CHUNKING.
			h2 := newHostLoop(t, Behavior{}, mode)
			r2, _ := openRaw(t, h2)
			if ehlo := r2.cmd("EHLO client.test", "250"); !strings.Contains(ehlo, "250-CHUNKING") {
				t.Errorf("EHLO reply %q: want CHUNKING", ehlo)
			}
		})
	}
}

// TestBDATJournalsAsDATA: the same message sent with DATA and with BDAT
// makes the same smtp.message event.
func TestBDATJournalsAsDATA(t *testing.T) {
	msg := "From: alice@origin.test\r\nSubject: same\r\nMessage-ID: <same@origin.test>\r\n\r\nbody\r\n"
	for _, mode := range loopModes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHostLoop(t, Behavior{}, mode)
			r, _ := openRaw(t, h)
			r.run(steps(stepEHLO, stepMail, stepRcpt, step{"DATA", "354 "}, step{msg + ".", "250 2.0.0 "}))
			r.run(steps(stepMail, stepRcpt))
			r.write(bdat(msg[:7], false) + bdat(msg[7:], true))
			r.expect("250 2.0.0 7 octets")
			r.expect("250 2.0.0 Ok: queued")
			evs := h.Journal().Events(journal.OfKind(journal.KindSMTPMessage))
			if len(evs) != 2 {
				t.Fatalf("%d messages, want 2", len(evs))
			}
			if evs[0].Text != evs[1].Text || !reflect.DeepEqual(evs[0].Message, evs[1].Message) {
				t.Errorf("DATA and BDAT journal differently:\n%q %+v\n%q %+v", evs[0].Text, evs[0].Message, evs[1].Text, evs[1].Message)
			}
			if string(evs[1].Message.Raw) != msg {
				t.Errorf("raw %q, want %q", evs[1].Message.Raw, msg)
			}
		})
	}
}
