// Package schemagen writes the JSON Schema of the scenario format from the
// Go types the decoder fills, so that the two cannot drift apart. The flow
// of Generate:
//
//  1. find the module (go.mod above the given directory);
//  2. walk by reflection every type reachable from the root through the
//     fields the decoder reads, and parse the non-test source of each
//     type's package (found from its PkgPath below the module root) for
//     the doc comments, the typed constants, the Values tables and
//     the decodeNode methods that reflection cannot see;
//  3. check the shapes table against what was found: every type with a
//     decodeNode method needs an entry, and every entry must match one
//     type;
//  4. build the schema as the decoder reads YAML: `yaml:"key"` tags give
//     properties (inline structs flattened), unknown keys are refused
//     (additionalProperties false), `mx:"…"` tags give required keys,
//     formats, patterns and maximums, lists of structs with an
//     `mx:"key"` field become maps keyed by name, enum types list their
//     Values, and shaped types take their entry in shapes;
//  5. write it with keywords in a fixed order, properties in field order,
//     $defs sorted by name, and a final newline.
//
// Descriptions are the doc comments: a type's doc describes its $defs
// entry, a field's doc and line comment describe its property, and each
// enum value is described by the comment of its constant.
package schemagen

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Identity of the published schema.
const (
	draft = "https://json-schema.org/draft/2020-12/schema"
	id    = "https://mxsim.test/schema/scenario.json"
	title = "mxsim scenario"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
)

// Generate returns the JSON Schema of root (scenarios.Scenario), reading
// source comments from the module that contains dir.
func Generate(root reflect.Type, dir string) ([]byte, error) {
	return generate(root, dir, shapes)
}

// gen is one run of the generator.
type gen struct {
	mod    module
	shapes map[string]shape
	src    map[string]*pkgSource     // by package path
	seen   map[reflect.Type]bool     // types walked in step 2
	byName map[string][]reflect.Type // named module types reached, by name
	names  map[reflect.Type]string   // $defs names given out
	defs   map[string]schema
	enums  map[reflect.Type][]string
	errs   []error
}

func generate(root reflect.Type, dir string, table map[string]shape) ([]byte, error) {
	mod, err := findModule(dir)
	if err != nil {
		return nil, err
	}
	g := &gen{
		mod: mod, shapes: table,
		src: map[string]*pkgSource{}, seen: map[reflect.Type]bool{}, byName: map[string][]reflect.Type{},
		names: map[reflect.Type]string{}, defs: map[string]schema{}, enums: map[reflect.Type][]string{},
	}
	g.walk(root)
	g.checkShapes()
	if len(g.errs) > 0 {
		return nil, errors.Join(g.errs...)
	}
	top := g.object(root)
	top["$schema"], top["$id"], top["title"] = draft, id, title
	if d := g.typeDoc(root); d != "" {
		top["description"] = d
	}
	top["$defs"] = g.defs
	if len(g.errs) > 0 {
		return nil, errors.Join(g.errs...)
	}
	return marshal(top)
}

func (g *gen) errorf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	for _, e := range g.errs {
		if e.Error() == err.Error() {
			return
		}
	}
	g.errs = append(g.errs, err)
}

// source returns the parsed package of named type t, or nil for a type
// outside the module.
func (g *gen) source(t reflect.Type) *pkgSource {
	if t.Name() == "" || t.PkgPath() == "" {
		return nil
	}
	if ps, ok := g.src[t.PkgPath()]; ok {
		return ps
	}
	dir, ok := g.mod.dirOf(t.PkgPath())
	if !ok {
		g.src[t.PkgPath()] = nil
		return nil
	}
	ps, err := readPackage(dir)
	if err != nil {
		g.errorf("%s: %w", t.PkgPath(), err)
	}
	g.src[t.PkgPath()] = ps
	return ps
}

// walk visits every type reachable from t through exported fields the
// decoder reads (and the untagged ones that shapes may read), loading the
// source of each named type's package.
func (g *gen) walk(t reflect.Type) {
	if g.seen[t] {
		return
	}
	g.seen[t] = true
	if t == durationType || t == addrType {
		return
	}
	if t.Kind() == reflect.Slice && t.Name() == "" && t.Elem().Name() != "" {
		g.byName["[]"+t.Elem().Name()] = append(g.byName["[]"+t.Elem().Name()], t)
	}
	if ps := g.source(t); ps != nil {
		g.byName[t.Name()] = append(g.byName[t.Name()], t)
		if ts := ps.types[t.Name()]; ts != nil && ts.methods["decodeNode"] != nil && g.shapeFor(t) == nil {
			g.errorf("%s has a decodeNode method (the decoder reads it in more than one shape) but no entry in the shapes table of scenarios/internal/schemagen/tables.go: add %q", t, t.Name())
		}
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		g.walk(t.Elem())
	case reflect.Map:
		g.walk(t.Key())
		g.walk(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			sf := t.Field(i)
			c := parseChecks(sf.Tag.Get("mx"))
			if sf.IsExported() && (sf.Tag.Get("yaml") != "-" || c.key || c.value) {
				g.walk(sf.Type)
			}
		}
	}
}

// pkgName returns the name of t's package ("fakesmtp").
func (g *gen) pkgName(t reflect.Type) string {
	if ps := g.source(t); ps != nil && ps.name != "" {
		return ps.name
	}
	return t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]
}

// shapeFor returns the shapes entry of t: "pkg.Name" first, then "Name";
// for a slice of a named type, "[]Name".
func (g *gen) shapeFor(t reflect.Type) shape {
	if t.Name() == "" {
		if t.Kind() == reflect.Slice && t.Elem().Name() != "" {
			return g.shapes["[]"+t.Elem().Name()]
		}
		return nil
	}
	if s, ok := g.shapes[g.pkgName(t)+"."+t.Name()]; ok {
		return s
	}
	return g.shapes[t.Name()]
}

// checkShapes reports shapes entries that match no type or two.
func (g *gen) checkShapes() {
	keys := make([]string, 0, len(g.shapes))
	for k := range g.shapes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		pkg, name, qualified := strings.Cut(k, ".")
		if !qualified {
			pkg, name = "", k
		}
		var match []string
		for _, t := range g.byName[name] {
			if qualified && g.pkgName(t) != pkg {
				continue
			}
			if _, own := g.shapes[g.pkgName(t)+"."+name]; !qualified && own {
				continue // a qualified entry takes this one
			}
			match = append(match, t.String())
		}
		switch {
		case len(match) == 0:
			g.errorf("shapes entry %q of scenarios/internal/schemagen/tables.go matches no type reachable from the root: rename it after the type it describes, or remove it", k)
		case len(match) > 1:
			g.errorf("shapes entry %q matches %s: qualify it with the package name (%q)", k, strings.Join(match, " and "), g.pkgName(g.byName[name][0])+"."+name)
		}
	}
}

// defName returns the $defs name of t: its Go name, qualified with its
// package's name when two reached types share it.
func (g *gen) defName(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	n := t.Name()
	for _, o := range g.byName[n] {
		if o != t {
			n = g.pkgName(t) + "." + n
			break
		}
	}
	g.names[t] = n
	return n
}

// typeDoc returns the doc comment of named type t.
func (g *gen) typeDoc(t reflect.Type) string {
	if ps := g.source(t); ps != nil {
		if ts := ps.types[t.Name()]; ts != nil && t.Kind() == reflect.Struct {
			return keyNames(ts.doc, t)
		} else if ts != nil {
			return ts.doc
		}
	}
	return ""
}

// fieldDoc returns the doc and line comment of field goName of struct t.
func (g *gen) fieldDoc(t reflect.Type, goName string) string {
	if ps := g.source(t); ps != nil {
		if ts := ps.types[t.Name()]; ts != nil {
			return keyNames(ts.fields[goName], t)
		}
	}
	return ""
}

// keyNames rewrites the Go names of struct t's fields in a doc comment as
// the YAML keys a scenario writer types: "up to Within" becomes "up to
// `within`". All-capital names (DNS, TLS, MX) are left alone: in prose
// they are the protocol, not the field.
func keyNames(doc string, t reflect.Type) string {
	for _, f := range fieldsOf(t) {
		if f.key == "" || f.owner != t || f.goName == f.key || strings.ToUpper(f.goName) == f.goName {
			continue
		}
		doc = replaceWord(doc, f.goName, "`"+f.key+"`")
	}
	return doc
}

// replaceWord replaces the whole-word occurrences of w in s.
func replaceWord(s, w, with string) string {
	isWord := func(b byte) bool {
		return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
	}
	var b strings.Builder
	for {
		i := strings.Index(s, w)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(w)
		if (i > 0 && (isWord(s[i-1]) || s[i-1] == '`')) || (end < len(s) && (isWord(s[end]) || s[end] == '`')) {
			b.WriteString(s[:end])
		} else {
			b.WriteString(s[:i] + with)
		}
		s = s[end:]
	}
}

// enumValues returns the values of an enum type from its Values()
// []string method, the one table the decoder checks values against. A
// string type with typed constants and no Values method is an error: its
// values would be guessed.
func (g *gen) enumValues(t reflect.Type) ([]string, bool) {
	if v, ok := g.enums[t]; ok {
		return v, v != nil
	}
	g.enums[t] = nil
	if t.Kind() != reflect.String || t.Name() == "" {
		return nil, false
	}
	if m, ok := t.MethodByName("Values"); ok && m.Type.NumIn() == 1 && m.Type.NumOut() == 1 && m.Type.Out(0) == reflect.TypeFor[[]string]() {
		v := m.Func.Call([]reflect.Value{reflect.Zero(t)})[0].Interface().([]string)
		g.enums[t] = v
		return v, true
	}
	if ps := g.source(t); ps != nil {
		if ts := ps.types[t.Name()]; ts != nil && len(ts.values) > 0 {
			g.errorf("%s has constants but no Values method, so the schema cannot list its values: give it `func (%s) Values() []string` returning the values the decoder accepts, or a shapes entry", t, t.Name())
		}
	}
	return nil, false
}

// ref returns a $ref to the $defs entry of t, building the entry once.
func (g *gen) ref(t reflect.Type) schema {
	name := g.defName(t)
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = schema{} // placeholder: t may refer to itself
		g.defs[name] = g.def(t)
	}
	return schema{"$ref": "#/$defs/" + name}
}

// def builds the $defs entry of a named type.
func (g *gen) def(t reflect.Type) schema {
	var s schema
	doc := g.typeDoc(t)
	switch values, isEnum := g.enumValues(t); {
	case g.shapeFor(t) != nil:
		s = g.callShape(t)
	case isEnum:
		s = schema{"type": "string", "enum": values}
		doc = joinParas(doc, g.valueDocs(t, values))
	default:
		s = g.object(t)
		if _, required := s["required"]; !required {
			// A null value decodes as the zero value: `mx1.example.test:`
			// with nothing under it is a host with normal behaviour.
			s["type"] = []string{"object", "null"}
		}
	}
	if doc != "" {
		s["description"] = doc
	}
	return s
}

// callShape builds t's schema with its shapes entry. An entry written for
// another type of the same name (after a type moved) fails loudly here
// rather than with a stack trace.
func (g *gen) callShape(t reflect.Type) (s schema) {
	defer func() {
		if r := recover(); r != nil {
			g.errorf("shapes entry for %s does not fit it (%v): fix scenarios/internal/schemagen/tables.go", t, r)
			s = schema{}
		}
	}()
	return g.shapeFor(t)(g, t)
}

// valueDocs describes each value of an enum by its constant's comment:
// "up: accepts connections\ndown: connection refused".
func (g *gen) valueDocs(t reflect.Type, values []string) string {
	ps := g.source(t)
	if ps == nil || ps.types[t.Name()] == nil {
		return ""
	}
	var lines []string
	for _, v := range values {
		for _, c := range ps.types[t.Name()].values {
			if c.value == v && c.doc != "" {
				lines = append(lines, v+": "+c.doc)
				break
			}
		}
	}
	return strings.Join(lines, "\n")
}

func joinParas(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "\n\n" + b
}

// checks are the options of an `mx:"…"` struct tag, read as the decoder
// reads them.
type checks struct {
	required   bool
	kind       string
	max        int
	key, value bool
	omit       []string // keys of the field's struct type not written there
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

// field is one YAML key of a struct, as the decoder's fieldsOf lists it.
type field struct {
	key    string       // "" for the mx:"key" and mx:"value" fields of keyed lists
	owner  reflect.Type // the struct that declares the field (an inline one for flattened keys)
	goName string
	typ    reflect.Type
	checks checks
}

// fieldsOf lists the YAML keys of struct t the way the decoder does:
// `yaml:",inline"` embedded structs flattened, `yaml:"-"` and untagged
// fields left out unless they hold a keyed list's key or value.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if opts == "inline" && sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			out = append(out, fieldsOf(sf.Type)...)
			continue
		}
		c := parseChecks(sf.Tag.Get("mx"))
		f := field{key: name, owner: t, goName: sf.Name, typ: sf.Type, checks: c}
		if name == "-" || name == "" {
			if c.key || c.value {
				f.key = ""
				out = append(out, f)
			}
			continue
		}
		out = append(out, f)
	}
	return out
}

// keys returns the YAML keys of struct t.
func (g *gen) keys(t reflect.Type) []string {
	var out []string
	for _, f := range fieldsOf(t) {
		if f.key != "" {
			out = append(out, f.key)
		}
	}
	return out
}

// object returns the object schema of struct t: its keys, the required
// ones, and no others.
func (g *gen) object(t reflect.Type) schema {
	ps := props{}
	var required []string
	for _, f := range fieldsOf(t) {
		if f.key == "" {
			continue
		}
		s := g.fieldSchema(f)
		if f.checks.required {
			required = append(required, f.key)
			// The decoder refuses an empty value for a required key.
			switch s["type"] {
			case "string":
				s["minLength"] = 1
			case "array":
				s["minItems"] = 1
			}
		}
		ps = append(ps, prop{f.key, s})
	}
	return objectOf(ps, required...)
}

// objectOf returns a closed object schema with properties ps.
func objectOf(ps props, required ...string) schema {
	s := schema{"type": "object", "properties": ps, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func oneOf(alts ...schema) schema {
	l := make([]any, len(alts))
	for i, a := range alts {
		l[i] = a
	}
	return schema{"oneOf": l}
}

// requireOne is an anyOf that wants at least one of keys.
func requireOne(keys []string) []any {
	l := make([]any, len(keys))
	for i, k := range keys {
		l[i] = schema{"required": []string{k}}
	}
	return l
}

// fieldSchema returns the schema of one field, described by its comments.
func (g *gen) fieldSchema(f field) schema {
	s := g.schemaOf(f.typ, f.checks)
	if st := f.typ; len(f.checks.omit) > 0 {
		// The struct written here without some of its keys: in place,
		// since its $defs entry has them all.
		for st.Kind() == reflect.Pointer {
			st = st.Elem()
		}
		s = g.object(st)
		s["properties"] = slices.DeleteFunc(s["properties"].(props), func(p prop) bool { return slices.Contains(f.checks.omit, p.key) })
	}
	if d := g.fieldDoc(f.owner, f.goName); d != "" {
		s["description"] = d
	}
	return s
}

// goField returns the schema of the field at a dotted path of Go field
// names below struct t ("Match", "Reply.Times"), for shapes that read
// fields without YAML keys of their own.
func (g *gen) goField(t reflect.Type, path string) schema {
	owner, sf, ok := g.lookupField(t, path)
	if !ok {
		return schema{}
	}
	s := g.schemaOf(sf.Type, parseChecks(sf.Tag.Get("mx")))
	if d := g.fieldDoc(owner, sf.Name); d != "" {
		s["description"] = d
	}
	return s
}

// goFieldType returns the type of the field at a dotted path below t.
func (g *gen) goFieldType(t reflect.Type, path string) reflect.Type {
	_, sf, ok := g.lookupField(t, path)
	if !ok {
		return reflect.TypeFor[struct{}]()
	}
	return sf.Type
}

func (g *gen) lookupField(t reflect.Type, path string) (reflect.Type, reflect.StructField, bool) {
	var sf reflect.StructField
	owner := t
	for i, name := range strings.Split(path, ".") {
		for owner.Kind() == reflect.Pointer {
			owner = owner.Elem()
		}
		f, ok := owner.FieldByName(name)
		if !ok || owner.Kind() != reflect.Struct {
			g.errorf("shapes entry for %s reads field %s, which %s does not have (fix scenarios/internal/schemagen/tables.go)", t, path, owner)
			return nil, sf, false
		}
		sf = f
		if i < strings.Count(path, ".") {
			owner = f.Type
		}
	}
	return owner, sf, true
}

// schemaOf returns the schema of a value of type t with checks c.
func (g *gen) schemaOf(t reflect.Type, c checks) schema {
	switch {
	case t == durationType:
		return g.format("duration")
	case t == addrType:
		if c.kind == "ipv4" || c.kind == "ipv6" {
			return g.check(c.kind)
		}
		return schema{"type": "string", "description": "an IP address"}
	case t.Kind() == reflect.Pointer:
		return g.schemaOf(t.Elem(), c)
	case t.Name() != "" && g.shapeFor(t) != nil:
		return g.ref(t)
	case t.Kind() == reflect.Slice && g.shapeFor(t) != nil:
		return g.callShape(t) // an unnamed list: written in place
	}
	if _, ok := g.enumValues(t); ok {
		return g.ref(t)
	}
	if t.Name() != "" && t.PkgPath() != "" && t.Kind() != reflect.String && !g.inModule(t) {
		g.errorf("no schema for %s: the decoder has no rule for it (add a shapes entry)", t)
		return schema{}
	}
	switch t.Kind() {
	case reflect.String:
		if c.kind != "" {
			return g.check(c.kind)
		}
		return schema{"type": "string"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if c.kind == "code" {
			return g.check(c.kind)
		}
		s := schema{"type": "integer", "minimum": 0} // the decoder refuses negative numbers
		if c.max > 0 {
			s["maximum"] = c.max
		}
		return s
	case reflect.Bool:
		return schema{"type": "boolean"}
	case reflect.Slice:
		if et := t.Elem(); et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct && hasKeyField(et.Elem()) {
			return g.keyed(et.Elem())
		}
		item := c
		item.required = false
		return schema{"type": "array", "items": g.schemaOf(t.Elem(), item)}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			g.errorf("no schema for %s: YAML keys are strings", t)
		}
		return schema{"type": "object", "additionalProperties": g.schemaOf(t.Elem(), checks{})}
	case reflect.Struct:
		if t.Name() != "" {
			return g.ref(t)
		}
		return g.object(t)
	}
	g.errorf("no schema for %s (kind %s)", t, t.Kind())
	return schema{}
}

func (g *gen) inModule(t reflect.Type) bool {
	_, ok := g.mod.dirOf(t.PkgPath())
	return ok
}

// check returns the schema of an `mx:"…"` check.
func (g *gen) check(kind string) schema {
	if kind == "behavior" {
		ts := g.byName[behaviorType]
		if len(ts) != 1 {
			g.errorf(`mx:"behavior" lists the keys of the type named %q, and %d such types are reachable (fix behaviorType in scenarios/internal/schemagen/tables.go)`, behaviorType, len(ts))
			return schema{}
		}
		return schema{"type": "string", "enum": g.keys(ts[0])}
	}
	name, ok := checkFormats[kind]
	if !ok {
		g.errorf(`unknown check mx:%q: add it to checkFormats in scenarios/internal/schemagen/tables.go`, kind)
		return schema{}
	}
	return g.format(name)
}

// format returns a $ref to a $defs entry of formats.
func (g *gen) format(name string) schema {
	f, ok := formats[name]
	if !ok {
		g.errorf("internal: no format %q", name)
		return schema{}
	}
	if _, done := g.defs[name]; !done {
		g.defs[name] = f
		g.formatRefs(f) // mx_host refers to domain
	}
	return schema{"$ref": "#/$defs/" + name}
}

// formatRefs adds the formats that v refers to.
func (g *gen) formatRefs(v any) {
	switch t := v.(type) {
	case schema:
		for k, e := range t {
			if ref, ok := e.(string); ok && k == "$ref" {
				g.format(strings.TrimPrefix(ref, "#/$defs/"))
			}
			g.formatRefs(e)
		}
	case []any:
		for _, e := range t {
			g.formatRefs(e)
		}
	}
}

func hasKeyField(t reflect.Type) bool {
	for _, f := range fieldsOf(t) {
		if f.checks.key {
			return true
		}
	}
	return false
}

// keyed returns the schema of a keyed list: a mapping from the key field
// (a zone's apex, a host's name) to the rest of the struct, or to its
// mx:"value" field when it has one (a name's records).
func (g *gen) keyed(t reflect.Type) schema {
	var keyF, valF *field
	for _, f := range fieldsOf(t) {
		switch {
		case f.checks.key:
			keyF = &f
		case f.checks.value:
			valF = &f
		}
	}
	names := g.schemaOf(keyF.typ, keyF.checks)
	if d := g.fieldDoc(keyF.owner, keyF.goName); d != "" {
		names["description"] = d
	}
	s := schema{"type": "object", "propertyNames": names}
	if valF != nil {
		s["additionalProperties"] = g.fieldSchema(*valF)
	} else {
		s["additionalProperties"] = g.ref(t)
	}
	return s
}
