package harness

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/journal"
)

// A relay that reports its attempts from a log (Postfix) may report the
// refused connection to mx1 after mx2 already saw its session: the relay's
// order wins.
func TestAttemptsPreferTheRelaysOrder(t *testing.T) {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx2.example.test", Session: "mx2.example.test#1"})
	j.Append(journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: "mx1.example.test", Text: "mx1.example.test[127.0.0.10]: Connection refused"})
	j.Append(journal.Event{Kind: journal.KindRelayDeliver, Source: "relay", Peer: "mx2.example.test"})
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx3.example.test", Session: "mx3.example.test#1"})
	if got, want := Attempts(j), []string{"mx1.example.test", "mx2.example.test", "mx3.example.test"}; !slices.Equal(got, want) {
		t.Fatalf("Attempts = %v, want %v", got, want)
	}
	if err := CheckAttemptedInOrder(j, "mx1.example.test", "mx2.example.test"); err != nil {
		t.Fatal(err)
	}
}

// Without reports from the relay, the hosts' own order is all there is.
func TestAttemptsFromTheHostsAlone(t *testing.T) {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx2.example.test", Session: "mx2.example.test#1"})
	j.Append(journal.Event{Kind: journal.KindSMTPRefused, Source: "mx1.example.test"})
	if got, want := Attempts(j), []string{"mx2.example.test", "mx1.example.test"}; !slices.Equal(got, want) {
		t.Fatalf("Attempts = %v, want %v", got, want)
	}
	if err := CheckAttemptedInOrder(j, "mx1.example.test", "mx2.example.test"); err == nil {
		t.Fatal("CheckAttemptedInOrder passed for the wrong order")
	}
}

// dialogue appends one session at host to j: lines are "C: command" or
// "S: reply" as in a transcript.
func dialogue(j *journal.Journal, session string, lines ...string) {
	host, _, _ := strings.Cut(session, "#")
	for _, l := range lines {
		text := l[3:]
		e := journal.Event{Kind: journal.KindSMTPCommand, Source: host, Session: session, Text: text}
		if strings.HasPrefix(l, "S: ") {
			e.Kind = journal.KindSMTPReply
			e.Code, _ = strconv.Atoi(text[:3])
		}
		j.Append(e)
	}
}

// Rule 19 (RFC 3207 §3, §4.2), judged per session from the host's side.
func TestCheckSTARTTLSRules(t *testing.T) {
	ehlo := []string{"C: EHLO relay.test", "S: 250-mx1.example.test", "S: 250-STARTTLS", "S: 250 SIZE"}
	plainEHLO := []string{"C: EHLO relay.test", "S: 250-mx1.example.test", "S: 250 SIZE"}
	tls := []string{"C: STARTTLS", "S: 220 2.0.0 Ready to start TLS"}
	mail := []string{"C: MAIL FROM:<a@origin.test>", "S: 503 5.5.1 EHLO required after STARTTLS"}
	join := func(parts ...[]string) []string { return slices.Concat(parts...) }
	for _, c := range []struct {
		name  string
		lines []string
		want  string // "" for no error
	}{
		{"advertised, then EHLO", join(ehlo, tls, plainEHLO), ""},
		{"not advertised, not used", join(plainEHLO, mail), ""},
		{"HELO only", []string{"C: HELO relay.test", "S: 250 mx1.example.test"}, ""},
		{"not advertised", join(plainEHLO, []string{"C: STARTTLS", "S: 502 5.5.1 TLS not supported"}),
			`session mx1.example.test#1: STARTTLS sent, but the host's EHLO reply did not advertise STARTTLS; the host answered "502 5.5.1 TLS not supported"`},
		{"before any EHLO", tls, "session mx1.example.test#1: STARTTLS sent, but no EHLO came before it"},
		{"advertised by an earlier EHLO only", join(ehlo, plainEHLO, tls), "did not advertise STARTTLS"},
		{"no EHLO after TLS", join(ehlo, tls, mail),
			`session mx1.example.test#1: after STARTTLS (220) the next command was "MAIL FROM:<a@origin.test>", not EHLO; the host answered "503 5.5.1 EHLO required after STARTTLS"`},
		{"HELO after TLS", join(ehlo, tls, []string{"C: HELO relay.test", "S: 250 mx1.example.test"}), `the next command was "HELO relay.test", not EHLO`},
		{"STARTTLS again under TLS", join(ehlo, tls, plainEHLO, tls), "STARTTLS sent, but the host's EHLO reply did not advertise STARTTLS"},
		{"refused STARTTLS, plaintext goes on", join(ehlo, []string{"C: STARTTLS", "S: 454 4.7.0 TLS not available"}, mail), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := journal.New()
			dialogue(j, "mx1.example.test#1", c.lines...)
			// Another host's sessions do not count.
			dialogue(j, "mx2.example.test#1", join(plainEHLO, tls, mail)...)
			err := CheckSTARTTLSRules(j, "mx1.example.test")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// spreadJournal has sessions at hosts, each carrying n messages: the
// keys are "host#session".
func spreadJournal(sessions map[string]int) *journal.Journal {
	j := journal.New()
	for id, n := range sessions {
		host, _, _ := strings.Cut(id, "#")
		j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: host, Session: id})
		for i := range n {
			j.Append(journal.Event{Kind: journal.KindSMTPMessage, Source: host, Session: id,
				Message: &journal.Message{From: "alice@origin.test", To: []string{"user" + strconv.Itoa(i) + "@example.test"}}})
		}
	}
	return j
}

// Spread counts sessions, not messages: a relay that carries 39 messages
// over one session to mx1 and one over a session to mx2 chose twice, once
// each; one that carries all 40 over one session chose once.
func TestCheckSpreadCountsSessions(t *testing.T) {
	hosts := []string{"mx1.example.test", "mx2.example.test"}
	if err := CheckSpread(spreadJournal(map[string]int{"mx1.example.test#1": 39, "mx2.example.test#1": 1}), 1, hosts...); err != nil {
		t.Errorf("one session each: %v", err)
	}
	err := CheckSpread(spreadJournal(map[string]int{"mx1.example.test#1": 40}), 1, hosts...)
	if !errors.Is(err, ErrInconclusive) || !strings.Contains(err.Error(), "mx1.example.test 1 (40 messages), mx2.example.test 0 (0 messages)") {
		t.Errorf("one session for 40 messages: %v, want inconclusive, counting 1 session at mx1", err)
	}
	// 20 sessions, all at mx1: a fair random order does that with
	// probability 1.9e-6, so it fails, and not as inconclusive.
	twenty := map[string]int{}
	for i := range 20 {
		twenty[fmt.Sprintf("mx1.example.test#%d", i+1)] = 2
	}
	err = CheckSpread(spreadJournal(twenty), 1, hosts...)
	if err == nil || errors.Is(err, ErrInconclusive) || !strings.Contains(err.Error(), "mx1.example.test 20 (40 messages)") {
		t.Errorf("20 sessions at mx1: %v, want a failure", err)
	}
	// Many messages over one session do not make up for sessions.
	err = CheckSpread(spreadJournal(map[string]int{"mx1.example.test#1": 3, "mx1.example.test#2": 3, "mx2.example.test#1": 30}), 2, hosts...)
	if err == nil || !strings.Contains(err.Error(), "mx2.example.test 1 (30 messages)") {
		t.Errorf("at_least 2 with one session at mx2: %v, want a failure", err)
	}
	// A session that carried no mail (a probe) is no choice.
	j := spreadJournal(map[string]int{"mx1.example.test#1": 5})
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx2.example.test", Session: "mx2.example.test#1"})
	if CheckSpread(j, 1, hosts...) == nil {
		t.Error("a session without mail counted as a choice")
	}
}
