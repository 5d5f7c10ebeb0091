package fakedns

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of them, so
// callers can test with errors.Is.
var (
	// ErrBadAddr: Config.Addr is not "IP:port".
	ErrBadAddr = errors.New("bad address")
	// ErrBadName: a zone, owner or fault name is not a valid domain name.
	ErrBadName = errors.New("bad domain name")
	// ErrBadRecord: a record does not parse, or is not of the expected type.
	ErrBadRecord = errors.New("bad record")
	// ErrOutsideZone: a record's owner is not at or below its zone's apex,
	// or a name given to a live change is inside no zone.
	ErrOutsideZone = errors.New("name outside the zone")
	// ErrNoZone: the zone named does not exist.
	ErrNoZone = errors.New("no such zone")
	// ErrZoneExists: a zone of that name exists already.
	ErrZoneExists = errors.New("zone already exists")
	// ErrBadFault: a Fault is invalid (name, type, delay or times).
	ErrBadFault = errors.New("bad fault")
	// ErrUnknownFaultKind: a FaultKind is not one of the constants.
	ErrUnknownFaultKind = errors.New("unknown fault kind")
	// ErrNotLoopback: under Config.LoopbackOnly, an A or AAAA record, or
	// Config.Addr, gives an address outside 127.0.0.0/8 and ::1. A record
	// error wraps ErrBadRecord too.
	ErrNotLoopback = errors.New("address outside loopback")
)

// RecordError reports a record that cannot be added to a zone. Its text is
//
//	fakedns: zone example.test: record "mx1.example.test." "MX ten x.": bad record: dns: bad MX Pref…
//
// Err wraps ErrBadRecord (and ErrNotLoopback under Config.LoopbackOnly) or
// ErrOutsideZone.
type RecordError struct {
	Zone   string // zone apex, fully qualified
	Owner  string // owner name, fully qualified when it could be resolved, else as given
	Record string // the record text as given
	Err    error
}

// Error implements error.
func (e *RecordError) Error() string {
	zone := strings.TrimSuffix(e.Zone, ".")
	return fmt.Sprintf("fakedns: zone %s: record %q %q: %v", zone, e.Owner, e.Record, e.Err)
}

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }

var _ error = (*RecordError)(nil)
