package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

func TestNewRejectsBadConfig(t *testing.T) {
	env := harness.Start(t, harness.Config{Hosts: []harness.Host{{Name: "mx.example.test"}}})
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no env", Config{}, "no environment"},
		{"no port", Config{Env: env, Listen: "127.0.0.1"}, "want host:port"},
		{"bad port", Config{Env: env, Listen: "127.0.0.1:99999"}, "bad port"},
		{"named port", Config{Env: env, Listen: "127.0.0.1:http"}, "bad port"},
		{"host name", Config{Env: env, Listen: "sandbox.example:0"}, "IP address or localhost"},
		{"all interfaces without token", Config{Env: env, Listen: ":0"}, "beyond loopback: a token is required"},
		{"public address without token", Config{Env: env, Listen: "192.0.2.1:0"}, "beyond loopback: a token is required"},
		{"token with blank", Config{Env: env, Token: "a b"}, "token"},
		{"weak token", Config{Env: env, Token: "a"}, "token: 1 characters, want at least 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("New accepted the config")
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrConfig containing %q", err, tc.want)
			}
		})
	}
	t.Run("address in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		s, err := New(Config{Env: env, Listen: ln.Addr().String()})
		if err == nil {
			s.Close()
			t.Fatal("New bound an address in use")
		}
		if errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), ln.Addr().String()) {
			t.Fatalf("error %q: want a listen error naming the address", err)
		}
	})
}

func TestHosts(t *testing.T) {
	f := newFixture(t, Config{})
	var hosts []hostJSON
	f.want(http.StatusOK, &hosts, "GET", "/api/hosts", "", nil)
	if len(hosts) != len(Demo().Hosts) || hosts[0].Name != "mx1.example.test" || hosts[0].State != fakesmtp.Up {
		t.Fatalf("hosts: %+v", hosts)
	}
	var h hostJSON
	f.want(http.StatusOK, &h, "GET", "/api/hosts/MX2.example.test.", "", nil)
	if h.Behavior == nil || h.Behavior.Greylist == nil || h.Behavior.Greylist.Window != DemoGreylistWindow || !strings.Contains(h.Summary, "greylist 30s") {
		t.Fatalf("mx2: %+v", h)
	}
	f.wantError(http.StatusNotFound, `"nope.example.test": no such host`, "GET", "/api/hosts/nope.example.test", "", nil)

	// Down: the host refuses connections, over a real socket, and the
	// change is in the journal.
	addr := f.env.Host("mx1.example.test").Addr()
	f.want(http.StatusOK, &h, "POST", "/api/hosts/mx1.example.test/down", "", nil)
	if h.State != fakesmtp.Down {
		t.Fatalf("after down: state %q", h.State)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("mx1 is down but %s accepts connections", addr)
	}
	f.waitEvent("the control event for down", isControl("mx1.example.test: state down"))
	f.want(http.StatusOK, &h, "POST", "/api/hosts/mx1.example.test/up", "", nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("mx1 is up but: %v", err)
	}
	c.Close()
	f.want(http.StatusOK, &h, "POST", "/api/hosts/mx1.example.test/disconnect", "", nil)
	f.waitEvent("the control event for disconnect", isControl("mx1.example.test: client connections closed"))
	f.wantError(http.StatusNotFound, `unknown action "sideways"`, "POST", "/api/hosts/mx1.example.test/sideways", "", nil)
	f.wantError(http.StatusNotFound, "no such host", "POST", "/api/hosts/nope.test/down", "", nil)
}

func TestPatchHost(t *testing.T) {
	f := newFixture(t, Config{})
	const path = "/api/hosts/mx1.example.test"
	var h hostJSON
	f.want(http.StatusOK, &h, "PATCH", path, ctJSON, `{"greylist": {"window": "45s"}, "delays": {"rcpt": "10ms"}}`)
	if g := h.Behavior.Greylist; g == nil || g.Window != 45*time.Second || h.Behavior.Delays.Rcpt != 10*time.Millisecond {
		t.Fatalf("after patch: %+v", h.Behavior)
	}
	if got := f.env.Host("mx1.example.test").Behavior(); got.Greylist == nil || got.Greylist.Window != 45*time.Second {
		t.Fatalf("host behaviour not changed: %+v", got)
	}
	// A part given replaces the host's part of that name, as in a set
	// step; the parts not given stay. YAML is taken too.
	f.want(http.StatusOK, &h, "PATCH", path, ctYAML, "greylist: {window: 1s}\nreplies: {rcpt: \"452 4.2.2 full\"}\n")
	if h.Behavior.Greylist.Window != time.Second || h.Behavior.Delays.Rcpt != 10*time.Millisecond || h.Behavior.Replies.Rcpt[0].Reply.Code != 452 {
		t.Fatalf("after second patch: %+v", h.Behavior)
	}

	// clear puts parts back to normal, before the parts given apply; the
	// body's host, when given, is the path's.
	f.want(http.StatusOK, &h, "PATCH", path, ctJSON, `{"host": "MX1.example.test.", "clear": ["greylist", "replies"], "state": "down"}`)
	if h.Behavior.Greylist != nil || h.Behavior.Replies != nil || h.State != fakesmtp.Down || h.Behavior.Delays.Rcpt != 10*time.Millisecond {
		t.Fatalf("after clear: %+v", h)
	}
	f.wantError(http.StatusBadRequest, "the body's host is mx2.example.test", "PATCH", path, ctJSON, `{"host": "mx2.example.test", "state": "up"}`)
	f.wantError(http.StatusNotFound, "no such host", "PATCH", "/api/hosts/nope.test", ctJSON, `{"state": "up"}`)

	// PUT replaces the whole behaviour: what it leaves out is normal.
	f.want(http.StatusOK, &h, "PUT", path, ctJSON, `{"tls": {"cert": "expired"}}`)
	if h.State != fakesmtp.Up || h.Behavior.Delays != nil || h.Behavior.TLS.StartTLS != fakesmtp.TLSOffered {
		t.Fatalf("after put: %+v", h)
	}
	f.want(http.StatusOK, &h, "PUT", path, ctJSON, `{}`)
	if got := f.env.Host("mx1.example.test").Behavior(); !reflect.DeepEqual(got, fakesmtp.Behavior{State: fakesmtp.Up}) {
		t.Fatalf("after PUT {}: %+v", got)
	}
}

func TestZonesAndRecords(t *testing.T) {
	f := newFixture(t, Config{})
	var zones []zoneRead
	f.want(http.StatusOK, &zones, "GET", "/api/zones", "", nil)
	i := slices.IndexFunc(zones, func(z zoneRead) bool { return z.Name == "example.test" })
	if i < 0 {
		t.Fatalf("no example.test in %+v", zones)
	}
	var prefs []int
	for _, mx := range zones[i].MX {
		prefs = append(prefs, mx.Pref)
	}
	if !slices.Equal(prefs, []int{10, 20, 30}) || zones[i].MX[0].Host != "mx1.example.test" || zones[i].MX[0].Owner != "example.test" {
		t.Fatalf("example.test MX: %+v", zones[i].MX)
	}
	// The zone as a scenario writes it: no SOA and NS that fakedns made up.
	const demo = `{"mx":[{"pref":10,"host":"mx1.example.test"},{"pref":20,"host":"mx2.example.test"},{"pref":30,"host":"mx3.example.test"}],"txt":["v=spf1 -all"]}`
	if got := compact(t, zones[i].Zone); got != demo {
		t.Fatalf("example.test zone = %s\nwant %s", got, demo)
	}
	f.wantError(http.StatusNotFound, "no such zone", "GET", "/api/zones/nope.test", "", nil)

	// PUT replaces the MX set: the fake DNS answers the new one.
	var z zoneRead
	f.want(http.StatusOK, &z, "PUT", "/api/zones/example.test/records", ctJSON,
		map[string]any{"name": "@", "type": "MX", "records": []string{"MX 5 mx3.example.test.", "MX 50 mx1.example.test."}})
	if got := lookupMX(t, f.env, "example.test"); !slices.Equal(got, []string{"5 mx3.example.test.", "50 mx1.example.test."}) {
		t.Fatalf("MX after PUT: %v", got)
	}
	f.waitEvent("the control event for the MX change", isControl("set example.test. MX"))
	// One bad record: nothing changes.
	f.wantError(http.StatusBadRequest, "bad record", "PUT", "/api/zones/example.test/records", ctJSON,
		map[string]any{"name": "example.test", "type": "MX", "records": []string{"MX 10 mx2.example.test.", "MX ten x."}})
	f.wantError(http.StatusBadRequest, "not of type MX", "PUT", "/api/zones/example.test/records", ctJSON,
		map[string]any{"name": "example.test", "type": "MX", "records": []string{"A 127.0.0.1"}})
	f.wantError(http.StatusBadRequest, "type: missing", "PUT", "/api/zones/example.test/records", ctJSON,
		map[string]any{"name": "example.test", "records": []string{"MX 10 mx2.example.test."}})
	f.wantError(http.StatusBadRequest, "outside zone", "PUT", "/api/zones/example.test/records", ctJSON,
		map[string]any{"name": "shop.example.", "type": "MX", "records": []string{"MX 10 mx2.example.test."}})
	f.wantError(http.StatusBadRequest, `unknown field "recods"`, "PUT", "/api/zones/example.test/records", ctJSON,
		`{"name": "@", "type": "MX", "recods": []}`)
	f.wantError(http.StatusUnsupportedMediaType, "content type", "PUT", "/api/zones/example.test/records", "text/plain", `{}`)
	f.wantError(http.StatusNotFound, "no such zone", "PUT", "/api/zones/nope.test/records", ctJSON, `{"type": "MX"}`)
	if got := lookupMX(t, f.env, "example.test"); !slices.Equal(got, []string{"5 mx3.example.test.", "50 mx1.example.test."}) {
		t.Fatalf("MX changed by a bad request: %v", got)
	}

	// POST adds one record; a relative name is inside the zone.
	f.want(http.StatusCreated, &z, "POST", "/api/zones/example.test/records", ctJSON, map[string]any{"name": "www", "record": "A 127.0.0.99"})
	if got := f.parseZone(z).Records; len(got) != 1 || got[0].Name != "www.example.test" || !slices.Equal(got[0].Records, []string{"A 127.0.0.99"}) {
		t.Fatalf("www after POST: %s", z.Zone)
	}
	f.wantError(http.StatusBadRequest, "record: missing", "POST", "/api/zones/example.test/records", ctJSON, map[string]any{"name": "www"})
	f.wantError(http.StatusBadRequest, "bad record", "POST", "/api/zones/example.test/records", ctJSON, map[string]any{"name": "www", "record": "A not-an-ip"})
	f.wantError(http.StatusBadRequest, "PUT replaces a set", "POST", "/api/zones/example.test/records", ctJSON, map[string]any{"name": "www", "type": "A", "record": "A 127.0.0.1"})

	// DELETE removes records of a type at a name.
	f.want(http.StatusOK, &z, "DELETE", "/api/zones/example.test/records?name=www&type=A", "", nil)
	if got := f.parseZone(z).Records; len(got) != 0 {
		t.Fatalf("www still there: %s", z.Zone)
	}
	f.wantError(http.StatusNotFound, "no A records at www.example.test.", "DELETE", "/api/zones/example.test/records?name=www&type=A", "", nil)
	f.wantError(http.StatusBadRequest, "name: missing", "DELETE", "/api/zones/example.test/records", "", nil)
	f.want(http.StatusOK, &z, "DELETE", "/api/zones/example.test/records?name=@&type=MX", "", nil)
	if len(z.MX) != 0 {
		t.Fatalf("MX after DELETE: %v", z.MX)
	}
}

func TestFaults(t *testing.T) {
	f := newFixture(t, Config{})
	var faults map[string]json.RawMessage
	f.want(http.StatusOK, &faults, "GET", "/api/faults", "", nil)
	if len(faults) != 0 {
		t.Fatalf("faults at start: %v", faults)
	}
	// A fault as a set step writes it, in JSON or YAML; the view is the
	// dns: section's, zone by zone.
	f.want(http.StatusCreated, &faults, "POST", "/api/faults", ctJSON, `{"name": "Example.Test.", "type": "mx", "kind": "servfail"}`)
	if got := compact(t, faults["example.test"]); len(faults) != 1 || got != `{"faults":[{"name":"example.test","type":"MX","kind":"servfail"}]}` {
		t.Fatalf("faults: %s", faults)
	}
	if _, err := f.env.DNS().Resolver().LookupMX(context.Background(), "example.test"); err == nil {
		t.Fatal("MX lookup succeeded under a servfail fault")
	}
	f.want(http.StatusCreated, &faults, "POST", "/api/faults", ctYAML, "{name: mx1.example.test, type: A, kind: delay, delay: 10ms, times: 2}")
	const both = `{"faults":[{"name":"example.test","type":"MX","kind":"servfail"},{"name":"mx1.example.test","type":"A","kind":"delay","delay":"10ms","times":2}]}`
	if got := compact(t, faults["example.test"]); got != both {
		t.Fatalf("faults: %s\nwant %s", got, both)
	}

	// Bad faults: 400 naming the field and its place in the body, and no
	// change.
	for _, tc := range []struct{ body, want string }{
		{`{"name": "example.test", "kind": "sideways"}`, `fault: 1:34: invalid kind "sideways" (valid: servfail, nxdomain, refused, timeout, truncate, delay)`},
		{`{"name": "example.test", "kind": "delay", "delay": "soon"}`, `1:52: "delay": bad duration "soon"`},
		{`{"name": "example.test", "kind": "delay"}`, `fault: 1:34: fault kind delay needs a delay`},
		{`{"kind": "servfail"}`, `fault: 1:1: missing required key "name" in fault`},
		{`"servfail"`, `fault: 1:1: missing required key "name" in fault`},
		{`{"name": "example.test", "kind": "servfail", "zone": true}`, `fault: 1:46: unknown key "zone" in fault`},
		{`{"name": "elsewhere.test", "kind": "servfail"}`, `name "elsewhere.test" is not in a zone of the network`},
	} {
		f.wantError(http.StatusBadRequest, tc.want, "POST", "/api/faults", ctJSON, tc.body)
	}
	f.want(http.StatusOK, &faults, "GET", "/api/faults", "", nil)
	if got := compact(t, faults["example.test"]); len(faults) != 1 || got != both {
		t.Fatalf("faults after bad requests: %s", faults)
	}

	// DELETE takes a scenario's clear_fault: name and type.
	f.want(http.StatusOK, &faults, "DELETE", "/api/faults?name=example.test&type=MX", "", nil)
	if got := compact(t, faults["example.test"]); got != `{"faults":[{"name":"mx1.example.test","type":"A","kind":"delay","delay":"10ms","times":2}]}` {
		t.Fatalf("after clear: %s", got)
	}
	if _, err := f.env.DNS().Resolver().LookupMX(context.Background(), "example.test"); err != nil {
		t.Fatalf("MX lookup after the fault was cleared: %v", err)
	}
	f.wantError(http.StatusNotFound, "no fault", "DELETE", "/api/faults?name=example.test&type=MX", "", nil)
	f.wantError(http.StatusBadRequest, "type needs name", "DELETE", "/api/faults?type=MX", "", nil)
	f.want(http.StatusOK, &faults, "DELETE", "/api/faults", "", nil)
	if len(faults) != 0 {
		t.Fatalf("after clear all: %+v", faults)
	}
}

func TestMessagesSessionsJournal(t *testing.T) {
	f := newFixture(t, Config{})
	smarthost := f.env.Host(DemoSmarthost).Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := harness.Submit(ctx, smarthost, harness.Message{
		From: "alice@origin.test", To: []string{"bob@example.test"}, Subject: "hello sandbox", Body: "line one\r\nline two\r\n",
		StartTLS: true, User: DemoUser, Password: DemoPassword,
	})
	if err != nil {
		t.Fatalf("submit to the smarthost: %v", err)
	}
	// Submit returns when the client has its 221; the host journals the
	// disconnect after that. Every read below needs the session ended.
	f.waitSessionsEnded()

	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	msgs := list.Messages
	if len(msgs) != 1 || list.Dropped != 0 || msgs[0].Host != DemoSmarthost || msgs[0].Subject != "hello sandbox" || msgs[0].From != "alice@origin.test" {
		t.Fatalf("messages: %+v", list)
	}
	m := msgs[0]
	var d messageDetailJSON
	f.want(http.StatusOK, &d, "GET", "/api/messages/"+itoa(m.Seq), "", nil)
	if i := slices.IndexFunc(d.Headers, func(h headerJSON) bool { return h.Name == "Subject" }); i < 0 || d.Headers[i].Value != "hello sandbox" {
		t.Fatalf("headers: %+v", d.Headers)
	}
	if !strings.Contains(d.Body, "line one\nline two") {
		t.Fatalf("body: %q", d.Body)
	}
	status, raw := f.do("GET", m.EML, "", nil)
	ev, _ := f.env.Journal().At(m.Seq)
	if status != http.StatusOK || ev.Message == nil || string(raw) != string(ev.Message.Raw) {
		t.Fatalf("GET %s: %d, %q; want the raw message %q", m.EML, status, raw, ev.Message.Raw)
	}
	f.wantError(http.StatusBadRequest, "sequence number", "GET", "/api/messages/abc", "", nil)
	f.wantError(http.StatusBadRequest, "sequence number", "GET", "/api/messages/0.eml", "", nil)
	f.wantError(http.StatusNotFound, "no such message", "GET", "/api/messages/1", "", nil)
	f.wantError(http.StatusNotFound, "no such message", "GET", "/api/messages/99999.eml", "", nil)

	var sessions []sessionJSON
	f.want(http.StatusOK, &sessions, "GET", "/api/sessions?host="+DemoSmarthost, "", nil)
	if len(sessions) != 1 || sessions[0].ID != m.Session || sessions[0].Messages != 1 || !sessions[0].Ended {
		t.Fatalf("sessions: %+v", sessions)
	}
	f.wantError(http.StatusNotFound, "no such host", "GET", "/api/sessions?host=nope.test", "", nil)
	var tr struct {
		Session string   `json:"session"`
		Lines   []string `json:"lines"`
	}
	f.want(http.StatusOK, &tr, "GET", sessions[0].Transcript, "", nil)
	if !slices.Contains(tr.Lines, "C: STARTTLS") || !slices.ContainsFunc(tr.Lines, func(l string) bool { return strings.HasPrefix(l, "C: AUTH PLAIN") }) {
		t.Fatalf("transcript: %q", tr.Lines)
	}
	status, text := f.do("GET", sessions[0].Transcript+"?format=text", "", nil)
	if status != http.StatusOK || !strings.Contains(string(text), "C: STARTTLS\n") {
		t.Fatalf("text transcript: %d %q", status, text)
	}
	f.wantError(http.StatusBadRequest, "want json or text", "GET", sessions[0].Transcript+"?format=xml", "", nil)
	f.wantError(http.StatusNotFound, "no such session", "GET", "/api/sessions/nope%231/transcript", "", nil)

	var evs []eventJSON
	f.want(http.StatusOK, &evs, "GET", "/api/journal", "", nil)
	if len(evs) == 0 || evs[0].Seq != 1 || int64(len(evs)) != evs[len(evs)-1].Seq {
		t.Fatalf("journal: %d events", len(evs))
	}
	i := slices.IndexFunc(evs, func(e eventJSON) bool { return e.Kind == journal.KindSMTPMessage })
	if i < 0 || evs[i].Message == nil || evs[i].Message.Subject != "hello sandbox" {
		t.Fatalf("journal has no message event")
	}
	var tail []eventJSON
	f.want(http.StatusOK, &tail, "GET", "/api/journal?since="+itoa(evs[len(evs)-2].Seq), "", nil)
	if len(tail) != 1 || tail[0].Seq != evs[len(evs)-1].Seq {
		t.Fatalf("since: %+v", tail)
	}
	f.wantError(http.StatusBadRequest, "since=", "GET", "/api/journal?since=-1", "", nil)
	f.wantError(http.StatusBadRequest, "since=", "GET", "/api/journal?since=x", "", nil)

	var info infoJSON
	f.want(http.StatusOK, &info, "GET", "/api/info", "", nil)
	if info.DNS != f.env.DNSAddr() || info.SMTPPort != f.env.SMTPPort() || info.Relay != nil || info.TokenRequired {
		t.Fatalf("info: %+v", info)
	}
	f.wantError(http.StatusConflict, "no relay under test", "POST", "/api/relay/flush", "", nil)
	f.wantError(http.StatusNotFound, "no such endpoint", "GET", "/api/nope", "", nil)
	f.wantError(http.StatusMethodNotAllowed, "allowed: GET", "DELETE", "/api/hosts", "", nil)
	f.wantError(http.StatusMethodNotAllowed, "allowed: GET, PUT, PATCH", "POST", "/api/hosts/mx1.example.test", "", nil)
	f.wantError(http.StatusMethodNotAllowed, "not allowed", "POST", "/", "", nil)
}

func TestPageIsSelfContained(t *testing.T) {
	f := newFixture(t, Config{})
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		status, body := f.do("GET", p, "", nil)
		if status != http.StatusOK || len(body) == 0 {
			t.Fatalf("GET %s: %d", p, status)
		}
		// Nothing is fetched at run time: no absolute URL, no CDN (the SVG
		// namespace is a name, never fetched).
		text := strings.ReplaceAll(string(body), "'http://www.w3.org/2000/svg'", "")
		for _, bad := range []string{"http://", "https://", `src="//`, `href="//`, "@import"} {
			if strings.Contains(text, bad) {
				t.Fatalf("GET %s: contains %q", p, bad)
			}
		}
	}
	status, body := f.do("GET", "/", "", nil)
	if status != http.StatusOK || !strings.Contains(string(body), "<title>mxsim sandbox</title>") {
		t.Fatalf("page: %d %.200s", status, body)
	}
	// The page runs its own script only, and cannot be framed.
	resp, err := f.http.Get("http://" + f.srv.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("page headers: %v", resp.Header)
	}
}

func lookupMX(t *testing.T, env *harness.Env, domain string) []string {
	t.Helper()
	mxs, err := env.DNS().Resolver().LookupMX(context.Background(), domain)
	if err != nil {
		t.Fatalf("LookupMX %s: %v", domain, err)
	}
	var out []string
	for _, mx := range mxs {
		out = append(out, itoa(int64(mx.Pref))+" "+mx.Host)
	}
	slices.Sort(out)
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRelayFlush(t *testing.T) {
	cfg := Demo()
	cfg.Relay = harness.Reference(harness.ReferenceConfig{Hostname: "relay.test"})
	f := newFixtureWith(t, cfg, Config{})
	var info infoJSON
	f.want(http.StatusOK, &info, "GET", "/api/info", "", nil)
	if info.Relay == nil || info.Relay.Addr != f.env.Relay().Submission().Addr {
		t.Fatalf("info: relay %+v", info.Relay)
	}
	// mx1 down, mx2 greylists: the message is deferred; take mx1 up and
	// flush: it is delivered at mx1.
	f.want(http.StatusOK, nil, "POST", "/api/hosts/mx1.example.test/down", "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Wait(ctx, 10*time.Second, func(j *journal.Journal) error {
		if len(j.Events(journal.OfKind(journal.KindRelayDefer))) == 0 {
			return errors.New("not deferred yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.want(http.StatusOK, nil, "POST", "/api/hosts/mx1.example.test/up", "", nil)
	f.want(http.StatusOK, nil, "POST", "/api/relay/flush", "", nil)
	if err := f.env.WaitDelivered(ctx, 10*time.Second, "bob@example.test", "mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	f.waitEvent("the control event for the flush", isControl("flush"))
}

// TestMessageDecoded submits a MIME message through the smarthost and reads
// it back decoded: encoded-word subject, quoted-printable text, a base64
// attachment listed as a part.
func TestMessageDecoded(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	attachment := base64.StdEncoding.EncodeToString([]byte("col1,col2\r\n1,2\r\n"))
	err := harness.Submit(ctx, f.env.Host(DemoSmarthost).Addr(), harness.Message{
		From: "alice@origin.test", To: []string{"bob@example.test"}, Subject: "=?UTF-8?Q?r=C3=A9sum=C3=A9?=",
		Headers: map[string]string{"MIME-Version": "1.0", "Content-Type": `multipart/mixed; boundary="sep"`},
		Body: "--sep\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"Gr=C3=BC=C3=9Fe\r\n--sep\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=data.csv\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + "\r\n--sep--\r\n",
		StartTLS: true, User: DemoUser, Password: DemoPassword,
	})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	f.waitSessionsEnded()
	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	msgs := list.Messages
	if len(msgs) != 1 || msgs[0].Subject != "résumé" {
		t.Fatalf("messages: %+v, want one with subject résumé", msgs)
	}
	var d messageDetailJSON
	f.want(http.StatusOK, &d, "GET", "/api/messages/"+itoa(msgs[0].Seq), "", nil)
	want := []partJSON{
		{Type: "text/plain", Charset: "utf-8", Encoding: "quoted-printable", Size: 7},
		{Type: "text/csv", Encoding: "base64", Filename: "data.csv", Size: 16},
	}
	for i := range want {
		want[i].URL = "/api/messages/" + itoa(msgs[0].Seq) + "/parts/" + itoa(int64(i))
	}
	if d.Text != "Grüße" || !reflect.DeepEqual(d.Parts, want) || d.MIMEErr != "" {
		t.Fatalf("decoded: text %q, parts %+v, error %q; want Grüße and %+v", d.Text, d.Parts, d.MIMEErr, want)
	}
	if !strings.Contains(d.Body, "Gr=C3=BC=C3=9Fe") {
		t.Fatalf("body as received %q lacks the quoted-printable text", d.Body)
	}
}
