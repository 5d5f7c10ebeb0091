package scenarios

import (
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/fakesmtp"
)

// STSMode is an MTA-STS policy's mode (RFC 8461 §5).
type STSMode string

// MTA-STS modes.
const (
	STSEnforce STSMode = "enforce" // deliver only to listed MX hosts, over TLS with a valid certificate
	STSTesting STSMode = "testing" // deliver as without a policy; report failures
	STSNone    STSMode = "none"    // no policy
)

func (STSMode) Values() []string { return []string{"enforce", "testing", "none"} }

// Defaults of a zone's mta_sts.
const (
	DefaultSTSMaxAge = 86400 // seconds
	DefaultSTSID     = "1"
)

// MaxSTSMaxAge is the largest max_age RFC 8461 §3.2 allows (a year).
const MaxSTSMaxAge = 31557600

// ZoneMTASTS makes the zone publish an MTA-STS policy (RFC 8461): the
// harness adds the TXT record _mta-sts.ZONE "v=STSv1; id=ID" and an A
// record for mta-sts.ZONE at a simulated web host of its own, which
// serves the policy over HTTPS at /.well-known/mta-sts.txt with a
// certificate for that name from the environment's CA.
type ZoneMTASTS struct {
	Pos  Pos     `yaml:"-"`
	Mode STSMode `yaml:"mode" mx:"required"`
	// MX are the policy's mx patterns: an MX host name, or "*." and a
	// domain (one more label). Required unless mode is none.
	MX []string `yaml:"mx"`
	// MaxAge is the policy's max_age in seconds; default 86400.
	MaxAge int `yaml:"max_age" mx:"max=31557600"`
	// ID is the id of the TXT record: 1 to 32 letters and digits; default
	// "1". A relay fetches the policy again when it changes.
	ID string `yaml:"id"`
	// Cert is the certificate the web host serves: valid (default),
	// self-signed, wrong-name or expired.
	Cert fakesmtp.CertKind `yaml:"cert"`
	// Missing makes the web host answer 404: the TXT record says there is
	// a policy, but none can be fetched.
	Missing bool `yaml:"missing"`
}

// SetMTASTS changes a zone's MTA-STS policy while the scenario runs (a
// set step): the web host serves the new policy and the TXT record gets
// its id.
type SetMTASTS struct {
	Pos        Pos    `yaml:"-"`
	Domain     string `yaml:"domain" mx:"required,domain"` // a zone with mta_sts
	ZoneMTASTS `yaml:",inline"`
}

// ValidSTSID reports whether id is a valid MTA-STS id (RFC 8461 §3.1: 1
// to 32 letters and digits).
func ValidSTSID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ValidSTSPattern reports why p is not an mx pattern of a policy ("" when
// it is one): a host name, or "*." and a domain.
func ValidSTSPattern(p string) string {
	name := strings.TrimPrefix(p, "*.")
	if strings.Contains(name, "*") {
		return "a wildcard is only \"*.\" at the start"
	}
	if err := checkDomain(name); err != nil {
		return err.Error()
	}
	return ""
}

// zoneMTASTS checks a zone's mta_sts.
func (v *validator) zoneMTASTS(z *Zone) {
	if z.MTASTS == nil {
		return
	}
	v.stsPolicy(z.MTASTS, "zone "+z.Name)
	// The policy's own names get their records from the harness.
	for _, r := range z.Records {
		if r.Name == "_mta-sts."+z.Name || r.Name == "mta-sts."+z.Name {
			v.at(&r.Name, r.Pos, "zone %s: %s has records of its own, but mta_sts publishes that name (the TXT record and the web host's address): leave them to mta_sts", z.Name, r.Name)
		}
	}
}

// stsPolicy checks a policy: its id, its mx patterns (required unless
// mode none).
func (v *validator) stsPolicy(p *ZoneMTASTS, where string) {
	if p.ID != "" && !ValidSTSID(p.ID) {
		v.at(&p.ID, p.Pos, "%s: mta_sts id %q: want 1 to 32 letters and digits (RFC 8461 §3.1)", where, p.ID)
	}
	if p.MaxAge < 0 {
		v.at(&p.MaxAge, p.Pos, "%s: mta_sts max_age %d: must not be negative", where, p.MaxAge)
	}
	for i, m := range p.MX {
		if why := ValidSTSPattern(m); why != "" {
			v.at(&p.MX[i], p.Pos, "%s: mta_sts mx %q: %s", where, m, why)
		}
	}
	if len(p.MX) == 0 && p.Mode != STSNone && p.Mode != "" {
		v.at(&p.Mode, p.Pos, "%s: mta_sts mode %s needs mx: the MX host names (or \"*.domain\") the policy allows", where, p.Mode)
	}
}

// setMTASTS checks a set step's mta_sts: the domain must publish a policy.
func (v *validator) setMTASTS(s *SetMTASTS) {
	z := v.s.Zone(s.Domain)
	if s.Domain != "" && (z == nil || z.MTASTS == nil) {
		v.at(&s.Domain, s.Pos, "set mta_sts: domain %s: no zone with mta_sts in dns", s.Domain)
	}
	v.stsPolicy(&s.ZoneMTASTS, "set mta_sts "+s.Domain)
}

// String renders p as a policy body's gist: "enforce id 1 mx mx1.example.test".
func (p *ZoneMTASTS) String() string {
	return fmt.Sprintf("%s id %s mx %s", p.Mode, p.ID, strings.Join(p.MX, " "))
}
