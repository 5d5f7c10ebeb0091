package scenarios_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/scenarios"
)

// parseDeadline is how long one Parse may take before the fuzz target
// calls it a hang. Inputs are at most a few kilobytes; a healthy Parse
// takes well under a millisecond for them.
const parseDeadline = 10 * time.Second

// FuzzParse feeds arbitrary bytes to the scenario loader. Parse must not
// panic or hang, must return either a scenario or an error (never both,
// never neither), and every error must be an *Error in an ErrorList that
// matches ErrInvalid, names the file and carries a position inside it
// ("fuzz.yaml:LINE:COL: ..."), with the source line and a caret. The
// same bytes must give the same report twice: the golden files under
// testdata/validate rely on a stable order.
//
// Seeds: every YAML file of the repository's testdata, the built-in
// library and the conformance cases, and the hand-written corner cases in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, data := range scenarioSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		first := parseWithin(t, name, data)
		second := parseWithin(t, name, data)
		if got, want := report(second), report(first); got != want {
			t.Fatalf("Parse is not deterministic:\n--- first\n%s\n--- second\n%s", want, got)
		}
		s, err := first.s, first.err
		switch {
		case s != nil && err != nil:
			t.Fatalf("Parse returned a scenario and an error: %v", err)
		case s == nil && err == nil:
			t.Fatal("Parse returned neither a scenario nor an error")
		case s != nil:
			if s.File != name {
				t.Fatalf("scenario File %q, want %q", s.File, name)
			}
			return
		}
		if bug := checkErrors(t, name, data, err); bug != "" {
			t.Skip(bug)
		}
	})
}

// knownBugs are mistakes of Parse that the fuzz target has found and that
// are not fixed yet: an input whose only faults match one is skipped with
// the bug's description, so that fuzzing goes on looking for new ones.
// Remove an entry with its fix; its crasher in testdata/fuzz/FuzzParse
// then runs as a plain regression test. None is open: the two found so
// far (a null value reported without a position, 876620c8cbe666b1 and
// c697ae81ce459bb2; bare CR line breaks, 9f73b4d211d3cd95) are fixed.
var knownBugs = []struct {
	desc  string
	match func(e *scenarios.Error, data []byte) bool
}{}

// parsed is the result of one Parse.
type parsed struct {
	s   *scenarios.Scenario
	err error
}

// report renders a result for comparison.
func report(p parsed) string {
	if p.err != nil {
		return "error: " + p.err.Error()
	}
	return fmt.Sprintf("scenario %q", p.s.Name)
}

// parseWithin runs Parse and crashes the process when it has not returned
// after parseDeadline: the fuzzing engine keeps the input of a crashed
// worker, and go test has no per-input time limit while fuzzing.
func parseWithin(t *testing.T, name string, data []byte) parsed {
	t.Helper()
	hang := time.AfterFunc(parseDeadline, func() {
		panic(fmt.Sprintf("scenarios.Parse hung: no result after %v for %d bytes of input", parseDeadline, len(data)))
	})
	defer hang.Stop()
	s, err := scenarios.Parse(name, data)
	return parsed{s, err}
}

// checkErrors checks the shape of an error from Parse. A mistake of a
// known bug is not a failure: checkErrors returns the bug's description
// instead, for the caller to skip the input once every check has run.
func checkErrors(t *testing.T, name string, data []byte, err error) (bug string) {
	t.Helper()
	if !errors.Is(err, scenarios.ErrInvalid) {
		t.Fatalf("error does not match ErrInvalid: %v", err)
	}
	var list scenarios.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error is %T, want a non-empty ErrorList: %v", err, err)
	}
	// A UTF-8 byte order mark is accepted and not part of the first line.
	lines := yamlLines(bytes.TrimPrefix(data, []byte("\ufeff")))
	for _, e := range list {
		if e == nil {
			t.Fatalf("nil *Error in the list: %v", err)
		}
		if e.File != name {
			t.Errorf("error names file %q, want %q: %v", e.File, name, e)
		}
		if k := knownBug(e, data); k != "" {
			bug = k
			continue
		}
		if e.Line <= 0 || e.Col <= 0 {
			t.Errorf("error without a position: %q", e.Error())
			continue
		}
		// A position may point just past the last line (an unexpected end).
		if e.Line > len(lines)+1 {
			t.Errorf("error at line %d of a %d-line input: %q", e.Line, len(lines), e.Error())
		}
		if want := fmt.Sprintf("%s:%d:%d: ", name, e.Line, e.Col); !strings.HasPrefix(e.Error(), want) {
			t.Errorf("error %q does not start with %q", e.Error(), want)
		}
		if e.Msg == "" {
			t.Errorf("error without a message at %d:%d", e.Line, e.Col)
		}
		if strings.Contains(e.Msg, "save it as UTF-8") {
			// An encoding error shows the line decoded as well as it can
			// be, not the bytes as they are: only the caret is checked.
			if _, caret, ok := strings.Cut(e.Source, "\n"); !ok || !strings.HasSuffix(caret, "^") {
				t.Errorf("encoding error at %d:%d: excerpt %q, want a line and a caret under it", e.Line, e.Col, e.Source)
			}
			continue
		}
		if !excerptOK(e, lines) {
			t.Errorf("error at %d:%d: excerpt %q, want line %d of the input and a caret under it", e.Line, e.Col, e.Source, e.Line)
		}
	}
	return bug
}

// excerptOK reports whether e's Source is its line of the input (lines,
// as yamlLines splits it) followed by a caret line, or empty for a
// position past the last line.
func excerptOK(e *scenarios.Error, lines []string) bool {
	if e.Line > len(lines) {
		return e.Source == "" || strings.HasSuffix(e.Source, "^")
	}
	line, caret, ok := strings.Cut(e.Source, "\n")
	return ok && line == lines[e.Line-1] && strings.HasSuffix(caret, "^") && strings.Trim(caret, " \t^") == ""
}

// yamlLines splits data into lines the way YAML counts them: a line
// break is CRLF, CR or LF (YAML 1.2 §5.4).
func yamlLines(data []byte) []string {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n")
}

// hasBareCR reports whether data has a CR that is not part of a CRLF.
func hasBareCR(data []byte) bool {
	return strings.Contains(strings.ReplaceAll(string(data), "\r\n", ""), "\r")
}

// knownBug returns the description of the known bug e shows, or "".
func knownBug(e *scenarios.Error, data []byte) string {
	for _, k := range knownBugs {
		if k.match(e, data) {
			return k.desc
		}
	}
	return ""
}

// scenarioSeeds returns every scenario file the repository has: testdata
// (scenarios, failing, postfix, validate/*/in.yaml), the built-in library
// and the conformance cases. New files become seeds without an edit here.
func scenarioSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	err := filepath.WalkDir(filepath.Join("..", "testdata"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			seeds = append(seeds, data)
		}
		return nil
	})
	if err != nil {
		f.Fatalf("seeds from testdata: %v", err)
	}
	for _, fsys := range []fs.FS{scenarios.Library(), scenarios.ConformanceLibrary()} {
		names, err := fs.Glob(fsys, "*.yaml")
		if err != nil {
			f.Fatal(err)
		}
		for _, n := range names {
			data, err := fs.ReadFile(fsys, n)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, data)
		}
	}
	if len(seeds) < 50 {
		f.Fatalf("found %d seed scenarios, want the repository's (at least 50)", len(seeds))
	}
	return seeds
}
