package scenarios

import (
	"reflect"

	"github.com/goccy/go-yaml/ast"
)

// The fragment decoders read one part of a scenario on its own, in exactly
// the shape a scenario file writes it and with the same strict decoder and
// the same checks, for programs that take such parts from elsewhere (an
// HTTP API: a JSON body is YAML too). Checks that need the rest of a
// scenario (a host or zone named elsewhere, an MX target without a host)
// are the caller's, who knows the network. Mistakes come as an ErrorList
// of *Error with Line and Col within src and an empty File, each message
// naming the key or the field path.

// ParseBehavior reads a host's behaviour, as written under a host of
// `hosts` (and, with the host and clear keys left out, in a `set` step):
//
//	{state: down}
//	{"replies": {"rcpt": "452 4.2.2 full"}, "greylist": {"window": "30s"}}
//
// Its values are checked by fakesmtp.Behavior.Validate, each mistake at
// the line and column of the value. The parts written are set, the others
// nil, and defaults are filled in as Parse does (a tls part offers
// STARTTLS unless TLS is implicit); Apply puts it on top of a base. As in
// a scenario, a part written as null is there with its defaults
// ("greylist": null greylists with a window of 0s): ClearBehavior is what
// takes a part away.
func ParseBehavior(src []byte) (*Behavior, error) {
	b := new(Behavior)
	err := parseFragment(src, "behaviour", reflect.ValueOf(b).Elem(), func(v *validator, body ast.Node) {
		v.behavior(b, posOf(body))
	})
	if err != nil {
		return nil, err
	}
	b.applyDefaults()
	return b, nil
}

// ParseZone reads a zone of `dns:`, the value under the zone's name, which
// is given apart (any case, with or without the final dot):
//
//	{mx: [{pref: 10, host: mx1.example.test}], a: [127.0.0.1]}
//
// The zone is checked on its own: records, null MX, the CNAME at the
// apex, fault names within the zone. Whether an MX target is a host of the
// network is the caller's to check.
func ParseZone(name string, src []byte) (*Zone, error) {
	z := new(Zone)
	err := parseFragment(src, "zone "+canonical(name), reflect.ValueOf(z).Elem(), func(v *validator, body ast.Node) {
		if err := checkDomain(name); err != nil {
			v.e.at(Pos{}, "zone name: %v", err)
			return
		}
		z.Name, z.Pos = canonical(name), posOf(body)
		v.zone(z)
	})
	if err != nil {
		return nil, err
	}
	return z, nil
}

// ParseFault reads a DNS fault as written in a zone's `faults:` or in
// `set: {fault: …}`, a map that names its owner:
//
//	{name: example.test, type: MX, kind: servfail, times: 1}
//
// Whether the name lies in a zone of the network is the caller's to check.
func ParseFault(src []byte) (*Fault, error) {
	f := new(Fault)
	err := parseFragment(src, "fault", reflect.ValueOf(f).Elem(), func(v *validator, _ ast.Node) {
		v.namedFault(f)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// parseFragment parses src, decodes its one document into v (what names
// it in messages) and runs check on it, so that, as with Parse, every
// mistake is reported at once.
func parseFragment(src []byte, what string, v reflect.Value, check func(*validator, ast.Node)) error {
	e := newErrs("", src)
	s := &Scenario{positions: map[any]Pos{}}
	body := parseDocument(e, src, "one "+what+" per document", "empty: want a "+what+" (a mapping)")
	if body != nil {
		newDecoder(e, s.positions).decode(body, v, checks{}, what)
		check(&validator{s: s, e: e}, body)
	}
	if len(e.list) > 0 {
		sortErrors(e.list)
		return e.list
	}
	return nil
}
