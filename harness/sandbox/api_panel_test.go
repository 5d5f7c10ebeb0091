package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// TestSchema: the page's behaviour form is built from the scenario
// schema; every part of a behaviour is a property of the definition it
// names, so a part added to scenarios.Behavior shows up on the page.
func TestSchema(t *testing.T) {
	f := newFixture(t, Config{})
	var got struct {
		Behavior string   `json:"behavior"`
		Keys     []string `json:"keys"`
		Schema   struct {
			Defs map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"$defs"`
		} `json:"schema"`
	}
	f.want(http.StatusOK, &got, "GET", "/api/schema", "", nil)
	if got.Behavior != "#/$defs/Host" || !slices.Equal(got.Keys, scenarios.BehaviorKeys()) {
		t.Fatalf("schema: behavior %q, keys %v; want #/$defs/Host and %v", got.Behavior, got.Keys, scenarios.BehaviorKeys())
	}
	props := got.Schema.Defs["Host"].Properties
	for _, k := range got.Keys {
		if props[k] == nil {
			t.Errorf("behaviour part %q is no property of the schema's Host", k)
		}
	}
	for _, k := range []string{"state", "replies", "delays", "greylist", "tls", "auth", "limits"} {
		if !slices.Contains(got.Keys, k) {
			t.Errorf("keys %v lack %q", got.Keys, k)
		}
	}
	// The enums come from the Go types' Values().
	_, body := f.do("GET", "/api/schema", "", nil)
	for _, v := range fakesmtp.State("").Values() {
		if !strings.Contains(string(body), `"`+string(v)+`"`) {
			t.Errorf("schema lacks state %q", v)
		}
	}
}

// TestFaultNamesChecked: a bad name is refused with a 400 that says
// what is wrong with it, on every path that takes one.
func TestFaultNamesChecked(t *testing.T) {
	f := newFixture(t, Config{})
	for _, name := range []string{"bad name!", "bad name!.example.test", "a..example.test", "-x.example.test"} {
		f.wantError(http.StatusBadRequest, "bad domain name", "POST", "/api/faults", ctJSON, map[string]any{"name": name, "kind": "servfail"})
		f.wantError(http.StatusBadRequest, "bad domain name", "DELETE", "/api/faults?name="+strings.ReplaceAll(name, " ", "%20"), "", nil)
	}
	f.wantError(http.StatusBadRequest, "empty domain name", "DELETE", "/api/faults?name=", "", nil)
	f.wantError(http.StatusBadRequest, "want a record type", "DELETE", "/api/faults?name=example.test&type=M%20X", "", nil)
	if fs := f.env.DNS().Faults(); len(fs) != 0 {
		t.Fatalf("faults after bad requests: %+v", fs)
	}
	// A good name still works, and is stored as scenarios write it.
	f.want(http.StatusCreated, nil, "POST", "/api/faults", ctJSON, map[string]any{"name": "Example.Test", "kind": "servfail", "type": "mx"})
	if fs := f.env.DNS().Faults(); len(fs) != 1 || fs[0].Name != "example.test." {
		t.Fatalf("faults: %+v", fs)
	}
	f.want(http.StatusOK, nil, "DELETE", "/api/faults?name=example.test.&type=MX", "", nil)
}

// submitDirect submits m to the demo's smarthost and waits for the
// session to end.
func (f *fixture) submitDirect(m harness.Message) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	m.StartTLS, m.User, m.Password = true, DemoUser, DemoPassword
	if err := harness.Submit(ctx, f.env.Host(DemoSmarthost).Addr(), m); err != nil {
		f.t.Fatalf("submit: %v", err)
	}
	f.waitSessionsEnded()
}

// TestSessionIDsInPaths: a session's path writes its '#' as '~'; the
// %23 of older links still works.
func TestSessionIDsInPaths(t *testing.T) {
	f := newFixture(t, Config{})
	f.submitDirect(harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}})
	var sessions []sessionJSON
	f.want(http.StatusOK, &sessions, "GET", "/api/sessions", "", nil)
	if len(sessions) != 1 || !strings.Contains(sessions[0].ID, "#") {
		t.Fatalf("sessions: %+v", sessions)
	}
	s := sessions[0]
	want := "/api/sessions/" + strings.ReplaceAll(s.ID, "#", "~") + "/transcript"
	if s.Transcript != want || s.Path != strings.ReplaceAll(s.ID, "#", "~") || strings.ContainsAny(s.Transcript, "#%") {
		t.Fatalf("session paths: %+v, want transcript %s", s, want)
	}
	for _, p := range []string{s.Transcript, "/api/sessions/" + strings.ReplaceAll(s.ID, "#", "%23") + "/transcript"} {
		var tr struct {
			Session string   `json:"session"`
			Lines   []string `json:"lines"`
		}
		f.want(http.StatusOK, &tr, "GET", p, "", nil)
		if tr.Session != s.ID || len(tr.Lines) == 0 {
			t.Fatalf("GET %s: %+v", p, tr)
		}
	}
	f.wantError(http.StatusNotFound, "no such session", "GET", "/api/sessions/nope.test~1/transcript", "", nil)
}

// TestMessageSearchAndDelete: ?q= finds messages by subject, sender,
// recipient and text, in any case; a deleted message is neither listed,
// found nor served.
func TestMessageSearchAndDelete(t *testing.T) {
	f := newFixture(t, Config{})
	f.submitDirect(harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, Subject: "Invoice 42", Body: "please pay\r\n"})
	f.submitDirect(harness.Message{From: "carol@origin.test", To: []string{"dave@shop.example"}, Subject: "lunch",
		Headers: map[string]string{"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "quoted-printable"},
		Body:    "caf=C3=A9 at noon\r\n"})
	search := func(q string) []string {
		t.Helper()
		var list messageListJSON
		f.want(http.StatusOK, &list, "GET", "/api/messages?q="+q, "", nil)
		var subjects []string
		for _, m := range list.Messages {
			subjects = append(subjects, m.Subject)
		}
		return subjects
	}
	for q, want := range map[string][]string{
		"invoice": {"Invoice 42"}, "CAROL": {"lunch"}, "shop.example": {"lunch"}, "PAY": {"Invoice 42"},
		"caf%C3%A9": {"lunch"}, "origin.test": {"Invoice 42", "lunch"}, "nothing-like-this": nil, "": {"Invoice 42", "lunch"},
	} {
		if got := search(q); !slices.Equal(got, want) {
			t.Errorf("q=%s: %v, want %v", q, got, want)
		}
	}
	f.wantError(http.StatusBadRequest, "at most", "GET", "/api/messages?q="+strings.Repeat("x", maxQuery+1), "", nil)

	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	first := itoa(list.Messages[0].Seq)
	f.want(http.StatusOK, nil, "DELETE", "/api/messages/"+first, "", nil)
	f.wantError(http.StatusNotFound, "no such message", "GET", "/api/messages/"+first, "", nil)
	f.wantError(http.StatusNotFound, "no such message", "GET", "/api/messages/"+first+".eml", "", nil)
	f.wantError(http.StatusNotFound, "no such message", "DELETE", "/api/messages/"+first, "", nil)
	f.wantError(http.StatusBadRequest, "sequence number", "DELETE", "/api/messages/x", "", nil)
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	if len(list.Messages) != 1 || list.Messages[0].Subject != "lunch" || list.Deleted != 1 {
		t.Fatalf("after delete: %+v", list)
	}
	if got := search("invoice"); got != nil {
		t.Fatalf("search finds a deleted message: %v", got)
	}
	var n map[string]int
	f.want(http.StatusOK, &n, "DELETE", "/api/messages", "", nil)
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	if n["deleted"] != 1 || len(list.Messages) != 0 || list.Deleted != 2 {
		t.Fatalf("after deleting all (%v): %+v", n, list)
	}
}

// TestHTMLAndAttachments: the HTML part is served for a sandboxed frame
// (CSP sandbox, no script, nothing fetched); a part is served as a
// download of bytes, never as a page of the sandbox's origin.
func TestHTMLAndAttachments(t *testing.T) {
	f := newFixture(t, Config{})
	html := `<p onclick="alert(1)">hi <b>there</b></p><script>alert(2)</script><img src="https://tracker.example/x.png">`
	f.want(http.StatusOK, nil, "POST", "/api/send", ctJSON, map[string]any{
		"host": DemoSmarthost, "user": DemoUser, "password": DemoPassword,
		"from": "alice@origin.test", "to": []string{"bob@example.test"}, "subject": "Grüße in HTML",
		"text": "hi there", "html": html, "attachment": map[string]string{"name": "evil.html", "content": "<script>alert(3)</script>"},
	})
	f.waitSessionsEnded()
	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	if len(list.Messages) != 1 || list.Messages[0].Subject != "Grüße in HTML" {
		t.Fatalf("messages: %+v", list)
	}
	seq := itoa(list.Messages[0].Seq)
	var d messageDetailJSON
	f.want(http.StatusOK, &d, "GET", "/api/messages/"+seq, "", nil)
	if d.Text != "hi there" || d.HTML != "/api/messages/"+seq+"/html" || len(d.Parts) != 3 || d.Parts[2].Filename != "evil.html" {
		t.Fatalf("message: text %q, html %q, parts %+v", d.Text, d.HTML, d.Parts)
	}

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := f.http.Get("http://" + f.srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp, b.String()
	}
	resp, body := get(d.HTML)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || body != html || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "allow-scripts") ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET %s: %d %v %q", d.HTML, resp.StatusCode, resp.Header, body)
	}
	resp, body = get(d.Parts[2].URL)
	if resp.StatusCode != http.StatusOK || body != "<script>alert(3)</script>" || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(resp.Header.Get("Content-Disposition"), "evil.html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("GET %s: %d %v %q", d.Parts[2].URL, resp.StatusCode, resp.Header, body)
	}
	f.wantError(http.StatusNotFound, "no part 3", "GET", "/api/messages/"+seq+"/parts/3", "", nil)
	f.wantError(http.StatusBadRequest, "want its number", "GET", "/api/messages/"+seq+"/parts/-1", "", nil)
	f.wantError(http.StatusBadRequest, "want its number", "GET", "/api/messages/"+seq+"/parts/x", "", nil)

	// A message without HTML has no preview.
	f.submitDirect(harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, Body: "plain\r\n"})
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	f.wantError(http.StatusNotFound, "no HTML part", "GET", "/api/messages/"+itoa(list.Messages[1].Seq)+"/html", "", nil)
}

// TestSendChecks: the bad forms of a test message are refused before
// anything is sent; with no relay, the message needs a host.
func TestSendChecks(t *testing.T) {
	f := newFixture(t, Config{})
	msg := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"from": "alice@origin.test", "to": []string{"bob@example.test"}, "subject": "s", "text": "t"}
		mod(m)
		return m
	}
	for _, tc := range []struct {
		status int
		substr string
		body   any
	}{
		{http.StatusBadRequest, "want at least one recipient", msg(func(m map[string]any) { delete(m, "to") })},
		{http.StatusBadRequest, `to "bob": want local@domain`, msg(func(m map[string]any) { m["to"] = []string{"bob"} })},
		{http.StatusBadRequest, `from "a b@x.test": want local@domain`, msg(func(m map[string]any) { m["from"] = "a b@x.test" })},
		{http.StatusBadRequest, "subject: must be one line", msg(func(m map[string]any) { m["subject"] = "a\r\nBcc: x@y.test" })},
		{http.StatusBadRequest, "attachment: name", msg(func(m map[string]any) { m["attachment"] = map[string]string{"name": "../x", "content": "y"} })},
		{http.StatusBadRequest, "unknown field", msg(func(m map[string]any) { m["cc"] = "x@y.test" })},
		{http.StatusBadRequest, `host "nope.test": no such host`, msg(func(m map[string]any) { m["host"] = "nope.test" })},
		{http.StatusConflict, "no relay under test", msg(func(m map[string]any) {})},
		{http.StatusBadGateway, "530", msg(func(m map[string]any) { m["host"] = DemoSmarthost })}, // AUTH required
	} {
		f.wantError(tc.status, tc.substr, "POST", "/api/send", ctJSON, tc.body)
	}
	if n := len(f.env.Journal().Events(journal.OfKind(journal.KindSMTPMessage))); n != 0 {
		t.Fatalf("%d messages accepted after bad requests", n)
	}
}

// TestQueueAndSendThroughRelay: a test message sent from the page goes
// through the relay; while its host refuses it, the relay's queue lists
// it with the host's reply in full.
func TestQueueAndSendThroughRelay(t *testing.T) {
	f := newFixture(t, Config{})
	f.wantError(http.StatusConflict, "no relay under test", "GET", "/api/queue", "", nil)

	cfg := Demo()
	cfg.Relay = harness.Reference(harness.ReferenceConfig{Hostname: "relay.test", RetryInterval: time.Hour})
	f = newFixtureWith(t, cfg, Config{})
	var q queueJSON
	f.want(http.StatusOK, &q, "GET", "/api/queue", "", nil)
	if len(q.Messages) != 0 || q.Relay != f.env.Relay().Submission().Addr {
		t.Fatalf("queue at start: %+v", q)
	}
	long := "451 4.3.0 " + strings.Repeat("a long reason that a page must not cut ", 4) + "end"
	for _, h := range []string{"mx1.example.test", "mx2.example.test", "mx3.example.test"} {
		f.want(http.StatusOK, nil, "PATCH", "/api/hosts/"+h, ctJSON, map[string]any{"replies": map[string]any{"rcpt": long}})
	}
	f.want(http.StatusOK, nil, "POST", "/api/send", ctJSON, map[string]any{"from": "alice@origin.test", "to": []string{"bob@example.test"}, "subject": "queued"})
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	if err := f.env.Wait(ctx, settle, func(j *journal.Journal) error {
		if len(j.Events(journal.OfKind(journal.KindRelayDefer))) == 0 {
			return errors.New("not deferred yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.want(http.StatusOK, &q, "GET", "/api/queue", "", nil)
	if len(q.Messages) != 1 || q.Messages[0].From != "alice@origin.test" || q.Messages[0].Attempts != 1 || q.Messages[0].Queue != "deferred" ||
		len(q.Messages[0].To) != 1 || q.Messages[0].To[0].To != "bob@example.test" || !strings.Contains(q.Messages[0].To[0].Reason, "end") {
		t.Fatalf("queue: %+v; want the message deferred with the reason %q whole", q, long)
	}
	if subs := harness.Submissions(f.env.Journal()); len(subs) != 1 {
		t.Fatalf("submissions journaled: %+v", subs)
	}
}
