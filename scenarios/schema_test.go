package scenarios

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mxsim/mxsim/scenarios/internal/schemagen"
)

// TestSchemaGenerated regenerates the schema from the types and their
// comments and compares it with the embedded schema.json.
func TestSchemaGenerated(t *testing.T) {
	got, err := schemagen.Generate(reflect.TypeFor[Scenario](), ".")
	if err != nil {
		t.Fatalf("generate the schema: %v", err)
	}
	if bytes.Equal(got, schemaJSON) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(schemaJSON), "\n")
	i := 0
	for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
		i++
	}
	line := func(l []string) string {
		if i < len(l) {
			return l[i]
		}
		return "(end of file)"
	}
	t.Fatalf("scenarios/schema.json is stale: run go generate ./scenarios\nfirst difference at line %d:\n  generated: %s\n  schema.json: %s", i+1, line(gl), line(wl))
}

// TestSchemaEnums holds every enum of the schema to the table the decoder
// checks values against.
func TestSchemaEnums(t *testing.T) {
	var root struct {
		Defs map[string]struct {
			Enum []string `json:"enum"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &root); err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	n := 0
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		if en, ok := reflect.Zero(typ).Interface().(enum); ok {
			n++
			if got := root.Defs[typ.Name()].Enum; !slices.Equal(got, en.Values()) {
				t.Errorf("schema enum of %s = %q, the decoder takes %q", typ.Name(), got, en.Values())
			}
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			walk(typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				walk(typ.Field(i).Type)
			}
		}
	}
	walk(reflect.TypeFor[Scenario]())
	if n < 10 {
		t.Errorf("found %d enum types below Scenario, want at least 10", n)
	}
}

// TestSchemaFormats holds the patterns of the schema's formats to the
// decoder's checks: on each sample, both accept or both refuse.
func TestSchemaFormats(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, c := range []struct {
		def     string
		decoder func(string) bool
		samples []string
	}{
		{"domain", kind("domain"), []string{"example.test", "Example.Test.", "_25._tcp.mx.test", "a", "1.2.3.4", "x_y.test",
			"-bad.test", "bad-.test", "bad..test", ".", "exa mple.test", "ünï.test", long + ".test", long[:63] + ".test"}},
		{"mx_host", kind("host"), []string{".", "mx1.example.test", "..", "mx1..test"}},
		{"email", kind("email"), []string{"a@b.test", "a.b@c.test", "user{n}@x.test", "o'brien+tag@x.test", ".a@b.test", "a.@b.test",
			"a..b@c.test", "a@b.test.", "@b.test", "a@", "a@b@c.test", long + "@x.test", long[:63] + "@x.test", "a b@c.test"}},
		{"name", kind("name"), []string{"ok-1", "0k", "Bad", "-x", "a_b"}},
		{"tag", kind("tag"), []string{"a.b_c-d", "A", ".a", "x y"}},
		{"ident", kind("ident"), []string{"M1.x_y-z", "-x", "a b"}},
		{"status", kind("status"), []string{"5.1.1", "4.7.10", "2.0.0", "3.1.1", "5.1", "5.1000.1", "5.1.1 "}},
		{"case_id", kind("caseid"), []string{"MX-006", "TLSRPT-001", "mx-006", "MX-06", "M-006"}},
		{"smarthost", kind("smarthost"), []string{"[mx.test]:587", "mx.test", "mx.test:25", "[mx.test]", "mx.test.:2525", "[mx.test]:65535",
			"[mx.test", "[mx.test]:0", "[mx.test]587", "mx.test:65536", "mx..test", "mx.test:"}},
		{"hostport", kind("hostport"), []string{"127.0.0.1:2525", "[::1]:25", "localhost:25", "mx.test.:25",
			"host", ":25", "::1:25", "h:0", "h:99999", "bad..h:25"}},
		{"reply_string", func(s string) bool { _, err := fakesmtp.ParseReply(s); return err == nil },
			[]string{"451 4.7.1 try again later", "250", "250 ", "554 no service", "556 5.1.10 null MX", "421  4.3.2  spaced",
				"451 4.7.1text", "451 4.7", "451 4.7.1.2", "250 2.0.0", "550 1st try",
				"199 low", "600 high", "45 short", "2500", "451-4.3.0 dash", "451 9.7.1 bad class", "451 5.7.1 class mismatch",
				"350 3.0.0 no status for 3xx", "550 5.1.1000 x", "451 44.7.1 x", ""}},
		{"duration", func(s string) bool { d, err := time.ParseDuration(s); return err == nil && d >= 0 },
			[]string{"2s", "1m30s", "500ms", "0", "1.5h", "1µs", "2", "soon", "-1s", "1d", ""}},
	} {
		sch := compileDef(t, c.def)
		for _, s := range c.samples {
			inst, _ := json.Marshal(s)
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(inst))
			if err != nil {
				t.Fatal(err)
			}
			schemaOK := sch.Validate(v) == nil
			if want := c.decoder(s); schemaOK != want {
				t.Errorf("%s %q: schema accepts = %v, decoder accepts = %v", c.def, s, schemaOK, want)
			}
		}
	}
}

// kind returns the decoder's verdict on a string under check k.
func kind(k string) func(string) bool {
	return func(s string) bool {
		d := newDecoder(newErrs("x", nil), map[any]Pos{})
		_, ok := d.checkString(Pos{}, s, reflect.TypeFor[string](), checks{kind: k}, "x")
		return ok
	}
}

// compileDef compiles one $defs entry of the schema.
func compileDef(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("mem:///schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem:///schema.json#/$defs/" + name)
	if err != nil {
		t.Fatalf("compile $defs/%s: %v", name, err)
	}
	return sch
}

// schemaBase is a valid scenario that TestSchemaRejectsMistakes breaks in
// one place at a time.
const schemaBase = `name: base
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
    records:
      www.example.test: ["CNAME example.test."]
    fault: servfail
hosts:
  mx1.example.test:
    state: up
    replies:
      rcpt: [{reply: "452 4.2.2 full", times: 1}, "550 5.1.1 no"]
    greylist: {window: 2s}
  mx2.example.test:
relay:
  tls: may
steps:
  - send: {from: alice@origin.test, to: [bob@example.test], subject: hi}
  - wait: {until: {delivered: {to: bob@example.test}}}
  - expect: {delivered: {to: bob@example.test, at: mx1.example.test}}
  - set: {host: mx1.example.test, state: down}
  - wait: 2s
  - flush:
`

// TestSchemaRejectsMistakes checks that the schema refuses documents with
// one structural mistake each, at several depths, so that it cannot
// silently become permissive. Each document is checked against Parse too,
// so the test itself cannot be wrong about what is a mistake.
func TestSchemaRejectsMistakes(t *testing.T) {
	sch := compileSchema(t)
	if err := validateSchema(sch, []byte(schemaBase)); err != nil {
		t.Fatalf("schema refuses the base document: %v", err)
	}
	if _, err := Parse("base.yaml", []byte(schemaBase)); err != nil {
		t.Fatalf("Parse refuses the base document: %v", err)
	}
	for _, c := range []struct{ name, old, new string }{
		{"unknown key at the top", "relay:\n", "rely:\n"},
		{"unknown key in a zone", "    mx: [", "    mxx: ["},
		{"unknown key in a host", "    greylist:", "    greylst:"},
		{"unknown key in a host's greylist", "{window: 2s}", "{windw: 2s}"},
		{"unknown key in replies", "      rcpt:", "      rcp:"},
		{"unknown key in a reply map", "times: 1}", "tims: 1}"},
		{"unknown key in a send", "subject: hi", "subjet: hi"},
		{"unknown key in wait until", "{until: {delivered:", "{until: {delivred:"},
		{"unknown key in a delivery", "at: mx1.example.test}}", "host: mx1.example.test}}"},
		{"unknown key in relay", "  tls: may", "  tsl: may"},
		{"unknown step kind", "  - flush:", "  - flsh:"},
		{"bad enum: state", "state: up", "state: sideways"},
		{"bad enum: relay tls", "tls: may", "tls: maybe"},
		{"bad enum: fault kind", "fault: servfail", "fault: servfial"},
		{"missing required: steps", "steps:\n", "stepz:\n"},
		{"missing required: send from", "from: alice@origin.test, ", ""},
		{"missing required: reply in a reply map", `{reply: "452 4.2.2 full", times: 1}`, "{times: 1}"},
		{"required list empty", "to: [bob@example.test]", "to: []"},
		{"reply as a number", `"550 5.1.1 no"`, "550"},
		{"reply as its Go fields", `"550 5.1.1 no"`, "{code: 550}"},
		{"reply with a bad code", `"550 5.1.1 no"`, `"99 no"`},
		{"replies as a map of lists", `rcpt: [{reply: "452 4.2.2 full", times: 1}, "550 5.1.1 no"]`, `rcpt: {reply: ["452 4.2.2 full"]}`},
		{"fault as a number", "fault: servfail", "fault: 5"},
		{"wait as a number", "wait: 2s", "wait: 2"},
		{"two keys in a step", "  - wait: 2s\n", "  - {wait: 2s, flush: {}}\n"},
		{"expect without a condition", "{delivered: {to: bob@example.test, at: mx1.example.test}}", "{within: 5s}"},
		{"hosts as a list", "hosts:\n  mx1.example.test:\n", "hosts:\n  - mx1.example.test:\n"},
		{"records as a string", `["CNAME example.test."]`, `"CNAME example.test."`},
		{"bad domain as a key", "  mx2.example.test:\n", "  mx2..example.test:\n"},
		{"bad smarthost", "  tls: may", "  smarthost: \"[mx1.example.test]:99999\""},
		{"negative number", "times: 1}", "times: -1}"},
		{"conformance without id", "relay:\n", "conformance: {title: t, clause: c, level: MUST, requirement: r}\nrelay:\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(schemaBase, c.old) {
				t.Fatalf("base has no %q", c.old)
			}
			doc := []byte(strings.Replace(schemaBase, c.old, c.new, 1))
			if _, err := Parse("bad.yaml", doc); err == nil {
				t.Fatalf("Parse accepts the document: not a mistake\n%s", doc)
			}
			if err := validateSchema(sch, doc); err == nil {
				t.Errorf("schema accepts the document\n%s", doc)
			}
		})
	}
}
