package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/scenarios"
)

// /api/faults: the fake DNS's faults in force, written as a scenario's
// `dns:` section writes them, zone by zone.

// faultsJSON is the view of the faults: the `dns:` section with only the
// fault keys, {"example.test": {"fault": {…}, "faults": [{…}]}}. A zone's
// fault covers every name of the zone (a scenario's zone `fault:`, PUT
// /api/zones/{zone}/fault); its faults each name one owner (a zone's
// `faults:` or a `set: {fault: …}` step, POST /api/faults). A fault whose
// name is in no zone of the network, which neither a scenario nor the API
// can set, is listed under ".".
type faultsJSON map[string]*scenarios.Zone

// faultsView sorts faults into the zones of the network: a whole-zone
// fault under its own name, a named one under the deepest zone holding
// its name.
func faultsView(zones []fakedns.Zone, faults []fakedns.Fault) faultsJSON {
	out := faultsJSON{}
	for _, f := range faults {
		key := canonical(f.Name)
		if !f.Zone {
			key = zoneOf(zones, f.Name)
		}
		z := out[key]
		if z == nil {
			z = &scenarios.Zone{}
			out[key] = z
		}
		sf := &scenarios.Fault{Type: f.Type, Kind: scenarios.FaultKind(f.Kind), Delay: f.Delay, Times: f.Times}
		switch {
		case !f.Zone:
			sf.Name = canonical(f.Name)
			z.Faults = append(z.Faults, sf)
		case z.Fault == nil:
			// A scenario's zone has one fault, and so has a zone of the
			// API (PUT /api/zones/{zone}/fault replaces it). Only a network
			// built in Go can have several; the first, by type, is shown.
			z.Fault = sf
		}
	}
	return out
}

// zoneOf returns the deepest zone of zones that holds name, as scenarios
// write it, or "." when none does.
func zoneOf(zones []fakedns.Zone, name string) string {
	n := fqdn(name)
	best := ""
	for _, z := range zones {
		if (n == z.Name || strings.HasSuffix(n, "."+z.Name)) && len(z.Name) > len(best) {
			best = z.Name
		}
	}
	if best == "" {
		return "."
	}
	return canonical(best)
}

// dnsFault is the fakedns form of a scenario's fault; name is the owner,
// or the apex of a whole-zone fault. Names are fully qualified and types
// upper case, as fakedns.Server.Faults writes them, so that the two can
// be compared.
func dnsFault(f *scenarios.Fault, name string, zone bool) fakedns.Fault {
	t := strings.ToUpper(f.Type)
	if t == "ANY" {
		t = ""
	}
	return fakedns.Fault{Name: fqdn(name), Type: t, Zone: zone, Kind: fakedns.FaultKind(f.Kind), Delay: f.Delay, Times: f.Times}
}

func (s *Server) listFaults(w http.ResponseWriter, r *http.Request) error {
	s.writeFaults(w, http.StatusOK)
	return nil
}

// setFault runs POST /api/faults: a fault as in a zone's faults: or a set
// step's fault:, which names its owner; the owner must be in a zone of the
// network, as in a scenario. It replaces a fault on the same name and type.
func (s *Server) setFault(w http.ResponseWriter, r *http.Request) error {
	body, err := readShape(w, r)
	if err != nil {
		return err
	}
	f, err := scenarios.ParseFault(body)
	if err != nil {
		return shapeError("fault", err)
	}
	zones := s.env.DNS().Zones()
	if zoneOf(zones, f.Name) == "." {
		return badRequest("fault: %s: name %q is not in a zone of the network (zones: %s)", f.Pos, f.Name, zoneNames(zones))
	}
	if err := s.env.DNS().SetFault(dnsFault(f, f.Name, false)); err != nil {
		return err
	}
	s.writeFaults(w, http.StatusCreated)
	return nil
}

// zoneNames lists the zones for messages.
func zoneNames(zones []fakedns.Zone) string {
	names := make([]string, len(zones))
	for i, z := range zones {
		names[i] = canonical(z.Name)
	}
	return strings.Join(names, ", ")
}

// writeFaults writes the faults in force, after a change or not.
func (s *Server) writeFaults(w http.ResponseWriter, status int) {
	writeJSON(w, status, faultsView(s.env.DNS().Zones(), s.env.DNS().Faults()))
}

// clearFault runs DELETE /api/faults?name=N&type=T (a scenario's
// clear_fault: the faults on N of type T, whole-zone or not), or DELETE
// /api/faults with no name to clear them all.
func (s *Server) clearFault(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("name") {
		if q.Has("type") {
			return badRequest("query parameter type needs name")
		}
		s.env.DNS().ClearFaults()
		s.writeFaults(w, http.StatusOK)
		return nil
	}
	name, typ := q.Get("name"), q.Get("type")
	if err := checkName(name); err != nil {
		return badRequest("query parameter name=%q: %v", name, err)
	}
	if typ != "" && !isRRType(typ) {
		return badRequest("query parameter type=%q: want a record type (MX, A, AAAA, TXT, …) or none for any", typ)
	}
	if !s.env.DNS().ClearFault(name, typ) {
		return notFound("no fault on %q %s", name, orAny(strings.ToUpper(typ)))
	}
	s.writeFaults(w, http.StatusOK)
	return nil
}

// replaceFaults makes the faults old (some of those in force) into want,
// touching only what differs, so that a fault left as it was keeps
// counting its times. fakedns clears by name and type, whole-zone or
// not: a fault that goes with one cleared, but is not in old, is set
// again (with the times it has left).
func (s *Server) replaceFaults(old, want []fakedns.Fault) error {
	dns := s.env.DNS()
	remove := slices.DeleteFunc(slices.Clone(old), func(f fakedns.Fault) bool { return slices.Contains(want, f) })
	add := slices.DeleteFunc(slices.Clone(want), func(f fakedns.Fault) bool { return slices.Contains(old, f) })
	type key struct{ name, typ string }
	cleared := map[key]bool{}
	for _, f := range remove {
		cleared[key{f.Name, f.Type}] = true
	}
	var again []fakedns.Fault
	for _, f := range dns.Faults() {
		if cleared[key{f.Name, f.Type}] && !slices.Contains(remove, f) && !slices.Contains(add, f) {
			again = append(again, f)
		}
	}
	for k := range cleared {
		dns.ClearFault(k.name, k.typ)
	}
	for _, f := range append(again, add...) {
		if err := dns.SetFault(f); err != nil {
			return err
		}
	}
	return nil
}

// checkName checks a domain name given in a query: labels of letters,
// digits, '-' and '_' (SRV, DKIM), none empty or longer than 63, 253
// characters in all. A final dot is allowed.
func checkName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return errors.New("empty domain name")
	}
	if len(n) > 253 {
		return errors.New("domain name longer than 253 characters")
	}
	for _, l := range strings.Split(n, ".") {
		switch {
		case l == "":
			return errors.New("bad domain name: empty label")
		case len(l) > 63:
			return fmt.Errorf("bad domain name: label %q longer than 63 characters", l)
		case strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-"):
			return fmt.Errorf("bad domain name: label %q starts or ends with '-'", l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*') {
				return fmt.Errorf("bad domain name: character %q not allowed", c)
			}
		}
	}
	return nil
}

// isRRType reports whether t looks like a record type's name: letters
// and digits, at most 16.
func isRRType(t string) bool {
	return len(t) <= 16 && strings.IndexFunc(t, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	}) < 0
}
