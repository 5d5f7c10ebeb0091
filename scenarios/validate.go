package scenarios

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/miekg/dns"
	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
)

// decodeNode reads a step and checks that it does exactly one thing.
func (s *Step) decodeNode(d *decoder, n ast.Node, _ string) {
	before := len(d.e.list)
	d.decodeStruct(n, n, reflect.ValueOf(s).Elem(), "step")
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"send", s.Send != nil}, {"expect", s.Expect != nil}, {"set", s.Set != nil}, {"wait", s.Wait != nil}, {"flush", s.Flush != nil}} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	switch len(kinds) {
	case 0:
		if len(d.e.list) > before {
			return // the unknown or broken key is reported already
		}
		d.e.at(s.Pos, "empty step: use one of send, expect, set, wait, flush")
	case 1:
	default:
		d.e.at(s.Pos, "a step does one thing, this one has %s: split it into %d steps", strings.Join(kinds, " and "), len(kinds))
	}
}

// decodeNode reads an expect step and checks it has a condition.
func (x *Expect) decodeNode(d *decoder, n ast.Node, what string) {
	before := len(d.e.list)
	d.decodeStruct(n, n, reflect.ValueOf(x).Elem(), what)
	if len(d.e.list) == before && x.Conditions.IsZero() {
		d.e.at(x.Pos, "expect has no condition: use one or more of %s", strings.Join(keysOf(reflect.TypeFor[Conditions]()), ", "))
	}
}

// decodeNode reads wait conditions and checks there is one.
func (c *Conditions) decodeNode(d *decoder, n ast.Node, what string) {
	before := len(d.e.list)
	d.decodeStruct(n, n, reflect.ValueOf(c).Elem(), what)
	if len(d.e.list) == before && c.IsZero() {
		d.e.at(d.nullPos(n, nil), "%q has no condition: use one or more of %s", what, strings.Join(keysOf(reflect.TypeFor[Conditions]()), ", "))
	}
}

var (
	_ nodeDecoder = (*Step)(nil)
	_ nodeDecoder = (*Expect)(nil)
	_ nodeDecoder = (*Conditions)(nil)
)

// Validate checks the rules that span several values: references to
// hosts, zones and send ids, duplicates, records, combinations of keys
// that do not go together, and every behaviour with fakesmtp's rules
// (fakesmtp.Behavior.Validate). Parse calls it; call it yourself on a
// Scenario built in Go. Values themselves (domain syntax, enum values) are
// checked while decoding YAML only.
func (s *Scenario) Validate() error {
	e := &errs{file: s.File}
	s.validate(context.Background(), e)
	if len(e.list) == 0 {
		return nil
	}
	return e.list
}

// validator carries what the checks need.
type validator struct {
	s *Scenario
	e *errs
	// loopback: addresses must be loopback ones (a scenario without
	// allow_non_loopback). A fragment leaves it off: the scenario it
	// belongs to decides, and fakedns enforces it at run time.
	loopback bool
	// decoded is how many mistakes the decoder had reported when the
	// validator began (see decodedErrorAt).
	decoded int

	// The scenario's hosts, zones and names with an address record, by
	// canonical name, made at the first look-up: a check per MX record or
	// step that scanned every host made a file of many hosts quadratic.
	indexed   bool
	hosts     map[string]*Host
	zones     map[string]*Zone
	addressed map[string]bool // by records in dns
	published map[string]bool // by a host's publish_as
}

// index makes the look-up maps, once.
func (v *validator) index() {
	if v.indexed {
		return
	}
	v.indexed = true
	v.hosts = make(map[string]*Host, len(v.s.Hosts))
	v.published = make(map[string]bool)
	for _, h := range v.s.Hosts {
		if n := canonical(h.Name); v.hosts[n] == nil {
			v.hosts[n] = h
		}
		for _, n := range h.PublishAs {
			v.published[canonical(n)] = true
		}
	}
	v.zones = make(map[string]*Zone, len(v.s.DNS))
	v.addressed = make(map[string]bool)
	for _, z := range v.s.DNS {
		n := canonical(z.Name)
		if v.zones[n] == nil {
			v.zones[n] = z
		}
		if len(z.A) > 0 || len(z.AAAA) > 0 {
			v.addressed[n] = true
		}
		for _, r := range z.Records {
			for _, d := range r.Records {
				t, _, _ := strings.Cut(strings.TrimSpace(d), " ")
				// A CNAME makes the name resolvable too: an MX target that is
				// an alias is non-conforming DNS (RFC 2181 §10.3), which
				// conformance cases need to be able to publish.
				if t = strings.ToUpper(t); t == "A" || t == "AAAA" || t == "CNAME" {
					v.addressed[canonical(r.Name)] = true
				}
			}
		}
	}
}

// hostNamed is Scenario.Host through the index.
func (v *validator) hostNamed(name string) *Host {
	v.index()
	return v.hosts[canonical(name)]
}

// zoneNamed is Scenario.Zone through the index.
func (v *validator) zoneNamed(name string) *Zone {
	v.index()
	return v.zones[canonical(name)]
}

// zoneOf is Scenario.ZoneOf through the index: the longest suffix of name
// that is a zone's apex.
func (v *validator) zoneOf(name string) *Zone {
	v.index()
	for n := canonical(name); ; {
		if z := v.zones[n]; z != nil {
			return z
		}
		_, rest, ok := strings.Cut(n, ".")
		if !ok {
			return nil
		}
		n = rest
	}
}

// at reports at the position of the field ptr points to, or at fallback.
func (v *validator) at(ptr any, fallback Pos, format string, args ...any) {
	p := v.s.PosOf(ptr)
	if !p.IsValid() {
		p = fallback
	}
	v.e.at(p, format, args...)
}

// validate records every mistake in e. It stops early when ctx is done,
// checked between hosts; the caller then returns ctx's error.
func (s *Scenario) validate(ctx context.Context, e *errs) {
	v := &validator{s: s, e: e, loopback: !s.AllowNonLoopback, decoded: len(e.list)}
	if p := s.PosOf(&s.AllowNonLoopback); p.IsValid() && e.first[p] != nil {
		// The opt-in is written but could not be read, and is reported:
		// refusing the addresses it was meant for would be the same
		// mistake again.
		v.loopback = false
	}
	for _, z := range s.DNS {
		v.zone(z)
		v.mxTargets(z)
		v.zoneMTASTS(z)
	}
	for i, h := range s.Hosts {
		if i%1024 == 1023 && ctx.Err() != nil {
			return
		}
		v.behavior(&h.Behavior, h.Pos)
		v.publishAs(h)
		v.hostTLSA(h)
		v.hostPorts(h)
	}
	v.relay(&s.Relay)
	if s.Clock == ClockVirtual && s.Relay.Kind != "" && s.Relay.Kind != RelayReference {
		v.at(&s.Clock, s.Pos, "clock: virtual needs the reference relay (relay kind %s keeps the real time: its retries come with flush steps)", s.Relay.Kind)
	}
	v.conformance(s.Conformance)
	v.invariants(s.Invariants)
	sends := map[string]Pos{}
	for _, st := range s.Steps {
		switch {
		case st.Send != nil:
			v.send(st.Send, sends)
		case st.Expect != nil:
			v.conditions(&st.Expect.Conditions, st.Expect.Pos, sends)
		case st.Set != nil:
			v.set(st.Set)
		case st.Wait != nil:
			w := st.Wait
			switch {
			case w.bad:
			case w.Duration == 0 && w.Until == nil:
				v.at(w, w.Pos, "wait needs a duration (\"2s\") or until: {conditions}")
			case w.Duration != 0 && w.Until != nil:
				v.at(w, w.Pos, "wait takes a duration or until, not both")
			case w.Until != nil:
				v.conditions(w.Until, w.Pos, sends)
			}
		}
	}
}

// addressName reports whether the scenario gives name an A, AAAA or
// CNAME record, in dns or by a host's publish_as.
func (v *validator) addressName(name string) bool {
	v.index()
	n := canonical(name)
	return v.addressed[n] || v.published[n]
}

// publishAs checks the names a host publishes its address under: none is
// a host (which has an address of its own) or has address records in dns
// (the name would get its addresses two ways), none is listed twice.
func (v *validator) publishAs(h *Host) {
	v.index()
	seen := map[string]int{}
	for i := range h.PublishAs {
		n := canonical(h.PublishAs[i])
		if n == "" {
			continue // reported by the decoder
		}
		switch j, dup := seen[n]; {
		case dup:
			v.at(&h.PublishAs[i], h.Pos, "publish_as lists %s twice (first at %s)", n, v.posOr(&h.PublishAs[j], h.Pos))
		case v.hosts[n] != nil:
			v.at(&h.PublishAs[i], h.Pos, "publish_as %s: that is a host of the scenario, with an address of its own; publish the address under another name", n)
		case v.addressed[n] || v.zones[n] != nil && v.zones[n].CNAME != "":
			v.at(&h.PublishAs[i], h.Pos, "publish_as %s: dns gives the name address records (A, AAAA or CNAME) of its own; give it its addresses one way", n)
		}
		if _, dup := seen[n]; !dup {
			seen[n] = i
		}
	}
}

// host checks a reference to a simulated host.
func (v *validator) host(ptr *string, fallback Pos, what string) {
	if *ptr != "" && v.hostNamed(*ptr) == nil {
		v.at(ptr, fallback, "%s %q is not defined in hosts", what, *ptr)
	}
}

// record checks one zone-file record for owner name and returns its type.
func (v *validator) record(ptr *string, fallback Pos, name string) (uint16, bool) {
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s", fqdn(name), DefaultTTL, *ptr))
	if err != nil || rr == nil {
		msg := "empty record"
		if err != nil {
			msg = err.Error()
			if pe, ok := err.(*dns.ParseError); ok {
				msg = strings.TrimPrefix(pe.Error(), "dns: ")
				if i := strings.Index(msg, ": \""); i > 0 {
					msg = msg[:i]
				}
			}
		}
		v.at(ptr, fallback, "bad record %q for %s: %s (write it as in a zone file, without owner: \"MX 10 mx1.example.test.\")", *ptr, name, msg)
		return 0, false
	}
	if rr.Header().Name != fqdn(name) {
		v.at(ptr, fallback, "bad record %q for %s: write the type first, without owner, TTL or class", *ptr, name)
		return 0, false
	}
	var ip net.IP
	switch r := rr.(type) {
	case *dns.A:
		ip = r.A.To4()
	case *dns.AAAA:
		ip = r.AAAA
	}
	if a, ok := netip.AddrFromSlice(ip); ok && !v.loopbackOK(a) {
		v.at(ptr, fallback, "record %q for %s: %s", *ptr, name, notLoopback(a))
		return rr.Header().Rrtype, false
	}
	return rr.Header().Rrtype, true
}

// loopbackOK reports whether the scenario may give address a: a loopback
// one (127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6), or any with
// allow_non_loopback. The zero Addr, left by a value the decoder could not
// read (and reported), passes.
func (v *validator) loopbackOK(a netip.Addr) bool {
	return !v.loopback || !a.IsValid() || a.Unmap().IsLoopback()
}

// notLoopback says why address a of a record is refused.
func notLoopback(a netip.Addr) string {
	return fmt.Sprintf("%s is not on loopback (127.0.0.0/8, ::1): the relay would leave the simulated network (allow_non_loopback: true permits it)", a)
}

// zone checks what a zone says on its own: records, null MX, CNAME at
// the apex, fault names.
func (v *validator) zone(z *Zone) {
	for _, m := range z.MX {
		if !m.IsNull() {
			continue
		}
		// RFC 7505 §3: a null MX is the only MX record, with preference 0.
		if len(z.MX) > 1 {
			v.at(&m.Host, m.Pos, "null MX (host \".\") must be the only MX record of %s (RFC 7505 §3)", z.Name)
		}
		if m.Pref != 0 {
			v.at(&m.Pref, m.Pos, "null MX (host \".\") must have pref 0 (RFC 7505 §3)")
		}
	}
	for i, a := range z.A {
		if !v.loopbackOK(a) {
			v.at(&z.A[i], z.Pos, "a of %s: %s", z.Name, notLoopback(a))
		}
	}
	for i, a := range z.AAAA {
		if !v.loopbackOK(a) {
			v.at(&z.AAAA[i], z.Pos, "aaaa of %s: %s", z.Name, notLoopback(a))
		}
	}
	// RFC 1034 §3.6.2: a name with a CNAME has no other data.
	if z.CNAME != "" && (len(z.MX) > 0 || len(z.A) > 0 || len(z.AAAA) > 0 || len(z.TXT) > 0 || len(z.NS) > 0 || len(z.TLSA) > 0) {
		v.at(&z.CNAME, z.Pos, "zone %s has a cname and other records at the apex; a CNAME stands alone (RFC 1034 §3.6.2)", z.Name)
	}
	for i := range z.TLSA {
		v.record(ptrTo("TLSA "+z.TLSA[i]), v.s.PosOf(&z.TLSA[i]), z.Name)
	}
	for _, r := range z.Records {
		if !inZone(r.Name, z.Name) {
			v.at(&r.Name, r.Pos, "name %q is not in zone %s", r.Name, z.Name)
			continue
		}
		for i := range r.Records {
			v.record(&r.Records[i], r.Pos, r.Name)
		}
	}
	if f := z.Fault; f != nil {
		if f.Name != "" {
			v.at(&f.Name, f.Pos, "a zone-wide fault has no name; put per-name faults under faults")
		}
		v.fault(f)
	}
	for _, f := range z.Faults {
		if v.namedFault(f) && !inZone(f.Name, z.Name) {
			v.at(&f.Name, f.Pos, "fault name %q is not in zone %s", f.Name, z.Name)
		}
	}
}

// mxTargets checks that every MX target of z is a host of the scenario or
// has an address record.
func (v *validator) mxTargets(z *Zone) {
	for _, m := range z.MX {
		if m.IsNull() || m.Host == "" {
			continue
		}
		if v.hostNamed(m.Host) == nil && !v.addressName(m.Host) {
			v.at(&m.Host, m.Pos, "MX target %q is not defined in hosts and has no A/AAAA record in dns", m.Host)
		}
	}
}

func ptrTo(s string) *string { return &s }

func (v *validator) fault(f *Fault) {
	if f.Kind == FaultDelay && f.Delay == 0 {
		v.at(&f.Kind, f.Pos, "fault kind delay needs a delay (for example delay: 2s)")
	}
	if f.Delay > fakedns.MaxFaultDelay {
		v.at(&f.Delay, f.Pos, "delay %v is above %v: resolvers give up after seconds, and each delayed query is held until it is answered", f.Delay, fakedns.MaxFaultDelay)
	}
}

// namedFault checks a fault of faults: or set: {fault:}, which names its
// owner; it reports whether the fault has a name.
func (v *validator) namedFault(f *Fault) bool {
	if p := v.s.PosOf(&f.Name); f.Name == "" && (!p.IsValid() || v.e.first[p] == nil) {
		// A name the decoder refused is reported there, not as missing.
		v.at(f, f.Pos, "missing required key \"name\" in fault")
	}
	v.fault(f)
	return f.Name != ""
}

func (v *validator) relay(r *Relay) {
	kind := r.Kind
	if kind == "" {
		kind = RelayReference
	}
	if kind != RelayExternal {
		if r.Submit != "" {
			v.at(&r.Submit, r.Pos, "submit is a setting of relay kind external, not %s", kind)
		}
		if r.FlushCmd != "" {
			v.at(&r.FlushCmd, r.Pos, "flush_cmd is a setting of relay kind external, not %s", kind)
		}
		if r.ResetCmd != "" {
			v.at(&r.ResetCmd, r.Pos, "reset_cmd is a setting of relay kind external, not %s", kind)
		}
	} else if r.Submit == "" {
		v.at(&r.Kind, r.Pos, "relay kind external needs submit: \"host:port\"")
	}
	if host, _, err := net.SplitHostPort(r.Submit); err == nil && v.loopback {
		a, err := netip.ParseAddr(host)
		switch {
		case err == nil && !v.loopbackOK(a):
			v.at(&r.Submit, r.Pos, "submit %s: %s is not on loopback (127.0.0.0/8, ::1): mail would be submitted off this machine (allow_non_loopback: true permits it)", r.Submit, a)
		case err != nil && !strings.EqualFold(host, "localhost"):
			// The system resolves the name, not the fake DNS: it may be
			// anywhere.
			v.at(&r.Submit, r.Pos, "submit %s: want a loopback address (127.0.0.1) or localhost: the system resolves a name, maybe off loopback (allow_non_loopback: true permits it)", r.Submit)
		}
	}
	if r.Submission && r.SubmitAuth == nil && kind == RelayReference {
		v.at(&r.Submission, r.Pos, "submission needs submit_auth: the user of the relay's submission services")
	}
	v.relayDKIM(r, kind)
	if kind != RelayPostfix && r.MainCF != nil {
		v.at(&r.MainCF, r.Pos, "main_cf is a setting of relay kind postfix, not %s", kind)
	}
	if r.Smarthost != "" {
		if sh, err := ParseSmarthost(r.Smarthost); err == nil {
			if v.hostNamed(sh.Host) == nil && (!sh.MXLookup || v.zoneNamed(sh.Host) == nil) {
				v.at(&r.Smarthost, r.Pos, "smarthost %q is not defined in hosts", sh.Host)
			} else {
				v.smarthostPort(r, sh)
			}
		}
	} else if r.SmarthostAuth != nil {
		v.at(&r.SmarthostAuth, r.Pos, "smarthost_auth needs a smarthost")
	}
}

func (v *validator) send(s *Send, sends map[string]Pos) {
	if s.ID != "" {
		if first, dup := sends[s.ID]; dup {
			v.at(&s.ID, s.Pos, "duplicate send id %q (first at %s)", s.ID, first)
		} else {
			p := v.s.PosOf(&s.ID)
			if !p.IsValid() {
				p = s.Pos
			}
			sends[s.ID] = p
		}
	}
	marked := false
	for _, to := range s.To {
		marked = marked || strings.Contains(to, CountMarker)
	}
	if marked && s.Count == 0 {
		v.at(&s.To, s.Pos, "recipients use %s but the send has no count", CountMarker)
	}
	via := s.Via != "" && s.Via != ViaSubmit
	if s.Client == ClientOutside && s.Auth != nil && !via {
		v.at(&s.Auth, s.Pos, "a send from client outside submits without AUTH; drop auth or the client (or send via submission)")
	}
	if via && !v.s.Relay.Submission {
		v.at(&s.Via, s.Pos, "send via %s: the relay section does not offer it (relay: {submission: true})", s.Via)
	}
	if via && s.TLS {
		v.at(&s.TLS, s.Pos, "send via %s starts TLS by itself; drop tls", s.Via)
	}
	if s.Body != "" && s.Size != 0 {
		v.at(&s.Size, s.Pos, "send takes body or size, not both")
	}
	for k := range s.Headers {
		if !headerRE.MatchString(k) {
			v.at(&s.Headers, s.Pos, "bad header name %q (RFC 5322 §2.2: printable ASCII without \":\" or spaces)", k)
		}
	}
}

// posOr returns the position of the field ptr points to, or fallback.
func (v *validator) posOr(ptr any, fallback Pos) Pos {
	if p := v.s.PosOf(ptr); p.IsValid() {
		return p
	}
	return fallback
}

// where describes a delivery condition for messages.
func where(d *Delivery) string {
	s := d.To
	if d.At == "" {
		s += " at any host"
	} else {
		s += " at " + d.At
	}
	if d.Message != "" {
		s += ", message " + d.Message
	}
	return s
}

// conditions checks the references of expect and wait conditions, and
// conditions that contradict each other.
func (v *validator) conditions(c *Conditions, p Pos, sends map[string]Pos) {
	msg := func(ptr *string, fb Pos) {
		if *ptr != "" {
			if _, ok := sends[*ptr]; !ok {
				v.at(ptr, fb, "message %q is not the id of an earlier send", *ptr)
			}
		}
	}
	for _, d := range []*Delivery{c.Delivered, c.NotDelivered} {
		if d != nil {
			v.host(&d.At, d.Pos, "host")
			msg(&d.Message, d.Pos)
		}
	}
	if d := c.Delivered; d != nil && d.Count == 0 && v.fresh(&d.Count) {
		v.at(&d.Count, d.Pos, "delivered count 0: a count is at least 1 (use not_delivered for none)")
	}
	if n := c.NotDelivered; n != nil && v.s.PosOf(&n.Count).IsValid() {
		v.at(&n.Count, n.Pos, "not_delivered takes no count (it means none)")
	}
	if n := c.NotDelivered; n != nil && v.s.PosOf(&n.NotBefore).IsValid() {
		v.at(&n.NotBefore, n.Pos, "not_delivered takes no not_before (it means none at any time; attempts: {at, not_before} bounds the connections)")
	}
	if n := c.NotDelivered; n != nil && v.s.PosOf(&n.Within).IsValid() {
		v.at(&n.Within, n.Pos, "not_delivered takes no within: it does not wait (the step's for says how long it must keep holding)")
	}
	if a := c.Attempts; a != nil {
		v.host(&a.At, a.Pos, "host")
		msg(&a.Message, a.Pos)
		switch {
		case a.Max == nil && a.NotBefore == 0 && !v.reportedIn(a):
			v.at(a, a.Pos, "attempts needs max (connections allowed) or not_before (the shortest time from the submission), or both")
		case a.Max == nil && a.Within != 0 && v.fresh(&a.Within):
			v.at(&a.Within, a.Pos, "attempts: within is the span max counts in: give max too")
		case a.Message != "" && a.NotBefore == 0 && v.fresh(&a.Message):
			v.at(&a.Message, a.Pos, "attempts: message names the submission not_before counts from: give not_before too")
		}
	}
	if df := c.Deferred; df != nil && df.Code != 0 && (df.Code < 400 || df.Code > 499) {
		v.at(&df.Code, df.Pos, "deferred code %d: a deferral is a 4xx reply", df.Code)
	}
	if d, n := c.Delivered, c.NotDelivered; d != nil && n != nil && strings.EqualFold(d.To, n.To) &&
		(n.At == "" || strings.EqualFold(n.At, d.At)) && (n.Message == "" || n.Message == d.Message) {
		// Each checks the same deliveries (harness.CheckDelivered): the
		// step could only time out.
		v.at(n, n.Pos, "not_delivered (%s) contradicts delivered at %s (%s): the two can never both hold, the step could only time out", where(n), v.posOr(d, d.Pos), where(d))
	}
	firstAt := map[string]int{}
	for i := range c.Attempted {
		v.host(&c.Attempted[i], p, "host")
		h := canonical(c.Attempted[i])
		if j, dup := firstAt[h]; dup {
			// harness.Attempts lists each host once, at its first connection.
			v.at(&c.Attempted[i], p, "attempted lists %s twice (first at %s): it is the order of first connections, one per host", h, v.posOr(&c.Attempted[j], p))
			continue
		}
		firstAt[h] = i
	}
	if c.TLS != nil {
		v.host(&c.TLS.At, c.TLS.Pos, "host")
	}
	if c.Auth != nil {
		v.host(&c.Auth.At, c.Auth.Pos, "host")
	}
	if c.Reply != nil {
		v.host(&c.Reply.At, c.Reply.Pos, "host")
	}
	if ar := c.AuthResults; ar != nil {
		v.authResults(ar, msg)
	}
	if sp := c.Spread; sp != nil {
		for i := range sp.Hosts {
			v.host(&sp.Hosts[i], sp.Pos, "spread host")
		}
		if len(sp.Hosts) == 1 {
			v.at(&sp.Hosts, sp.Pos, "spread needs at least two hosts")
		}
	}
	if rf := c.Refused; rf != nil && rf.Code != 0 && rf.Code < 400 {
		v.at(&rf.Code, rf.Pos, "refused code %d: a refusal is a 4xx or 5xx reply", rf.Code)
	}
	if rf := c.Refused; rf != nil && rf.Status != "" && rf.Status[0] != '4' && rf.Status[0] != '5' {
		v.at(&rf.Status, rf.Pos, "refused status %s: a refusal is a 4.x.x or 5.x.x status", rf.Status)
	}
	if rf := c.Refused; rf != nil && rf.Status != "" && rf.Code != 0 && rf.Status[0] != byte('0'+rf.Code/100) {
		v.at(&rf.Status, rf.Pos, "refused status %s does not go with code %d", rf.Status, rf.Code)
	}
	if pa := c.NoPlaintextAuth; pa != nil {
		v.host(&pa.At, pa.Pos, "host")
	}
	if st := c.STARTTLSRules; st != nil {
		v.host(&st.At, st.Pos, "host")
	}
	if rg := c.RetryGap; rg != nil {
		v.host(&rg.At, rg.Pos, "host")
		// A value written but not read (a bad at_least, retry_gap not a
		// mapping) is reported already.
		reported := v.e.first[v.s.PosOf(&rg.AtLeast)] != nil || v.e.first[v.posOr(rg, rg.Pos)] != nil
		if rg.AtLeast == 0 && v.s.Relay.RetryInterval == 0 && !reported {
			v.at(rg, rg.Pos, "retry_gap needs at_least (above zero), or relay.retry_interval to take it from")
		}
	}
	if b := c.Bounce; b != nil {
		msg(&b.Message, b.Pos)
		if b.Code != 0 && b.Code < 400 {
			v.at(&b.Code, b.Pos, "bounce code %d: a bounce reports a 4xx or 5xx reply", b.Code)
		}
		// RFC 3463 §2: the status class matches the reply's first digit.
		if b.Code != 0 && b.Status != "" && int(b.Status[0]-'0') != b.Code/100 {
			v.at(&b.Status, b.Pos, "bounce status %s does not match code %d", b.Status, b.Code)
		}
	}
}

// reportedIn reports whether the decoder found a mistake in a value of
// the condition c points to (a field of it, or c itself): a value it
// could not read is left zero, and what is missing is then not missing.
func (v *validator) reportedIn(c *AttemptsCheck) bool {
	for _, ptr := range []any{c, &c.At, &c.Max, &c.Within, &c.NotBefore, &c.Message} {
		if p := v.s.PosOf(ptr); p.IsValid() && v.e.first[p] != nil {
			return true
		}
	}
	return v.e.first[c.Pos] != nil
}

// fresh reports whether the value of the field ptr points to was written
// and the decoder found nothing wrong with it.
func (v *validator) fresh(ptr any) bool {
	p := v.s.PosOf(ptr)
	return p.IsValid() && v.e.first[p] == nil
}

// invariants checks the opt-outs: each says off: true, with a reason.
func (v *validator) invariants(in *Invariants) {
	if in == nil {
		return
	}
	for _, o := range []struct {
		name string
		off  *InvariantOff
	}{{"at_most_once", in.AtMostOnce}, {"accounted_for", in.AccountedFor}} {
		if o.off == nil {
			continue
		}
		if !o.off.Off && v.fresh(&o.off.Off) {
			v.at(&o.off.Off, o.off.Pos, "invariants: %s: off must be true (an invariant is on unless turned off: leave it out)", o.name)
		}
		if o.off.Reason != "" && strings.TrimSpace(o.off.Reason) == "" {
			v.at(&o.off.Reason, o.off.Pos, "invariants: %s: the reason must say why the invariant does not hold here", o.name)
		}
	}
}

func (v *validator) set(s *Set) {
	var groups []string
	hostPart := s.Host != "" || !s.Behavior.IsZero() || s.Clear != nil
	if hostPart {
		groups = append(groups, "host")
	}
	if s.DNS != nil {
		groups = append(groups, "dns")
	}
	if s.Fault != nil {
		groups = append(groups, "fault")
	}
	if s.ClearFault != nil {
		groups = append(groups, "clear_fault")
	}
	if s.MTASTS != nil {
		groups = append(groups, "mta_sts")
	}
	switch len(groups) {
	case 0:
		v.at(s, s.Pos, "set changes nothing: use host (with behaviour keys), dns, fault, clear_fault or mta_sts")
		return
	case 1:
	default:
		v.at(s, s.Pos, "a set step changes one thing, this one has %s: split it", strings.Join(groups, " and "))
		return
	}
	switch {
	case hostPart:
		switch {
		case s.Host == "":
			v.at(s, s.Pos, "set needs host: to say whose behaviour changes")
		case s.Behavior.IsZero() && len(s.Clear) == 0:
			v.at(&s.Host, s.Pos, "set host %s changes nothing: add behaviour keys (state, replies, …) or clear", s.Host)
		default:
			v.host(&s.Host, s.Pos, "host")
		}
		v.behavior(&s.Behavior, s.Pos)
	case s.DNS != nil:
		rs := s.DNS
		z := v.zoneOf(rs.Name)
		if rs.Zone != "" {
			z = v.zoneNamed(rs.Zone)
			if z == nil {
				v.at(&rs.Zone, rs.Pos, "zone %q is not defined in dns", rs.Zone)
				return
			}
		}
		if rs.Name == "" {
			return
		}
		if z == nil || !inZone(rs.Name, z.Name) {
			v.at(&rs.Name, rs.Pos, "name %q is not in a zone defined in dns", rs.Name)
			return
		}
		for i := range rs.Records {
			if t, ok := v.record(&rs.Records[i], rs.Pos, rs.Name); ok && rs.Type != "" && dns.TypeToString[t] != rs.Type {
				v.at(&rs.Records[i], rs.Pos, "record %q is not of type %s", rs.Records[i], rs.Type)
			}
		}
	case s.Fault != nil:
		f := s.Fault
		if v.namedFault(f) && v.zoneOf(f.Name) == nil {
			v.at(&f.Name, f.Pos, "fault name %q is not in a zone defined in dns", f.Name)
		}
	case s.ClearFault != nil:
		if n := s.ClearFault.Name; n != "" && v.zoneOf(n) == nil {
			v.at(&s.ClearFault.Name, s.ClearFault.Pos, "fault name %q is not in a zone defined in dns", n)
		}
	case s.MTASTS != nil:
		v.setMTASTS(s.MTASTS)
	}
}

// applyDefaults fills in the values a scenario may leave out, so the runner
// reads plain values.
func (s *Scenario) applyDefaults() {
	if s.Relay.Kind == "" {
		s.Relay.Kind = RelayReference
	}
	if s.Relay.TLS == "" {
		s.Relay.TLS = TLSMay
	}
	if c := s.Conformance; c != nil && c.Evidence == "" {
		c.Evidence = EvidenceHosts
	}
	for _, h := range s.Hosts {
		if h.State == "" {
			h.State = fakesmtp.Up
		}
		h.Behavior.applyDefaults()
	}
	for _, st := range s.Steps {
		switch {
		case st.Expect != nil:
			if st.Expect.Within == 0 {
				st.Expect.Within = DefaultWithin
			}
			spreadDefaults(&st.Expect.Conditions)
		case st.Wait != nil && st.Wait.Until != nil:
			if st.Wait.Timeout == 0 {
				st.Wait.Timeout = DefaultWaitTimeout
			}
			spreadDefaults(st.Wait.Until)
		case st.Set != nil:
			st.Set.Behavior.applyDefaults()
		case st.Send != nil && st.Send.Client == "":
			st.Send.Client = ClientTrusted
		}
	}
}

func spreadDefaults(c *Conditions) {
	if c.Spread != nil && c.Spread.AtLeast == 0 {
		c.Spread.AtLeast = 1
	}
}

// hostPorts checks a host's ports: each from 1 to 65535 (the decoder
// takes no negative number and none above 65535), none twice.
func (v *validator) hostPorts(h *Host) {
	seen := make(map[int]int, len(h.Ports))
	for i := range h.Ports {
		p := h.Ports[i]
		if pos := v.s.PosOf(&h.Ports[i]); pos.IsValid() && v.e.first[pos] != nil {
			continue // the decoder said what is wrong with it
		}
		if p == 0 {
			v.at(&h.Ports[i], h.Pos, "host %s: port 0 out of range 1..65535", h.Name)
			continue
		}
		if j, dup := seen[p]; dup {
			v.at(&h.Ports[i], h.Pos, "host %s: port %d listed twice (first at %s)", h.Name, p, v.s.PosOf(&h.Ports[j]))
			continue
		}
		seen[p] = i
	}
}

// listens reports whether h listens on port: 25 unless it lists ports,
// else the ports it lists.
func (h *Host) listens(port int) bool {
	if len(h.Ports) == 0 {
		return port == 25
	}
	return slices.Contains(h.Ports, port)
}

// smarthostPort checks that the smarthost's port is one its host listens
// on (its ports:), or for a smarthost by MX lookup, that every MX host
// of its zone does: a relay configured with "[smtp.example.test]:587"
// connects to 587, and a host that does not listen there refuses it.
// Port 25 is the network's shared port, where every host listens unless
// it lists ports without it.
func (v *validator) smarthostPort(r *Relay, sh Smarthost) {
	var hosts []*Host
	if h := v.hostNamed(sh.Host); h != nil {
		hosts = append(hosts, h)
	} else if z := v.zoneNamed(sh.Host); z != nil {
		for _, mx := range z.MX {
			if h := v.hostNamed(mx.Host); h != nil {
				hosts = append(hosts, h)
			}
		}
	}
	for _, h := range hosts {
		if h.listens(sh.Port) {
			continue
		}
		ports := "25"
		if len(h.Ports) > 0 {
			ports = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(h.Ports)), ", "), "[]")
		}
		if p, ok := LookupProfile(string(h.Profile)); ok && len(h.Ports) > 0 && slices.Equal(p.Ports, h.Ports) {
			// The host listens on its profile's ports (a smarthost
			// profile's are 587, 465…, without 25): name the first.
			named := fmt.Sprintf("[%s]:%d", sh.Host, h.Ports[0])
			if sh.MXLookup {
				named = fmt.Sprintf("%s:%d", sh.Host, h.Ports[0])
			}
			v.at(&r.Smarthost, r.Pos, "smarthost %q: host %s does not listen on port %d (its ports, from profile %s: [%s]); name one of them (smarthost: %q) or give the host ports of its own (ports: [%s, %d])",
				r.Smarthost, h.Name, sh.Port, p.Name, ports, named, ports, sh.Port)
			continue
		}
		v.at(&r.Smarthost, r.Pos, "smarthost %q: host %s does not listen on port %d (its ports: [%s]); add %d to its ports (ports: [%s, %d])",
			r.Smarthost, h.Name, sh.Port, ports, sh.Port, ports, sh.Port)
	}
}

// authResults checks an auth_results condition: a host that checks
// messages, at least one result asked for, each a result its method has.
func (v *validator) authResults(ar *AuthResultsCheck, msg func(*string, Pos)) {
	v.host(&ar.At, ar.Pos, "host")
	msg(&ar.Message, ar.Pos)
	if ar.SPF == "" && ar.DKIM == "" && ar.DKIMDomain == "" && ar.DMARC == "" && v.fresh(&ar.At) {
		v.at(ar, ar.Pos, "auth_results needs at least one of spf, dkim, dkim_domain and dmarc")
	}
	for _, r := range []struct {
		name string
		ptr  *AuthResult
		ok   []string // RFC 8601 §2.7.1, RFC 7208 §8, RFC 7489 §11.2
	}{
		{"spf", &ar.SPF, []string{"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"}},
		{"dkim", &ar.DKIM, []string{"pass", "fail", "neutral", "policy", "none", "temperror", "permerror"}},
		{"dmarc", &ar.DMARC, []string{"pass", "fail", "none", "temperror", "permerror"}},
	} {
		if *r.ptr != "" && slices.Contains(AuthResult("").Values(), string(*r.ptr)) && !slices.Contains(r.ok, string(*r.ptr)) {
			v.at(r.ptr, ar.Pos, "%s: %q is not a result of %s (want %s)", r.name, *r.ptr, strings.ToUpper(r.name), strings.Join(r.ok, ", "))
		}
	}
	if h := v.hostNamed(ar.At); h != nil && !v.verifies(h.Name) {
		v.at(&ar.At, ar.Pos, "auth_results at %s: the host checks no message (give it verify: {spf: true, dkim: true, dmarc: true})", ar.At)
	}
}

// verifies reports whether the host named host checks messages, from
// the start or after a set step.
func (v *validator) verifies(host string) bool {
	if h := v.hostNamed(host); h != nil && h.Verify != nil {
		return true
	}
	for _, st := range v.s.Steps {
		if st.Set != nil && st.Set.Verify != nil && canonical(st.Set.Host) == canonical(host) {
			return true
		}
	}
	return false
}
