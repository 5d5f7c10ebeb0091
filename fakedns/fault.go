package fakedns

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// FaultKind names a failure injected into answers.
type FaultKind string

// Fault kinds.
const (
	// ServFail answers SERVFAIL (RFC 1035 §4.1.1 RCODE 2): a temporary
	// failure, after which a relay must queue and retry (RFC 5321 §5.1).
	ServFail FaultKind = "servfail"
	// NXDomain answers NXDOMAIN (RCODE 3) with the zone's SOA in the
	// authority section when the name is inside a zone (RFC 2308 §2.1).
	NXDomain FaultKind = "nxdomain"
	// Refused answers REFUSED (RCODE 5).
	Refused FaultKind = "refused"
	// Timeout sends no answer at all.
	Timeout FaultKind = "timeout"
	// Truncate answers every UDP query with TC=1 and no records, so the
	// client retries over TCP (RFC 7766 §5), which answers normally. The
	// fault does not fire (nor count) over TCP.
	Truncate FaultKind = "truncate"
	// Delay answers normally after Fault.Delay.
	Delay FaultKind = "delay"
)

// validKinds lists the kinds for error messages.
const validKinds = "servfail, nxdomain, refused, timeout, truncate, delay"

// valid reports whether k is one of the constants.
func (k FaultKind) valid() bool {
	switch k {
	case ServFail, NXDomain, Refused, Timeout, Truncate, Delay:
		return true
	}
	return false
}

// ParseFaultKind returns the FaultKind named s (case-insensitive). An
// unknown name is an error naming the value and the valid ones.
func ParseFaultKind(s string) (FaultKind, error) {
	k := FaultKind(strings.ToLower(strings.TrimSpace(s)))
	if k.valid() {
		return k, nil
	}
	return "", fmt.Errorf("fakedns: fault kind %q: %w (valid: %s)", s, ErrUnknownFaultKind, validKinds)
}

// Fault is a failure injected for queries matching (Name, Type), or every
// name of a zone.
//
// Precedence, when several faults match a query: an exact (Name, Type)
// fault, then (Name, any type), then zone-wide faults from the deepest Name
// up, (Name, Type) before (Name, any type) at each level. A fault whose
// Times are used up no longer matches, so the next one in that order
// applies. Faults apply to any name, inside a zone or not.
type Fault struct {
	Name  string        // owner name, or a zone apex when Zone is true
	Type  string        // "MX", "A", …; "" or "ANY" matches every type (Faults reports "")
	Zone  bool          // match every name at or below Name
	Kind  FaultKind     // what happens
	Delay time.Duration // for Delay (required > 0); for other kinds an extra wait before the fault
	Times int           // fire only for the first Times matching queries, then answer normally; 0 = always
}

// MaxFaultDelay is the longest Fault.Delay: far beyond any resolver's
// timeout (seconds; RFC 1536 §1 speaks of retransmissions after a few),
// and a bound on how long a delayed query holds its memory.
const MaxFaultDelay = 10 * time.Minute

// faultKey indexes faults; qtype 0 means every type.
type faultKey struct {
	name  string
	qtype uint16
	zone  bool
}

// faultState is a stored fault. remaining counts down atomically under the
// server's read lock, so queries need no write lock.
type faultState struct {
	f         Fault // normalized
	remaining atomic.Int64
}

// take claims one firing. It returns the ordinal of this firing (1-based,
// 0 when Times is 0) and false when the fault is used up.
func (fs *faultState) take() (int64, bool) {
	if fs.f.Times == 0 {
		return 0, true
	}
	for {
		r := fs.remaining.Load()
		if r <= 0 {
			return 0, false
		}
		if fs.remaining.CompareAndSwap(r, r-1) {
			return int64(fs.f.Times) - r + 1, true
		}
	}
}

// spent reports whether a fault with Times has fired them all.
func (fs *faultState) spent() bool {
	return fs.f.Times > 0 && fs.remaining.Load() <= 0
}

// normalizeFault validates f and returns it with Name canonical and Type
// upper case ("" for every type), plus its key.
func normalizeFault(f Fault) (Fault, faultKey, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("fakedns: fault %s %q: %w: %s", f.Kind, f.Name, ErrBadFault, fmt.Sprintf(format, a...))
	}
	if !f.Kind.valid() {
		_, err := ParseFaultKind(string(f.Kind))
		return Fault{}, faultKey{}, fmt.Errorf("fakedns: fault on %q: %w", f.Name, err)
	}
	name, err := canonName(f.Name)
	if err != nil {
		return Fault{}, faultKey{}, bad("%v", err)
	}
	var qtype uint16
	typ := strings.ToUpper(strings.TrimSpace(f.Type))
	if typ == "ANY" {
		typ = ""
	}
	if typ != "" {
		t, ok := dns.StringToType[typ]
		if !ok {
			return Fault{}, faultKey{}, bad("unknown type %q", f.Type)
		}
		qtype = t
	}
	if f.Delay < 0 {
		return Fault{}, faultKey{}, bad("negative delay %v", f.Delay)
	}
	if f.Delay > MaxFaultDelay {
		return Fault{}, faultKey{}, bad("delay %v is above %v: resolvers give up after seconds, and each delayed query is held until it is answered", f.Delay, MaxFaultDelay)
	}
	if f.Kind == Delay && f.Delay <= 0 {
		return Fault{}, faultKey{}, bad("kind delay needs Delay > 0")
	}
	if f.Times < 0 {
		return Fault{}, faultKey{}, bad("negative Times %d", f.Times)
	}
	f.Name, f.Type = name, typ
	return f, faultKey{name: name, qtype: qtype, zone: f.Zone}, nil
}

// firing is a fault that fired for one query.
type firing struct {
	kind  FaultKind
	delay time.Duration
	label string // journal Fault: "servfail", or "servfail 1/2" for the first of Times 2
}

// takeFault finds the fault for (qname, qtype) by precedence and claims a
// firing. Called with s.mu read-locked.
func (s *Server) takeFault(qname string, qtype uint16, tcp bool) (firing, bool) {
	try := func(k faultKey) (firing, bool, bool) {
		fs, ok := s.faults[k]
		if !ok || fs.spent() {
			return firing{}, false, false
		}
		if tcp && fs.f.Kind == Truncate {
			// Truncate only concerns UDP; over TCP the query is answered
			// normally, and the chosen fault is not counted.
			return firing{}, false, true
		}
		n, ok := fs.take()
		if !ok {
			return firing{}, false, false
		}
		label := string(fs.f.Kind)
		if n > 0 {
			label += " " + strconv.FormatInt(n, 10) + "/" + strconv.Itoa(fs.f.Times)
		}
		return firing{kind: fs.f.Kind, delay: fs.f.Delay, label: label}, true, true
	}
	if f, ok, stop := try(faultKey{qname, qtype, false}); stop {
		return f, ok
	}
	if f, ok, stop := try(faultKey{qname, 0, false}); stop {
		return f, ok
	}
	for n := qname; n != ""; n = parent(n) {
		if f, ok, stop := try(faultKey{n, qtype, true}); stop {
			return f, ok
		}
		if f, ok, stop := try(faultKey{n, 0, true}); stop {
			return f, ok
		}
	}
	return firing{}, false
}
