package sandbox

import (
	"errors"
	"mime"
	"net/http"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

// /api/hosts: the simulated SMTP hosts, their state and behaviour. A
// behaviour is written as under a host of a scenario's `hosts:`
// (scenarios.Behavior); a change as the host part of a `set:` step.

type hostJSON struct {
	Name    string         `json:"name"`
	Addr    string         `json:"addr"`
	State   fakesmtp.State `json:"state"`   // "" written as up
	Summary string         `json:"summary"` // the behaviour in words
	// Behavior is the host's behaviour in the scenario's shape: a body
	// for PUT as it is.
	Behavior *scenarios.Behavior `json:"behavior"`
}

func hostView(h *fakesmtp.Host) hostJSON {
	b := h.Behavior()
	st := b.State
	if st == "" {
		st = fakesmtp.Up
	}
	return hostJSON{Name: h.Name(), Addr: h.Addr(), State: st, Summary: harness.Describe(b), Behavior: scenarios.BehaviorOf(b)}
}

// host finds the host named in the path.
func (s *Server) host(r *http.Request) (*fakesmtp.Host, error) {
	name := r.PathValue("name")
	h := s.env.Host(name)
	if h == nil {
		return nil, notFound("host %q: no such host", name)
	}
	return h, nil
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) error {
	out := []hostJSON{}
	for _, h := range s.env.Hosts() {
		out = append(out, hostView(h))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request) error {
	h, err := s.host(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hostView(h))
	return nil
}

// patchHost changes the parts of the host's behaviour that the body names,
// as a set step does: {"greylist": {"window": "30s"}} turns greylisting
// on, {"clear": ["greylist"]} off, {"state": "down"} takes the host down;
// the parts not named stay as they are.
func (s *Server) patchHost(w http.ResponseWriter, r *http.Request) error {
	h, err := s.host(r)
	if err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == ctMergePatch {
		return &apiError{http.StatusUnsupportedMediaType, "content type " + ctMergePatch + ": PATCH takes the host part of a set step " +
			"(application/json or " + ctYAML + "), not a JSON merge patch: a part given replaces the host's whole part, and clear: [part] takes it away"}
	}
	body, err := readShape(w, r)
	if err != nil {
		return err
	}
	set, err := scenarios.ParseHostSet(body)
	if err != nil {
		return shapeError("host "+h.Name(), err)
	}
	if set.Host != "" && set.Host != canonical(h.Name()) {
		return badRequest("host %s: the body's host is %s", h.Name(), set.Host)
	}
	b, err := set.Apply(h.Behavior())
	if err != nil {
		return invalid("host "+h.Name(), err)
	}
	return s.setBehavior(w, h, b)
}

// putHost replaces the host's behaviour with the body, a behaviour as
// written under a host of `hosts:`: the parts left out are normal, and
// the host is up unless the body says otherwise.
func (s *Server) putHost(w http.ResponseWriter, r *http.Request) error {
	h, err := s.host(r)
	if err != nil {
		return err
	}
	body, err := readShape(w, r)
	if err != nil {
		return err
	}
	sb, err := scenarios.ParseBehavior(body)
	if err != nil {
		return shapeError("host "+h.Name(), err)
	}
	// As under hosts: up unless it says otherwise.
	b, err := sb.Apply(fakesmtp.Behavior{State: fakesmtp.Up})
	if err != nil {
		return invalid("host "+h.Name(), err)
	}
	return s.setBehavior(w, h, b)
}

// setBehavior applies b, checked already; fakesmtp journals the change.
func (s *Server) setBehavior(w http.ResponseWriter, h *fakesmtp.Host, b fakesmtp.Behavior) error {
	if err := h.SetBehavior(b); err != nil {
		if errors.Is(err, fakesmtp.ErrInvalid) {
			return invalid("host "+h.Name(), err)
		}
		return conflict("%v", err)
	}
	writeJSON(w, http.StatusOK, hostView(h))
	return nil
}

// hostAction runs POST /api/hosts/{name}/down, /up or /disconnect.
func (s *Server) hostAction(w http.ResponseWriter, r *http.Request) error {
	h, err := s.host(r)
	if err != nil {
		return err
	}
	switch a := r.PathValue("action"); a {
	case "down":
		err = h.Down()
	case "up":
		err = h.Up()
	case "disconnect":
		h.CloseClientConnections()
		s.env.Control("sandbox: host %s: client connections closed", h.Name())
	default:
		return notFound("host %s: unknown action %q (want down, up or disconnect)", h.Name(), a)
	}
	if err != nil {
		return conflict("%v", err)
	}
	writeJSON(w, http.StatusOK, hostView(h))
	return nil
}
