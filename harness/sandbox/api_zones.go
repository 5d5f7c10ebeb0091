package sandbox

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/fakedns"
)

// /api/zones: the fake DNS's zones and their records.

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

func (s *Server) listZones(w http.ResponseWriter, r *http.Request) error {
	out := []zoneJSON{}
	for _, z := range s.env.DNS().Zones() {
		out = append(out, zoneView(z))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getZone(w http.ResponseWriter, r *http.Request) error {
	z, _, err := s.zone(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, zoneView(z))
	return nil
}

// recordsJSON is the body of the record endpoints.
type recordsJSON struct {
	Name    string   `json:"name"`    // owner: absolute, relative to the zone, or "@"/"" for the apex
	Type    string   `json:"type"`    // PUT: the type the records replace
	Record  string   `json:"record"`  // POST: one record, "MX 10 mx1.example.test."
	Records []string `json:"records"` // PUT: the new records of Type (none removes them)
}

// decodeRecords is the one function that knows the shape of a record body
// (POST and PUT).
func decodeRecords(w http.ResponseWriter, r *http.Request) (recordsJSON, error) {
	var req recordsJSON
	err := readJSON(w, r, &req)
	return req, err
}

func (s *Server) addRecord(w http.ResponseWriter, r *http.Request) error {
	z, all, err := s.zone(r)
	if err != nil {
		return err
	}
	req, err := decodeRecords(w, r)
	if err != nil {
		return err
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
		return err
	}
	if err := s.env.DNS().AddRecord(n, req.Record); err != nil {
		return err
	}
	return s.writeZone(w, http.StatusCreated, z.Name)
}

func (s *Server) setRecords(w http.ResponseWriter, r *http.Request) error {
	z, all, err := s.zone(r)
	if err != nil {
		return err
	}
	req, err := decodeRecords(w, r)
	if err != nil {
		return err
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
		return err
	}
	// SetRecords checks every record before it changes anything.
	if err := s.env.DNS().SetRecords(n, req.Type, req.Records...); err != nil {
		return err
	}
	return s.writeZone(w, http.StatusOK, z.Name)
}

// removeRecords runs DELETE /api/zones/{zone}/records?name=N&type=T (no
// type: every type at N).
func (s *Server) removeRecords(w http.ResponseWriter, r *http.Request) error {
	z, all, err := s.zone(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if !q.Has("name") {
		return badRequest("query parameter name: missing (\"@\" for the apex)")
	}
	n, err := owner(z, all, q.Get("name"))
	if err != nil {
		return err
	}
	typ := strings.ToUpper(strings.TrimSpace(q.Get("type")))
	found := false
	for _, rec := range z.Records[n] {
		if typ == "" || typ == "ANY" || recordType(rec) == typ {
			found = true
		}
	}
	if !found {
		return notFound("zone %s: no %s records at %s", z.Name, orAny(typ), n)
	}
	if err := s.env.DNS().RemoveRecords(n, typ); err != nil {
		return err
	}
	return s.writeZone(w, http.StatusOK, z.Name)
}

// writeZone writes the zone as it is after a change.
func (s *Server) writeZone(w http.ResponseWriter, status int, name string) error {
	for _, z := range s.env.DNS().Zones() {
		if z.Name == name {
			writeJSON(w, status, zoneView(z))
			return nil
		}
	}
	return conflict("zone %s: removed meanwhile", name)
}
