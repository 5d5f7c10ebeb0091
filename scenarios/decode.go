package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// nodeDecoder is implemented by types written in more than one shape
// (a reply as a string or a map, a fault as a kind or a map, …).
type nodeDecoder interface {
	decodeNode(d *decoder, n ast.Node, what string)
}

// enum is implemented by every string type with a closed set of values,
// the scenario format's own (RelayKind, TLSPolicy…) and fakesmtp's (State,
// TLSMode, CertKind): Values is the one table of each, which the decoder
// checks values against and the schema generator lists.
type enum interface {
	Values() []string
}

// enumValues returns the closed set of values of string type t.
func enumValues(t reflect.Type) ([]string, bool) {
	if en, ok := reflect.Zero(t).Interface().(enum); ok {
		return en.Values(), true
	}
	return nil, false
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
	posType      = reflect.TypeFor[Pos]()
)

// decoder turns a goccy/go-yaml AST into scenario types. Unlike
// yaml.Decoder it does not stop at the first mistake: every mistake is
// recorded with its position and decoding goes on with the next value.
type decoder struct {
	e       *errs
	aliases map[*ast.AliasNode]*anchor // what each alias of the document names; nil until the first decode
	// usedAnchors are the anchors that an alias names.
	usedAnchors map[*ast.AnchorNode]bool
	pos         map[any]Pos
	depth       int
	keyPos      Pos // position of the key whose value is being decoded, for null values
	types       map[reflect.Type]*structInfo
	// ctx, when set, stops the decoding of long lists when it is done; the
	// caller then returns ctx's error, not what was decoded.
	ctx context.Context
}

// stopped reports, every 1024th item i of a list, whether ctx is done.
func (d *decoder) stopped(i int) bool {
	return i%1024 == 1023 && d.ctx != nil && d.ctx.Err() != nil
}

func newDecoder(e *errs, pos map[any]Pos) *decoder {
	return &decoder{e: e, pos: pos, types: map[reflect.Type]*structInfo{}}
}

// structInfo is what the decoder reads from a struct type's fields, worked
// out once per type and decoder rather than once per value.
type structInfo struct {
	fields []field
	keys   []string // the YAML keys, in field order
	keyed  bool     // a field holds the mapping key (see decodeKeyed)
}

// info returns the fields of struct type t.
func (d *decoder) info(t reflect.Type) *structInfo {
	if si, ok := d.types[t]; ok {
		return si
	}
	si := &structInfo{fields: fieldsOf(t)}
	for _, f := range si.fields {
		if f.key != "" {
			si.keys = append(si.keys, f.key)
		}
		si.keyed = si.keyed || f.checks.key
	}
	d.types[t] = si
	return si
}

// posOf returns the position of n; a block mapping is placed at its first key.
func posOf(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if mv, ok := n.(*ast.MappingValueNode); ok {
		n = mv.Key
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return Pos{Line: tk.Position.Line, Col: tk.Position.Column}
}

// anchor is an anchored value of the document and the aliases that use it.
type anchor struct {
	name    string
	value   ast.Node
	node    *ast.AnchorNode
	aliases []Pos
}

// collect finds every anchor and alias of the document under root, before
// anything is decoded: an alias names the last anchor of its name that is
// complete before it (YAML 1.2 §3.2.2.2), wherever that anchor is, even
// under a key the decoder skips as unknown. The positions inside a value
// that aliases use again go to the error list, which reports a mistake
// there once, however many times it is decoded.
func (d *decoder) collect(root ast.Node) {
	d.aliases = map[*ast.AliasNode]*anchor{}
	d.usedAnchors = map[*ast.AnchorNode]bool{}
	last := map[string]*anchor{} // the last complete anchor of each name
	var order []*anchor          // every anchor, in the order they complete
	var visit func(n ast.Node)
	visit = func(n ast.Node) {
		switch t := n.(type) {
		case nil:
		case *ast.AnchorNode:
			visit(t.Value)
			// Complete now: an alias inside its own anchor is unknown.
			if t.Name != nil {
				a := &anchor{name: t.Name.GetToken().Value, value: t.Value, node: t}
				last[a.name] = a
				order = append(order, a)
			}
		case *ast.AliasNode:
			if t.Value != nil {
				if a := last[t.Value.GetToken().Value]; a != nil {
					d.aliases[t] = a
					a.aliases = append(a.aliases, posOf(t))
				}
			}
		default:
			eachChild(n, visit)
		}
	}
	visit(root)
	// Outer anchors first (they complete last), so that the positions of
	// an inner anchor's value are its own.
	for i := len(order) - 1; i >= 0; i-- {
		a := order[i]
		if len(a.aliases) == 0 {
			continue
		}
		d.usedAnchors[a.node] = true
		if d.e.shared == nil {
			d.e.shared = map[Pos]*anchor{}
		}
		var mark func(n ast.Node)
		mark = func(n ast.Node) {
			if n == nil {
				return
			}
			if p := posOf(n); p.IsValid() {
				d.e.shared[p] = a
			}
			if tk := n.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
				d.e.shared[Pos{Line: tk.Position.Line, Col: tk.Position.Column}] = a
			}
			eachChild(n, mark)
		}
		mark(a.value)
	}
}

// anchorHint tells, for the value of an unknown key, that the anchors in
// it that aliases use are found all the same; "" when there are none.
func (d *decoder) anchorHint(n ast.Node) string {
	var names []string
	var find func(n ast.Node)
	find = func(n ast.Node) {
		if t, ok := n.(*ast.AnchorNode); ok && t.Name != nil && d.usedAnchors[t] {
			names = append(names, "&"+t.Name.GetToken().Value)
		}
		eachChild(n, find)
	}
	find(n)
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(": its anchors (%s) still serve their aliases, but the key must go; write each anchor on the first value that uses it", strings.Join(names, ", "))
}

// eachChild calls f on the nodes directly under n, in document order: the
// value of an anchor, not its name; nothing under an alias.
func eachChild(n ast.Node, f func(ast.Node)) {
	switch t := n.(type) {
	case *ast.DocumentNode:
		f(t.Body)
	case *ast.MappingNode:
		for _, v := range t.Values {
			f(v)
		}
	case *ast.MappingValueNode:
		f(t.Key)
		f(t.Value)
	case *ast.MappingKeyNode:
		f(t.Value)
	case *ast.SequenceNode:
		for _, v := range t.Values {
			f(v)
		}
	case *ast.AnchorNode:
		f(t.Value)
	case *ast.TagNode:
		f(t.Value)
	}
}

// resolve unwraps anchors, aliases, tags and comments; nil means null.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for range 64 {
		switch t := n.(type) {
		case *ast.AnchorNode:
			n = t.Value
		case *ast.AliasNode:
			a := d.aliases[t]
			if a == nil {
				name := ""
				if t.Value != nil {
					name = t.Value.GetToken().Value
				}
				d.e.at(posOf(t), "unknown alias %q", "*"+name)
				return nil
			}
			n = a.value
		case *ast.TagNode:
			n = t.Value
		case *ast.CommentGroupNode:
			return nil
		case *ast.NullNode:
			return nil
		default:
			return n
		}
	}
	return nil
}

// kindOf names the shape of n for messages.
func kindOf(n ast.Node) string {
	switch n.(type) {
	case nil:
		return "nothing"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return "a " + n.Type().String()
}

// stringOf returns the text of a string scalar.
func stringOf(n ast.Node) (string, bool) {
	switch t := n.(type) {
	case *ast.StringNode:
		return t.Value, true
	case *ast.LiteralNode:
		if t.Value == nil {
			return "", true
		}
		return t.Value.Value, true
	}
	return "", false
}

// entry is one key/value of a mapping after merge keys are expanded.
type entry struct {
	key    string
	keyPos Pos
	value  ast.Node
	merged bool // came from a << merge: explicit keys override it silently
}

// entries returns the key/values of a mapping node, or ok=false when n is
// not a mapping. Keys that are not scalars are reported and skipped.
func (d *decoder) entries(n ast.Node) (out []entry, ok bool) {
	var values []*ast.MappingValueNode
	switch t := n.(type) {
	case *ast.MappingNode:
		values = t.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{t}
	default:
		return nil, false
	}
	for _, mv := range values {
		if mv.Key != nil && mv.Key.IsMergeKey() {
			d.depth++
			if d.depth > 32 {
				d.e.at(posOf(mv.Key), "merge keys nested too deeply")
				d.depth--
				continue
			}
			src := d.resolve(mv.Value)
			if _, alias := mv.Value.(*ast.AliasNode); alias && src == nil {
				d.depth--
				continue // unknown alias, reported by resolve
			}
			srcs := []ast.Node{src}
			if seq, isSeq := src.(*ast.SequenceNode); isSeq {
				srcs = seq.Values
			}
			for _, s := range srcs {
				r := d.resolve(s)
				if _, alias := s.(*ast.AliasNode); alias && r == nil {
					continue // unknown alias, reported by resolve
				}
				sub, isMap := d.entries(r)
				if !isMap {
					d.e.at(posOf(mv.Value), "merge key \"<<\" needs a mapping, got %s", kindOf(r))
					continue
				}
				for _, se := range sub {
					se.merged = true
					out = append(out, se)
				}
			}
			d.depth--
			continue
		}
		k := d.resolve(mv.Key)
		var key string
		switch kt := k.(type) {
		case *ast.StringNode:
			key = kt.Value
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
			key = kt.GetToken().Value
		default:
			d.e.at(posOf(mv), "a key must be a plain word, got %s", kindOf(k))
			continue
		}
		out = append(out, entry{key: key, keyPos: posOf(mv.Key), value: mv.Value})
	}
	return out, true
}

// checks are the options of an `mx:"…"` struct tag.
type checks struct {
	required bool
	kind     string // domain, host, email, ipv4, ipv6, rrtype, name, tag, ident, code, status, smarthost, hostport, behavior
	max      int
	key      bool     // keyed list: the field holding the mapping key
	value    bool     // keyed list: the field holding the whole value
	omit     []string // keys of the field's struct type not written there (omit=greeting)
}

func parseChecks(tag string) checks {
	var c checks
	for opt := range strings.SplitSeq(tag, ",") {
		switch {
		case opt == "":
		case opt == "required":
			c.required = true
		case opt == "key":
			c.key = true
		case opt == "value":
			c.value = true
		case strings.HasPrefix(opt, "max="):
			fmt.Sscan(strings.TrimPrefix(opt, "max="), &c.max)
		case strings.HasPrefix(opt, "omit="):
			c.omit = append(c.omit, strings.TrimPrefix(opt, "omit="))
		default:
			c.kind = opt
		}
	}
	return c
}

// field is one decodable struct field.
type field struct {
	key    string
	index  []int
	checks checks
}

// fieldsOf lists the YAML keys of a struct type, inline structs flattened.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" && sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		c := parseChecks(sf.Tag.Get("mx"))
		if name == "-" || name == "" {
			if c.key || c.value {
				out = append(out, field{key: "", index: []int{i}, checks: c})
			}
			continue
		}
		out = append(out, field{key: name, index: []int{i}, checks: c})
	}
	return out
}

// keysOf returns the YAML keys of a struct type.
func keysOf(t reflect.Type) []string {
	var keys []string
	for _, f := range fieldsOf(t) {
		if f.key != "" {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// record notes the position of the value decoded into v.
func (d *decoder) record(v reflect.Value, n ast.Node) {
	if v.CanAddr() && n != nil {
		d.pos[v.Addr().Interface()] = posOf(n)
	}
}

// decode decodes n into v, recording mistakes. what names the value in
// messages (usually its key).
// nullPos returns the position of a value: n's, or for a null value the
// position of raw (an explicit "null", "~") or else of its key
// ("{reply}", "reply:" with nothing after it).
func (d *decoder) nullPos(n, raw ast.Node) Pos {
	if p := posOf(n); p.IsValid() {
		return p
	}
	if p := posOf(raw); p.IsValid() {
		return p
	}
	return d.keyPos
}

func (d *decoder) decode(n ast.Node, v reflect.Value, c checks, what string) {
	if d.aliases == nil {
		d.collect(n) // the first call: n is the document
	}
	raw := n
	n = d.resolve(n)
	if n != nil {
		d.record(v, n)
	} else if raw != nil {
		d.record(v, raw)
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, what)
			return
		}
	}
	if d.decodeShape(n, v, what) {
		return
	}
	p := d.nullPos(n, raw)
	t := v.Type()
	switch {
	case t == durationType:
		if n == nil {
			return
		}
		s, ok := stringOf(n)
		if !ok {
			d.e.at(p, "%q must be a duration such as \"2s\" or \"1m30s\", got %s", what, kindOf(n))
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.e.at(p, "%q: bad duration %q (use a number and a unit: \"500ms\", \"2s\", \"1m\")", what, s)
			return
		}
		if dur < 0 {
			d.e.at(p, "%q must not be negative, got %q", what, s)
			return
		}
		v.SetInt(int64(dur))
		return
	case t == addrType:
		s, ok := stringOf(n)
		if !ok {
			d.e.at(p, "%q must be an IP address, got %s", what, kindOf(n))
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			d.e.at(p, "%q: bad IP address %q", what, s)
			return
		}
		switch {
		case c.kind == "ipv4" && !a.Is4():
			d.e.at(p, "%q: %q is not an IPv4 address (use aaaa for IPv6)", what, s)
			return
		case c.kind == "ipv6" && !a.Is6():
			d.e.at(p, "%q: %q is not an IPv6 address (use a for IPv4)", what, s)
			return
		}
		v.Set(reflect.ValueOf(a))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if n == nil && t.Elem().Kind() != reflect.Struct {
			d.e.at(p, "%q has no value", what)
			return
		}
		nv := reflect.New(t.Elem())
		before := len(d.e.list)
		d.decode(raw, nv.Elem(), c, what)
		if isShape(t.Elem()) && len(d.e.list) > before {
			return // a reply that could not be read stays out: its zero value is no second mistake
		}
		v.Set(nv)
	case reflect.String:
		if n == nil {
			return
		}
		s, ok := stringOf(n)
		if !ok {
			d.e.at(p, "%q must be a string, got %s", what, kindOf(n))
			return
		}
		if s2, ok := d.checkString(p, s, t, c, what); ok {
			v.SetString(s2)
		}
	case reflect.Int, reflect.Int64:
		if n == nil {
			d.e.at(p, "%q has no value", what)
			return
		}
		in, ok := n.(*ast.IntegerNode)
		if !ok {
			d.e.at(p, "%q must be an integer, got %s", what, kindOf(n))
			return
		}
		var i int64
		switch x := in.Value.(type) {
		case int64:
			i = x
		case uint64:
			i = int64(min(x, 1<<62))
		}
		switch {
		case i < 0:
			d.e.at(p, "%q must not be negative, got %d", what, i)
			return
		case c.kind == "code" && (i < minCode || i > maxCode):
			d.e.at(p, "%q: reply code %d out of range %d..%d", what, i, minCode, maxCode)
			return
		case c.max > 0 && i > int64(c.max):
			d.e.at(p, "%q must be at most %d, got %d", what, c.max, i)
			return
		case i > 1<<40:
			d.e.at(p, "%q is too large: %d", what, i)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n == nil {
			return
		}
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.e.at(p, "%q must be true or false, got %s", what, kindOf(n))
			return
		}
		v.SetBool(b.Value)
	case reflect.Slice:
		if n == nil {
			return
		}
		if et := t.Elem(); et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct && d.info(et.Elem()).keyed {
			d.decodeKeyed(n, v, c, what)
			return
		}
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.e.at(p, "%q must be a list, got %s", what, kindOf(n))
			return
		}
		sv := reflect.MakeSlice(t, len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			if d.stopped(i) {
				return
			}
			d.decode(item, sv.Index(i), c, singular(what))
		}
		v.Set(sv)
	case reflect.Map:
		if n == nil {
			return
		}
		es, ok := d.entries(n)
		if !ok {
			d.e.at(p, "%q must be a mapping, got %s", what, kindOf(n))
			return
		}
		mv := reflect.MakeMapWithSize(t, len(es))
		seen := map[string]Pos{}
		for _, e := range es {
			if first, dup := seen[e.key]; dup && !e.merged {
				d.e.at(e.keyPos, "duplicate key %q in %s (first at %s)", e.key, what, first)
				continue
			}
			seen[e.key] = e.keyPos
			ev := reflect.New(t.Elem()).Elem()
			d.decode(e.value, ev, checks{}, e.key)
			mv.SetMapIndex(reflect.ValueOf(e.key).Convert(t.Key()), ev)
		}
		v.Set(mv)
	case reflect.Struct:
		d.decodeStruct(n, raw, v, what, c.omit...)
	default:
		d.e.at(p, "internal: cannot decode into %s", t)
	}
}

// checkString validates and normalises a string value.
func (d *decoder) checkString(p Pos, s string, t reflect.Type, c checks, what string) (string, bool) {
	if valid, ok := enumValues(t); ok && s != "" {
		if !slices.Contains(valid, s) {
			d.e.at(p, "invalid %s %q (valid: %s)%s", what, s, strings.Join(valid, ", "), suggest(s, valid))
			return "", false
		}
		return s, true
	}
	if s == "" {
		return s, true
	}
	var err error
	switch c.kind {
	case "domain":
		if err = checkDomain(s); err == nil {
			s = canonical(s)
		}
	case "host":
		if s != "." {
			if err = checkDomain(s); err == nil {
				s = canonical(s)
			}
		}
	case "email":
		err = checkEmail(s)
	case "rrtype":
		s, err = checkRRType(s)
	case "name":
		if !nameRE.MatchString(s) {
			err = fmt.Errorf("bad name %q: use lowercase letters, digits and \"-\", starting with a letter or digit", s)
		}
	case "tag":
		if !tagRE.MatchString(s) {
			err = fmt.Errorf("bad tag %q: use lowercase letters, digits, \".\", \"_\" and \"-\"", s)
		}
	case "ident":
		if !identRE.MatchString(s) {
			err = fmt.Errorf("bad id %q: use letters, digits, \".\", \"_\" and \"-\"", s)
		}
	case "status":
		err = checkStatus(s)
	case "caseid":
		if !caseIDRE.MatchString(s) {
			err = fmt.Errorf("bad case id %q: want an area in capitals, \"-\" and three digits, like \"MX-006\"", s)
		}
	case "smarthost":
		_, err = ParseSmarthost(s)
	case "hostport":
		err = checkHostPort(s)
	case "behavior":
		if keys := BehaviorKeys(); !slices.Contains(keys, s) {
			err = fmt.Errorf("invalid behaviour key %q (valid: %s)%s", s, strings.Join(keys, ", "), suggest(s, keys))
		}
	}
	if err != nil {
		d.e.at(p, "%q: %v", what, err)
		return "", false
	}
	return s, true
}

// singular names one element of a list in messages.
func singular(key string) string {
	switch key {
	case "mechanisms":
		return "mechanism"
	case "tags":
		return "tag"
	case "ports":
		return "port"
	}
	return key
}

// noun names the elements of a keyed list in messages.
func noun(key string) string {
	switch key {
	case "dns":
		return "zone"
	case "hosts":
		return "host"
	case "records":
		return "name"
	}
	return key
}

// decodeKeyed decodes a mapping of name -> value into a slice of structs
// that carry the name in their key field, keeping file order.
func (d *decoder) decodeKeyed(n ast.Node, v reflect.Value, _ checks, what string) {
	noun := noun(what)
	es, ok := d.entries(n)
	if !ok {
		d.e.at(posOf(n), "%q must be a mapping of %s names, got %s", what, noun, kindOf(n))
		return
	}
	et := v.Type().Elem().Elem()
	var keyF, valF *field
	for _, f := range d.info(et).fields {
		switch {
		case f.checks.key:
			keyF = &f
		case f.checks.value:
			valF = &f
		}
	}
	sv := reflect.MakeSlice(v.Type(), 0, len(es))
	seen := map[string]Pos{}
	for i, e := range es {
		if d.stopped(i) {
			return
		}
		name, ok := d.checkString(e.keyPos, e.key, reflect.TypeFor[string](), keyF.checks, noun)
		if !ok {
			continue
		}
		if first, dup := seen[name]; dup {
			if !e.merged {
				d.e.at(e.keyPos, "duplicate %s %q (first at %s)", noun, name, first)
			}
			continue
		}
		seen[name] = e.keyPos
		ev := reflect.New(et)
		ev.Elem().FieldByIndex(keyF.index).SetString(name)
		d.pos[ev.Elem().FieldByIndex(keyF.index).Addr().Interface()] = e.keyPos
		if valF != nil {
			val := d.resolve(e.value)
			if val == nil {
				d.e.at(e.keyPos, "%s %q has no records", noun, name)
			}
			d.decode(e.value, ev.Elem().FieldByIndex(valF.index), valF.checks, name)
		} else {
			d.decode(e.value, ev.Elem(), checks{}, noun+" "+name)
		}
		d.pos[ev.Interface()] = e.keyPos
		setPos(ev.Elem(), e.keyPos)
		sv = reflect.Append(sv, ev)
	}
	v.Set(sv)
}

// setPos sets the Pos field of struct v, if it has one.
func setPos(v reflect.Value, p Pos) {
	if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType {
		f.Set(reflect.ValueOf(p))
	}
}

// decodeStruct decodes a mapping into struct v: unknown keys, duplicate
// keys and missing required keys are reported. The keys in omit are not
// taken here (the field is written elsewhere).
func (d *decoder) decodeStruct(n, raw ast.Node, v reflect.Value, what string, omit ...string) {
	p := posOf(n)
	if n == nil {
		// A null value has no place of its own: point at its key.
		p = d.keyPos
		if !p.IsValid() {
			p = posOf(raw)
		}
	}
	setPos(v, p)
	si := d.info(v.Type())
	fields, keys := si.fields, si.keys
	if len(omit) > 0 {
		fields = slices.DeleteFunc(slices.Clone(fields), func(f field) bool { return slices.Contains(omit, f.key) })
		keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return slices.Contains(omit, k) })
	}
	var es []entry
	if n != nil {
		var ok bool
		es, ok = d.entries(n)
		if !ok {
			d.e.at(p, "%q must be a mapping, got %s", what, kindOf(n))
			return
		}
	}
	seen := map[string]Pos{}
	present := map[string]bool{}
	// Explicit keys win over merged ones, whatever their order.
	explicit := map[string]bool{}
	for _, e := range es {
		if !e.merged {
			explicit[e.key] = true
		}
	}
	for _, e := range es {
		if e.merged && explicit[e.key] {
			continue
		}
		if first, dup := seen[e.key]; dup {
			if !e.merged {
				d.e.at(e.keyPos, "duplicate key %q (first at %s)", e.key, first)
			}
			continue
		}
		seen[e.key] = e.keyPos
		i := slices.IndexFunc(fields, func(f field) bool { return f.key == e.key })
		switch {
		case i < 0 && slices.Contains(omit, e.key):
			d.e.at(e.keyPos, "unknown key %q in %s: write %s next to %s, not in it", e.key, what, e.key, what)
			continue
		case i < 0:
			d.e.at(e.keyPos, "unknown key %q in %s%s%s", e.key, what, suggestOr(e.key, keys), d.anchorHint(e.value))
			continue
		}
		f := fields[i]
		present[f.key] = true
		d.keyPos = e.keyPos
		outer := d.keyPos
		d.keyPos = e.keyPos
		d.decode(e.value, v.FieldByIndex(f.index), f.checks, f.key)
		d.keyPos = outer
		if f.checks.required {
			switch val := d.resolve(e.value).(type) {
			case nil:
				if f.checks.kind != "" || v.FieldByIndex(f.index).Kind() != reflect.Pointer {
					d.e.at(e.keyPos, "%q has no value", f.key)
				}
			case *ast.StringNode:
				if val.Value == "" {
					d.e.at(posOf(val), "%q must not be empty", f.key)
				}
			case *ast.SequenceNode:
				if len(val.Values) == 0 {
					d.e.at(posOf(val), "%q must not be empty", f.key)
				}
			}
		}
	}
	for _, f := range fields {
		if f.checks.required && !present[f.key] && f.key != "" {
			d.e.at(p, "missing required key %q in %s", f.key, what)
		}
	}
}

// suggest returns ` (did you mean "x"?)` when a valid word is close to s.
func suggest(s string, valid []string) string {
	best, bestD := "", 3
	for _, w := range valid {
		if dd := distance(strings.ToLower(s), strings.ToLower(w)); dd < bestD {
			best, bestD = w, dd
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// suggestOr suggests a close key, or lists the valid keys.
func suggestOr(s string, valid []string) string {
	if sg := suggest(s, valid); sg != "" {
		return sg
	}
	return " (valid: " + strings.Join(valid, ", ") + ")"
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
