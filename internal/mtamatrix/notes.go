package mtamatrix

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
)

// notesFile is the hand-written explanation of every non-pass, in each
// MTA's own terms (notes.md next to this file).
//
//go:embed notes.md
var notesFile string

// Notes returns the embedded notes.
func Notes() (map[Key]string, error) { return ParseNotes("notes.md", notesFile) }

// Key names one cell of the matrix: a relay kind and a case ID.
type Key struct {
	Relay string // "postfix"
	Case  string // "MX-013"
}

func (k Key) String() string { return k.Relay + " " + k.Case }

// headingRE is a note's heading: "## postfix MX-013".
var headingRE = regexp.MustCompile(`^## ([a-z][a-z0-9-]*) ([A-Z]+-[0-9]{3})\s*$`)

// ParseNotes reads notes: each starts with a heading line
// "## RELAY CASE-ID" and runs to the next heading; text before the first
// heading is a preamble and ignored. A malformed "## " line, a duplicate
// key or an empty note is an error naming file:line.
func ParseNotes(name, text string) (map[Key]string, error) {
	notes := map[Key]string{}
	var cur *Key
	var body []string
	var startLine int
	flush := func() error {
		if cur == nil {
			return nil
		}
		note := strings.TrimSpace(strings.Join(body, "\n"))
		if note == "" {
			return fmt.Errorf("mtamatrix: %s:%d: note %s is empty", name, startLine, cur)
		}
		notes[*cur] = note
		return nil
	}
	for i, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "## ") {
			if cur != nil {
				body = append(body, line)
			}
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		m := headingRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("mtamatrix: %s:%d: want a heading \"## RELAY CASE-ID\" (such as \"## postfix MX-013\"), got %q", name, i+1, line)
		}
		k := Key{Relay: m[1], Case: m[2]}
		if _, dup := notes[k]; dup {
			return nil, fmt.Errorf("mtamatrix: %s:%d: second note for %s", name, i+1, k)
		}
		cur, body, startLine = &k, nil, i+1
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return notes, nil
}
