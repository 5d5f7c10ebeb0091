package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// itemsByLabel indexes a diagram's items by label.
func itemsByLabel(d *diagram) map[string]seqItem {
	m := map[string]seqItem{}
	for _, it := range d.Items {
		m[it.Label] = it
	}
	return m
}

// eventsResult has one event of every kind the diagram draws differently:
// a dropped and a failed DNS answer, a refusal, a failed TLS handshake,
// AUTH with and without TLS, a fault disconnect, a bounce, a control band,
// and a relay.log line that is not drawn.
func eventsResult() Result {
	l := &eventLog{start: t0()}
	sh := "smarthost.example.test"
	l.at(1, journal.Event{Kind: journal.KindDNSQuery, Source: "dns", Fault: "timeout", Text: "MX slow.test. → no answer",
		DNS: &journal.DNS{Name: "slow.test.", Type: "MX", Dropped: true}})
	l.at(2, journal.Event{Kind: journal.KindDNSQuery, Source: "dns", Text: "MX gone.test. → NXDOMAIN",
		DNS: &journal.DNS{Name: "gone.test.", Type: "MX", Rcode: "NXDOMAIN"}})
	l.at(3, journal.Event{Kind: journal.KindSMTPRefused, Source: "mx1.example.test", Fault: "down", Text: "connection refused"})
	l.at(4, journal.Event{Kind: journal.KindSMTPConnect, Source: sh, Session: sh + "#1"})
	l.at(5, journal.Event{Kind: journal.KindSMTPTLS, Source: sh, Session: sh + "#1", Err: "remote error: tls: bad certificate"})
	l.at(6, journal.Event{Kind: journal.KindSMTPAuth, Source: sh, Session: sh + "#1", Auth: &journal.Auth{Mechanism: "PLAIN", User: "relay", OK: true}})
	l.at(7, journal.Event{Kind: journal.KindSMTPAuth, Source: sh, Session: sh + "#1", Auth: &journal.Auth{Mechanism: "LOGIN", User: "relay", OK: false, TLS: true}})
	l.at(8, journal.Event{Kind: journal.KindSMTPDisconnect, Source: sh, Session: sh + "#1", Fault: "drop-after-rcpt"})
	l.at(9, journal.Event{Kind: journal.KindRelayBounce, Source: "relay", Code: 550, Text: "id=1 to=x@gone.test: 550 5.1.2 NXDOMAIN"})
	l.at(10, journal.Event{Kind: journal.KindControl, Source: "harness", Text: "mx1.example.test up"})
	l.at(11, journal.Event{Kind: journal.KindRelayLog, Source: "relay", Text: "not drawn"})
	return Result{Name: "every-kind", Verdict: Pass, Started: t0(),
		Events: l.events, Hosts: []Host{{Name: "MX1.example.test.", Addr: "127.0.5.11:25"}}}
}

func TestDiagramEvents(t *testing.T) {
	d := buildDiagram(eventsResult())

	want := []struct{ label, kind, class string }{
		{"MX slow.test?", "arrow", "dns"},
		{"no answer · fault timeout", "arrow", "err"},
		{"NXDOMAIN", "arrow", "err"},
		{"refused (down)", "arrow", "err"},
		{"connect", "arrow", ""},
		{"TLS failed: remote error: tls: bad certificate", "note", "err"},
		{"AUTH PLAIN relay: ok, without TLS", "note", "warn"},
		{"AUTH LOGIN relay: rejected", "note", "err"},
		{"disconnected (drop-after-rcpt)", "note", "err"},
		{"bounced: id=1 to=x@gone.test: 550 5.1.2 NXDOMAIN", "note", "err"},
		{"mx1.example.test up", "band", "info"},
	}
	got := itemsByLabel(d)
	for _, w := range want {
		it, ok := got[w.label]
		if !ok {
			t.Errorf("no item %q", w.label)
			continue
		}
		if it.Kind != w.kind || it.Class != w.class {
			t.Errorf("%q: kind %s class %q, want %s %q", w.label, it.Kind, it.Class, w.kind, w.class)
		}
	}
	if it := got["no answer · fault timeout"]; it.Cross == "" || it.Head != "" || !it.Dashed {
		t.Errorf("dropped DNS answer is not a dashed arrow with an X: %+v", it)
	}
	if _, ok := got["not drawn"]; ok {
		t.Error("relay.log drawn")
	}
	if len(d.Items) != len(want)+1 { // the MX query of gone.test too
		t.Errorf("%d items, want %d", len(d.Items), len(want)+1)
	}
	// The host from Result.Hosts and the one seen only in events, once each.
	var lanes []string
	for _, ln := range d.Lanes[3:] {
		lanes = append(lanes, ln.Full)
	}
	if strings.Join(lanes, " ") != "mx1.example.test smarthost.example.test" {
		t.Errorf("host lanes = %v", lanes)
	}
	for _, it := range d.Items {
		if it.Kind == "note" && (it.BoxX < gutterW || it.BoxX+it.BoxW > d.Width) {
			t.Errorf("note %q outside the drawing", it.Label)
		}
	}
}

func TestAttemptOutcome(t *testing.T) {
	res := newHostResolver([]Host{{Name: "mx1.example.test", Addr: "127.0.5.11:25"}})
	attempt := journal.Event{Kind: journal.KindRelayAttempt, Remote: "127.0.5.11:25", Text: "mx1.example.test[127.0.5.11]:25 id=1 to=a@example.test"}
	cases := []struct {
		name    string
		events  []journal.Event
		refused bool
		label   string
	}{
		{"nothing follows", []journal.Event{attempt}, true, "refused"},
		{"a session follows", []journal.Event{attempt, {Kind: journal.KindSMTPConnect, Source: "mx1.example.test"}}, false, ""},
		{"timeout logged", []journal.Event{attempt, {Kind: journal.KindRelayLog, Remote: "127.0.5.11:25", Err: "dial tcp: i/o timeout"}}, true, "timeout"},
		{"next attempt first", []journal.Event{attempt, attempt, {Kind: journal.KindSMTPConnect, Source: "mx1.example.test"}}, true, "refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			label, refused := attemptOutcome(c.events, 0, res)
			if refused != c.refused || label != c.label {
				t.Errorf("attemptOutcome = %q %v, want %q %v", label, refused, c.label, c.refused)
			}
		})
	}
}

// TestDiagramGolden pins the SVG of the sequence diagrams, byte for byte:
// the failover run (a refused attempt, a multi-line reply), the greylist
// run (TLS, a 4yz reply, a quiet time, a control band), every kind of
// event, an empty run, and a longer run that repeats the lane names at the
// bottom and has a host only its events name.
func TestDiagramGolden(t *testing.T) {
	long := failoverResult()
	long.Name = "long"
	for i := range bottomHeadsMin {
		long.Events = append(long.Events, journal.Event{Kind: journal.KindSMTPCommand, Source: "MX9.Example.Test.",
			Session: "mx9.example.test#1", Text: fmt.Sprintf("NOOP %d", i), Time: t0().Add(time.Duration(10+i) * time.Millisecond)})
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, "", []Result{failoverResult(), greylistResult(), eventsResult(), errorResult(), long}); err != nil {
		t.Fatal(err)
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>\n`).FindAll(b.Bytes(), -1)
	if len(svgs) != 12 {
		t.Fatalf("%d <svg>, want 12: 4 diagrams, their times and their lane names that stay in view (the error result has none)", len(svgs))
	}
	golden(t, "diagram.golden", bytes.Join(svgs, []byte("\n")))
}

// TestClassify checks what each event of the failover run shows, before
// any layout: lanes by name, not by position.
func TestClassify(t *testing.T) {
	r := failoverResult()
	res := newHostResolver(r.Hosts)
	lanes := diagramLanes(r, res)
	if got := strings.Join(lanes.names, " "); got != "client relay dns mx1.example.test mx2.example.test" {
		t.Errorf("lanes = %s", got)
	}
	if got := strings.Join(lanes.classes, " "); got != "actor actor dns host host" {
		t.Errorf("lane classes = %s", got)
	}
	var got []string
	for _, st := range classify(r.Events, res) {
		if st.Folded {
			got = append(got, "(folded) "+st.Event.Text)
		}
		for _, m := range st.Marks {
			line := fmt.Sprintf("%s %s→%s %q", m.Kind, m.From, m.To, m.Label)
			if m.Class != "" {
				line += " " + m.Class
			}
			if m.Dashed {
				line += " dashed"
			}
			if m.Cross {
				line += " cross"
			}
			got = append(got, line)
		}
	}
	want := []string{
		`arrow client→relay "submit → bob@example.test"`,
		`arrow relay→client "accepted" dashed`,
		`arrow relay→dns "MX example.test?" dns`,
		`arrow dns→relay "NOERROR (2)" dns dashed`,
		`arrow relay→dns "A mx1.example.test?" dns`,
		`arrow dns→relay "NOERROR (1)" dns dashed`,
		`arrow relay→mx1.example.test "connection refused" err cross`,
		`arrow relay→dns "A mx2.example.test?" dns`,
		`arrow dns→relay "NOERROR (1)" dns dashed`,
		`arrow relay→mx2.example.test "connect"`,
		`arrow mx2.example.test→relay "220 mx2.example.test ESMTP mxsim" dashed`,
		`arrow relay→mx2.example.test "EHLO relay.test"`,
		"(folded) 250-mx2.example.test Hello relay.test",
		"(folded) 250-PIPELINING",
		"(folded) 250-8BITMIME",
		`arrow mx2.example.test→relay "250-mx2.example.test Hello relay.test …" dashed`,
		`arrow relay→mx2.example.test "MAIL FROM:<alice@origin.test>"`,
		`arrow mx2.example.test→relay "250 2.0.0 Roger, accepting mail from <a…" dashed`,
		`arrow relay→mx2.example.test "RCPT TO:<bob@example.test>"`,
		`arrow mx2.example.test→relay "250 2.0.0 I'll make sure <bob@example.t…" dashed`,
		`arrow relay→mx2.example.test "DATA"`,
		`arrow mx2.example.test→relay "354 2.0.0 Go ahead. End your data with…" dashed`,
		`note relay→mx2.example.test "message accepted (412 B)" ok`,
		`arrow mx2.example.test→relay "250 2.0.0 OK: queued" dashed`,
		`arrow relay→mx2.example.test "QUIT"`,
		`arrow mx2.example.test→relay "221 2.0.0 Bye" dashed`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("marks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDiagramSubmissions: a client.send draws the submission and its
// client.submit the relay's answer (accepted, or the refusal), matched by
// the submission's headers even when two are in flight; a client.submit
// without a client.send (a journal written before client.send existed,
// or a submission that failed before MAIL) is drawn as one arrow.
func TestDiagramSubmissions(t *testing.T) {
	l := &eventLog{start: t0()}
	msg := func(id string) *journal.Message {
		return &journal.Message{From: "a@origin.test", To: []string{"b@example.test"}, Headers: map[string][]string{"X-Mxsim-Submission": {id}}}
	}
	text := "from a@origin.test to b@example.test"
	l.at(1, journal.Event{Kind: journal.KindClientSend, Source: "client", Text: text, Message: msg("s1")})
	l.at(2, journal.Event{Kind: journal.KindClientSend, Source: "client", Text: text, Message: msg("s2")})
	l.at(3, journal.Event{Kind: journal.KindClientSubmit, Source: "client", Text: text, Message: msg("s2"), Code: 550,
		Err: "harness: submit to 127.0.5.2:2525: RCPT TO:<b@example.test>: SMTP error 550 5.7.1: relaying denied"})
	l.at(4, journal.Event{Kind: journal.KindClientSubmit, Source: "client", Text: text, Message: msg("s1")})
	l.at(5, journal.Event{Kind: journal.KindClientSubmit, Source: "client", Text: text, Message: msg("s3"), Code: 535,
		Err: "harness: submit to 127.0.5.2:2525: AUTH as u: SMTP error 535 5.7.8: bad credentials"})
	l.at(6, journal.Event{Kind: journal.KindClientSend, Source: "client", Text: text, Message: msg("s4")})
	l.at(7, journal.Event{Kind: journal.KindClientSubmit, Source: "client", Text: text, Message: msg("s4"),
		Err: "harness: submit to 127.0.5.2:2525: end of data: EOF"})
	var got []string
	for _, st := range classify(l.events, newHostResolver(nil)) {
		for _, m := range st.Marks {
			got = append(got, fmt.Sprintf("%s→%s %q %s %v", m.From, m.To, m.Label, m.Class, m.Dashed))
		}
	}
	want := []string{
		`client→relay "submit → b@example.test"  false`,
		`client→relay "submit → b@example.test"  false`,
		`relay→client "550 5.7.1: relaying denied" err true`,
		`relay→client "accepted"  true`,
		`client→relay "submit → b@example.test ✗" err false`,
		`client→relay "submit → b@example.test"  false`,
		`relay→client "failed: EOF" err true`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("marks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
