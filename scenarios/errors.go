package scenarios

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (with errors.Is) by every *Error and by a non-empty
// ErrorList: the scenario file could not be loaded as written.
var ErrInvalid = errors.New("invalid scenario")

// Error is one mistake in a scenario file, or in a fragment (ParseBehavior,
// ParseZone, ParseFault), at a position. Line and Col are 1-based; both
// are 0 when the mistake has no position (a file that cannot be read, a
// duplicate across files).
type Error struct {
	File   string // the path as given to Parse, Load or LoadAll; "" in a fragment
	Line   int
	Col    int
	Msg    string // lowercase, names the object: `unknown key "tpye" in fault (did you mean "type"?)`
	Source string // the source line followed by a caret line, "" when unknown
	// Err is the cause when there is one, else nil: a read error, or the
	// *fakesmtp.FieldError of a behaviour's value.
	Err error
}

// Error renders the mistake as "file.yaml:LINE:COL: message" ("LINE:COL:
// message" in a fragment), followed by the source line and a caret under
// the column, each indented by 4 spaces.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File != "" {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%d:%d", e.Line, e.Col)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Source != "" {
		for _, l := range strings.Split(e.Source, "\n") {
			b.WriteString("\n    ")
			b.WriteString(l)
		}
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the cause, if any (errors.Is(err, fs.ErrNotExist) works).
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every mistake found in one or more scenario files, in file
// and then position order. Parse and the loaders return a non-empty
// ErrorList, never a nil one typed as error.
type ErrorList []*Error

// Error renders each mistake on its own lines, as (*Error).Error does.
func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap returns the errors of the list, so errors.As finds an *Error.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Is reports whether target is ErrInvalid.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid && len(l) > 0 }

// errs collects errors for one file, one per mistake: the same message
// at the same place is recorded once, and so is a mistake inside a value
// that aliases use again (the decoder meets it once per use, maybe with
// another message naming the user: the first one stays, and says where
// else the value is used).
type errs struct {
	file  string
	lines []string // source lines, for excerpts
	list  ErrorList

	seen   map[errKey]bool
	first  map[Pos]*Error  // the first error at each position
	shared map[Pos]*anchor // positions inside an anchored value that aliases use (see decoder.collect)
	noted  map[*Error]bool // errors that say where else their value is used
}

type errKey struct {
	p   Pos
	msg string
}

// newErrs keeps the lines of src for excerpts, as the parser reads them
// (see decodeSource): without a UTF-8 byte-order mark, decoded from UTF-16
// or UTF-32, bytes that are not UTF-8 shown as U+FFFD.
func newErrs(file string, src []byte) *errs {
	text, _ := decodeSource(src)
	// Lines as YAML counts them: a break is CRLF, CR or LF (YAML 1.2 §5.4),
	// so that a file with old Mac line ends gets the right excerpts.
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	return &errs{file: file, lines: strings.Split(strings.ToValidUTF8(text, "\uFFFD"), "\n")}
}

// at records a mistake at p (the zero Pos gives no position) and returns
// it, for the caller to set its cause. A mistake recorded already (see
// errs) is returned without being recorded again.
func (e *errs) at(p Pos, format string, args ...any) *Error {
	err := &Error{File: e.file, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)}
	if e.seen == nil {
		e.seen, e.first, e.noted = map[errKey]bool{}, map[Pos]*Error{}, map[*Error]bool{}
	}
	k := errKey{p, err.Msg}
	dup := e.seen[k]
	e.seen[k] = true
	if a, first := e.shared[p], e.first[p]; a != nil && first != nil && p.IsValid() {
		if !e.noted[first] {
			e.noted[first] = true
			uses := make([]string, len(a.aliases))
			for i, u := range a.aliases {
				uses[i] = u.String()
			}
			first.Msg += fmt.Sprintf(" (the value is used again through *%s at %s)", a.name, strings.Join(uses, ", "))
		}
		return err
	}
	if dup {
		return err
	}
	if _, ok := e.first[p]; !ok {
		e.first[p] = err
	}
	if p.Line > 0 && p.Line <= len(e.lines) {
		line := strings.TrimRight(e.lines[p.Line-1], "\r")
		col := min(max(p.Col, 1), len([]rune(line))+1)
		// Tabs keep their width under the caret.
		var pad strings.Builder
		for i, r := range []rune(line) {
			if i >= col-1 {
				break
			}
			if r == '\t' {
				pad.WriteByte('\t')
			} else {
				pad.WriteByte(' ')
			}
		}
		err.Source = line + "\n" + pad.String() + "^"
	}
	e.list = append(e.list, err)
	return err
}
