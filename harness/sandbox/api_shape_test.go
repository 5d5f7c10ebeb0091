package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/scenarios"
)

// zoneRead is zoneJSON as a client reads it: the zone in the scenario's
// shape, for scenarios.ParseZone.
type zoneRead struct {
	Name string          `json:"name"`
	Zone json.RawMessage `json:"zone"`
	MX   []mxJSON        `json:"mx"`
}

// parseZone reads the zone of a view as a scenario's.
func (f *fixture) parseZone(v zoneRead) *scenarios.Zone {
	f.t.Helper()
	z, err := scenarios.ParseZone(v.Name, v.Zone)
	if err != nil {
		f.t.Fatalf("zone %s: %s does not read as a scenario's zone: %v", v.Name, v.Zone, err)
	}
	return z
}

// compact returns JSON without blanks, for comparisons.
func compact(t *testing.T, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return b.String()
}

// scenarioNodes returns, for each scenario in testdata/scenarios, the file
// as written, the scenario as loaded, and the YAML nodes under key in it
// (under hosts, the host names; under dns, the zones).
type scenarioFile struct {
	path string
	src  string
	sc   *scenarios.Scenario
	root *ast.MappingNode
}

func scenarioFiles(t *testing.T) []scenarioFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "scenarios", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	var out []scenarioFile
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := scenarios.Parse(p, src)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseBytes(src, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, scenarioFile{path: filepath.Base(p), src: string(src), sc: sc, root: file.Docs[0].Body.(*ast.MappingNode)})
	}
	return out
}

// under returns the values of the mapping under key, by their keys.
func (s scenarioFile) under(key string) map[string]ast.Node {
	out := map[string]ast.Node{}
	for _, mv := range s.root.Values {
		if mv.Key.String() != key {
			continue
		}
		if m, ok := mv.Value.(*ast.MappingNode); ok {
			for _, e := range m.Values {
				out[e.Key.String()] = e.Value
			}
		}
	}
	return out
}

// steps returns the step nodes of the scenario.
func (s scenarioFile) steps() []ast.Node {
	for _, mv := range s.root.Values {
		if mv.Key.String() == "steps" {
			return mv.Value.(*ast.SequenceNode).Values
		}
	}
	return nil
}

// verbatim returns the text of n as the file writes it, and fails unless
// the file has it as it is.
func (s scenarioFile) verbatim(t *testing.T, n ast.Node) string {
	t.Helper()
	text := n.String()
	if !strings.Contains(s.src, text) {
		t.Fatalf("%s: %q is not the file's text", s.path, text)
	}
	return text
}

// asJSON returns the JSON equivalent of a YAML node.
func asJSON(t *testing.T, n ast.Node) string {
	t.Helper()
	var v any
	if err := yaml.NodeToValue(n, &v); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestHostFromScenario is the promise of the API's shape: the behaviour of
// a host, copied as it is from a scenario file (YAML, or its JSON
// equivalent), is a body for PUT /api/hosts/{name}, and the host then
// behaves as the scenario's host does; the API's view reads back as the
// same behaviour. Each set step of the scenario on that host, copied as it
// is too, is a body for PATCH and does what the step does.
func TestHostFromScenario(t *testing.T) {
	f := newFixture(t, Config{})
	const path = "/api/hosts/mx1.example.test"
	hosts := 0
	for _, file := range scenarioFiles(t) {
		nodes := file.under("hosts")
		for _, h := range file.sc.Hosts {
			if h.Profile != "" || len(h.Ports) > 0 {
				// A provider profile is the scenario file's shorthand: the
				// API takes the behaviour itself. Ports are not a
				// behaviour: a host listens where it was started.
				continue
			}
			hosts++
			want, err := h.Behavior.Apply(fakesmtp.Behavior{})
			if err != nil {
				t.Fatal(err)
			}
			node := nodes[h.Name]
			for _, body := range []struct{ contentType, text string }{
				{ctYAML, file.verbatim(t, node)},
				{ctJSON, asJSON(t, node)},
			} {
				var v hostJSON
				f.want(http.StatusOK, &v, "PUT", path, body.contentType, body.text)
				if got := f.env.Host("mx1.example.test").Behavior(); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: host %s, PUT %s:\n%s\nthe host behaves as %+v\nthe scenario's host as %+v", file.path, h.Name, body.contentType, body.text, got, want)
				}
				f.want(http.StatusOK, &v, "GET", path, "", nil)
				if got, err := v.Behavior.Apply(fakesmtp.Behavior{}); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s: host %s: the API's view reads back as %+v, %v\nwant %+v", file.path, h.Name, got, err, want)
				}
			}

			// Its set steps, from the behaviour the file gives the host.
			f.want(http.StatusOK, nil, "PUT", path, ctYAML, file.verbatim(t, node))
			for i, st := range file.sc.Steps {
				s := st.Set
				if s == nil || s.Host != h.Name {
					continue
				}
				if want, err = s.Apply(want); err != nil {
					t.Fatal(err)
				}
				set := file.steps()[i].(*ast.MappingNode).Values[0].Value
				body := strings.ReplaceAll(file.verbatim(t, set), h.Name, "mx1.example.test")
				f.want(http.StatusOK, nil, "PATCH", path, ctYAML, body)
				if got := f.env.Host("mx1.example.test").Behavior(); !reflect.DeepEqual(got, want) {
					t.Errorf("%s:%s: PATCH %s: the host behaves as %+v\nthe scenario's step makes %+v", file.path, st.Pos, body, got, want)
				}
			}
		}
	}
	if hosts < 20 {
		t.Fatalf("only %d hosts in testdata/scenarios", hosts)
	}
}

// TestHostRoundTrip: GET, then PUT of the view's behaviour as it is,
// changes nothing, for a host with every part.
func TestHostRoundTrip(t *testing.T) {
	f := newFixture(t, Config{})
	const path = "/api/hosts/mx1.example.test"
	every := `{
	"state": "up",
	"greeting": "421 4.3.2 busy",
	"replies": {
		"ehlo": {"reply": "451 4.3.0 once", "times": 1},
		"starttls": "454 4.7.0 no tls now",
		"auth": "535 5.7.8 bad credentials",
		"mail": {"match": "*@blocked.test", "reply": "553 5.7.1 refused"},
		"rcpt": [{"match": "busy@*", "reply": "452 4.2.2 full", "times": 2}, "550 5.1.1 no such user"],
		"data": "451",
		"end_of_data": "250 2.0.0 queued as X"
	},
	"delays": {"greeting": "1s", "ehlo": "2ms", "starttls": "3ms", "auth": "4ms", "mail": "5ms", "rcpt": "1.5s", "data": "1m", "end_of_data": "1m30s"},
	"hangup_after": 3,
	"disconnect_in_data": 1024,
	"greylist": {"window": "30s", "reply": "450 4.7.1 later"},
	"relay": {"accept": ["example.test", ".shop.example"], "reject": "554 no relay"},
	"auth": {"mechanisms": ["PLAIN", "CRAM-MD5"], "users": {"relay": "secret"}, "required": true, "allow_insecure": true},
	"tls": {"starttls": "required", "cert": "expired"},
	"limits": {"max_size": 1048576, "max_recipients": 5, "max_conns": 2},
	"extensions": {"no_chunking": true},
	"verify": {"spf": true, "dmarc": true, "enforce": true, "dmarc_reply": "550 5.7.26 no"}
}`
	var before, after hostJSON
	f.want(http.StatusOK, &before, "PUT", path, ctJSON, every)
	set := f.env.Host("mx1.example.test").Behavior()
	var raw map[string]json.RawMessage
	f.want(http.StatusOK, &raw, "GET", path, "", nil)
	for _, k := range scenarios.BehaviorKeys() {
		if !bytes.Contains(raw["behavior"], []byte(`"`+k+`"`)) {
			t.Errorf("the view's behaviour has no %s: %s", k, raw["behavior"])
		}
	}
	f.want(http.StatusOK, &after, "PUT", path, ctJSON, string(raw["behavior"]))
	if got := f.env.Host("mx1.example.test").Behavior(); !reflect.DeepEqual(got, set) {
		t.Errorf("PUT of the view changed the host:\n%+v\nwas %+v", got, set)
	}
	var again map[string]json.RawMessage
	f.want(http.StatusOK, &again, "GET", path, "", nil)
	if compact(t, again["behavior"]) != compact(t, raw["behavior"]) {
		t.Errorf("view after the round trip: %s\nwas %s", again["behavior"], raw["behavior"])
	}
	// The shape is the scenario's: durations as text, the greeting at the
	// top, rules as text or {reply, match, times}.
	for _, want := range []string{`"greeting":["421 4.3.2 busy"]`, `"rcpt":"1.5s"`, `{"reply":"452 4.2.2 full","match":"busy@*","times":2}`, `"reject":"554 no relay"`} {
		if !strings.Contains(compact(t, raw["behavior"]), want) {
			t.Errorf("view %s lacks %s", raw["behavior"], want)
		}
	}
}

// TestBadHostBodies: each mistake is a 400 naming the field and its
// line:col in the body, and nothing changes.
func TestBadHostBodies(t *testing.T) {
	f := newFixture(t, Config{})
	const path = "/api/hosts/mx2.example.test"
	view := func() string {
		_, data := f.do("GET", path, "", nil)
		return string(data)
	}
	before, beforeHost := view(), f.env.Host("mx2.example.test").Behavior()
	for _, tc := range []struct {
		name, method, contentType, body, want string
		status                                int
	}{
		{"unknown key", "PUT", ctJSON, `{"greylist": {"windw": "2s"}}`, `host mx2.example.test: 1:15: unknown key "windw" in greylist (did you mean "window"?)`, 400},
		{"unknown top key", "PATCH", ctJSON, `{"tpye": 1}`, `1:2: unknown key "tpye" in set step`, 400},
		{"wrong type", "PATCH", ctJSON, `{"hangup_after": "three"}`, `1:18: "hangup_after" must be an integer, got a string`, 400},
		{"duration as a number", "PUT", ctJSON, `{"greylist": {"window": 30000000000}}`, `1:25: "window" must be a duration such as "2s"`, 400},
		{"bad reply", "PATCH", ctJSON, `{"replies": {"rcpt": "452 5.2.2 full"}}`, `1:22: "rcpt": bad reply "452 5.2.2 full": enhanced: class of "5.2.2" does not match code 452`, 400},
		{"the old shape of a rule", "PUT", ctJSON, `{"replies": {"rcpt": [{"reply": {"code": 452}}]}}`, `1:33: "reply" must be a string, got a mapping`, 400},
		{"refused by fakesmtp", "PATCH", ctYAML, "state: down\ngreylist:\n  reply: \"554 5.7.1 no\"\n", `3:10: greylist.reply.code: 554: a greylist defers, its reply is 4xx`, 400},
		{"refused by fakesmtp, in JSON", "PUT", ctJSON, `{"state": "down", "replies": {"rcpt": "250 ok"}}`, `1:39: replies.rcpt[0].reply.code: 250: only 4xx/5xx replies`, 400},
		{"bad state", "PATCH", ctJSON, `{"state": "sideways", "clear": ["greylist"]}`, `invalid state "sideways"`, 400},
		{"bad clear", "PATCH", ctJSON, `{"clear": ["greylst"]}`, `1:12: "clear": invalid behaviour key "greylst"`, 400},
		{"null", "PATCH", ctJSON, `{"greylist": null, "state": "down"}`, `1:2: "greylist" is null: write clear: [greylist]`, 400},
		{"nothing", "PATCH", ctJSON, `{}`, `set changes nothing`, 400},
		{"two errors", "PUT", ctJSON, `{"limits": {"max_conns": -1}, "state": "dwn"}`, `1:26: "max_conns" must not be negative, got -1; 1:40: invalid state "dwn"`, 400},
		{"syntax", "PUT", ctJSON, `{"state": `, `host mx2.example.test: `, 400},
		{"not a mapping", "PUT", ctJSON, `"up"`, `1:1: "behaviour" must be a mapping, got a string`, 400},
		{"two documents", "PUT", ctYAML, "state: down\n---\nstate: up\n", `3:1: one behaviour per document`, 400},
		{"merge patch", "PATCH", ctMergePatch, `{"state": "down"}`, `not a JSON merge patch`, 415},
		{"plain text", "PUT", "text/plain", `{"state": "down"}`, `content type`, 415},
		{"no content type", "PATCH", "", `{"state": "down"}`, `content type`, 415},
	} {
		f.wantError(tc.status, tc.want, tc.method, path, tc.contentType, tc.body)
		if after := view(); after != before {
			t.Fatalf("%s: a bad body changed the view:\n%s\nwas\n%s", tc.name, after, before)
		}
		if after := f.env.Host("mx2.example.test").Behavior(); !reflect.DeepEqual(after, beforeHost) {
			t.Fatalf("%s: a bad body changed the host: %+v, was %+v", tc.name, after, beforeHost)
		}
	}
	// JSON indented with tabs is JSON too.
	f.want(http.StatusOK, nil, "PATCH", path, ctJSON, "{\n\t\"state\": \"down\"\n}")
}

// TestZoneFromScenario: a zone copied from a scenario file, with its
// faults, is a body for PUT /api/zones/{zone}; the DNS then answers as the
// scenario's, and the view reads back as the same zone. A PUT of the view
// as it is changes nothing.
func TestZoneFromScenario(t *testing.T) {
	f := newFixture(t, Config{})
	zones := 0
	for _, file := range scenarioFiles(t) {
		nodes := file.under("dns")
		for _, z := range file.sc.DNS {
			zones++
			body := file.verbatim(t, nodes[z.Name])
			if _, isMap := nodes[z.Name].(*ast.MappingNode); !isMap {
				body = asJSON(t, nodes[z.Name])
			}
			var v zoneRead
			status, data := f.do("PUT", "/api/zones/"+z.Name, ctYAML, body)
			if status != http.StatusOK && status != http.StatusCreated {
				t.Fatalf("%s: PUT zone %s: %d %s", file.path, z.Name, status, data)
			}
			if err := json.Unmarshal(data, &v); err != nil {
				t.Fatal(err)
			}
			got := f.parseZone(v)
			if g, w := slices.Sorted(slices.Values(got.ZoneFile())), slices.Sorted(slices.Values(z.ZoneFile())); !slices.Equal(g, w) {
				t.Errorf("%s: zone %s: view %s\nrecords %q\nwant    %q", file.path, z.Name, v.Zone, g, w)
			}
			if len(got.Faults) != len(z.Faults) || (got.Fault == nil) != (z.Fault == nil) || got.Secure != z.Secure {
				t.Errorf("%s: zone %s: view %s: faults or secure differ from the scenario's", file.path, z.Name, v.Zone)
			}
			// The view, put back, changes nothing.
			var again zoneRead
			f.want(http.StatusOK, &again, "PUT", "/api/zones/"+z.Name, ctJSON, string(v.Zone))
			if compact(t, again.Zone) != compact(t, v.Zone) {
				t.Errorf("%s: zone %s: the view put back is %s, was %s", file.path, z.Name, again.Zone, v.Zone)
			}
		}
	}
	if zones < 10 {
		t.Fatalf("only %d zones in testdata/scenarios", zones)
	}
}

func TestPutZone(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	var z zoneRead
	f.want(http.StatusOK, &z, "PUT", "/api/zones/example.test", ctYAML,
		"mx: [{pref: 5, host: mx2.example.test}]\nrecords:\n  www.example.test: [\"A 127.0.0.80\"]\nfault: {type: A, kind: nxdomain}\nfaults:\n  - {name: example.test, type: MX, kind: servfail}\n")
	if _, err := f.env.DNS().Resolver().LookupMX(ctx, "example.test"); err == nil {
		t.Fatal("MX lookup succeeded under the servfail fault of the zone put")
	}
	if _, err := f.env.DNS().Resolver().LookupHost(ctx, "www.example.test"); err == nil {
		t.Fatal("A lookup in example.test succeeded under the zone's nxdomain fault")
	}
	var faults map[string]json.RawMessage
	f.want(http.StatusOK, &faults, "GET", "/api/faults", "", nil)
	if got := compact(t, faults["example.test"]); got != `{"fault":{"type":"A","kind":"nxdomain"},"faults":[{"name":"example.test","type":"MX","kind":"servfail"}]}` {
		t.Fatalf("faults after PUT: %s", got)
	}
	// Put again without faults: the zone's faults go, the records stay,
	// and the hosts keep their addresses.
	f.want(http.StatusOK, &z, "PUT", "/api/zones/example.test", ctJSON, `{"mx": [{"pref": 5, "host": "mx2.example.test"}], "records": {"www.example.test": ["A 127.0.0.80"]}}`)
	if mxs, err := f.env.DNS().Resolver().LookupMX(ctx, "example.test"); err != nil || len(mxs) != 1 || mxs[0].Host != "mx2.example.test." {
		t.Fatalf("MX after PUT: %v, %v", mxs, err)
	}
	if addrs, err := f.env.DNS().Resolver().LookupHost(ctx, "www.example.test"); err != nil || !slices.Equal(addrs, []string{"127.0.0.80"}) {
		t.Fatalf("www after PUT: %v, %v", addrs, err)
	}
	mx2, _, _ := strings.Cut(f.env.Host("mx2.example.test").Addr(), ":")
	if addrs, err := f.env.DNS().Resolver().LookupHost(ctx, "mx2.example.test"); err != nil || !slices.Equal(addrs, []string{mx2}) {
		t.Fatalf("mx2 after PUT: %v, %v; want its address %s", addrs, err, mx2)
	}
	f.want(http.StatusOK, &faults, "GET", "/api/faults", "", nil)
	if len(faults) != 0 {
		t.Fatalf("faults after the second PUT: %s", faults)
	}

	// The zone's fault alone.
	f.want(http.StatusOK, &z, "PUT", "/api/zones/example.test/fault", ctJSON, `"servfail"`)
	if got := f.parseZone(z); got.Fault == nil || got.Fault.Kind != scenarios.FaultServfail || got.Fault.Type != "" {
		t.Fatalf("zone fault after PUT: %s", z.Zone)
	}
	f.wantError(http.StatusBadRequest, `zone example.test: fault: 1:10: a zone-wide fault has no name`, "PUT", "/api/zones/example.test/fault", ctJSON, `{"name": "x.example.test", "kind": "servfail"}`)
	f.want(http.StatusOK, &z, "DELETE", "/api/zones/example.test/fault", "", nil)
	if got := f.parseZone(z); got.Fault != nil {
		t.Fatalf("zone fault after DELETE: %s", z.Zone)
	}
	f.wantError(http.StatusNotFound, "has no fault", "DELETE", "/api/zones/example.test/fault", "", nil)
	f.wantError(http.StatusNotFound, "no such zone", "PUT", "/api/zones/nope.test/fault", ctJSON, `"servfail"`)

	// A new zone.
	f.want(http.StatusCreated, &z, "PUT", "/api/zones/new.test", ctJSON, `{"a": ["127.0.0.9"]}`)
	if addrs, err := f.env.DNS().Resolver().LookupHost(ctx, "new.test"); err != nil || !slices.Equal(addrs, []string{"127.0.0.9"}) {
		t.Fatalf("new zone: %v, %v", addrs, err)
	}

	// Bad zones change nothing.
	_, before := f.do("GET", "/api/zones", "", nil)
	for _, tc := range []struct{ body, want string }{
		{`{"mx": [{"pref": 10, "hots": "mx1.example.test"}]}`, `zone example.test: 1:9: missing required key "host" in mx; 1:22: unknown key "hots" in mx`},
		{`{"mx": [{"pref": 0, "host": "."}, {"pref": 20, "host": "mx1.example.test"}]}`, `null MX (host ".") must be the only MX record`},
		{`{"records": {"www.example.test": ["A not-an-ip"]}}`, `bad record "A not-an-ip"`},
		{`{"faults": [{"name": "other.test", "kind": "servfail"}]}`, `fault name "other.test" is not in zone example.test`},
		{`{"a": "127.0.0.1"}`, `"a" must be a list`},
	} {
		f.wantError(http.StatusBadRequest, tc.want, "PUT", "/api/zones/example.test", ctJSON, tc.body)
	}
	f.wantError(http.StatusBadRequest, "zone name", "PUT", "/api/zones/exa..mple.test", ctJSON, `{}`)
	if _, after := f.do("GET", "/api/zones", "", nil); !bytes.Equal(after, before) {
		t.Fatalf("a bad zone changed the zones:\n%s\nwas\n%s", after, before)
	}
}
