package sandbox

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/scenarios"
)

// /api/zones: the fake DNS's zones, each written as a zone of a
// scenario's `dns:` (scenarios.Zone), and their records.

type zoneJSON struct {
	Name string `json:"name"` // as scenarios write it: "example.test"
	// Zone is the zone in the scenario's shape, with its faults: a body
	// for PUT /api/zones/{zone} as it is.
	Zone *scenarios.Zone `json:"zone"`
	MX   []mxJSON        `json:"mx"` // every MX record of the zone, by owner then preference (read only)
}

type mxJSON struct {
	Owner string `json:"owner"`
	Pref  int    `json:"pref"`
	Host  string `json:"host"`
}

// zoneView writes z and its faults (faultsView) as a scenario would:
// without the records that fakedns and the harness made up (written).
func zoneView(z fakedns.Zone, faults faultsJSON, hostAs map[string]string) (zoneJSON, error) {
	sz, err := scenarios.ZoneFromRecords(z.Name, written(z, hostAs))
	if err != nil {
		// fakedns wrote the records: they parse.
		return zoneJSON{}, &apiError{http.StatusInternalServerError, fmt.Sprintf("zone %s: %v", z.Name, err)}
	}
	sz.Secure = z.Secure
	if f := faults[sz.Name]; f != nil {
		sz.Fault, sz.Faults = f.Fault, f.Faults
	}
	out := zoneJSON{Name: sz.Name, Zone: sz, MX: []mxJSON{}}
	for owner, recs := range z.Records {
		for _, rec := range recs {
			if mx, ok := parseMX(rec); ok {
				mx.Owner = canonical(owner)
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
	return out, nil
}

// hostRecords returns the A record the harness gives each host, by the
// host's name fully qualified: "A 127.0.0.11", as fakedns writes it.
func (s *Server) hostRecords() map[string]string {
	out := map[string]string{}
	for _, h := range s.env.Hosts() {
		if ip, _, err := net.SplitHostPort(h.Addr()); err == nil {
			out[fqdn(h.Name())] = "A " + ip
		}
	}
	return out
}

// written returns the records of z less those that nobody wrote: the SOA
// and NS that fakedns gives an apex without them, and the A record of
// each host (hostAs, by hostRecords) that the harness adds to its zone.
// A zone put back without them gets them again (putZone).
func written(z fakedns.Zone, hostAs map[string]string) map[string][]string {
	apex := fqdn(z.Name)
	soa := fmt.Sprintf("SOA ns.%[1]s hostmaster.%[1]s 1 3600 600 86400 %[2]d", apex, fakedns.DefaultTTL)
	ns := "NS ns." + apex
	nsCount := 0
	for _, rec := range z.Records[apex] {
		if recordType(rec) == "NS" {
			nsCount++
		}
	}
	out := make(map[string][]string, len(z.Records))
	for owner, recs := range z.Records {
		for _, rec := range recs {
			made := owner == apex && (rec == soa || rec == ns && nsCount == 1) || rec == hostAs[owner]
			if !made {
				out[owner] = append(out[owner], rec)
			}
		}
	}
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
	return mxJSON{Pref: pref, Host: canonical(f[2])}, true
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
	zones := s.env.DNS().Zones()
	faults := faultsView(zones, s.env.DNS().Faults())
	out := []zoneJSON{}
	hostAs := s.hostRecords()
	for _, z := range zones {
		v, err := zoneView(z, faults, hostAs)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getZone(w http.ResponseWriter, r *http.Request) error {
	z, _, err := s.zone(r)
	if err != nil {
		return err
	}
	return s.writeZone(w, http.StatusOK, z.Name)
}

// putZone runs PUT /api/zones/{zone}: the body is the zone as under its
// name in a scenario's `dns:`, and becomes the whole zone, records (in one
// step: fakedns.Server.SetZone), DNSSEC flag and faults; the zone is
// added when the network has none of that name. Records get the TTL of a
// scenario's, scenarios.DefaultTTL. Whether MX targets are hosts of the
// network is not checked: pointing an MX at nothing is a test too.
func (s *Server) putZone(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("zone")
	body, err := readShape(w, r)
	if err != nil {
		return err
	}
	sz, err := scenarios.ParseZone(name, body)
	if err != nil {
		return shapeError("zone "+canonical(name), err)
	}
	fz := fakedns.Zone{Name: sz.Name, Secure: sz.Secure, Records: map[string][]string{}}
	for _, line := range sz.ZoneFile() {
		owner, rest, _ := strings.Cut(line, " ")
		fz.Records[owner] = append(fz.Records[owner], rest)
	}
	s.addHostRecords(&fz)
	var want []fakedns.Fault
	if sz.Fault != nil {
		want = append(want, dnsFault(sz.Fault, sz.Name, true))
	}
	for _, f := range sz.Faults {
		want = append(want, dnsFault(f, f.Name, false))
	}
	added, err := s.env.DNS().SetZone(fz)
	if err != nil {
		return err
	}
	if err := s.replaceFaults(s.zoneFaults(sz.Name, true, true), want); err != nil {
		return err
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	return s.writeZone(w, status, fz.Name)
}

// addHostRecords gives each host whose name is in z, and not in a deeper
// zone, its A record, as the harness does when it starts a network
// (harness.New): unless z gives the name an address or a CNAME.
func (s *Server) addHostRecords(z *fakedns.Zone) {
	zones := append(s.env.DNS().Zones(), fakedns.Zone{Name: fqdn(z.Name)})
	for name, rec := range s.hostRecords() {
		if zoneOf(zones, name) != canonical(z.Name) {
			continue
		}
		has := false
		for _, r := range z.Records[name] {
			t := recordType(r)
			has = has || t == "A" || t == "AAAA" || t == "CNAME"
		}
		if !has {
			z.Records[name] = append(z.Records[name], rec)
		}
	}
}

// putZoneFault runs PUT /api/zones/{zone}/fault: the body is a zone's
// fault: as in a scenario (a kind, or a map without name), which covers
// every name of the zone and replaces the zone's fault.
func (s *Server) putZoneFault(w http.ResponseWriter, r *http.Request) error {
	z, _, err := s.zone(r)
	if err != nil {
		return err
	}
	body, err := readShape(w, r)
	if err != nil {
		return err
	}
	f, err := scenarios.ParseZoneFault(body)
	if err != nil {
		return shapeError("zone "+canonical(z.Name)+": fault", err)
	}
	if err := s.replaceFaults(s.zoneFaults(z.Name, true, false), []fakedns.Fault{dnsFault(f, z.Name, true)}); err != nil {
		return err
	}
	return s.writeZone(w, http.StatusOK, z.Name)
}

// deleteZoneFault runs DELETE /api/zones/{zone}/fault: the zone's fault
// goes; the faults on its names stay.
func (s *Server) deleteZoneFault(w http.ResponseWriter, r *http.Request) error {
	z, _, err := s.zone(r)
	if err != nil {
		return err
	}
	old := s.zoneFaults(z.Name, true, false)
	if len(old) == 0 {
		return notFound("zone %s has no fault", canonical(z.Name))
	}
	if err := s.replaceFaults(old, nil); err != nil {
		return err
	}
	return s.writeZone(w, http.StatusOK, z.Name)
}

// zoneFaults returns the faults in force that the view of zone shows
// (faultsView): its whole-zone faults, its named ones, or both.
func (s *Server) zoneFaults(zone string, whole, named bool) []fakedns.Fault {
	zones := s.env.DNS().Zones()
	key := canonical(zone)
	var out []fakedns.Fault
	for _, f := range s.env.DNS().Faults() {
		switch {
		case f.Zone && whole && canonical(f.Name) == key:
		case !f.Zone && named && zoneOf(zones, f.Name) == key:
		default:
			continue
		}
		out = append(out, f)
	}
	return out
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
	zones := s.env.DNS().Zones()
	for _, z := range zones {
		if z.Name == fqdn(name) {
			v, err := zoneView(z, faultsView(zones, s.env.DNS().Faults()), s.hostRecords())
			if err != nil {
				return err
			}
			writeJSON(w, status, v)
			return nil
		}
	}
	return conflict("zone %s: removed meanwhile", canonical(name))
}
