package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
)

// /api/hosts: the simulated SMTP hosts, their state and behaviour.

type hostJSON struct {
	Name     string            `json:"name"`
	Addr     string            `json:"addr"`
	State    fakesmtp.State    `json:"state"`
	Summary  string            `json:"summary"`
	Behavior fakesmtp.Behavior `json:"behavior"`
}

func hostView(h *fakesmtp.Host) hostJSON {
	b := h.Behavior()
	st := b.State
	if st == "" {
		st = fakesmtp.Up
	}
	return hostJSON{Name: h.Name(), Addr: h.Addr(), State: st, Summary: harness.Describe(b), Behavior: b}
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

// patchHost applies a JSON merge patch (RFC 7396) to the host's behaviour:
// {"greylist": {"window": "30s"}} turns greylisting on, {"greylist": null}
// off, {"state": "down"} takes the host down.
func (s *Server) patchHost(w http.ResponseWriter, r *http.Request) error {
	h, err := s.host(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, "application/merge-patch+json", "application/json")
	if err != nil {
		return err
	}
	cur := h.Behavior()
	b, err := decodeBehavior(body, &cur)
	if err != nil {
		return err
	}
	return s.setBehavior(w, h, b)
}

// putHost replaces the host's behaviour with the body.
func (s *Server) putHost(w http.ResponseWriter, r *http.Request) error {
	h, err := s.host(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	b, err := decodeBehavior(body, nil)
	if err != nil {
		return err
	}
	return s.setBehavior(w, h, b)
}

// setBehavior validates and applies b; fakesmtp journals the change.
func (s *Server) setBehavior(w http.ResponseWriter, h *fakesmtp.Host, b fakesmtp.Behavior) error {
	if err := b.Validate(); err != nil {
		return badRequest("host %s: %s", h.Name(), strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if err := h.SetBehavior(b); err != nil {
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

// decodeBehavior is the one function that knows the shape of a host body
// (PATCH and PUT): a JSON object in fakesmtp.Behavior's JSON form, with
// durations written "30s" or in nanoseconds. With cur (PATCH), body is a
// merge patch over cur; without (PUT), the whole behaviour.
func decodeBehavior(body []byte, cur *fakesmtp.Behavior) (fakesmtp.Behavior, error) {
	var tree any
	if err := decodeStrict(body, &tree); err != nil {
		return fakesmtp.Behavior{}, err
	}
	if _, ok := tree.(map[string]any); !ok {
		if cur != nil {
			return fakesmtp.Behavior{}, badRequest("bad patch: want a JSON object")
		}
		return fakesmtp.Behavior{}, badRequest("bad behaviour: want a JSON object")
	}
	if cur != nil {
		t, err := toTree(*cur)
		if err != nil {
			return fakesmtp.Behavior{}, err
		}
		tree = mergePatch(t, tree)
	}
	return behaviorFrom(tree)
}

// toTree turns v into the generic JSON tree a merge patch works on.
func toTree(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var t any
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return t, nil
}

// mergePatch applies patch to target by RFC 7396 §2: objects merge
// member by member, null removes a member, anything else replaces.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// behaviorFrom decodes a JSON tree into a Behavior, strictly, after
// turning duration strings ("30s") into nanoseconds.
func behaviorFrom(tree any) (fakesmtp.Behavior, error) {
	var b fakesmtp.Behavior
	if err := durations(tree, ""); err != nil {
		return b, err
	}
	raw, err := json.Marshal(tree)
	if err != nil {
		return b, badRequest("bad behaviour: %v", err)
	}
	if err := decodeStrict(raw, &b); err != nil {
		return b, err
	}
	return b, nil
}

// durations rewrites, in place, the duration fields of a Behavior tree
// written as strings: greylist.window and delays.*.
func durations(tree any, path string) error {
	m, ok := tree.(map[string]any)
	if !ok {
		return nil
	}
	for k, v := range m {
		p := k
		if path != "" {
			p = path + "." + k
		}
		if str, ok := v.(string); ok && (p == "greylist.window" || path == "delays") {
			d, err := time.ParseDuration(str)
			if err != nil {
				return badRequest("%s: bad duration %q (want e.g. \"30s\")", p, str)
			}
			m[k] = int64(d)
			continue
		}
		if path == "" && (k == "greylist" || k == "delays") {
			if err := durations(v, p); err != nil {
				return err
			}
		}
	}
	return nil
}
