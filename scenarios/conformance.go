package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Level says how strongly a conformance case's rule binds (RFC 2119).
type Level string

// Levels. A failed MUST case fails the run; a failed SHOULD case is
// "non-strict" (a failure only with --strict); an INFO case only reports.
const (
	LevelMust   Level = "MUST"
	LevelShould Level = "SHOULD"
	LevelInfo   Level = "INFO"
)

func (Level) Values() []string { return []string{"MUST", "SHOULD", "INFO"} }

// Route is how a relay sends mail on: straight to the MX hosts of each
// recipient domain, or through a smarthost (Postfix relayhost).
type Route string

// Routes.
const (
	RouteDirect    Route = "direct"
	RouteSmarthost Route = "smarthost"
)

func (Route) Values() []string { return []string{"direct", "smarthost"} }

// Evidence says where a conformance case looks to judge the relay.
type Evidence string

// Evidence kinds.
const (
	// EvidenceHosts: only what the simulated hosts and the DNS saw
	// (sessions, replies, messages, queries): works for any relay.
	EvidenceHosts Evidence = "hosts"
	// EvidenceRelay: also what the relay reports of itself (relay.attempt,
	// relay.bounce events): needs the reference relay or an adapter that
	// reports them (Postfix's log).
	EvidenceRelay Evidence = "relay"
)

func (Evidence) Values() []string { return []string{"hosts", "relay"} }

// Conformance is the metadata that makes a scenario a conformance case.
type Conformance struct {
	Pos         Pos      `yaml:"-"`
	ID          string   `yaml:"id" mx:"required,caseid"` // stable: "MX-006"; AREA-NNN
	Title       string   `yaml:"title" mx:"required"`     // one line
	Clause      string   `yaml:"clause" mx:"required"`    // "RFC 5321 §5.1"
	Level       Level    `yaml:"level" mx:"required"`
	Requirement string   `yaml:"requirement" mx:"required"` // what the relay must do, in words
	Rule        int      `yaml:"rule"`                      // the number of the rule it checks, in the rules table of docs/conformance.md
	Evidence    Evidence `yaml:"evidence"`                  // default hosts
	Applies     *Applies `yaml:"applies"`                   // left out: applies to every relay
}

// Applies says which relay configurations a conformance case is meant for.
// Empty fields match any configuration.
type Applies struct {
	Pos   Pos         `yaml:"-"`
	Route Route       `yaml:"route"`
	TLS   []TLSPolicy `yaml:"tls"`
	// Auth: the relay authenticates to its smarthost (credentials given in
	// the case's relay section).
	Auth bool `yaml:"auth"`
	// Hostname: the relay's own name must be this (cases about a relay in
	// its own MX set).
	Hostname string `yaml:"hostname" mx:"domain"`
}

// caseIDRE is the form of a conformance case ID: an area and a number.
var caseIDRE = regexp.MustCompile(`^[A-Z]{2,8}-[0-9]{3}$`)

// ErrDuplicateID is wrapped by the error for two cases with one ID.
var ErrDuplicateID = errors.New("duplicate conformance case id")

// conformance checks what spans the metadata and the scenario.
func (v *validator) conformance(c *Conformance) {
	if c == nil {
		return
	}
	a := c.Applies
	if a == nil {
		return
	}
	r := &v.s.Relay
	if a.Route == RouteSmarthost && r.Smarthost == "" {
		v.at(&a.Route, a.Pos, "applies route smarthost: the case's relay section needs a smarthost")
	}
	if a.Route == RouteDirect && r.Smarthost != "" {
		v.at(&a.Route, a.Pos, "applies route direct: the case's relay section sets a smarthost")
	}
	if a.Auth && r.SmarthostAuth == nil {
		v.at(&a.Auth, a.Pos, "applies auth: the case's relay section needs smarthost_auth")
	}
	if len(a.TLS) > 0 {
		own := r.TLS
		if own == "" {
			own = TLSMay
		}
		if !slices.Contains(a.TLS, own) {
			var names []string
			for _, t := range a.TLS {
				if t != "" {
					names = append(names, string(t))
				}
			}
			v.at(&a.TLS, a.Pos, "applies tls [%s] does not include the case's own relay tls %s", strings.Join(names, ", "), own)
		}
	}
	if a.Hostname != "" && r.Hostname != a.Hostname {
		v.at(&a.Hostname, a.Pos, "applies hostname %s: the case's relay section must set hostname: %s", a.Hostname, a.Hostname)
	}
}

// ConformanceLibrary returns the built-in conformance cases: YAML files
// at the root of the returned file system, each with conformance metadata.
func ConformanceLibrary() fs.FS {
	sub, err := fs.Sub(conformanceFS, "conformance")
	if err != nil {
		// fs.Sub fails only on an invalid path; "conformance" is valid.
		panic(err)
	}
	return sub
}

// LoadConformance loads every *.yaml at the root of fsys (the built-in
// library when fsys is nil) as conformance cases, sorted by ID. A file
// without conformance metadata and two cases with one ID are errors; all
// mistakes of all files come at once, as an ErrorList.
func LoadConformance(fsys fs.FS) ([]*Scenario, error) {
	if fsys == nil {
		fsys = ConformanceLibrary()
	}
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("load conformance cases: %w", err)
	}
	var out []*Scenario
	var all ErrorList
	ids := map[string]*Scenario{}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			all = append(all, &Error{File: n, Msg: fmt.Sprintf("read conformance case: %v", unwrapPath(err)), Err: err})
			continue
		}
		s, err := Parse(n, data)
		if err != nil {
			var l ErrorList
			if errors.As(err, &l) {
				all = append(all, l...)
			}
			continue
		}
		e := newErrs(n, data)
		switch first, dup := ids[idOf(s)]; {
		case s.Conformance == nil:
			e.at(Pos{Line: 1, Col: 1}, "conformance case %s has no conformance section (id, title, clause, level, requirement)", s.Name)
		case dup:
			e.at(s.PosOf(&s.Conformance.ID), "%v %q (first in %s:%s)", ErrDuplicateID, s.Conformance.ID, first.File, first.PosOf(&first.Conformance.ID))
			e.list[len(e.list)-1].Err = ErrDuplicateID
		default:
			ids[s.Conformance.ID] = s
			out = append(out, s)
		}
		all = append(all, e.list...)
	}
	slices.SortFunc(out, func(a, b *Scenario) int { return strings.Compare(a.Conformance.ID, b.Conformance.ID) })
	if len(all) > 0 {
		sortErrors(all)
		return out, all
	}
	return out, nil
}

func idOf(s *Scenario) string {
	if s.Conformance == nil {
		return ""
	}
	return s.Conformance.ID
}

// ErrNoMatch is returned by SelectCases for a pattern that matches no case.
var ErrNoMatch = errors.New("no conformance case matches")

// SelectCases returns the cases whose ID matches one of the glob patterns
// ("MX-*", "TLS-00?", "RETRY-014"; case-insensitive), in their order. No
// pattern selects every case. A malformed pattern, or one that matches
// nothing, is an error naming it.
func SelectCases(cases []*Scenario, patterns ...string) ([]*Scenario, error) {
	if len(patterns) == 0 {
		return cases, nil
	}
	hit := make([]bool, len(patterns))
	var out []*Scenario
	for _, c := range cases {
		id := idOf(c)
		selected := false
		for i, p := range patterns {
			ok, err := path.Match(strings.ToUpper(strings.TrimSpace(p)), id)
			if err != nil {
				return nil, fmt.Errorf("case pattern %q: %w", p, err)
			}
			if ok {
				hit[i], selected = true, true
			}
		}
		if selected {
			out = append(out, c)
		}
	}
	for i, p := range patterns {
		if !hit[i] {
			return nil, fmt.Errorf("case pattern %q: %w", p, ErrNoMatch)
		}
	}
	return out, nil
}
