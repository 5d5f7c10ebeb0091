package scenarios

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/fakesmtp"
)

// The way back: what a running network is, written in the shape a scenario
// file writes it, so that a program can show a host, a zone or a fault as
// a scenario would have it and take the same text back through
// ParseBehavior, ParseZone and ParseFault. The keys are those the decoder
// reads (the yaml tags of these types, with their mx:"omit=" options), so
// a key renamed there is renamed here: there is no second table.
//
// Each value is written in one shape of those the decoder takes: a reply
// rule as its text ("451 4.7.1 try again") or, when it has a match or
// times, as a map {reply, match, times}; the rules of a stage as a list;
// a duration as "2s"; an address as text; a fault as a map. A value that
// is zero is left out, since the decoder reads a missing key as zero, but
// a part that is present is written even when empty ("greylist": {}).

// BehaviorOf returns b in the scenario's shape: a part is present when it
// differs from the zero fakesmtp.Behavior (State when it is not ""), and
// the greeting replies are taken out of Replies to the top level. For
// every b that Validate accepts,
//
//	BehaviorOf(b).Apply(fakesmtp.Behavior{})
//
// does what b does: it equals b, except that a TLS part whose StartTLS is
// "" comes back as TLSNone (a tls part written in a scenario offers
// STARTTLS unless it says otherwise), and empty lists come back nil. The
// result shares nothing with b.
func BehaviorOf(b fakesmtp.Behavior) *Behavior {
	b = b.Clone()
	out := &Behavior{State: b.State}
	if len(b.Replies.Greeting) > 0 {
		out.Greeting = b.Replies.Greeting
	}
	r := b.Replies
	r.Greeting = nil
	if hasRules(r) {
		out.Replies = &r
	}
	if b.Delays != (fakesmtp.Delays{}) {
		out.Delays = &b.Delays
	}
	if b.HangupAfter != 0 {
		out.HangupAfter = &b.HangupAfter
	}
	if b.DisconnectInData != 0 {
		out.DisconnectInData = &b.DisconnectInData
	}
	out.Greylist, out.Relay, out.Auth = b.Greylist, b.Relay, b.Auth
	if b.TLS != (fakesmtp.TLS{}) {
		t := b.TLS
		if t.StartTLS == "" {
			t.StartTLS = fakesmtp.TLSNone
		}
		out.TLS = &t
	}
	if b.Limits != (fakesmtp.Limits{}) {
		out.Limits = &b.Limits
	}
	if b.Extensions != (fakesmtp.Extensions{}) {
		out.Extensions = &b.Extensions
	}
	out.Verify = b.Verify
	return out
}

// hasRules reports whether any stage of r has a rule; empty stages are
// made nil, so that they are not written.
func hasRules(r fakesmtp.Replies) bool {
	v := reflect.ValueOf(r)
	for i := range v.NumField() {
		if v.Field(i).Len() > 0 {
			return true
		}
	}
	return false
}

// MarshalJSON writes b in the scenario's shape, the one ParseBehavior
// reads: {"greylist": {"window": "30s"}, "replies": {"rcpt": ["452 4.2.2
// full"]}}. Host and Set, which embed Behavior, have no JSON form of their
// own: they get Behavior's methods, which write and read their behaviour
// only.
func (b Behavior) MarshalJSON() ([]byte, error) {
	return json.Marshal(shapeOf(reflect.ValueOf(b), nil))
}

// MarshalYAML writes b as MarshalJSON does, for goccy/go-yaml.
func (b Behavior) MarshalYAML() (any, error) {
	return shapeOf(reflect.ValueOf(b), nil).(ordered).yaml(), nil
}

// UnmarshalJSON reads b with ParseBehavior: the scenario's shape, its
// strict checks and its defaults.
func (b *Behavior) UnmarshalJSON(data []byte) error {
	p, err := ParseBehavior(data)
	if err != nil {
		return err
	}
	*b = *p
	return nil
}

// MarshalJSON writes the zone in the scenario's shape, the value of its
// name under `dns:` (the name itself is not written), the one ParseZone
// reads.
func (z Zone) MarshalJSON() ([]byte, error) { return json.Marshal(shapeOf(reflect.ValueOf(z), nil)) }

// MarshalYAML writes z as MarshalJSON does, for goccy/go-yaml.
func (z Zone) MarshalYAML() (any, error) {
	return shapeOf(reflect.ValueOf(z), nil).(ordered).yaml(), nil
}

// MarshalJSON writes the fault in the scenario's shape, always as a map:
// {"name": "example.test", "type": "MX", "kind": "servfail", "times": 1}
// (no name for a zone's `fault:`), the one ParseFault reads.
func (f Fault) MarshalJSON() ([]byte, error) { return json.Marshal(shapeOf(reflect.ValueOf(f), nil)) }

// MarshalYAML writes f as MarshalJSON does, for goccy/go-yaml.
func (f Fault) MarshalYAML() (any, error) {
	return shapeOf(reflect.ValueOf(f), nil).(ordered).yaml(), nil
}

// ordered is a mapping whose keys keep their order: struct fields in the
// order of the type, as scenario files and the documentation list them.
type ordered []member

type member struct {
	key   string
	value any
}

// MarshalJSON writes o as a JSON object, keys in order.
func (o ordered) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// yaml returns o as goccy/go-yaml's ordered mapping, nested ones too.
func (o ordered) yaml() yaml.MapSlice {
	out := make(yaml.MapSlice, len(o))
	for i, m := range o {
		out[i] = yaml.MapItem{Key: m.key, Value: yamlValue(m.value)}
	}
	return out
}

func yamlValue(v any) any {
	switch t := v.(type) {
	case ordered:
		return t.yaml()
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = yamlValue(e)
		}
		return out
	}
	return v
}

var (
	rulesType = reflect.TypeFor[[]fakesmtp.Rule]()
	replyType = reflect.TypeFor[fakesmtp.Reply]()
)

// shapeOf returns v as the decoder reads it: ordered for a struct (the
// keys of fieldsOf, less omit, zero values left out) and for a keyed list,
// []any for a list, and strings, integers and booleans. The shapes of
// decodeShape are written by ruleShape and replyShape.
func shapeOf(v reflect.Value, omit []string) any {
	switch v.Type() {
	case durationType:
		return time.Duration(v.Int()).String()
	case addrType:
		return v.Interface().(netip.Addr).String()
	case rulesType:
		rules := v.Interface().([]fakesmtp.Rule)
		out := make([]any, len(rules))
		for i, r := range rules {
			out[i] = ruleShape(r)
		}
		return out
	case replyType:
		return replyShape(v.Interface().(fakesmtp.Reply))
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return shapeOf(v.Elem(), omit)
	case reflect.Struct:
		out := ordered{}
		for _, f := range fieldsOf(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if f.key == "" || slices.Contains(omit, f.key) || isEmpty(fv) {
				continue
			}
			out = append(out, member{f.key, shapeOf(fv, f.checks.omit)})
		}
		return out
	case reflect.Slice:
		if et := v.Type().Elem(); et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct && hasKeyField(et.Elem()) {
			return keyedShape(v)
		}
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = shapeOf(v.Index(i), nil)
		}
		return out
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		out := ordered{}
		for _, k := range keys {
			out = append(out, member{k.String(), shapeOf(v.MapIndex(k), nil)})
		}
		return out
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int64:
		return v.Int()
	case reflect.Bool:
		return v.Bool()
	}
	panic(fmt.Sprintf("scenarios: no scenario shape for %s", v.Type()))
}

// keyedShape writes a keyed list (dns, hosts, records) as the mapping of
// names it is decoded from: each name to its value field, or to the rest
// of its struct.
func keyedShape(v reflect.Value) ordered {
	out := ordered{}
	for i := range v.Len() {
		e := v.Index(i).Elem()
		var name string
		var value any
		for _, f := range fieldsOf(e.Type()) {
			switch {
			case f.checks.key:
				name = e.FieldByIndex(f.index).String()
			case f.checks.value:
				value = shapeOf(e.FieldByIndex(f.index), nil)
			}
		}
		if value == nil {
			value = shapeOf(e, nil)
		}
		out = append(out, member{name, value})
	}
	return out
}

// isEmpty reports whether v is left out: a zero value, or an empty list or
// mapping. A pointer to a part is written when it is not nil.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

// ruleShape writes a rule as its reply's text, or as {reply, match,
// times} when it has a match or times.
func ruleShape(r fakesmtp.Rule) any {
	if r.Match == "" && r.Reply.Times == 0 {
		return r.Reply.String()
	}
	out := ordered{{"reply", r.Reply.String()}}
	if r.Match != "" {
		out = append(out, member{"match", r.Match})
	}
	if r.Reply.Times != 0 {
		out = append(out, member{"times", int64(r.Reply.Times)})
	}
	return out
}

// replyShape writes a lone reply (greylist.reply, relay.reject): a rule
// without match.
func replyShape(r fakesmtp.Reply) any { return ruleShape(fakesmtp.Rule{Reply: r}) }

// ZoneFromRecords returns the zone name (any case, with or without the
// final dot) whose records are records, in the scenario's shape: the
// inverse of Zone.ZoneFile. records maps owner names (absolute with or
// without the final dot, or "@" or "" for the apex) to records written as
// a zone file writes them without the owner, a TTL first or not ("MX 10
// mx1.example.test.", "300 A 127.0.0.1": fakedns.Zone's form). The apex's
// MX, A, AAAA, TXT, CNAME, NS and TLSA records go under their keys, every
// other record under records; TTLs are dropped, as the scenario's shape
// has none. The zone is not checked as ParseZone checks it.
func ZoneFromRecords(name string, records map[string][]string) (*Zone, error) {
	if err := checkDomain(name); err != nil {
		return nil, fmt.Errorf("%w: zone: %w", ErrInvalid, err)
	}
	z := &Zone{Name: canonical(name)}
	other := map[string][]string{}
	for _, owner := range slices.Sorted(maps.Keys(records)) {
		o := canonical(owner)
		if o == "@" || o == "" {
			o = z.Name
		}
		if !inZone(o, z.Name) {
			return nil, fmt.Errorf("%w: zone %s: owner %q is not in the zone", ErrInvalid, z.Name, owner)
		}
		for _, text := range records[owner] {
			rr, err := dns.NewRR(fqdn(o) + " " + text)
			if err != nil || rr == nil {
				return nil, fmt.Errorf("%w: zone %s: bad record %q at %s: %v", ErrInvalid, z.Name, text, o, err)
			}
			if o != z.Name || !z.apexRecord(rr) {
				h := rr.Header()
				data := strings.TrimSpace(strings.TrimPrefix(rr.String(), h.String()))
				other[o] = append(other[o], dns.TypeToString[h.Rrtype]+" "+data)
			}
		}
	}
	for _, o := range slices.Sorted(maps.Keys(other)) {
		z.Records = append(z.Records, &Records{Name: o, Records: other[o]})
	}
	return z, nil
}

// apexRecord puts rr under its key of the zone, and reports whether the
// type has one.
func (z *Zone) apexRecord(rr dns.RR) bool {
	switch r := rr.(type) {
	case *dns.MX:
		z.MX = append(z.MX, &MX{Pref: int(r.Preference), Host: canonical(r.Mx)})
	case *dns.A:
		a, _ := netip.AddrFromSlice(r.A.To4())
		z.A = append(z.A, a)
	case *dns.AAAA:
		a, _ := netip.AddrFromSlice(r.AAAA.To16())
		z.AAAA = append(z.AAAA, a)
	case *dns.TXT:
		// quoteTXT split the value into character-strings; joined, they
		// are the value again.
		var parts []string
		for _, s := range r.Txt {
			parts = append(parts, unescapeTXT(s))
		}
		z.TXT = append(z.TXT, strings.Join(parts, ""))
	case *dns.CNAME:
		if z.CNAME != "" {
			return false
		}
		z.CNAME = canonical(r.Target)
	case *dns.NS:
		z.NS = append(z.NS, canonical(r.Ns))
	case *dns.TLSA:
		z.TLSA = append(z.TLSA, fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, r.Certificate))
	default:
		return false
	}
	return true
}

// unescapeTXT undoes the escapes miekg/dns keeps in a character-string:
// \" and \\, and \DDD for a byte.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 10, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		i++
		b.WriteByte(s[i])
	}
	return b.String()
}

// hasKeyField reports whether struct type t is written as a keyed list
// (a mapping of name -> value, see decodeKeyed).
func hasKeyField(t reflect.Type) bool {
	return slices.ContainsFunc(fieldsOf(t), func(f field) bool { return f.checks.key })
}
