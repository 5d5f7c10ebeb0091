package scenarios

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// TestConformanceLibrary loads the built-in cases: every one has metadata,
// IDs are unique and well formed, and every rule of the rules table in docs/conformance.md that can
// be seen from outside (all but 23, 24, 30, 31: DANE, MTA-STS, DKIM, SPF)
// has a case.
func TestConformanceLibrary(t *testing.T) {
	cases, err := LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 25 {
		t.Fatalf("%d cases, want at least 25", len(cases))
	}
	rules := map[int]bool{}
	levels := map[Level]int{}
	for i, c := range cases {
		m := c.Conformance
		if i > 0 && cases[i-1].Conformance.ID >= m.ID {
			t.Errorf("cases not sorted by ID: %s before %s", cases[i-1].Conformance.ID, m.ID)
		}
		if !strings.HasPrefix(c.Name, strings.ToLower(m.ID)+"-") {
			t.Errorf("%s: name %q does not start with its lower-case ID", c.File, c.Name)
		}
		if c.File != c.Name+".yaml" {
			t.Errorf("%s: file name differs from scenario name %q", c.File, c.Name)
		}
		if m.Evidence != EvidenceHosts && m.Evidence != EvidenceRelay {
			t.Errorf("%s: evidence %q after defaults", c.File, m.Evidence)
		}
		rules[m.Rule] = true
		levels[m.Level]++
	}
	for r := 1; r <= 29; r++ {
		switch r {
		case 15, 19, 23, 24, 26, 27: // 15 by flush; 19 part of 20/21; 23/24 later; 26/27 are the relay's server side
			continue
		}
		if !rules[r] {
			t.Errorf("no case checks rule %d of the rules table in docs/conformance.md", r)
		}
	}
	for _, l := range []Level{LevelMust, LevelShould, LevelInfo} {
		if levels[l] == 0 {
			t.Errorf("no %s case", l)
		}
	}
}

// caseFile is a minimal conformance case.
func caseFile(name, id string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("name: " + name +
		"\nconformance: {id: " + id + ", title: t, clause: RFC 5321 §5.1, level: MUST, requirement: r}\nsteps: [{flush: {}}]\n")}
}

func TestLoadConformanceErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml":     caseFile("a", "MX-001"),
		"b.yaml":     caseFile("b", "MX-001"),
		"c.yaml":     {Data: []byte("name: c\nsteps: [{flush: {}}]\n")},
		"d.yaml":     {Data: []byte("name: d\nconformance: {id: MX-2}\nsteps: [{flush: {}}]\n")},
		"e.yaml":     caseFile("e", "TLS-001"),
		"notes.txt":  {Data: []byte("ignored")},
		"sub/f.yaml": caseFile("f", "MX-001"),
	}
	cases, err := LoadConformance(fsys)
	if err == nil {
		t.Fatal("LoadConformance succeeded, want errors")
	}
	if !errors.Is(err, ErrDuplicateID) || !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v: want ErrDuplicateID and ErrInvalid", err)
	}
	for _, want := range []string{
		`b.yaml:2:19: duplicate conformance case id "MX-001" (first in a.yaml:2:19)`,
		"c.yaml:1:1: conformance case c has no conformance section",
		`d.yaml:2:19: "id": bad case id "MX-2"`,
		`d.yaml:2:14: missing required key "title" in conformance`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	var ids []string
	for _, c := range cases {
		ids = append(ids, c.Conformance.ID)
	}
	if !slices.Equal(ids, []string{"MX-001", "TLS-001"}) {
		t.Errorf("cases loaded = %v, want [MX-001 TLS-001]", ids)
	}
}

func TestSelectCases(t *testing.T) {
	var cases []*Scenario
	for _, id := range []string{"MX-001", "MX-006", "RETRY-001", "TLS-004"} {
		cases = append(cases, &Scenario{Name: strings.ToLower(id), Conformance: &Conformance{ID: id}})
	}
	ids := func(l []*Scenario) string {
		var s []string
		for _, c := range l {
			s = append(s, c.Conformance.ID)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		patterns []string
		want     string
		err      error
	}{
		{nil, "MX-001 MX-006 RETRY-001 TLS-004", nil},
		{[]string{"MX-*"}, "MX-001 MX-006", nil},
		{[]string{"mx-00?", "MX-006"}, "MX-001 MX-006", nil},
		{[]string{"TLS-004", "RETRY-*"}, "RETRY-001 TLS-004", nil},
		{[]string{"MX-*", "DANE-*"}, "", ErrNoMatch},
		{[]string{"MX-["}, "", errors.New("syntax error in pattern")},
	} {
		got, err := SelectCases(cases, tc.patterns...)
		switch {
		case tc.err == nil && err != nil:
			t.Errorf("%v: %v", tc.patterns, err)
		case tc.err != nil && (err == nil || !strings.Contains(err.Error(), tc.err.Error())):
			t.Errorf("%v: error %v, want %v", tc.patterns, err, tc.err)
		case ids(got) != tc.want:
			t.Errorf("%v: got %q, want %q", tc.patterns, ids(got), tc.want)
		}
	}
}
