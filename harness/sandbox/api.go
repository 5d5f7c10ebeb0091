package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// heartbeat is how often an idle event stream gets a comment line, so
// that proxies and browsers keep it open.
const heartbeat = 15 * time.Second

// apiError is an error with the HTTP status it answers; handlers return it
// from their checks so that nothing is applied after a failed one.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

var _ error = (*apiError)(nil)

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // a write error means the client has gone
}

// writeError writes {"error": "..."} with status.
func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// fail writes err: its own status for an *apiError, else 400.
func fail(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, "%s", ae.msg)
		return
	}
	writeError(w, http.StatusBadRequest, "%v", err)
}

// readBody checks the Content-Type against the accepted media types and
// returns the body, at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request, accept ...string) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	ok := false
	for _, a := range accept {
		ok = ok || err == nil && mt == a
	}
	if !ok {
		return nil, &apiError{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: want %s", ct, strings.Join(accept, " or "))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody)}
		}
		return nil, badRequest("read body: %v", err)
	}
	return body, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("bad JSON body: data after the JSON value")
	}
	return nil
}

// readJSON reads an application/json body into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// ---- info ----

type infoJSON struct {
	DNS           string          `json:"dns"`
	SMTPPort      int             `json:"smtp_port"`
	Relay         *submissionJSON `json:"relay,omitempty"`
	Started       time.Time       `json:"started"`
	Hosts         int             `json:"hosts"`
	Events        int             `json:"events"`
	TokenRequired bool            `json:"token_required"`
}

type submissionJSON struct {
	Addr string `json:"addr"`
	User string `json:"user,omitempty"`
}

func (s *Server) getInfo(w http.ResponseWriter, r *http.Request) {
	j := s.env.Journal()
	info := infoJSON{
		DNS: s.env.DNSAddr(), SMTPPort: s.env.SMTPPort(), Started: j.Start(),
		Hosts: len(s.env.Hosts()), Events: j.Len(), TokenRequired: s.token != "",
	}
	if rl := s.env.Relay(); rl != nil {
		sub := rl.Submission()
		info.Relay = &submissionJSON{Addr: sub.Addr, User: sub.User}
	}
	writeJSON(w, http.StatusOK, info)
}

// flushRelay asks the relay under test to retry its deferred mail now
// (Env.Flush journals it).
func (s *Server) flushRelay(w http.ResponseWriter, r *http.Request) {
	if s.env.Relay() == nil {
		writeError(w, http.StatusConflict, "no relay under test: start the sandbox with a relay")
		return
	}
	if err := s.env.Flush(r.Context()); err != nil {
		writeError(w, http.StatusConflict, "flush: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"flushed": s.env.Relay().Submission().Addr})
}

// ---- hosts ----

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

func (s *Server) host(r *http.Request) (*fakesmtp.Host, error) {
	name := r.PathValue("name")
	h := s.env.Host(name)
	if h == nil {
		return nil, notFound("host %q: no such host", name)
	}
	return h, nil
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) {
	out := []hostJSON{}
	for _, h := range s.env.Hosts() {
		out = append(out, hostView(h))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request) {
	h, err := s.host(r)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, hostView(h))
}

// patchHost applies a JSON merge patch (RFC 7396) to the host's behaviour:
// {"greylist": {"window": "30s"}} turns greylisting on, {"greylist": null}
// off, {"state": "down"} takes the host down. Durations may be written
// "30s" or in nanoseconds.
func (s *Server) patchHost(w http.ResponseWriter, r *http.Request) {
	h, err := s.host(r)
	if err != nil {
		fail(w, err)
		return
	}
	body, err := readBody(w, r, "application/merge-patch+json", "application/json")
	if err != nil {
		fail(w, err)
		return
	}
	var patch any
	if err := decodeStrict(body, &patch); err != nil {
		fail(w, err)
		return
	}
	if _, ok := patch.(map[string]any); !ok {
		fail(w, badRequest("bad patch: want a JSON object"))
		return
	}
	cur, err := toTree(h.Behavior())
	if err != nil {
		fail(w, err)
		return
	}
	b, err := behaviorFrom(mergePatch(cur, patch))
	if err != nil {
		fail(w, fmt.Errorf("host %s: %w", h.Name(), err))
		return
	}
	s.setBehavior(w, h, b)
}

// putHost replaces the host's behaviour with the body.
func (s *Server) putHost(w http.ResponseWriter, r *http.Request) {
	h, err := s.host(r)
	if err != nil {
		fail(w, err)
		return
	}
	body, err := readBody(w, r, "application/json")
	if err != nil {
		fail(w, err)
		return
	}
	var tree any
	if err := decodeStrict(body, &tree); err != nil {
		fail(w, err)
		return
	}
	if _, ok := tree.(map[string]any); !ok {
		fail(w, badRequest("bad behaviour: want a JSON object"))
		return
	}
	b, err := behaviorFrom(tree)
	if err != nil {
		fail(w, fmt.Errorf("host %s: %w", h.Name(), err))
		return
	}
	s.setBehavior(w, h, b)
}

// setBehavior validates and applies b; fakesmtp journals the change.
func (s *Server) setBehavior(w http.ResponseWriter, h *fakesmtp.Host, b fakesmtp.Behavior) {
	if err := b.Validate(); err != nil {
		fail(w, badRequest("host %s: %s", h.Name(), strings.ReplaceAll(err.Error(), "\n", "; ")))
		return
	}
	if err := h.SetBehavior(b); err != nil {
		writeError(w, http.StatusConflict, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, hostView(h))
}

// hostAction runs POST /api/hosts/{name}/down, /up or /disconnect.
func (s *Server) hostAction(w http.ResponseWriter, r *http.Request) {
	h, err := s.host(r)
	if err != nil {
		fail(w, err)
		return
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
		fail(w, notFound("host %s: unknown action %q (want down, up or disconnect)", h.Name(), a))
		return
	}
	if err != nil {
		writeError(w, http.StatusConflict, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, hostView(h))
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

// ---- zones and records ----

type zoneJSON struct {
	Name    string              `json:"name"`
	Secure  bool                `json:"secure"`
	Records map[string][]string `json:"records"`
	MX      []mxJSON            `json:"mx"` // every MX record of the zone, by owner then preference
}

type mxJSON struct {
	Owner string `json:"owner"`
	Pref  int    `json:"pref"`
	Host  string `json:"host"`
}

func zoneView(z fakedns.Zone) zoneJSON {
	out := zoneJSON{Name: z.Name, Secure: z.Secure, Records: z.Records, MX: []mxJSON{}}
	for owner, recs := range z.Records {
		for _, rec := range recs {
			if mx, ok := parseMX(rec); ok {
				mx.Owner = owner
				out.MX = append(out.MX, mx)
			}
		}
	}
	// RFC 5321 §5.1: lower preference first; equal ones keep no order, so
	// sort them by name for a stable view.
	sort.Slice(out.MX, func(i, j int) bool {
		a, b := out.MX[i], out.MX[j]
		if a.Owner != b.Owner {
			return a.Owner < b.Owner
		}
		if a.Pref != b.Pref {
			return a.Pref < b.Pref
		}
		return a.Host < b.Host
	})
	return out
}

// parseMX reads "MX 10 mx1.example.test." (with an optional TTL first).
func parseMX(rec string) (mxJSON, bool) {
	f := strings.Fields(rec)
	if len(f) == 4 {
		f = f[1:]
	}
	if len(f) != 3 || !strings.EqualFold(f[0], "MX") {
		return mxJSON{}, false
	}
	pref, err := strconv.Atoi(f[1])
	if err != nil {
		return mxJSON{}, false
	}
	return mxJSON{Pref: pref, Host: f[2]}, true
}

// fqdn lower-cases name and gives it its final dot.
func fqdn(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if !strings.HasSuffix(n, ".") {
		n += "."
	}
	return n
}

// zone finds the zone named in the path.
func (s *Server) zone(r *http.Request) (fakedns.Zone, []fakedns.Zone, error) {
	name := r.PathValue("zone")
	all := s.env.DNS().Zones()
	want := fqdn(name)
	for _, z := range all {
		if z.Name == want {
			return z, all, nil
		}
	}
	return fakedns.Zone{}, nil, notFound("zone %q: no such zone", name)
}

// owner resolves a record name against zone z: "" and "@" are the apex, a
// name ending in the apex is absolute, a name with a final dot must lie in
// the zone, anything else is relative to it. The name must belong to z
// itself, not to a deeper zone of all.
func owner(z fakedns.Zone, all []fakedns.Zone, name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch {
	case n == "" || n == "@":
		return z.Name, nil
	case strings.HasSuffix(n, "."):
	case n+"." == z.Name || strings.HasSuffix(n+".", "."+z.Name):
		n += "."
	default:
		n += "." + z.Name
	}
	if n != z.Name && !strings.HasSuffix(n, "."+z.Name) {
		return "", badRequest("name %q is outside zone %s", name, z.Name)
	}
	for _, o := range all {
		if len(o.Name) > len(z.Name) && (n == o.Name || strings.HasSuffix(n, "."+o.Name)) {
			return "", badRequest("name %q belongs to zone %s, not %s", name, o.Name, z.Name)
		}
	}
	return n, nil
}

func (s *Server) listZones(w http.ResponseWriter, r *http.Request) {
	out := []zoneJSON{}
	for _, z := range s.env.DNS().Zones() {
		out = append(out, zoneView(z))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getZone(w http.ResponseWriter, r *http.Request) {
	z, _, err := s.zone(r)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, zoneView(z))
}

// recordsJSON is the body of the record endpoints.
type recordsJSON struct {
	Name    string   `json:"name"`    // owner: absolute, relative to the zone, or "@"/"" for the apex
	Type    string   `json:"type"`    // PUT: the type the records replace
	Record  string   `json:"record"`  // POST: one record, "MX 10 mx1.example.test."
	Records []string `json:"records"` // PUT: the new records of Type (none removes them)
}

func (s *Server) addRecord(w http.ResponseWriter, r *http.Request) {
	z, all, err := s.zone(r)
	if err != nil {
		fail(w, err)
		return
	}
	var req recordsJSON
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	n, err := owner(z, all, req.Name)
	switch {
	case err != nil:
	case strings.TrimSpace(req.Record) == "":
		err = badRequest("record: missing (want e.g. \"MX 10 mx1.example.test.\")")
	case req.Type != "" || len(req.Records) > 0:
		err = badRequest("POST adds one record: give name and record only (PUT replaces a set)")
	}
	if err != nil {
		fail(w, err)
		return
	}
	if err := s.env.DNS().AddRecord(n, req.Record); err != nil {
		fail(w, err)
		return
	}
	s.writeZone(w, http.StatusCreated, z.Name)
}

func (s *Server) setRecords(w http.ResponseWriter, r *http.Request) {
	z, all, err := s.zone(r)
	if err != nil {
		fail(w, err)
		return
	}
	var req recordsJSON
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	n, err := owner(z, all, req.Name)
	switch t := strings.ToUpper(strings.TrimSpace(req.Type)); {
	case err != nil:
	case t == "" || t == "ANY":
		err = badRequest("type: missing (want the type the records replace, e.g. \"MX\")")
	case req.Record != "":
		err = badRequest("PUT replaces a set: give records, not record")
	}
	if err != nil {
		fail(w, err)
		return
	}
	// SetRecords checks every record before it changes anything.
	if err := s.env.DNS().SetRecords(n, req.Type, req.Records...); err != nil {
		fail(w, err)
		return
	}
	s.writeZone(w, http.StatusOK, z.Name)
}

// removeRecords runs DELETE /api/zones/{zone}/records?name=N&type=T (no
// type: every type at N).
func (s *Server) removeRecords(w http.ResponseWriter, r *http.Request) {
	z, all, err := s.zone(r)
	if err != nil {
		fail(w, err)
		return
	}
	q := r.URL.Query()
	if !q.Has("name") {
		fail(w, badRequest("query parameter name: missing (\"@\" for the apex)"))
		return
	}
	n, err := owner(z, all, q.Get("name"))
	if err != nil {
		fail(w, err)
		return
	}
	typ := strings.ToUpper(strings.TrimSpace(q.Get("type")))
	found := false
	for _, rec := range z.Records[n] {
		if typ == "" || typ == "ANY" || recordType(rec) == typ {
			found = true
		}
	}
	if !found {
		fail(w, notFound("zone %s: no %s records at %s", z.Name, orAny(typ), n))
		return
	}
	if err := s.env.DNS().RemoveRecords(n, typ); err != nil {
		fail(w, err)
		return
	}
	s.writeZone(w, http.StatusOK, z.Name)
}

func orAny(t string) string {
	if t == "" {
		return "ANY"
	}
	return t
}

// recordType returns the type of a record written as in Zone.Records.
func recordType(rec string) string {
	f := strings.Fields(rec)
	if len(f) > 1 && f[0][0] >= '0' && f[0][0] <= '9' {
		f = f[1:]
	}
	if len(f) == 0 {
		return ""
	}
	return strings.ToUpper(f[0])
}

func (s *Server) writeZone(w http.ResponseWriter, status int, name string) {
	for _, z := range s.env.DNS().Zones() {
		if z.Name == name {
			writeJSON(w, status, zoneView(z))
			return
		}
	}
	writeError(w, http.StatusConflict, "zone %s: removed meanwhile", name)
}

// ---- DNS faults ----

type faultJSON struct {
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"`  // "" = every type
	Zone  bool   `json:"zone,omitempty"`  // every name at or below Name
	Kind  string `json:"kind"`            // servfail, nxdomain, refused, timeout, truncate, delay
	Delay string `json:"delay,omitempty"` // "1s"
	Times int    `json:"times,omitempty"` // remaining firings; 0 = always
}

func (s *Server) listFaults(w http.ResponseWriter, r *http.Request) {
	s.listFaultsStatus(w, http.StatusOK)
}

func (s *Server) setFault(w http.ResponseWriter, r *http.Request) {
	var req faultJSON
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	if strings.TrimSpace(req.Name) == "" {
		fail(w, badRequest("fault: name missing"))
		return
	}
	kind, err := fakedns.ParseFaultKind(req.Kind)
	if err != nil {
		fail(w, err)
		return
	}
	f := fakedns.Fault{Name: req.Name, Type: req.Type, Zone: req.Zone, Kind: kind, Times: req.Times}
	if req.Delay != "" {
		if f.Delay, err = time.ParseDuration(req.Delay); err != nil {
			fail(w, badRequest("fault: delay %q: bad duration (want e.g. \"1s\")", req.Delay))
			return
		}
	}
	if err := s.env.DNS().SetFault(f); err != nil {
		fail(w, err)
		return
	}
	s.listFaultsStatus(w, http.StatusCreated)
}

func (s *Server) listFaultsStatus(w http.ResponseWriter, status int) {
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
func (s *Server) clearFault(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("name") {
		if q.Has("type") {
			fail(w, badRequest("query parameter type needs name"))
			return
		}
		s.env.DNS().ClearFaults()
		s.listFaultsStatus(w, http.StatusOK)
		return
	}
	name, typ := q.Get("name"), q.Get("type")
	if !s.env.DNS().ClearFault(name, typ) {
		fail(w, notFound("no fault on %q %s", name, orAny(strings.ToUpper(typ))))
		return
	}
	s.listFaultsStatus(w, http.StatusOK)
}

// ---- journal, messages, sessions ----

// eventJSON is a journal.Event as the API writes it: the journal's JSON
// form, plus the time relative to the journal's start; messages without
// their bytes and headers (GET /api/messages/{seq} has those).
type eventJSON struct {
	journal.Event
	MS float64 `json:"ms"` // milliseconds since the journal started
}

func eventView(e journal.Event, start time.Time) eventJSON {
	if m := e.Message; m != nil {
		// Event details are shared and read-only: copy before trimming.
		slim := *m
		slim.Raw, slim.Headers = nil, nil
		e.Message = &slim
	}
	return eventJSON{Event: e, MS: float64(e.Time.Sub(start).Microseconds()) / 1000}
}

// sinceParam reads ?since=N (default 0: every event).
func sinceParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("since")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("since=%q: want a sequence number >= 0", v)
	}
	return n, nil
}

func (s *Server) getJournal(w http.ResponseWriter, r *http.Request) {
	since, err := sinceParam(r)
	if err != nil {
		fail(w, err)
		return
	}
	j := s.env.Journal()
	out := []eventJSON{}
	for _, e := range j.Since(since) {
		out = append(out, eventView(e, j.Start()))
	}
	writeJSON(w, http.StatusOK, out)
}

// events streams the journal as server-sent events (one "journal" event
// per entry, id = Seq), from ?since=N or the Last-Event-ID a reconnecting
// browser sends, until the client leaves or the server closes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	since, err := sinceParam(r)
	if err != nil {
		fail(w, err)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n >= 0 {
			since = n
		}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, "retry: 1000\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	j := s.env.Journal()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		changed := j.Changed() // before Since, so no Append is missed
		buf.Reset()
		for _, e := range j.Since(since) {
			data, _ := json.Marshal(eventView(e, j.Start())) // plain data: cannot fail
			fmt.Fprintf(&buf, "id: %d\nevent: journal\ndata: %s\n\n", e.Seq, data)
			since = e.Seq
		}
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
		select {
		case <-changed:
		case <-tick.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

type messageJSON struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`
	Session string    `json:"session"`
	From    string    `json:"from"`
	To      []string  `json:"to"`
	Subject string    `json:"subject,omitempty"` // RFC 2047 encoded words decoded
	ID      string    `json:"message_id,omitempty"`
	Size    int       `json:"size"`
	EML     string    `json:"eml"` // path of the raw message
}

type messageDetailJSON struct {
	messageJSON
	Headers []headerJSON `json:"headers"`
	Body    string       `json:"body"`                 // as received
	Text    string       `json:"text"`                 // the readable text: MIME decoded (see decodeMIME)
	Parts   []partJSON   `json:"parts"`                // the MIME leaf parts
	MIMEErr string       `json:"mime_error,omitempty"` // what could not be decoded
}

type headerJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func messageView(e journal.Event) messageJSON {
	m := e.Message
	return messageJSON{
		Seq: e.Seq, Time: e.Time, Host: e.Source, Session: e.Session, From: m.From, To: m.To,
		Subject: decodeWords(m.Subject), ID: m.ID, Size: m.Size, EML: fmt.Sprintf("/api/messages/%d.eml", e.Seq),
	}
}

func isMessage(e journal.Event) bool { return e.Kind == journal.KindSMTPMessage && e.Message != nil }

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	out := []messageJSON{}
	for _, e := range s.env.Journal().Events(isMessage) {
		out = append(out, messageView(e))
	}
	writeJSON(w, http.StatusOK, out)
}

// getMessage serves /api/messages/{seq} (parsed, JSON) and
// /api/messages/{seq}.eml (the bytes as received).
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	num, eml := strings.CutSuffix(id, ".eml")
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq < 1 {
		fail(w, badRequest("message %q: want the sequence number of its journal event, e.g. 12 or 12.eml", id))
		return
	}
	evs := s.env.Journal().Since(seq - 1)
	if len(evs) == 0 || !isMessage(evs[0]) {
		fail(w, notFound("message %d: no such message", seq))
		return
	}
	e := evs[0]
	if eml {
		w.Header().Set("Content-Type", "message/rfc822")
		w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=\"message-%d.eml\"", seq))
		w.Write(e.Message.Raw)
		return
	}
	headers, body := splitMessage(e.Message.Raw)
	d := decodeMIME(e.Message.Raw)
	if d.Parts == nil {
		d.Parts = []partJSON{}
	}
	writeJSON(w, http.StatusOK, messageDetailJSON{messageJSON: messageView(e), Headers: headers, Body: body,
		Text: d.Text, Parts: d.Parts, MIMEErr: d.Err})
}

// splitMessage returns the header fields of raw in order, unfolded
// (RFC 5322 §2.2.3), and the body after the first empty line.
func splitMessage(raw []byte) ([]headerJSON, string) {
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	head, body, _ := strings.Cut(text, "\n\n")
	if strings.HasPrefix(text, "\n") {
		head, body = "", text[1:]
	}
	headers := []headerJSON{}
	for _, line := range strings.Split(head, "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(headers) > 0 {
			headers[len(headers)-1].Value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		headers = append(headers, headerJSON{Name: name, Value: strings.TrimSpace(value)})
	}
	return headers, body
}

type sessionJSON struct {
	ID         string    `json:"id"`
	Host       string    `json:"host"`
	Remote     string    `json:"remote,omitempty"`
	Started    time.Time `json:"started"`
	Ended      bool      `json:"ended"`
	Messages   int       `json:"messages"`
	Transcript string    `json:"transcript"` // path of the transcript
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	host := r.URL.Query().Get("host")
	if host != "" && s.env.Host(host) == nil {
		fail(w, notFound("host %q: no such host", host))
		return
	}
	byID := map[string]*sessionJSON{}
	out := []*sessionJSON{}
	for _, e := range s.env.Journal().Events() {
		if e.Session == "" {
			continue
		}
		if e.Kind == journal.KindSMTPConnect {
			if host != "" && !strings.EqualFold(e.Source, strings.TrimSuffix(host, ".")) {
				continue
			}
			sj := &sessionJSON{ID: e.Session, Host: e.Source, Remote: e.Remote, Started: e.Time,
				Transcript: "/api/sessions/" + pathEscape(e.Session) + "/transcript"}
			byID[e.Session] = sj
			out = append(out, sj)
			continue
		}
		sj := byID[e.Session]
		if sj == nil {
			continue
		}
		switch e.Kind {
		case journal.KindSMTPDisconnect:
			sj.Ended = true
		case journal.KindSMTPMessage:
			sj.Messages++
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// pathEscape escapes a session ID ("mx1.example.test#3") for a path.
func pathEscape(s string) string { return strings.ReplaceAll(s, "#", "%23") }

// getTranscript serves the C:/S: lines of one session: JSON, or plain
// text with ?format=text.
func (s *Server) getTranscript(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(s.env.Journal().Events(func(e journal.Event) bool {
		return e.Kind == journal.KindSMTPConnect && e.Session == id
	})) == 0 {
		fail(w, notFound("session %q: no such session", id))
		return
	}
	lines := s.env.Journal().Transcript(id)
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		writeJSON(w, http.StatusOK, map[string]any{"session": id, "lines": lines})
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, strings.Join(lines, "\n")+"\n")
	default:
		fail(w, badRequest("format=%q: want json or text", f))
	}
}
