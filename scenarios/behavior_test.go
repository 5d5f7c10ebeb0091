package scenarios

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
)

func ptr[T any](v T) *T { return &v }

// parts has, for every behaviour key, a Behavior with only that part set
// and what the part becomes in a fakesmtp.Behavior.
var parts = map[string]struct {
	b    Behavior
	want func(*fakesmtp.Behavior) any
}{
	"state":              {Behavior{State: fakesmtp.Down}, func(f *fakesmtp.Behavior) any { return f.State }},
	"greeting":           {Behavior{Greeting: fakesmtp.Forced(fakesmtp.Reply{Code: 421})}, func(f *fakesmtp.Behavior) any { return f.Replies.Greeting }},
	"replies":            {Behavior{Replies: &fakesmtp.Replies{Rcpt: fakesmtp.Forced(fakesmtp.Reply{Code: 452})}}, func(f *fakesmtp.Behavior) any { return f.Replies.Rcpt }},
	"delays":             {Behavior{Delays: &fakesmtp.Delays{Mail: time.Second}}, func(f *fakesmtp.Behavior) any { return f.Delays }},
	"hangup_after":       {Behavior{HangupAfter: ptr(3)}, func(f *fakesmtp.Behavior) any { return f.HangupAfter }},
	"disconnect_in_data": {Behavior{DisconnectInData: ptr(10)}, func(f *fakesmtp.Behavior) any { return f.DisconnectInData }},
	"greylist":           {Behavior{Greylist: &fakesmtp.Greylist{Window: time.Second}}, func(f *fakesmtp.Behavior) any { return f.Greylist }},
	"relay":              {Behavior{Relay: &fakesmtp.RelayPolicy{Accept: []string{"example.test"}}}, func(f *fakesmtp.Behavior) any { return f.Relay }},
	"auth":               {Behavior{Auth: &fakesmtp.Auth{Users: map[string]string{"u": "p"}}}, func(f *fakesmtp.Behavior) any { return f.Auth }},
	"tls":                {Behavior{TLS: &fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered}}, func(f *fakesmtp.Behavior) any { return f.TLS }},
	"limits":             {Behavior{Limits: &fakesmtp.Limits{MaxSize: 1000}}, func(f *fakesmtp.Behavior) any { return f.Limits }},
	"extensions":         {Behavior{Extensions: &fakesmtp.Extensions{NoChunking: true}}, func(f *fakesmtp.Behavior) any { return f.Extensions }},
	"verify":             {Behavior{Verify: &fakesmtp.Verify{SPF: true}}, func(f *fakesmtp.Behavior) any { return f.Verify }},
}

// TestApplyAndClearEveryPart checks that Apply and ClearBehavior know every
// key of Behavior: a part that is set changes the result, and clearing it
// by its key brings the normal behaviour back.
func TestApplyAndClearEveryPart(t *testing.T) {
	keys := BehaviorKeys()
	if len(keys) != len(parts) {
		t.Errorf("BehaviorKeys() = %v, the test knows %d parts", keys, len(parts))
	}
	for _, k := range keys {
		p, ok := parts[k]
		if !ok {
			t.Errorf("no test part for key %q", k)
			continue
		}
		if p.b.IsZero() {
			t.Errorf("%s: IsZero with the part set", k)
		}
		got, err := p.b.Apply(fakesmtp.Behavior{})
		if err != nil {
			t.Errorf("%s: Apply: %v", k, err)
		}
		if reflect.ValueOf(p.want(&got)).IsZero() {
			t.Errorf("%s: Apply left the part zero: %+v", k, got)
		}
		cleared, err := ClearBehavior(got, k)
		if err != nil {
			t.Errorf("%s: ClearBehavior: %v", k, err)
		}
		if k == "state" {
			cleared.State = "" // cleared to Up, which is also ""
		}
		if !reflect.DeepEqual(cleared, fakesmtp.Behavior{}) {
			t.Errorf("%s: cleared = %+v", k, cleared)
		}
	}
	if _, err := ClearBehavior(fakesmtp.Behavior{}, "greylisting"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ClearBehavior(unknown key) = %v", err)
	}
}

// TestSetApply checks the semantics of a set step: the parts present
// replace the base's, the others stay, clear resets, the greeting and the
// other replies are separate parts, and the result shares nothing with
// the scenario.
func TestSetApply(t *testing.T) {
	base := fakesmtp.Behavior{
		Replies:  fakesmtp.Replies{Greeting: fakesmtp.Forced(fakesmtp.Reply{Code: 554}), Mail: fakesmtp.Forced(fakesmtp.Reply{Code: 451})},
		Greylist: &fakesmtp.Greylist{Window: time.Minute},
		Auth:     &fakesmtp.Auth{Users: map[string]string{"u": "p"}},
		Limits:   fakesmtp.Limits{MaxConns: 2},
	}
	set := &Set{
		Behavior: Behavior{
			State:   fakesmtp.Down,
			Replies: &fakesmtp.Replies{Rcpt: fakesmtp.Forced(fakesmtp.Reply{Code: 452})},
			Relay:   &fakesmtp.RelayPolicy{Accept: []string{"example.test"}},
		},
		Clear: []string{"greylist"},
	}
	got, err := set.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case got.State != fakesmtp.Down:
		t.Errorf("state %q", got.State)
	case len(got.Replies.Greeting) != 1 || got.Replies.Mail != nil || len(got.Replies.Rcpt) != 1:
		t.Errorf("replies %+v: want the greeting kept, mail gone, rcpt set", got.Replies)
	case got.Greylist != nil:
		t.Errorf("greylist %+v not cleared", got.Greylist)
	case got.Auth == nil || got.Limits.MaxConns != 2 || got.Relay == nil:
		t.Errorf("parts not named changed: %+v", got)
	}
	got.Relay.Accept[0] = "changed.test"
	got.Auth.Users["u"] = "changed"
	if set.Relay.Accept[0] != "example.test" || base.Auth.Users["u"] != "p" {
		t.Error("the result shares slices or maps with the set step or the base")
	}
	// An invalid result is reported with fakesmtp's FieldError.
	bad := &Set{Behavior: Behavior{Greylist: &fakesmtp.Greylist{Reply: &fakesmtp.Reply{Code: 550}}}}
	var fe *fakesmtp.FieldError
	if _, err := bad.Apply(base); !errors.As(err, &fe) || fe.Field != "greylist.reply.code" {
		t.Errorf("Apply(5xx greylist) = %v, want a FieldError for greylist.reply.code", err)
	}
}

// TestBehaviorErrorsPointAtValues checks that a FieldError found by
// fakesmtp lands on the line and column of the value it names, in hosts
// and in set steps, and keeps the FieldError as its cause.
func TestBehaviorErrorsPointAtValues(t *testing.T) {
	src := `name: positions
hosts:
  mx1.example.test:
    greeting: ["421 4.3.2 busy", "250 ok"]
    replies:
      rcpt:
        - "452 4.2.2 full"
        - {match: "[", reply: "550 5.1.1 no"}
    limits: {max_conns: 2, max_size: 9999999999}
steps:
  - set: {host: mx1.example.test, auth: {required: true}}
`
	_, err := Parse("p.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse = %v, want an ErrorList", err)
	}
	want := []struct {
		line, col int
		field     string
	}{{4, 34, "replies.greeting[1].reply.code"}, {8, 19, "replies.rcpt[1].match"}, {9, 38, "limits.max_size"}, {11, 52, "auth.required"}}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		e := list[i]
		var fe *fakesmtp.FieldError
		if e.Line != w.line || e.Col != w.col || !errors.As(e, &fe) || fe.Field != w.field || !errors.Is(e, fakesmtp.ErrInvalid) {
			t.Errorf("error %d = %d:%d %q (cause %v), want %d:%d for %s", i, e.Line, e.Col, e.Msg, e.Err, w.line, w.col, w.field)
		}
	}
	if got := list[0].Msg; got[:len("greeting[1].reply.code: 250:")] != "greeting[1].reply.code: 250:" {
		t.Errorf("greeting path not written as in the file: %q", got)
	}
}

// TestKeysAreFakesmtps checks that a behaviour has one set of names: the
// keys of Behavior are those of fakesmtp.Behavior, where Validate's
// FieldError paths start, plus greeting (fakesmtp's replies.greeting).
func TestKeysAreFakesmtps(t *testing.T) {
	want := []string{"greeting"}
	typ := reflect.TypeFor[fakesmtp.Behavior]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		want = append(want, name)
	}
	got := BehaviorKeys()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("BehaviorKeys() = %v, want fakesmtp's %v", got, want)
	}
}

func TestValidateGoBuiltBehavior(t *testing.T) {
	s := &Scenario{
		Name:  "go-built",
		Hosts: []*Host{{Name: "mx1.example.test", Behavior: Behavior{Replies: &fakesmtp.Replies{Greeting: fakesmtp.Forced(fakesmtp.Reply{Code: 421})}}}},
		Steps: []*Step{{Set: &Set{Host: "mx1.example.test", Behavior: Behavior{Greylist: &fakesmtp.Greylist{Reply: &fakesmtp.Reply{Code: 550}}}}}},
	}
	err := s.Validate()
	for _, want := range []string{"replies.greeting is not read", "greylist.reply.code: 550"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %q", err, want)
		}
	}
}

func TestFieldPosFallsBack(t *testing.T) {
	b := &Behavior{Auth: &fakesmtp.Auth{Users: map[string]string{"": "x"}}}
	pos := map[any]Pos{&b.Auth: {Line: 3, Col: 5}}
	for path, want := range map[string]Pos{
		"auth.users":         {Line: 3, Col: 5}, // no position of its own: the part's
		"auth.mechanisms[4]": {Line: 3, Col: 5}, // no such element
		"greylist.window":    {},                // no such part
		"nonsense[x].y":      {},
	} {
		if got := b.fieldPos(pos, path); got != want {
			t.Errorf("fieldPos(%q) = %v, want %v", path, got, want)
		}
	}
	if name, idx := splitIndex("rcpt[2][3]"); name != "rcpt" || !slices.Equal(idx, []int{2, 3}) {
		t.Errorf("splitIndex = %q %v", name, idx)
	}
}

// TestExtensionsKey: `extensions: {no_chunking: true}` turns CHUNKING off
// on a host and in a set step, `clear: [extensions]` turns it back on,
// and a bad value or an unknown key is an error at its line and column.
func TestExtensionsKey(t *testing.T) {
	src := `name: no-chunking
hosts:
  mx1.example.test:
    extensions: {no_chunking: true}
steps:
  - set: {host: mx1.example.test, clear: [extensions]}
  - set: {host: mx1.example.test, extensions: {no_chunking: false}}
`
	s, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	b, err := s.Hosts[0].Behavior.Apply(fakesmtp.Behavior{})
	if err != nil || !b.Extensions.NoChunking {
		t.Fatalf("host behaviour %+v, %v: want no_chunking", b.Extensions, err)
	}
	if got := BehaviorOf(b); got.Extensions == nil || !got.Extensions.NoChunking {
		t.Errorf("BehaviorOf lost the extensions part: %+v", got.Extensions)
	}
	cleared, err := s.Steps[0].Set.Apply(b)
	if err != nil || cleared.Extensions.NoChunking {
		t.Errorf("clear: [extensions] = %+v, %v: want CHUNKING back", cleared.Extensions, err)
	}
	if s.Steps[1].Set.Extensions == nil {
		t.Error("set step lost its extensions part")
	}
	for _, tc := range []struct {
		value     string
		line, col int
		want      string
	}{
		{"{no_chunking: maybe}", 4, 31, "no_chunking"},
		{"{chunking: false}", 4, 18, "chunking"},
		{"[no_chunking]", 4, 17, "extensions"},
	} {
		bad := strings.Replace(src, "{no_chunking: true}", tc.value, 1)
		_, err := Parse("x.yaml", []byte(bad))
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 || list[0].Line != tc.line || list[0].Col != tc.col || !strings.Contains(list[0].Error(), tc.want) {
			t.Errorf("extensions: %s = %v, want one error at %d:%d naming %s", tc.value, err, tc.line, tc.col, tc.want)
		}
	}
}
