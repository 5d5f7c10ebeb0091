package scenarios

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/mxsim/mxsim/fakesmtp"
)

// Behavior is how a simulated host behaves, in the shape scenario files
// write it. Its parts are fakesmtp's types, the one definition of a
// behaviour and of its rules (fakesmtp.Behavior.Validate); what Behavior
// adds is presence: every part is optional (nil, or "" for State, means
// not written), so that a `set` step replaces only the parts it names.
// Apply turns it into a fakesmtp.Behavior.
//
// One part sits elsewhere than in fakesmtp.Behavior: the greeting replies
// are written next to replies (`greeting: "421 4.3.2 busy"`), not inside
// it, and are fakesmtp's Replies.Greeting.
type Behavior struct {
	State            fakesmtp.State        `yaml:"state"`                      // "" means up
	Greeting         []fakesmtp.Rule       `yaml:"greeting"`                   // replies instead of 220 (then the host closes)
	Replies          *fakesmtp.Replies     `yaml:"replies" mx:"omit=greeting"` // per-stage replies; its Greeting is not read (Scenario.Validate says so)
	Delays           *fakesmtp.Delays      `yaml:"delays"`                     // per-stage delays before replying
	HangupAfter      *int                  `yaml:"hangup_after"`               // close the connection after this many commands
	DisconnectInData *int                  `yaml:"disconnect_in_data"`         // close after this many bytes of message data (DATA or BDAT)
	Greylist         *fakesmtp.Greylist    `yaml:"greylist"`
	Relay            *fakesmtp.RelayPolicy `yaml:"relay"`
	Auth             *fakesmtp.Auth        `yaml:"auth"`
	TLS              *fakesmtp.TLS         `yaml:"tls"` // starttls left out: offered, or none with implicit TLS (Parse fills it in)
	Limits           *fakesmtp.Limits      `yaml:"limits"`
	Extensions       *fakesmtp.Extensions  `yaml:"extensions"` // EHLO extensions turned off (no_chunking)
	Verify           *fakesmtp.Verify      `yaml:"verify"`     // SPF, DKIM and DMARC checks of accepted mail, and their enforcement
}

// BehaviorKeys returns the YAML keys of Behavior, in order; `set: {clear: […]}`
// and ClearBehavior take these.
func BehaviorKeys() []string { return keysOf(reflect.TypeFor[Behavior]()) }

// IsZero reports whether no part of b is set.
func (b *Behavior) IsZero() bool {
	return b.State == "" && b.Greeting == nil && b.Replies == nil && b.Delays == nil && b.HangupAfter == nil &&
		b.DisconnectInData == nil && b.Greylist == nil && b.Relay == nil && b.Auth == nil && b.TLS == nil && b.Limits == nil &&
		b.Extensions == nil && b.Verify == nil
}

// Apply returns base with each part that b has in place of base's part of
// the same name — what a host under `hosts` means (on the zero
// fakesmtp.Behavior) and what a `set` step does (on the host's current
// behaviour) — and the result's Validate error. The result shares no
// slice or map with b or base.
func (b *Behavior) Apply(base fakesmtp.Behavior) (fakesmtp.Behavior, error) {
	out := b.over(base)
	return out, out.Validate()
}

// over is Apply without the validation.
func (b *Behavior) over(base fakesmtp.Behavior) fakesmtp.Behavior {
	out := base
	if b.State != "" {
		out.State = b.State
	}
	if b.Greeting != nil {
		out.Replies.Greeting = b.Greeting
	}
	if b.Replies != nil {
		greeting := out.Replies.Greeting
		out.Replies = *b.Replies
		out.Replies.Greeting = greeting
	}
	if b.Delays != nil {
		out.Delays = *b.Delays
	}
	if b.HangupAfter != nil {
		out.HangupAfter = *b.HangupAfter
	}
	if b.DisconnectInData != nil {
		out.DisconnectInData = *b.DisconnectInData
	}
	if b.Greylist != nil {
		out.Greylist = b.Greylist
	}
	if b.Relay != nil {
		out.Relay = b.Relay
	}
	if b.Auth != nil {
		out.Auth = b.Auth
	}
	if b.TLS != nil {
		out.TLS = *b.TLS
	}
	if b.Limits != nil {
		out.Limits = *b.Limits
	}
	if b.Extensions != nil {
		out.Extensions = *b.Extensions
	}
	if b.Verify != nil {
		out.Verify = b.Verify
	}
	return out.Clone()
}

// ClearBehavior returns base with the parts named by keys (BehaviorKeys)
// back to normal, as `clear:` in a set step does: "replies" clears every
// stage but the greeting, which has a key of its own. An unknown key is
// an error matching ErrInvalid.
func ClearBehavior(base fakesmtp.Behavior, keys ...string) (fakesmtp.Behavior, error) {
	out := base.Clone()
	for _, k := range keys {
		switch k {
		case "state":
			out.State = fakesmtp.Up
		case "greeting":
			out.Replies.Greeting = nil
		case "replies":
			out.Replies = fakesmtp.Replies{Greeting: out.Replies.Greeting}
		case "delays":
			out.Delays = fakesmtp.Delays{}
		case "hangup_after":
			out.HangupAfter = 0
		case "disconnect_in_data":
			out.DisconnectInData = 0
		case "greylist":
			out.Greylist = nil
		case "relay":
			out.Relay = nil
		case "auth":
			out.Auth = nil
		case "tls":
			out.TLS = fakesmtp.TLS{}
		case "limits":
			out.Limits = fakesmtp.Limits{}
		case "extensions":
			out.Extensions = fakesmtp.Extensions{}
		case "verify":
			out.Verify = nil
		default:
			return base, fmt.Errorf("%w: clear: unknown behaviour key %q (valid: %s)", ErrInvalid, k, strings.Join(BehaviorKeys(), ", "))
		}
	}
	return out, nil
}

// Apply runs the host part of a set step on base, the host's current
// behaviour: the parts listed in Clear go back to normal, then the parts
// present replace base's (Behavior.Apply).
func (s *Set) Apply(base fakesmtp.Behavior) (fakesmtp.Behavior, error) {
	b, err := ClearBehavior(base, s.Clear...)
	if err != nil {
		return base, err
	}
	return s.Behavior.Apply(b)
}

// applyDefaults fills in what the scenario format means by a part left
// half written. fakesmtp's own defaults (greylist and relay replies, the
// certificate) apply as they are.
func (b *Behavior) applyDefaults() {
	if a := b.Auth; a != nil && a.Mechanisms == nil {
		// Written out, so that reports name the mechanisms offered.
		a.Mechanisms = fakesmtp.DefaultMechanisms()
	}
	// A tls section is there to turn TLS on: STARTTLS is offered unless
	// TLS is implicit (fakesmtp's zero TLS offers nothing).
	if t := b.TLS; t != nil && t.StartTLS == "" {
		t.StartTLS = fakesmtp.TLSOffered
		if t.Implicit {
			t.StartTLS = fakesmtp.TLSNone
		}
	}
}

// behavior checks b with fakesmtp's rules (the parts present, on the zero
// behaviour) and reports each *fakesmtp.FieldError at the position of the
// value its path names, or at fallback.
func (v *validator) behavior(b *Behavior, fallback Pos) {
	if b.Replies != nil && b.Replies.Greeting != nil {
		// Only a Behavior built in Go can have it: the decoder refuses the key.
		v.at(&b.Replies.Greeting, fallback, "replies.greeting is not read: the greeting replies go in greeting, next to replies")
	}
	for _, err := range unjoin(b.over(fakesmtp.Behavior{}).Validate()) {
		var fe *fakesmtp.FieldError
		if !errors.As(err, &fe) {
			v.e.at(fallback, "%v", err)
			continue
		}
		p := b.fieldPos(v.s.positions, fe.Field)
		if !p.IsValid() {
			p = fallback
		}
		if p != fallback && v.decodedErrorAt(p) {
			// The decoder refused the value written there (a negative
			// count, a bad duration) and left it zero: what fakesmtp says
			// of the zero would be a second, wrong, report.
			continue
		}
		v.e.at(p, "%s: %s", scenarioPath(fe.Field), fe.Msg).Err = fe
	}
}

// decodedErrorAt reports whether the decoder reported a mistake at p,
// before validation began.
func (v *validator) decodedErrorAt(p Pos) bool {
	for _, e := range v.e.list[:min(v.decoded, len(v.e.list))] {
		if e.Line == p.Line && e.Col == p.Col {
			return true
		}
	}
	return false
}

// unjoin returns the errors that errors.Join put together, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// scenarioPath turns a FieldError path of fakesmtp.Behavior into the path
// of the same value in a scenario: the greeting is not under replies.
func scenarioPath(path string) string {
	if rest, ok := strings.CutPrefix(path, "replies.greeting"); ok {
		return "greeting" + rest
	}
	return path
}

// fieldPos returns the position the decoder recorded (in pos) for the
// value that a FieldError path names in b, "replies.rcpt[0].reply.code"
// or "limits.max_size": that of the deepest part of the path it knows.
// Path segments are the YAML keys of the types, or their JSON keys where
// they have no YAML ones (fakesmtp.Rule, fakesmtp.Reply).
func (b *Behavior) fieldPos(pos map[any]Pos, path string) Pos {
	var best Pos
	note := func(v reflect.Value) {
		if p := pos[v.Addr().Interface()]; p.IsValid() {
			best = p
		}
	}
	v := reflect.ValueOf(b).Elem()
	for seg := range strings.SplitSeq(scenarioPath(path), ".") {
		name, idx := splitIndex(seg)
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return best
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return best
		}
		f, ok := fieldByKey(v.Type(), name)
		if !ok {
			return best
		}
		v = v.FieldByIndex(f)
		note(v)
		for _, i := range idx {
			if v.Kind() != reflect.Slice || i >= v.Len() {
				return best
			}
			v = v.Index(i)
			note(v)
		}
	}
	return best
}

// splitIndex splits "rcpt[0]" into "rcpt" and [0].
func splitIndex(seg string) (string, []int) {
	name, rest, _ := strings.Cut(seg, "[")
	var idx []int
	for rest != "" {
		n, more, _ := strings.Cut(rest, "]")
		i, err := strconv.Atoi(n)
		if err != nil {
			break
		}
		idx = append(idx, i)
		rest = strings.TrimPrefix(more, "[")
	}
	return name, idx
}

// fieldByKey finds the field of struct type t that key names.
func fieldByKey(t reflect.Type, key string) ([]int, bool) {
	for _, f := range fieldsOf(t) {
		if f.key == key {
			return f.index, true
		}
	}
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name == key {
			return []int{i}, true
		}
	}
	return nil, false
}

// ruleMap is the map form of a reply rule, and of a lone reply (which
// takes no match).
type ruleMap struct {
	Reply string `yaml:"reply" mx:"required"`
	Match string `yaml:"match"`
	Times int    `yaml:"times"`
}

// rulePos holds the positions of the parts of a rule as written.
type rulePos struct{ rule, reply, match, times Pos }

// decodeShape decodes the fakesmtp types that scenario files write in a
// shape of their own, and reports whether v is one of them:
//
//   - the rules of a stage ([]fakesmtp.Rule): one rule, or a list of them;
//   - a rule: a reply string "451 4.7.1 text" (fakesmtp.ParseReply), or a
//     map {reply, match, times};
//   - a lone reply (fakesmtp.Reply: greylist.reply, relay.reject): the
//     same, without match.
func (d *decoder) decodeShape(n ast.Node, v reflect.Value, what string) bool {
	if !v.CanAddr() {
		return false
	}
	switch p := v.Addr().Interface().(type) {
	case *[]fakesmtp.Rule:
		d.decodeRules(n, p, what)
	case *fakesmtp.Reply:
		d.decodeReply(n, p, what)
	default:
		return false
	}
	return true
}

// isShape reports whether values of t are decoded by decodeShape.
func isShape(t reflect.Type) bool {
	return t == reflect.TypeFor[[]fakesmtp.Rule]() || t == reflect.TypeFor[fakesmtp.Reply]()
}

// decodeRules reads one rule or a list of rules; rules that cannot be
// read are reported and left out. Null leaves v nil (the part is absent).
func (d *decoder) decodeRules(n ast.Node, v *[]fakesmtp.Rule, what string) {
	if n == nil {
		return
	}
	items := []ast.Node{n}
	if seq, ok := n.(*ast.SequenceNode); ok {
		items = seq.Values
	}
	var rules []fakesmtp.Rule
	var ps []rulePos
	for _, it := range items {
		if r, p, ok := d.decodeRule(d.resolve(it), what); ok {
			rules = append(rules, r)
			ps = append(ps, p)
		}
	}
	// Positions are recorded at the addresses of the final slice.
	out := make([]fakesmtp.Rule, len(rules))
	copy(out, rules)
	for i := range out {
		r, p := &out[i], ps[i]
		d.pos[r], d.pos[&r.Match] = p.rule, p.match
		d.recordReply(&r.Reply, p)
	}
	*v = out
}

// decodeReply reads a lone reply: a rule without match.
func (d *decoder) decodeReply(n ast.Node, v *fakesmtp.Reply, what string) {
	r, p, ok := d.decodeRule(n, what)
	if !ok {
		return
	}
	if r.Match != "" {
		d.e.at(p.match, "%q takes no match: only mail and rcpt replies have an address to match", what)
		return
	}
	*v = r.Reply
	d.recordReply(v, p)
}

func (d *decoder) recordReply(r *fakesmtp.Reply, p rulePos) {
	d.pos[r], d.pos[&r.Code], d.pos[&r.Enhanced], d.pos[&r.Text] = p.reply, p.reply, p.reply, p.reply
	d.pos[&r.Times] = p.times
}

// decodeRule reads a rule as a reply string or a {reply, match, times}
// map; ok is false when it could not (the mistake is reported).
func (d *decoder) decodeRule(n ast.Node, what string) (r fakesmtp.Rule, p rulePos, ok bool) {
	p.rule = d.nullPos(n, nil)
	p.reply, p.match, p.times = p.rule, p.rule, p.rule
	if s, isString := stringOf(n); isString {
		reply, err := fakesmtp.ParseReply(s)
		if err != nil {
			d.e.at(p.rule, "%q: %v", what, err)
			return r, p, false
		}
		return fakesmtp.Rule{Reply: reply}, p, true
	}
	if _, isMap := d.entries(n); !isMap || n == nil {
		d.e.at(p.rule, "%q must be a reply like \"451 4.7.1 text\" or a map {reply, match, times}, got %s", what, kindOf(n))
		return r, p, false
	}
	var m ruleMap
	before := len(d.e.list)
	d.decodeStruct(n, n, reflect.ValueOf(&m).Elem(), what)
	if len(d.e.list) > before || m.Reply == "" {
		return r, p, false
	}
	for _, f := range []struct {
		at  *Pos
		ptr any
	}{{&p.reply, &m.Reply}, {&p.match, &m.Match}, {&p.times, &m.Times}} {
		if q := d.pos[f.ptr]; q.IsValid() {
			*f.at = q
		}
		delete(d.pos, f.ptr)
	}
	reply, err := fakesmtp.ParseReply(m.Reply)
	if err != nil {
		d.e.at(p.reply, "%q: %v", what, err)
		return r, p, false
	}
	reply.Times = m.Times
	return fakesmtp.Rule{Match: m.Match, Reply: reply}, p, true
}
