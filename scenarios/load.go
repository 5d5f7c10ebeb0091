package scenarios

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/scanner"
	"github.com/goccy/go-yaml/token"
)

//go:generate go run ./internal/schemagen/cmd/schemagen schema.json

// schemaJSON is written by go generate from the types the decoder fills and
// their doc comments (internal/schemagen); TestSchemaGenerated fails when
// it is stale.
//
//go:embed schema.json
var schemaJSON []byte

//go:embed library/*.yaml
var library embed.FS

//go:embed conformance/*.yaml
var conformanceFS embed.FS

// Schema returns the JSON Schema (draft 2020-12) of the scenario format.
// `mxsim schema` prints it; editors use it to complete and check files.
func Schema() []byte { return slices.Clone(schemaJSON) }

// Library returns the built-in scenarios: YAML files at the root of the
// returned file system. Load them with Load or LoadFS.
func Library() fs.FS {
	sub, err := fs.Sub(library, "library")
	if err != nil {
		// fs.Sub fails only on an invalid path; "library" is valid.
		panic(err)
	}
	return sub
}

// Parse reads one scenario from data. filename is used in messages and
// kept in Scenario.File. The YAML is decoded strictly (unknown keys, wrong
// types, duplicates and bad values are errors), then validated; every
// mistake is reported at once in an ErrorList sorted by position.
func Parse(filename string, data []byte) (*Scenario, error) {
	return parse(context.Background(), filename, data)
}

// parse is Parse that gives up when ctx is done, between the top-level
// sections of a large file and between the steps of loading; it then
// returns ctx's error rather than an ErrorList.
func parse(ctx context.Context, filename string, data []byte) (*Scenario, error) {
	e := newErrs(filename, data)
	s := &Scenario{File: filename, positions: map[any]Pos{}}
	body, err := parseDocumentContext(ctx, e, data, "one scenario per file", "empty file: a scenario needs at least name and steps")
	if err != nil {
		return nil, err
	}
	if body == nil {
		return nil, e.list
	}
	d := newDecoder(e, s.positions)
	d.ctx = ctx
	d.decode(body, reflect.ValueOf(s).Elem(), checks{}, "scenario")
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.File = filename
	s.validate(ctx, e)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(e.list) > 0 {
		sortErrors(e.list)
		return nil, e.list
	}
	s.applyDefaults()
	return s, nil
}

// parseDocument parses data into a YAML AST and returns the body of its
// first document, or nil. A syntax error, no document (message empty) and
// a second document (message extra) are recorded; the first document is
// still returned in the last case, so that its mistakes are found too.
func parseDocument(e *errs, data []byte, extra, empty string) ast.Node {
	body, _ := parseDocumentContext(context.Background(), e, data, extra, empty)
	return body
}

// parseDocumentContext is parseDocument that gives up when ctx is done
// before the parse is, returning ctx's error.
func parseDocumentContext(ctx context.Context, e *errs, data []byte, extra, empty string) (ast.Node, error) {
	text, enc := decodeSource(data)
	if enc != "" {
		e.at(Pos{Line: 1, Col: 1}, "file is %s; save it as UTF-8", enc)
		return nil, nil
	}
	if !utf8.ValidString(text) {
		i := invalidUTF8(text)
		line := 1 + strings.Count(text[:i], "\n")
		col := 1 + utf8.RuneCountInString(text[strings.LastIndexByte(text[:i], '\n')+1:i])
		e.at(Pos{Line: line, Col: col}, "byte 0x%02x is not UTF-8: the file is in another encoding (Latin-1? Windows-1252?); save it as UTF-8", text[i])
		return nil, nil
	}
	tokens, err := tokenize(ctx, text)
	if err != nil {
		return nil, err
	}
	body, wide, err := parseWide(ctx, tokens)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	var f *ast.File
	if !wide {
		f, err = parser.Parse(tokens, 0, parseOpts...)
	}
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			p := Pos{}
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				p = Pos{Line: tk.Position.Line, Col: tk.Position.Column}
			}
			e.at(p, "yaml: %s", ye.GetMessage())
		} else {
			e.at(Pos{}, "yaml: %v", err)
		}
		return nil, nil
	}
	if f != nil {
		for i, doc := range f.Docs {
			if doc == nil || doc.Body == nil {
				continue
			}
			if _, isComment := doc.Body.(*ast.CommentGroupNode); isComment {
				continue
			}
			if body != nil {
				e.at(posOf(doc.Body), "%s: document %d is extra", extra, i+1)
				break
			}
			body = doc.Body
		}
	}
	if body == nil {
		e.at(Pos{Line: 1, Col: 1}, "%s", empty)
	}
	return body, nil
}

// tokenize is goccy/go-yaml's lexer.Tokenize that gives up when ctx is
// done: a file of megabytes takes seconds to scan.
func tokenize(ctx context.Context, text string) (token.Tokens, error) {
	var sc scanner.Scanner
	sc.Init(text)
	var tokens token.Tokens
	for i := 0; ; i++ {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		more, err := sc.Scan()
		if err == io.EOF {
			return tokens, nil
		}
		tokens.Add(more...)
	}
}

// decodeSource returns the text of a scenario file: UTF-8, without the
// byte-order mark that some editors write first (legal, and invisible in
// them, so taken silently: positions are counted without it). A file in
// UTF-16 or UTF-32 (by its byte-order mark, or by the zero bytes of its
// first character, YAML 1.2 §5.2) is named in enc, and its text decoded
// only for showing its first line in the error.
func decodeSource(data []byte) (text, enc string) {
	has := func(p ...byte) bool { return bytes.HasPrefix(data, p) }
	switch {
	case has(0xEF, 0xBB, 0xBF):
		return string(data[3:]), ""
	case has(0, 0, 0xFE, 0xFF), len(data) >= 4 && has(0, 0, 0) && data[3] != 0:
		return decodeWide(data, 4, binary.BigEndian), "UTF-32"
	case has(0xFF, 0xFE, 0, 0), len(data) >= 4 && data[0] != 0 && data[1] == 0 && data[2] == 0 && data[3] == 0:
		return decodeWide(data, 4, binary.LittleEndian), "UTF-32"
	case has(0xFE, 0xFF), len(data) >= 2 && data[0] == 0 && data[1] != 0:
		return decodeWide(data, 2, binary.BigEndian), "UTF-16"
	case has(0xFF, 0xFE), len(data) >= 2 && data[0] != 0 && data[1] == 0:
		return decodeWide(data, 2, binary.LittleEndian), "UTF-16"
	}
	return string(data), ""
}

// decodeWide decodes UTF-16 (size 2) or UTF-32 (size 4) text, dropping a
// byte-order mark.
func decodeWide(data []byte, size int, order binary.ByteOrder) string {
	var units []uint16
	var b strings.Builder
	for i := 0; i+size <= len(data); i += size {
		if size == 4 {
			b.WriteRune(rune(order.Uint32(data[i:])))
		} else {
			units = append(units, order.Uint16(data[i:]))
		}
	}
	if size == 2 {
		b.WriteString(string(utf16.Decode(units)))
	}
	return strings.TrimPrefix(b.String(), "\uFEFF")
}

// invalidUTF8 returns the offset of the first byte of s that is not UTF-8.
func invalidUTF8(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return len(s)
}

// sortErrors orders errors by file, then position; stable, so errors at
// one position keep the order they were found in.
func sortErrors(l ErrorList) {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// Load reads and parses the scenario at path in fsys.
func Load(fsys fs.FS, path string) (*Scenario, error) {
	data, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("read scenario: %v", unwrapPath(err)), Err: err}}
	}
	return Parse(path, data)
}

// LoadFile reads and parses the scenario file at path.
func LoadFile(path string) (*Scenario, error) {
	return loadFile(context.Background(), path)
}

func loadFile(ctx context.Context, path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("read scenario: %v", unwrapPath(err)), Err: err}}
	}
	return parse(ctx, path, data)
}

// unwrapPath drops the path a *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// isScenarioFile reports whether name has a YAML extension.
func isScenarioFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// LoadAll loads scenario files and directories (every *.yaml and *.yml
// below them, in lexical order). It returns the scenarios that loaded and
// every mistake of every file at once, including a scenario name used
// twice. A YAML file found in a directory that is not a scenario at all
// (see LoadOptions.Skipped) is left out.
func LoadAll(paths ...string) ([]*Scenario, error) {
	return LoadAllContext(context.Background(), paths...)
}

// LoadAllContext is LoadAll that stops when ctx is done (an interrupted
// `mxsim validate`): it checks ctx between files and, in a large file,
// between top-level sections and along long lists. It then returns no
// scenario and an error that wraps ctx's and names the file it stopped in.
func LoadAllContext(ctx context.Context, paths ...string) ([]*Scenario, error) {
	return LoadAllOptions(ctx, LoadOptions{}, paths...)
}

// LoadOptions change what LoadAllOptions does.
type LoadOptions struct {
	// Skipped, when set, is told of each YAML file found in a directory
	// that is left out because it is not a scenario: it does not load,
	// and none of its top-level keys is a scenario's (other than name and
	// description) or close to one: a docker-compose.yaml next to the
	// scenarios. A file named in
	// paths is never left out: its mistakes are reported.
	Skipped func(file string)
}

// LoadAllOptions is LoadAllContext with options.
func LoadAllOptions(ctx context.Context, opts LoadOptions, paths ...string) ([]*Scenario, error) {
	stopped := func(at string) error {
		return fmt.Errorf("scenarios: load stopped at %s: %w", at, ctx.Err())
	}
	var files []string
	found := map[string]bool{} // files found in a directory, not named
	var all ErrorList
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			all = append(all, &Error{File: p, Msg: fmt.Sprintf("load scenarios: %v", unwrapPath(err)), Err: err})
			continue
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, de fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return fs.SkipAll
			}
			if err != nil {
				all = append(all, &Error{File: path, Msg: fmt.Sprintf("load scenarios: %v", unwrapPath(err)), Err: err})
				return nil
			}
			if !de.IsDir() && isScenarioFile(path) {
				files = append(files, path)
				found[path] = true
			}
			return nil
		})
		if err != nil {
			all = append(all, &Error{File: p, Msg: fmt.Sprintf("load scenarios: %v", err)})
		}
	}
	var out []*Scenario
	names := map[string]*Scenario{}
	ids := map[string]*Scenario{} // conformance case IDs
	if ctx.Err() != nil {
		return nil, stopped(strings.Join(paths, " "))
	}
	for _, f := range files {
		if ctx.Err() != nil {
			return nil, stopped(f)
		}
		s, err := loadFile(ctx, f)
		if ctx.Err() != nil {
			return nil, stopped(f)
		}
		if err != nil && found[f] && notScenario(f) {
			if opts.Skipped != nil {
				opts.Skipped(f)
			}
			continue
		}
		if err != nil {
			var l ErrorList
			if errors.As(err, &l) {
				all = append(all, l...)
			} else {
				all = append(all, &Error{File: f, Msg: err.Error()})
			}
			continue
		}
		if first, dup := names[s.Name]; dup {
			data, _ := os.ReadFile(f)
			e := newErrs(f, data)
			e.at(s.PosOf(&s.Name), "duplicate scenario name %q (first in %s:%s)", s.Name, first.File, first.PosOf(&first.Name))
			all = append(all, e.list...)
			continue
		}
		if c := s.Conformance; c != nil {
			if first, dup := ids[c.ID]; dup {
				data, _ := os.ReadFile(f)
				e := newErrs(f, data)
				e.at(s.PosOf(&c.ID), "%v %q (first in %s:%s)", ErrDuplicateID, c.ID, first.File, first.PosOf(&first.Conformance.ID))
				all = append(all, e.list...)
				continue
			}
			ids[c.ID] = s
		}
		names[s.Name] = s
		out = append(out, s)
	}
	if len(all) > 0 {
		return out, all
	}
	return out, nil
}

// scenarioKeys are the top-level keys that make a file a scenario: all
// but name and description, which other YAML formats have too (a
// docker-compose.yaml may have a name).
var scenarioKeys = slices.DeleteFunc(keysOf(reflect.TypeFor[Scenario]()), func(k string) bool {
	return k == "name" || k == "description"
})

// nearKey reports whether k is sk or could be sk misspelt: one edit
// away, two for words of five letters or more ("stesp" is steps, "on"
// is not dns).
func nearKey(k, sk string) bool {
	d := distance(strings.ToLower(k), sk)
	return d <= 1 || d == 2 && len(k) >= 5 && len(sk) >= 5
}

// notScenario reports whether the file at path is YAML that is not a
// scenario: every document a mapping, and none of their keys a scenario
// key (scenarioKeys) or close to one (a scenario with a misspelt key is
// still one). A file that cannot be read or parsed, or is empty, is not
// told apart.
func notScenario(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	f, err := parser.ParseBytes(data, 0, parseOpts...)
	if err != nil {
		return false
	}
	keys := 0
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		var values []*ast.MappingValueNode
		switch t := doc.Body.(type) {
		case *ast.CommentGroupNode:
			continue
		case *ast.MappingNode:
			values = t.Values
		case *ast.MappingValueNode:
			values = []*ast.MappingValueNode{t}
		default:
			return false
		}
		for _, mv := range values {
			if mv.Key == nil || mv.Key.GetToken() == nil {
				return false
			}
			k := mv.Key.GetToken().Value
			if slices.ContainsFunc(scenarioKeys, func(sk string) bool { return nearKey(k, sk) }) {
				return false
			}
			keys++
		}
	}
	return keys > 0
}
