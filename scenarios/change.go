package scenarios

import (
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Fragment decoders for changes to a running network, read as fragment.go
// reads its parts: the strict decoder, the same checks, mistakes at their
// line and column within src.

// hostSet is the host part of a set step, the keys ParseHostSet reads.
type hostSet struct {
	Host     string `yaml:"host" mx:"domain"`
	Behavior `yaml:",inline"`
	Clear    []string `yaml:"clear" mx:"behavior"`
}

// ParseHostSet reads the host part of a set step, what changes a host's
// behaviour: the behaviour parts to replace and clear, the parts to put
// back to normal first, and, optionally, host:
//
//	{clear: [greylist], replies: {rcpt: "452 4.2.2 full"}}
//	{"host": "mx1.example.test", "state": "down"}
//
// Set.Apply does what the step does. The parts are checked as in a set
// step (fakesmtp.Behavior.Validate, on the zero behaviour); whether host
// is a host of the network is the caller's to check.
//
// One thing a scenario takes is refused: a part written as null. A set
// step reads "greylist": null as greylisting with its defaults, while
// programs that speak JSON merge patch (RFC 7396) mean by it "take it
// away"; rather than guess, ParseHostSet asks for clear: [greylist] or
// "greylist": {}, which mean one thing each.
func ParseHostSet(src []byte) (*Set, error) {
	hs := new(hostSet)
	err := parseFragment(src, "set step", reflect.ValueOf(hs).Elem(), func(v *validator, body ast.Node) {
		refuseNulls(v, body)
		if hs.Behavior.IsZero() && len(hs.Clear) == 0 && len(v.e.list) == 0 {
			v.e.at(posOf(body), "set changes nothing: add behaviour keys (%s) or clear", strings.Join(BehaviorKeys(), ", "))
		}
		v.behavior(&hs.Behavior, posOf(body))
	})
	if err != nil {
		return nil, err
	}
	hs.Behavior.applyDefaults()
	return &Set{Pos: Pos{Line: 1, Col: 1}, Host: hs.Host, Behavior: hs.Behavior, Clear: hs.Clear}, nil
}

// refuseNulls reports each key of the mapping body whose value is null
// (see ParseHostSet).
func refuseNulls(v *validator, body ast.Node) {
	d := newDecoder(newErrs("", nil), map[any]Pos{}) // body's own mistakes are the real decoder's
	es, _ := d.entries(body)
	behavior := BehaviorKeys()
	for _, e := range es {
		if _, null := e.value.(*ast.NullNode); e.value != nil && !null {
			continue
		}
		if !slices.Contains(behavior, e.key) {
			continue // "host" and "clear" read null as nothing, as in a scenario
		}
		v.e.at(e.keyPos, "%q is null: write clear: [%s] to put it back to normal, or %q: {} for the part with its defaults (a set step in a scenario reads null as the latter, JSON merge patch as the former)", e.key, e.key, e.key)
	}
}

// ParseZoneFault reads the fault of a whole zone, as written under a
// zone's `fault:` in `dns:`: a kind alone, or a map without name:
//
//	servfail
//	{type: MX, kind: timeout, times: 2}
func ParseZoneFault(src []byte) (*Fault, error) {
	f := new(Fault)
	err := parseFragment(src, "fault", reflect.ValueOf(f).Elem(), func(v *validator, _ ast.Node) {
		if f.Name != "" {
			v.at(&f.Name, f.Pos, "a zone-wide fault has no name; put per-name faults under faults")
		}
		v.fault(f)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}
