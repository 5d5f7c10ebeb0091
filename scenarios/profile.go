package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/mxsim/mxsim/fakesmtp"
)

// Provider profiles are data: one YAML file each under profiles/, shipped
// in the binary. A host takes one with `profile: NAME` and some of its
// named faults with `faults: [NAME, …]`; docs/profiles.md describes them.
//
//go:embed profiles/*.yaml
var profileFS embed.FS

// ProviderProfile is a provider profile: the behaviour of a host shaped
// like a provider's MX or smarthost, from the provider's published reply
// codes (Sources), and named faults that a host can select over it.
type ProviderProfile struct {
	Name        string         // "gmail-like"
	Description string         // one line
	Role        string         // "receiver" (an MX) or "smarthost"
	Sources     []string       // the provider's pages the replies come from
	Ports       []int          // the ports a host with the profile listens on, unless it lists its own
	Faults      []ProfileFault // in file order
	YAML        []byte         // the profile's file, as shipped
}

// ProfileFault is one named fault of a profile: a behaviour overlay.
type ProfileFault struct {
	Name        string // "rate_limited"
	Description string // what the host then does, at which stage
}

// Fault returns the fault called name, and whether there is one.
func (p ProviderProfile) Fault(name string) (ProfileFault, bool) {
	for _, f := range p.Faults {
		if f.Name == name {
			return f, true
		}
	}
	return ProfileFault{}, false
}

// FaultNames returns the names of p's faults, in file order.
func (p ProviderProfile) FaultNames() []string {
	names := make([]string, len(p.Faults))
	for i, f := range p.Faults {
		names[i] = f.Name
	}
	return names
}

// Behavior returns the behaviour of a host that has `profile: p.Name` and
// `faults:` faults (in that order) and nothing else. An unknown fault is
// an error matching ErrInvalid.
func (p ProviderProfile) Behavior(faults ...string) (fakesmtp.Behavior, error) {
	var src strings.Builder
	fmt.Fprintf(&src, "profile: %q\nfaults: [", p.Name)
	for i, f := range faults {
		if i > 0 {
			src.WriteString(", ")
		}
		fmt.Fprintf(&src, "%q", f)
	}
	src.WriteString("]\n")
	h := new(Host)
	err := parseFragment([]byte(src.String()), "host", reflect.ValueOf(h).Elem(), func(v *validator, body ast.Node) {
		v.behavior(&h.Behavior, posOf(body))
	})
	if err != nil {
		return fakesmtp.Behavior{}, err
	}
	h.Behavior.applyDefaults()
	return h.Behavior.Apply(fakesmtp.Behavior{})
}

// Profiles returns the provider profiles, sorted by name.
func Profiles() []ProviderProfile {
	out := slices.Clone(profiles())
	for i := range out {
		out[i].Sources = slices.Clone(out[i].Sources)
		out[i].Ports = slices.Clone(out[i].Ports)
		out[i].Faults = slices.Clone(out[i].Faults)
		out[i].YAML = slices.Clone(out[i].YAML)
	}
	return out
}

// LookupProfile returns the provider profile called name.
func LookupProfile(name string) (ProviderProfile, bool) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, true
		}
	}
	return ProviderProfile{}, false
}

// ProfileName names a provider profile, in a host's profile key.
type ProfileName string

// Values lists the profile names, sorted.
func (ProfileName) Values() []string {
	ps := profiles()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// profileFile is the metadata of a profile's file; behavior and faults'
// behaviours are read as YAML nodes where a host uses them.
type profileFile struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Role        string   `yaml:"role"`
	Sources     []string `yaml:"sources"`
	Ports       []int    `yaml:"ports"`
	Behavior    any      `yaml:"behavior"`
	Faults      map[string]struct {
		Description string `yaml:"description"`
		Behavior    any    `yaml:"behavior"`
	} `yaml:"faults"`
}

// profiles reads the shipped profiles once. They are checked by the
// package's tests; a mistake in one is a bug, and panics.
var profiles = sync.OnceValue(func() []ProviderProfile {
	ps, err := readProfiles(profileFS)
	if err != nil {
		panic(err)
	}
	return ps
})

// readProfiles reads every profiles/*.yaml of fsys, sorted by name.
func readProfiles(fsys fs.FS) ([]ProviderProfile, error) {
	files, err := fs.Glob(fsys, "profiles/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []ProviderProfile
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var pf profileFile
		if err := yaml.UnmarshalWithOptions(data, &pf, yaml.Strict()); err != nil {
			return nil, fmt.Errorf("scenarios: profile %s: %w", f, err)
		}
		if want := strings.TrimSuffix(path.Base(f), ".yaml"); pf.Name != want {
			return nil, fmt.Errorf("scenarios: profile %s: name %q, want %q (the file's name)", f, pf.Name, want)
		}
		if pf.Description == "" || len(pf.Sources) == 0 || (pf.Role != "receiver" && pf.Role != "smarthost") {
			return nil, fmt.Errorf("scenarios: profile %s: needs a description, sources and a role (receiver or smarthost)", f)
		}
		if err := profilePorts(pf.Role, pf.Ports); err != nil {
			return nil, fmt.Errorf("scenarios: profile %s: %w", f, err)
		}
		p := ProviderProfile{Name: pf.Name, Description: pf.Description, Role: pf.Role, Sources: pf.Sources, Ports: pf.Ports, YAML: data}
		root, err := parseProfile(data)
		if err != nil {
			return nil, fmt.Errorf("scenarios: profile %s: %w", f, err)
		}
		if _, ok := mappingValues(mapGet(root, "behavior")); !ok {
			return nil, fmt.Errorf("scenarios: profile %s: behavior must be a mapping", f)
		}
		fvs, _ := mappingValues(mapGet(root, "faults"))
		for _, mv := range fvs {
			name := mv.Key.GetToken().Value
			fd := pf.Faults[name]
			if fd.Description == "" || fd.Behavior == nil {
				return nil, fmt.Errorf("scenarios: profile %s: fault %s needs a description and a behavior", f, name)
			}
			p.Faults = append(p.Faults, ProfileFault{Name: name, Description: fd.Description})
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b ProviderProfile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// profilePorts checks a profile's ports: some, each from 1 to 65535 and
// listed once; a receiver's include 25, the port MX records lead to.
func profilePorts(role string, ports []int) error {
	if len(ports) == 0 {
		return fmt.Errorf("needs ports (a receiver's include 25)")
	}
	for i, p := range ports {
		if p < 1 || p > 65535 || slices.Index(ports, p) != i {
			return fmt.Errorf("ports %v: each from 1 to 65535, once", ports)
		}
	}
	if role == "receiver" && !slices.Contains(ports, 25) {
		return fmt.Errorf("ports %v: a receiver listens on 25, where MX records lead", ports)
	}
	return nil
}

// parseProfile parses a profile's file and returns its body.
func parseProfile(data []byte) (ast.Node, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, err
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, fmt.Errorf("want one document")
	}
	return f.Docs[0].Body, nil
}

// profileNode parses p's file afresh and returns the node at keys (the
// behaviour, or a fault's), every token of it placed at at: the place in
// the scenario that asked for it, so that what is said of a value that
// came from the profile points there.
func profileNode(p *ProviderProfile, at Pos, keys ...string) ast.Node {
	tokens := lexer.Tokenize(string(p.YAML))
	f, err := parser.Parse(tokens, 0)
	if err != nil || len(f.Docs) == 0 {
		return nil // readProfiles parsed it already
	}
	for _, tk := range tokens {
		tk.Position = &token.Position{Line: at.Line, Column: at.Col}
	}
	ast.Walk(placer{at}, f.Docs[0].Body)
	n := f.Docs[0].Body
	for _, k := range keys {
		n = mapGet(n, k)
	}
	return n
}

// profileBase returns what a host with profile p starts from, placed at
// at (see profileNode): the profile's behaviour, and its ports as the
// host's ports: key, so that a host's own ports: replaces them.
func profileBase(p *ProviderProfile, at Pos) ast.Node {
	root := profileNode(p, at)
	behavior := mapGet(root, "behavior")
	vs, _ := mappingValues(behavior)
	rvs, _ := mappingValues(root)
	for _, mv := range rvs {
		if mv.Key != nil && mv.Key.GetToken() != nil && mv.Key.GetToken().Value == "ports" {
			return ast.Mapping(behavior.GetToken(), false, append(slices.Clone(vs), mv)...)
		}
	}
	return behavior
}

// placer sets the position of every node's token it visits.
type placer struct{ at Pos }

func (v placer) Visit(n ast.Node) ast.Visitor {
	if tk := n.GetToken(); tk != nil {
		tk.Position = &token.Position{Line: v.at.Line, Column: v.at.Col}
	}
	return v
}

// mappingValues returns the key/values of a mapping node.
func mappingValues(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch t := n.(type) {
	case *ast.MappingNode:
		return t.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{t}, true
	}
	return nil, false
}

// mapGet returns the value under key of a plain mapping (a profile's), or nil.
func mapGet(n ast.Node, key string) ast.Node {
	vs, _ := mappingValues(n)
	for _, mv := range vs {
		if mv.Key != nil && mv.Key.GetToken() != nil && mv.Key.GetToken().Value == key {
			return mv.Value
		}
	}
	return nil
}

// keyOf returns the key of mv as written, "" for a merge key or a key
// that is not a scalar.
func (d *decoder) keyOf(mv *ast.MappingValueNode) string {
	if mv.Key == nil || mv.Key.IsMergeKey() {
		return ""
	}
	switch k := d.resolve(mv.Key).(type) {
	case *ast.StringNode:
		return k.Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return k.GetToken().Value
	}
	return ""
}

// mergeableParts are the behaviour keys whose values, mappings, merge key
// by key over a profile's: replies, delays, limits, tls…
var mergeableParts = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[Behavior]()
	for _, f := range fieldsOf(t) {
		ft := t.FieldByIndex(f.index).Type
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && !isShape(ft.Elem()) {
			m[f.key] = true
		}
	}
	return m
}()

// overlay returns the mapping over on top of the mapping base: base's
// keys that over does not write, and over's keys; where both have a
// behaviour part (mergeableParts) that is a mapping, and at the top level
// only, the part is the overlay of the two, so that a host's
// `limits: {max_size: …}` keeps the profile's other limits. A part
// written null stands for an empty mapping. A key that over gets from a
// merge key ("<<") replaces base's whole. When over is not a mapping it
// is returned, for the decoder to report.
func (d *decoder) overlay(base, over ast.Node, top bool) ast.Node {
	ro := d.resolve(over)
	if ro == nil {
		return base
	}
	ovs, ok := mappingValues(ro)
	bvs, bok := mappingValues(base)
	if !ok || !bok {
		return over
	}
	set := map[string]bool{}
	out := make([]*ast.MappingValueNode, 0, len(ovs)+len(bvs))
	for _, mv := range ovs {
		k := d.keyOf(mv)
		if k == "" {
			if mv.Key != nil && mv.Key.IsMergeKey() {
				for _, src := range d.mergeSources(mv.Value) {
					for _, smv := range src {
						set[d.keyOf(smv)] = true
					}
				}
			}
			out = append(out, mv)
			continue
		}
		first := !set[k]
		set[k] = true
		if bv := mapGet(base, k); top && first && bv != nil && mergeableParts[k] {
			if _, isMap := mappingValues(bv); isMap {
				if _, overMap := mappingValues(d.resolve(mv.Value)); overMap || d.resolve(mv.Value) == nil {
					out = append(out, ast.MappingValue(mv.Start, mv.Key, d.overlay(bv, mv.Value, false)))
					continue
				}
			}
		}
		out = append(out, mv)
	}
	for _, mv := range bvs {
		if !set[mv.Key.GetToken().Value] {
			out = append(out, mv)
		}
	}
	return ast.Mapping(ro.GetToken(), false, out...)
}

// mergeSources returns the key/values of the mappings a merge key's value
// names (one mapping or a list of them), without reporting anything: the
// decoder does when it meets them.
func (d *decoder) mergeSources(n ast.Node) [][]*ast.MappingValueNode {
	src := d.resolve(n)
	items := []ast.Node{src}
	if seq, ok := src.(*ast.SequenceNode); ok {
		items = seq.Values
	}
	var out [][]*ast.MappingValueNode
	for _, it := range items {
		if vs, ok := mappingValues(d.resolve(it)); ok {
			out = append(out, vs)
		}
	}
	return out
}

// dnsFaultHint is said of host faults written as DNS faults are.
const dnsFaultHint = "DNS faults (servfail, nxdomain, …) go under a zone in dns, as fault or faults"

// decodeNode reads a host. With a profile, the host's value is laid over
// the profile's behaviour and the faults it selects (see overlay) before
// it is decoded, so that every mistake, in the host's keys or in what
// they make of the profile's, is reported at its place in the file; the
// profile's own values are placed at the profile's name, a fault's at the
// fault's name.
func (h *Host) decodeNode(d *decoder, n ast.Node, what string) {
	values, isMap := mappingValues(n)
	if !isMap {
		d.decodeStruct(n, n, reflect.ValueOf(h).Elem(), what)
		return
	}
	if slices.ContainsFunc(values, func(mv *ast.MappingValueNode) bool { return mv.Key != nil && mv.Key.IsMergeKey() }) {
		values = d.flatten(n)
	}
	var profileMV, faultsMV *ast.MappingValueNode
	rest := make([]*ast.MappingValueNode, 0, len(values))
	for _, mv := range values {
		switch d.keyOf(mv) {
		case "profile":
			if profileMV == nil {
				profileMV = mv
			}
		case "faults":
			if faultsMV != nil {
				d.e.at(posOf(mv.Key), "duplicate key %q (first at %s)", "faults", posOf(faultsMV.Key))
			} else {
				faultsMV = mv
			}
			continue // read here, not by decodeStruct
		}
		rest = append(rest, mv)
	}
	var p *ProviderProfile
	if profileMV != nil {
		if name, ok := stringOf(d.resolve(profileMV.Value)); ok {
			for i, pp := range profiles() {
				if pp.Name == name {
					p = &profiles()[i]
				}
			}
		}
		// An unknown name is the decoder's to report (ProfileName.Values).
	}
	var faults []string
	var faultPos []Pos
	if faultsMV != nil {
		faults, faultPos = d.hostFaults(faultsMV, p, profileMV != nil)
	}
	body := ast.Node(ast.Mapping(n.GetToken(), false, rest...))
	if p != nil {
		base := profileBase(p, d.nullPos(d.resolve(profileMV.Value), profileMV.Value))
		for i, f := range faults {
			base = d.overlay(base, profileNode(p, faultPos[i], "faults", f, "behavior"), true)
		}
		body = d.overlay(base, body, true)
	}
	d.decodeStruct(body, n, reflect.ValueOf(h).Elem(), what)
	if faultsMV != nil {
		h.Faults = faults
		d.pos[&h.Faults] = d.nullPos(d.resolve(faultsMV.Value), faultsMV.Value)
		for i := range h.Faults {
			d.pos[&h.Faults[i]] = faultPos[i]
		}
	}
}

// flatten returns the key/values of mapping n with its merge keys ("<<")
// expanded, as decodeStruct takes them: explicit keys win over merged
// ones, and of merged ones the first; a mistake in a merge key is
// reported here.
func (d *decoder) flatten(n ast.Node) []*ast.MappingValueNode {
	es, _ := d.entries(n)
	explicit := map[string]bool{}
	for _, e := range es {
		if !e.merged {
			explicit[e.key] = true
		}
	}
	seen := map[string]bool{}
	var out []*ast.MappingValueNode
	for _, e := range es {
		if e.merged && (explicit[e.key] || seen[e.key]) {
			continue
		}
		seen[e.key] = true
		tk := token.New(e.key, e.key, &token.Position{Line: e.keyPos.Line, Column: e.keyPos.Col})
		out = append(out, ast.MappingValue(tk, ast.String(tk), e.value))
	}
	return out
}

// hostFaults reads a host's faults: names of faults of profile p (nil
// when the host names none that exists; written says whether it names
// one). It returns the names that are good and their positions.
func (d *decoder) hostFaults(mv *ast.MappingValueNode, p *ProviderProfile, written bool) ([]string, []Pos) {
	v := d.resolve(mv.Value)
	at := d.nullPos(v, mv.Value)
	if v == nil {
		return nil, nil
	}
	seq, ok := v.(*ast.SequenceNode)
	if !ok {
		d.e.at(at, "host faults must be a list of the names of faults of the host's profile, got %s; %s", kindOf(v), dnsFaultHint)
		return nil, nil
	}
	if !written {
		d.e.at(posOf(mv.Key), "host faults are faults of a provider profile: give the host a profile (%s) too; %s",
			strings.Join(ProfileName("").Values(), ", "), dnsFaultHint)
		return nil, nil
	}
	if p == nil {
		return nil, nil // the unknown profile is reported
	}
	valid := p.FaultNames()
	var names []string
	var ps []Pos
	seen := map[string]Pos{}
	for _, it := range seq.Values {
		r := d.resolve(it)
		ip := d.nullPos(r, it)
		s, ok := stringOf(r)
		switch {
		case !ok:
			d.e.at(ip, "host fault must be the name of a fault of profile %s (valid: %s), got %s; %s", p.Name, strings.Join(valid, ", "), kindOf(r), dnsFaultHint)
			continue
		case !slices.Contains(valid, s):
			hint := suggest(s, valid)
			if slices.Contains(FaultKind("").Values(), s) {
				hint += fmt.Sprintf("; %s is a DNS fault: write it under a zone in dns, as fault or faults", s)
			}
			d.e.at(ip, "unknown fault %q of profile %s (valid: %s)%s", s, p.Name, strings.Join(valid, ", "), hint)
			continue
		}
		if first, dup := seen[s]; dup {
			d.e.at(ip, "duplicate fault %q (first at %s)", s, first)
			continue
		}
		seen[s] = ip
		names = append(names, s)
		ps = append(ps, ip)
	}
	return names, ps
}

// profileFaultNames returns the fault names of every profile, sorted.
func profileFaultNames() []string {
	var names []string
	for _, p := range profiles() {
		for _, f := range p.Faults {
			if !slices.Contains(names, f.Name) {
				names = append(names, f.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

var _ nodeDecoder = (*Host)(nil)

// hostFaultInDNS reports a DNS fault written as the name of a fault of a
// provider profile (rate_limited), and whether it was one.
func (d *decoder) hostFaultInDNS(at Pos, s string) bool {
	if slices.Contains(FaultKind("").Values(), s) || !slices.Contains(profileFaultNames(), s) {
		return false
	}
	d.e.at(at, "%q is a fault of provider profiles, not a DNS fault: write it under a host that has a profile, as faults: [%s] (DNS fault kinds: %s)",
		s, s, strings.Join(FaultKind("").Values(), ", "))
	return true
}
