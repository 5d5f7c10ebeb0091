package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// What a long-running sandbox keeps: the journal's limits, seen through
// the API.

// limited returns the demo network with a bounded journal.
func limited(l journal.Limits) harness.Config {
	cfg := Demo()
	cfg.JournalLimits = l
	return cfg
}

// submitN sends n small messages to mx1.example.test, one session each,
// with subjects "1" to "n", and waits until every session has ended.
func (f *fixture) submitN(n int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := f.env.Host("mx1.example.test").Addr()
	for i := 1; i <= n; i++ {
		// The host journals a session's end after the client has read
		// 221: wait for it before the next, so that no event of an
		// earlier session lands later. (With a bounded journal the
		// connect of an old session may be dropped already, and a wait
		// for "every session seen to connect has ended" would miss it.)
		var last int64
		if evs := f.env.Journal().Events(); len(evs) > 0 {
			last = evs[len(evs)-1].Seq
		}
		err := harness.Submit(ctx, addr, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"},
			Subject: fmt.Sprint(i), Body: "message " + fmt.Sprint(i) + "\r\n"})
		if err != nil {
			f.t.Fatalf("submit %d: %v", i, err)
		}
		f.waitJournal(fmt.Sprintf("the end of session %d", i), func(evs []journal.Event) bool {
			return slices.ContainsFunc(evs, func(e journal.Event) bool { return e.Kind == journal.KindSMTPDisconnect && e.Seq > last })
		})
	}
}

// TestMessagesKeepsTheLastN is the must-show of the memory issue: with a
// limit of N messages, the sandbox holds N after N+100, and says it
// dropped 100.
func TestMessagesKeepsTheLastN(t *testing.T) {
	const keep = 5
	f := newFixtureWith(t, limited(journal.Limits{MaxMessages: keep}), Config{})
	f.submitN(keep + 100)

	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	if len(list.Messages) != keep || list.Dropped != 100 {
		t.Fatalf("%d messages listed, %d dropped; want %d and 100", len(list.Messages), list.Dropped, keep)
	}
	for i, m := range list.Messages {
		if want := fmt.Sprint(101 + i); m.Subject != want {
			t.Errorf("message %d has subject %q, want %q (the newest are kept)", i, m.Subject, want)
		}
	}
	newest := list.Messages[keep-1]
	if status, raw := f.do("GET", newest.EML, "", nil); status != http.StatusOK || !strings.Contains(string(raw), "message 105") {
		t.Errorf("GET %s: %d %q", newest.EML, status, raw)
	}

	// The oldest message's event is still in the journal, without its bytes.
	oldest := f.env.Journal().Events(isMessage)[0]
	if !oldest.Message.RawDropped || oldest.Message.Raw != nil || oldest.Message.Size == 0 {
		t.Fatalf("oldest message %+v: want its envelope and size without its bytes", oldest.Message)
	}
	f.wantError(http.StatusGone, "bytes were dropped", "GET", "/api/messages/"+itoa(oldest.Seq), "", nil)
	f.wantError(http.StatusGone, "the bytes of the last 5 messages", "GET", "/api/messages/"+itoa(oldest.Seq)+".eml", "", nil)

	var info infoJSON
	f.want(http.StatusOK, &info, "GET", "/api/info", "", nil)
	if info.Limits.MaxMessages != keep || info.Dropped.Raw != 100 || info.Dropped.Events != 0 {
		t.Errorf("info: limits %+v, dropped %+v; want max_messages %d, 100 raw dropped", info.Limits, info.Dropped, keep)
	}
}

// TestJournalDroppedMarker: past MaxEvents the API's journal, its live
// stream and the message list say what was dropped.
func TestJournalDroppedMarker(t *testing.T) {
	const max = 40 // a few SMTP sessions
	f := newFixtureWith(t, limited(journal.Limits{MaxEvents: max}), Config{})
	f.submitN(10)
	j := f.env.Journal()
	dropped := j.Dropped()
	if dropped.Events == 0 || dropped.Messages == 0 {
		t.Fatalf("Dropped() = %+v after 10 sessions: want events and messages dropped", dropped)
	}

	var evs []eventJSON
	f.want(http.StatusOK, &evs, "GET", "/api/journal", "", nil)
	if len(evs) != max+1 {
		t.Fatalf("/api/journal: %d events, want the marker and %d", len(evs), max)
	}
	m := evs[0]
	if m.Kind != journal.KindDropped || m.Seq != dropped.Events || m.Dropped == nil || *m.Dropped != dropped {
		t.Fatalf("/api/journal begins with %+v, want a %s event at seq %d with %+v", m, journal.KindDropped, dropped.Events, dropped)
	}
	if evs[1].Seq != m.Seq+1 {
		t.Errorf("after the marker at %d comes seq %d", m.Seq, evs[1].Seq)
	}

	// A reader that comes back from a dropped seq is told what it missed.
	f.want(http.StatusOK, &evs, "GET", "/api/journal?since=3", "", nil)
	if want := fmt.Sprintf("%d events dropped (seq 4 to %d)", m.Seq-3, m.Seq); evs[0].Kind != journal.KindDropped || !strings.Contains(evs[0].Text, want) {
		t.Errorf("/api/journal?since=3 begins with %+v, want %q", evs[0], want)
	}
	f.want(http.StatusOK, &evs, "GET", "/api/journal?since="+itoa(m.Seq), "", nil)
	if len(evs) != max || evs[0].Seq != m.Seq+1 {
		t.Errorf("/api/journal?since=%d: %d events from %d, want %d from %d and no marker", m.Seq, len(evs), evs[0].Seq, max, m.Seq+1)
	}

	// The live stream begins with it too.
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	resp, sse := openEvents(t, f, ctx, "?since=0", nil)
	defer resp.Body.Close()
	id, data, err := sse.next()
	if err != nil || id != itoa(m.Seq) || !strings.Contains(data, `"kind":"journal.dropped"`) {
		t.Errorf("first streamed event: id %s, %s, %v; want the marker at %d", id, data, err, m.Seq)
	}

	// The messages whose events are gone are counted, not listed.
	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	if list.Dropped != dropped.Messages || int64(len(list.Messages))+list.Dropped != 10 {
		t.Errorf("messages: %d listed, %d dropped; want %d dropped and 10 in all", len(list.Messages), list.Dropped, dropped.Messages)
	}
	f.wantError(http.StatusGone, "dropped with the oldest journal events", "GET", "/api/messages/1.eml", "", nil)
	if list.Messages[0].Seq <= m.Seq {
		t.Errorf("listed message %d is at or below the marker %d", list.Messages[0].Seq, m.Seq)
	}
}

// TestLargeMessage: the JSON of a large message carries the first MiB of
// its body and text, says it is truncated, and is much smaller than the
// message; its .eml is the bytes as received, whole, with their length.
func TestLargeMessage(t *testing.T) {
	f := newFixture(t, Config{})
	line := strings.Repeat("0123456789", 7) + "abcd\r\n" // 76 bytes
	body := strings.Repeat(line, (8<<20)/len(line))      // 8 MiB
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := harness.Submit(ctx, f.env.Host("mx1.example.test").Addr(), harness.Message{
		From: "alice@origin.test", To: []string{"bob@example.test"}, Subject: "large", Body: body})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	e := f.waitEvent("the message", isMessage)
	f.waitSessionsEnded()

	status, data := f.do("GET", "/api/messages/"+itoa(e.Seq), "", nil)
	var d messageDetailJSON
	if err := json.Unmarshal(data, &d); status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/messages/%d: %d, %v", e.Seq, status, err)
	}
	// Cut at maxShown bytes as received, then shown with LF for CRLF.
	lf := strings.ReplaceAll(body, "\r\n", "\n")
	for name, shown := range map[string]string{"body": d.Body, "text": d.Text} {
		if len(shown) > maxShown || len(shown) < maxShown*9/10 || !strings.HasPrefix(lf, shown) {
			t.Errorf("%s: %d bytes, want the start of the body sent, cut at about %d", name, len(shown), maxShown)
		}
	}
	if !d.Truncated {
		t.Error("truncated is false")
	}
	if d.Size != len(e.Message.Raw) || d.Parts[0].Size < len(body)-len(line) {
		t.Errorf("size %d, part %+v: want the whole message's (%d)", d.Size, d.Parts, len(e.Message.Raw))
	}
	if len(data) > 3*maxShown {
		t.Errorf("the JSON is %d bytes for a message of %d", len(data), len(e.Message.Raw))
	}

	req, _ := http.NewRequest("GET", "http://"+f.srv.Addr()+d.EML, nil)
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(raw, e.Message.Raw) || !strings.HasSuffix(string(raw), body) {
		t.Fatalf("GET %s: %d, %d bytes, %v; want the %d bytes received, ending with the body sent", d.EML, resp.StatusCode, len(raw), err, len(e.Message.Raw))
	}
	if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(raw)) || resp.Header.Get("Content-Type") != "message/rfc822" {
		t.Errorf("Content-Length %q, Content-Type %q", cl, resp.Header.Get("Content-Type"))
	}
	req.Header.Set("Range", "bytes=100-199")
	resp, err = f.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, e.Message.Raw[100:200]) {
		t.Errorf("Range bytes=100-199: %d, %q", resp.StatusCode, part)
	}
}

func TestSplitMessage(t *testing.T) {
	big := strings.Repeat("x", maxShown+10)
	for _, c := range []struct {
		name, raw string
		headers   []headerJSON
		body      string
		cut       bool
	}{
		{"CRLF", "Subject: a\r\nX-Long: one\r\n two\r\n\r\nbody\r\n", []headerJSON{{"Subject", "a"}, {"X-Long", "one two"}}, "body\n", false},
		{"LF", "Subject: a\n\nbody\n\nmore\n", []headerJSON{{"Subject", "a"}}, "body\n\nmore\n", false},
		{"no empty line", "Subject: a\r\n", []headerJSON{{"Subject", "a"}}, "", false},
		{"no header", "\r\nbody", []headerJSON{}, "body", false},
		{"body over the cut", "Subject: a\r\n\r\n" + big, []headerJSON{{"Subject", "a"}}, big[:maxShown], true},
	} {
		h, b, cut := splitMessage([]byte(c.raw))
		if fmt.Sprint(h) != fmt.Sprint(c.headers) || b != c.body || cut != c.cut {
			t.Errorf("%s: headers %v, body of %d bytes, cut %v; want %v, %d bytes, %v", c.name, h, len(b), cut, c.headers, len(c.body), c.cut)
		}
	}
}
