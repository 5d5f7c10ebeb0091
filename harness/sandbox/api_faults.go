package sandbox

import (
	"net/http"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakedns"
)

// /api/faults: the fake DNS's faults in force.

type faultJSON struct {
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"`  // "" = every type
	Zone  bool   `json:"zone,omitempty"`  // every name at or below Name
	Kind  string `json:"kind"`            // servfail, nxdomain, refused, timeout, truncate, delay
	Delay string `json:"delay,omitempty"` // "1s"
	Times int    `json:"times,omitempty"` // remaining firings; 0 = always
}

func (s *Server) listFaults(w http.ResponseWriter, r *http.Request) error {
	s.writeFaults(w, http.StatusOK)
	return nil
}

func (s *Server) setFault(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFault(w, r)
	if err != nil {
		return err
	}
	if err := s.env.DNS().SetFault(f); err != nil {
		return err
	}
	s.writeFaults(w, http.StatusCreated)
	return nil
}

// decodeFault is the one function that knows the shape of a fault body
// (POST).
func decodeFault(w http.ResponseWriter, r *http.Request) (fakedns.Fault, error) {
	var req faultJSON
	if err := readJSON(w, r, &req); err != nil {
		return fakedns.Fault{}, err
	}
	if strings.TrimSpace(req.Name) == "" {
		return fakedns.Fault{}, badRequest("fault: name missing")
	}
	kind, err := fakedns.ParseFaultKind(req.Kind)
	if err != nil {
		return fakedns.Fault{}, err
	}
	f := fakedns.Fault{Name: req.Name, Type: req.Type, Zone: req.Zone, Kind: kind, Times: req.Times}
	if req.Delay != "" {
		if f.Delay, err = time.ParseDuration(req.Delay); err != nil {
			return fakedns.Fault{}, badRequest("fault: delay %q: bad duration (want e.g. \"1s\")", req.Delay)
		}
	}
	return f, nil
}

// writeFaults writes the faults in force, after a change or not.
func (s *Server) writeFaults(w http.ResponseWriter, status int) {
	out := []faultJSON{}
	for _, f := range s.env.DNS().Faults() {
		fj := faultJSON{Name: f.Name, Type: f.Type, Zone: f.Zone, Kind: string(f.Kind), Times: f.Times}
		if f.Delay > 0 {
			fj.Delay = f.Delay.String()
		}
		out = append(out, fj)
	}
	writeJSON(w, status, out)
}

// clearFault runs DELETE /api/faults?name=N&type=T, or DELETE /api/faults
// with no name to clear them all.
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
	if !s.env.DNS().ClearFault(name, typ) {
		return notFound("no fault on %q %s", name, orAny(strings.ToUpper(typ)))
	}
	s.writeFaults(w, http.StatusOK)
	return nil
}
