package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchema compiles Schema() with format assertions on.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("mem:///schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem:///schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return sch
}

// validateSchema checks YAML data against the JSON Schema.
func validateSchema(sch *jsonschema.Schema, data []byte) error {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// scenarioFiles returns the example scenarios (with the Postfix ones and
// the one meant to fail at run time), the library's files and the
// conformance cases.
func scenarioFiles(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range []string{"scenarios", "postfix", "failing"} {
		paths, err := filepath.Glob(filepath.Join("..", "testdata", dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) == 0 {
			t.Fatalf("no scenarios under testdata/%s", dir)
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = data
		}
	}
	if len(out) < 20 {
		t.Fatalf("found %d scenarios under testdata, want at least 20", len(out))
	}
	for prefix, fsys := range map[string]fs.FS{"library/": Library(), "conformance/": ConformanceLibrary()} {
		err := fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			out[prefix+p] = data
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestScenarioFiles loads every example and library scenario and checks it
// against the JSON Schema.
func TestScenarioFiles(t *testing.T) {
	sch := compileSchema(t)
	for name, data := range scenarioFiles(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			if _, err := Parse(name, data); err != nil {
				t.Errorf("Parse: %v", err)
			}
			if err := validateSchema(sch, data); err != nil {
				t.Errorf("schema: %v", err)
			}
		})
	}
}

// TestSchemaRejects checks that the schema is not a yes-machine: golden
// cases whose mistakes are structural must fail it too.
func TestSchemaRejects(t *testing.T) {
	sch := compileSchema(t)
	for _, c := range []string{"unknown-key", "wrong-type", "bad-enum", "missing-required", "negative-number",
		"bad-duration", "bad-ip", "bad-reply", "bad-name", "step-shape", "expect-empty", "bad-email", "bad-domain", "conformance-bad-meta", "starttls-rules", "publish-as", "retry-gap", "rate-limits", "time-expectations"} {
		t.Run(c, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "testdata", "validate", c, "in.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := validateSchema(sch, data); err == nil {
				t.Errorf("schema accepts testdata/validate/%s/in.yaml", c)
			}
		})
	}
}

// TestScenarioCoverage checks that the example scenarios together use every
// host behaviour, DNS fault, step kind and expectation.
func TestScenarioCoverage(t *testing.T) {
	used := map[string]bool{}
	for name, data := range scenarioFiles(t) {
		s, err := Parse(name, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range s.DNS {
			for _, f := range append(slices.Clone(z.Faults), z.Fault) {
				if f != nil {
					used["fault "+string(f.Kind)] = true
				}
			}
			for _, m := range z.MX {
				if m.IsNull() {
					used["null mx"] = true
				}
			}
		}
		behavior := func(b *Behavior) {
			used["state "+string(b.State)] = true
			if len(b.Greeting) > 0 {
				used["greeting"] = true
			}
			if b.Replies != nil {
				used["replies"] = true
			}
			if b.Delays != nil {
				used["delays"] = true
			}
			if b.HangupAfter != nil {
				used["hangup_after"] = true
			}
			if b.DisconnectInData != nil {
				used["disconnect_in_data"] = true
			}
			if b.Greylist != nil {
				used["greylist"] = true
			}
			if b.Relay != nil {
				used["relay"] = true
			}
			if b.Auth != nil {
				used["auth"] = true
			}
			if b.Limits != nil {
				used["limits"] = true
			}
			if b.TLS != nil {
				used["starttls "+string(b.TLS.StartTLS)] = true
				used["cert "+string(b.TLS.Cert)] = true
				if b.TLS.Implicit {
					used["implicit"] = true
				}
			}
		}
		for _, h := range s.Hosts {
			behavior(&h.Behavior)
		}
		if s.Relay.Smarthost != "" {
			used["smarthost"] = true
		}
		used["relay tls "+string(s.Relay.TLS)] = true
		conds := func(c *Conditions) {
			v := reflect.ValueOf(c).Elem()
			for _, f := range fieldsOf(v.Type()) {
				if !v.FieldByIndex(f.index).IsZero() {
					used["expect "+f.key] = true
				}
			}
		}
		for _, st := range s.Steps {
			used["step "+st.Kind()] = true
			switch {
			case st.Expect != nil:
				conds(&st.Expect.Conditions)
			case st.Wait != nil && st.Wait.Until != nil:
				used["wait until"] = true
				conds(st.Wait.Until)
			case st.Wait != nil:
				used["wait duration"] = true
			case st.Set != nil && st.Set.Host != "":
				used["set host"] = true
			case st.Set != nil && st.Set.DNS != nil:
				used["set dns"] = true
			case st.Set != nil && st.Set.Fault != nil:
				used["set fault"] = true
				used["fault "+string(st.Set.Fault.Kind)] = true
			case st.Set != nil && st.Set.ClearFault != nil:
				used["set clear_fault"] = true
			}
		}
	}
	want := []string{"null mx", "greeting", "replies", "delays", "hangup_after", "disconnect_in_data", "greylist",
		"relay", "auth", "limits", "implicit", "smarthost", "wait until", "wait duration",
		"set host", "set dns", "set fault", "set clear_fault", "relay tls verify", "relay tls may", "relay tls encrypt"}
	for _, k := range fakesmtp.State("").Values() {
		want = append(want, "state "+k)
	}
	for _, k := range (FaultKind("")).Values() {
		want = append(want, "fault "+k)
	}
	for _, k := range fakesmtp.TLSMode("").Values() {
		want = append(want, "starttls "+k)
	}
	for _, k := range fakesmtp.CertKind("").Values() {
		want = append(want, "cert "+k)
	}
	for _, k := range []string{"send", "expect", "set", "wait", "flush"} {
		want = append(want, "step "+k)
	}
	for _, k := range keysOf(reflect.TypeFor[Conditions]()) {
		want = append(want, "expect "+k)
	}
	for _, w := range want {
		if !used[w] {
			t.Errorf("no scenario under testdata/scenarios uses %s", w)
		}
	}
}

// TestSchemaMatchesTypes walks the Go types and the JSON Schema together:
// every YAML key of a type is a property of the matching schema object and
// the other way round, so the two cannot drift apart.
func TestSchemaMatchesTypes(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(Schema(), &root); err != nil {
		t.Fatal(err)
	}
	defs := root["$defs"].(map[string]any)
	var deref func(any) map[string]any
	deref = func(n any) map[string]any {
		m, _ := n.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			return deref(defs[strings.TrimPrefix(ref, "#/$defs/")])
		}
		return m
	}
	// object finds the object schema inside n (through $ref, oneOf, anyOf,
	// items, additionalProperties of keyed lists).
	var object func(n any) map[string]any
	object = func(n any) map[string]any {
		m := deref(n)
		if m == nil {
			return nil
		}
		if _, ok := m["properties"]; ok {
			return m
		}
		for _, k := range []string{"oneOf", "anyOf"} {
			if alts, ok := m[k].([]any); ok {
				for _, a := range alts {
					if o := object(a); o != nil {
						return o
					}
				}
			}
		}
		if it, ok := m["items"]; ok {
			return object(it)
		}
		if ap, ok := m["additionalProperties"].(map[string]any); ok {
			return object(ap)
		}
		return nil
	}
	seen := map[reflect.Type]bool{}
	var walk func(path string, typ reflect.Type, sch map[string]any, omit []string)
	walk = func(path string, typ reflect.Type, sch map[string]any, omit []string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == posType || typ == addrType {
			return
		}
		// A rule and a lone reply are written as a string or this map.
		if typ == reflect.TypeFor[fakesmtp.Rule]() || typ == reflect.TypeFor[fakesmtp.Reply]() {
			typ = reflect.TypeFor[ruleMap]()
		}
		if len(keysOf(typ)) == 0 {
			return // Records: a list of strings in YAML
		}
		if sch == nil {
			t.Errorf("%s: no object schema for %s", path, typ)
			return
		}
		if seen[typ] {
			return
		}
		seen[typ] = true
		props := sch["properties"].(map[string]any)
		keys := slices.DeleteFunc(keysOf(typ), func(k string) bool { return slices.Contains(omit, k) })
		for _, k := range keys {
			if _, ok := props[k]; !ok {
				t.Errorf("%s: key %q of %s is missing from the schema", path, k, typ.Name())
			}
		}
		for k := range props {
			if !slices.Contains(keys, k) {
				t.Errorf("%s: schema property %q is not a key of %s", path, k, typ.Name())
			}
		}
		for _, f := range fieldsOf(typ) {
			if f.key == "" || slices.Contains(omit, f.key) {
				continue
			}
			ft := typ.FieldByIndex(f.index).Type
			if ft.Kind() == reflect.Map {
				continue
			}
			walk(path+"."+f.key, ft, object(props[f.key]), f.checks.omit)
		}
	}
	walk("scenario", reflect.TypeFor[Scenario](), root, nil)
}

// full is a scenario using most keys; TestParseValues checks what Parse
// makes of it.
const full = `name: full
description: everything
tags: [a, b.c]
dns:
  Example.Test.:
    secure: true
    mx: [{pref: 10, host: MX1.example.test.}, {pref: 20, host: mx2.example.test}]
    a: [127.0.0.99]
    aaaa: ["::1"]
    txt: ["v=spf1 -all"]
    ns: [ns1.example.test]
    records:
      www.example.test: ["CNAME example.test."]
    fault: {kind: delay, delay: 1500ms, times: 2, type: a}
    faults:
      - {name: example.test, type: MX, kind: servfail, times: 2}
hosts:
  mx1.example.test:
    greeting: {reply: "421 4.3.2 busy", times: 1}
    replies:
      rcpt: [{match: "*@full.test", reply: "452 4.2.2 mailbox full", times: 1}, "550 5.1.1 no"]
    delays: {greeting: 1s, end_of_data: 250ms}
    hangup_after: 3
    greylist: {window: 2s}
    relay: {accept: [example.test]}
    auth: {users: {relay: secret}, required: true}
    tls: {cert: expired}
    limits: {max_size: 10485760, max_recipients: 100, max_conns: 10}
  # mx2 lists the smarthost's port
  mx2.example.test: {ports: [25, 587], tls: {implicit: true}}
relay:
  kind: postfix
  smarthost: "[MX2.example.test]:587"
  smarthost_auth: {user: relay, password: secret}
  retry_interval: 1m
  main_cf: {minimal_backoff_time: 10s}
steps:
  - send: {id: m1, from: alice@origin.test, to: [bob@example.test], headers: {X-Test: a}, size: 1024}
  - expect:
      delivered: {to: bob@example.test, at: mx2.example.test}
      not_delivered: {to: bob@example.test, at: mx1.example.test}
  - wait: {until: {dns_query: {name: example.test, type: mx}}}
  - wait: 2s
  - set: {host: mx1.example.test, state: down, clear: [greylist]}
  - flush:
`

func TestParseValues(t *testing.T) {
	s, err := Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	z := s.Zone("example.test.")
	if z == nil || z.Name != "example.test" || !z.Secure {
		t.Fatalf("zone = %+v, want example.test, secure", z)
	}
	if z.MX[0].Host != "mx1.example.test" || z.MX[1].Pref != 20 {
		t.Errorf("mx = %+v %+v", z.MX[0], z.MX[1])
	}
	if got := (Fault{Kind: FaultDelay, Delay: 1500 * time.Millisecond, Times: 2, Type: "A"}); z.Fault.Kind != got.Kind ||
		z.Fault.Delay != got.Delay || z.Fault.Times != got.Times || z.Fault.Type != got.Type {
		t.Errorf("fault = %+v, want %+v", z.Fault, got)
	}
	wantZone := []string{
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN A 127.0.0.99",
		"example.test. 300 IN AAAA ::1",
		`example.test. 300 IN TXT "v=spf1 -all"`,
		"example.test. 300 IN NS ns1.example.test.",
		"www.example.test. 300 IN CNAME example.test.",
	}
	if got := z.ZoneFile(); !slices.Equal(got, wantZone) {
		t.Errorf("ZoneFile =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantZone, "\n"))
	}
	h := s.Host("MX1.example.test")
	if h == nil {
		t.Fatal("host mx1.example.test not found")
	}
	if g := h.Greeting[0].Reply; h.State != fakesmtp.Up || g != (fakesmtp.Reply{Code: 421, Enhanced: "4.3.2", Text: "busy", Times: 1}) {
		t.Errorf("greeting = %+v, state %q", h.Greeting[0], h.State)
	}
	rc := h.Replies.Rcpt
	if len(rc) != 2 || rc[0].Match != "*@full.test" || rc[0].Reply.String() != "452 4.2.2 mailbox full" || rc[0].Reply.Times != 1 || rc[1].Reply.Code != 550 {
		t.Errorf("rcpt replies = %+v", rc)
	}
	if h.Delays.Greeting != time.Second || h.Delays.EndOfData != 250*time.Millisecond || *h.HangupAfter != 3 {
		t.Errorf("delays/hangup = %+v %d", h.Delays, *h.HangupAfter)
	}
	// fakesmtp's defaults apply to the greylist and relay replies.
	if h.Greylist.Window != 2*time.Second || h.Greylist.Reply != nil {
		t.Errorf("greylist = %+v reply %v", h.Greylist, h.Greylist.Reply)
	}
	if h.Relay.Reject != nil || !slices.Equal(h.Relay.Accept, []string{"example.test"}) {
		t.Errorf("relay = %+v", h.Relay)
	}
	if !slices.Equal(h.Auth.Mechanisms, fakesmtp.DefaultMechanisms()) || h.Auth.Users["relay"] != "secret" {
		t.Errorf("auth = %+v", h.Auth)
	}
	if h.TLS.StartTLS != fakesmtp.TLSOffered || h.TLS.Cert != fakesmtp.CertExpired || h.Limits.MaxSize != 10485760 {
		t.Errorf("tls = %+v limits = %+v", h.TLS, h.Limits)
	}
	if t2 := s.Host("mx2.example.test").TLS; t2.StartTLS != fakesmtp.TLSNone || !t2.Implicit || t2.Cert != "" {
		t.Errorf("implicit tls defaults = %+v", t2)
	}
	if p := s.PosOf(&h.Replies.Rcpt[0].Reply.Times); p != (Pos{Line: 21, Col: 77}) {
		t.Errorf("PosOf(rcpt[0] times) = %v, want 21:77", p)
	}
	r := s.Relay
	if r.Kind != RelayPostfix || r.TLS != TLSMay || r.RetryInterval != time.Minute || r.MainCF["minimal_backoff_time"] != "10s" {
		t.Errorf("relay = %+v", r)
	}
	sh, err := ParseSmarthost(r.Smarthost)
	if err != nil || sh != (Smarthost{Host: "mx2.example.test", Port: 587}) {
		t.Errorf("smarthost = %+v, %v", sh, err)
	}
	if len(s.Steps) != 6 {
		t.Fatalf("%d steps, want 6", len(s.Steps))
	}
	kinds := []string{}
	for _, st := range s.Steps {
		kinds = append(kinds, st.Kind())
	}
	if want := []string{"send", "expect", "wait", "wait", "set", "flush"}; !slices.Equal(kinds, want) {
		t.Errorf("step kinds = %v, want %v", kinds, want)
	}
	send := s.Steps[0].Send
	if send.Size != 1024 || send.Headers["X-Test"] != "a" || send.ID != "m1" {
		t.Errorf("send = %+v", send)
	}
	ex := s.Steps[1].Expect
	if ex.Within != DefaultWithin || ex.Delivered.At != "mx2.example.test" || ex.NotDelivered.At != "mx1.example.test" {
		t.Errorf("expect = %+v", ex)
	}
	if p := s.PosOf(&ex.Delivered.At); p != (Pos{Line: 40, Col: 45}) {
		t.Errorf("PosOf(delivered.at) = %v, want 40:45", p)
	}
	if s.Steps[1].Pos != (Pos{Line: 39, Col: 5}) || ex.Pos != (Pos{Line: 40, Col: 7}) {
		t.Errorf("step pos %v, expect pos %v", s.Steps[1].Pos, ex.Pos)
	}
	if w := s.Steps[2].Wait; w.Until.DNSQuery.Type != "MX" || w.Timeout != DefaultWaitTimeout {
		t.Errorf("wait until = %+v", w)
	}
	if w := s.Steps[3].Wait; w.Duration != 2*time.Second || w.Until != nil {
		t.Errorf("wait = %+v", w)
	}
	if set := s.Steps[4].Set; set.State != fakesmtp.Down || !slices.Equal(set.Clear, []string{"greylist"}) {
		t.Errorf("set = %+v", set)
	}
	if s.Steps[5].Flush == nil || s.Steps[5].Flush.Pos != (Pos{Line: 45, Col: 5}) {
		t.Errorf("flush = %+v", s.Steps[5].Flush)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate on a parsed scenario: %v", err)
	}
}

// TestAnchors checks that anchors, aliases and merge keys work, and that
// explicit keys override merged ones.
func TestAnchors(t *testing.T) {
	src := `name: anchors
hosts:
  mx1.example.test: &slow
    delays: {greeting: 1s}
    state: down
  mx2.example.test:
    <<: *slow
    state: up
steps:
  - send: &msg {from: alice@origin.test, to: [bob@example.test]}
  - send: *msg
`
	s, err := Parse("a.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Host("mx2.example.test")
	if h.State != fakesmtp.Up || h.Delays == nil || h.Delays.Greeting != time.Second {
		t.Errorf("merged host = %+v", h)
	}
	if s.Steps[1].Send.From != "alice@origin.test" {
		t.Errorf("aliased send = %+v", s.Steps[1].Send)
	}
}

func TestValidateGoBuilt(t *testing.T) {
	s := &Scenario{
		File: "go",
		Name: "go-built",
		Steps: []*Step{
			{Send: &Send{From: "a@b.test", To: []string{"c@d.test"}, Body: "x", Size: 3}},
			{Expect: &Expect{}},
		},
	}
	err := s.Validate()
	var l ErrorList
	if !errors.As(err, &l) || len(l) != 1 || !strings.Contains(l[0].Msg, "body or size") {
		t.Errorf("Validate = %v, want one body-or-size error", err)
	}
	if l[0].Error() != "go: send takes body or size, not both" {
		t.Errorf("error without position = %q", l[0].Error())
	}
}

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"ok.yaml":  {Data: []byte("name: ok\nsteps: [{flush: {}}]\n")},
		"bad.yaml": {Data: []byte("name: bad\nsteps: [{flsh: {}}]\n")},
	}
	s, err := Load(fsys, "ok.yaml")
	if err != nil || s.Name != "ok" || s.File != "ok.yaml" {
		t.Errorf("Load(ok.yaml) = %+v, %v", s, err)
	}
	if _, err := Load(fsys, "bad.yaml"); err == nil || !strings.HasPrefix(err.Error(), `bad.yaml:2:10: unknown key "flsh" in step`) {
		t.Errorf("Load(bad.yaml) error = %v", err)
	}
	_, err = Load(fsys, "missing.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing.yaml) error = %v, want fs.ErrNotExist", err)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "missing.yaml: read scenario:") {
		t.Errorf("Load(missing.yaml) error = %v", err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadFile(nope) error = %v", err)
	}
}

func TestLoadAll(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("a.yaml", "name: one\nsteps: [{flush: {}}]\n")
	write("sub/b.yml", "name: two\nsteps: [{flush: {}}]\n")
	write("sub/c.yaml", "name: one\nsteps: [{flush: {}}]\n")
	write("sub/d.yaml", "name: broken\nsteps: [{wait: soon}]\n")
	write("notes.txt", "not a scenario")
	single := write("single/e.yaml", "name: three\nsteps: [{flush: {}}]\n")
	missing := filepath.Join(dir, "missing")

	got, err := LoadAll(filepath.Join(dir, "a.yaml"), filepath.Join(dir, "sub"), single, missing)
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if want := []string{"one", "two", "three"}; !slices.Equal(names, want) {
		t.Errorf("loaded %v, want %v", names, want)
	}
	var l ErrorList
	if !errors.As(err, &l) || len(l) != 3 {
		t.Fatalf("LoadAll error = %v, want 3 errors", err)
	}
	msgs := err.Error()
	for _, want := range []string{
		filepath.Join(dir, "missing") + ": load scenarios:",
		filepath.Join(dir, "sub", "c.yaml") + `:1:7: duplicate scenario name "one" (first in ` + filepath.Join(dir, "a.yaml") + ":1:7)",
		filepath.Join(dir, "sub", "d.yaml") + `:2:16: "wait": bad duration "soon"`,
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("LoadAll errors lack %q:\n%s", want, msgs)
		}
	}
	if got, err := LoadAll(dir + "/sub/b.yml"); err != nil || len(got) != 1 {
		t.Errorf("LoadAll(one file) = %d, %v", len(got), err)
	}
}

func TestParseSmarthost(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Smarthost
		err  bool
	}{
		{"[smtp.example.test]:587", Smarthost{"smtp.example.test", 587, false}, false},
		{"[smtp.example.test]", Smarthost{"smtp.example.test", 25, false}, false},
		{"example.test:2525", Smarthost{"example.test", 2525, true}, false},
		{"Example.Test", Smarthost{"example.test", 25, true}, false},
		{"[smtp.example.test", Smarthost{}, true},
		{"[smtp.example.test]:0", Smarthost{}, true},
		{"[smtp.example.test]587", Smarthost{}, true},
		{"smtp..test:25", Smarthost{}, true},
	} {
		got, err := ParseSmarthost(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseSmarthost(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse("x.yaml", []byte("name: x\n\tsteps: []\n"))
	if err == nil {
		t.Fatal("Parse accepted a tab-indented file")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not match ErrInvalid", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.File != "x.yaml" || e.Line == 0 {
		t.Errorf("errors.As(*Error) = %+v", e)
	}
	one := &Error{File: "f.yaml", Line: 2, Col: 3, Msg: "boom", Source: "ab: cd\n  ^"}
	if got, want := one.Error(), "f.yaml:2:3: boom\n    ab: cd\n      ^"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (ErrorList{one, {File: "g.yaml", Msg: "gone"}}).Error(); got != one.Error()+"\ng.yaml: gone" {
		t.Errorf("ErrorList.Error() = %q", got)
	}
	if (ErrorList{}).Is(ErrInvalid) {
		t.Error("an empty ErrorList matches ErrInvalid")
	}
}

func TestSchemaIsACopy(t *testing.T) {
	a := Schema()
	a[0] = 'x'
	if Schema()[0] != '{' {
		t.Error("Schema returns the embedded bytes, not a copy")
	}
}

// TestDocExamples parses every complete scenario (a yaml block with a
// name: line) in docs/scenarios.md, so the user guide cannot rot.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "scenarios.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")[1:]
	n := 0
	for i, b := range blocks {
		src, _, _ := strings.Cut(b, "```")
		if !strings.Contains(src, "\nname: ") && !strings.HasPrefix(src, "name: ") {
			continue
		}
		n++
		if _, err := Parse(fmt.Sprintf("docs/scenarios.md block %d", i+1), []byte(src)); err != nil {
			t.Errorf("%v", err)
		}
	}
	if n < 2 {
		t.Errorf("found %d complete examples in docs/scenarios.md, want at least 2", n)
	}
	// The anchor tip, as a scenario.
	src := "name: tip\nhosts:\n  mx1.example.test: &slow {delays: {greeting: 1s}}\n  mx2.example.test: {<<: *slow, state: down}\nsteps: [{flush: {}}]\n"
	s, err := Parse("tip.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if h := s.Host("mx2.example.test"); h.State != fakesmtp.Down || h.Delays == nil {
		t.Errorf("merged host = %+v", h)
	}
}
