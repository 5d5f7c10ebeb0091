package schemagen

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// module is the Go module whose packages the generator reads.
type module struct {
	path string // "github.com/mxsim/mxsim"
	dir  string // the directory holding go.mod
}

// findModule walks up from dir to the directory holding go.mod.
func findModule(dir string) (module, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return module{}, fmt.Errorf("find go.mod: %w", err)
	}
	for {
		f, err := os.Open(filepath.Join(d, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if p, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return module{path: strings.Trim(strings.TrimSpace(p), `"`), dir: d}, nil
				}
			}
			return module{}, fmt.Errorf("%s: no module line", filepath.Join(d, "go.mod"))
		}
		parent := filepath.Dir(d)
		if parent == d {
			return module{}, fmt.Errorf("find go.mod: none in %s or above", dir)
		}
		d = parent
	}
}

// dirOf returns the source directory of the package with import path
// pkg, or ok=false for a package outside the module.
func (m module) dirOf(pkg string) (string, bool) {
	if pkg == m.path {
		return m.dir, true
	}
	rel, ok := strings.CutPrefix(pkg, m.path+"/")
	if !ok {
		return "", false
	}
	return filepath.Join(m.dir, filepath.FromSlash(rel)), true
}

// pkgSource is what the generator reads from one package's source: the
// comments reflection cannot see and the unexported methods it cannot call.
type pkgSource struct {
	name  string // the package name, "scenarios"
	types map[string]*typeSource
}

// typeSource is the source of one named type.
type typeSource struct {
	doc     string
	fields  map[string]string // Go field name -> doc comment and line comment
	values  []constSource     // typed constants, in source order
	methods map[string]*ast.FuncDecl
}

// constSource is one typed constant: its value and its comment.
type constSource struct {
	name, value, doc string
}

// readPackage parses the non-test .go files of dir that build on this
// platform, with their comments.
func readPackage(dir string) (*pkgSource, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read package source: %w", err)
	}
	ps := &pkgSource{types: map[string]*typeSource{}}
	typ := func(name string) *typeSource {
		ts := ps.types[name]
		if ts == nil {
			ts = &typeSource{fields: map[string]string{}, methods: map[string]*ast.FuncDecl{}}
			ps.types[name] = ts
		}
		return ts
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := build.Default.MatchFile(dir, name); err != nil || !ok {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse package source: %w", err)
		}
		ps.name = f.Name.Name
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						ts := typ(s.Name.Name)
						ts.doc = text(s.Doc)
						if ts.doc == "" && len(d.Specs) == 1 {
							ts.doc = text(d.Doc)
						}
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, f := range st.Fields.List {
								doc := joinText(text(f.Doc), text(f.Comment))
								for _, n := range fieldNames(f) {
									ts.fields[n] = doc
								}
							}
						}
					case *ast.ValueSpec:
						if d.Tok != token.CONST {
							continue
						}
						for i, n := range s.Names {
							if i >= len(s.Values) {
								break
							}
							lit, ok := s.Values[i].(*ast.BasicLit)
							if !ok || lit.Kind != token.STRING {
								continue
							}
							v, err := strconv.Unquote(lit.Value)
							if err != nil {
								continue
							}
							if id, ok := s.Type.(*ast.Ident); ok {
								doc := strings.TrimSpace(joinText(text(s.Doc), text(s.Comment)))
								// "EvidenceHosts: only what…" documents the value, not the name.
								if rest, ok := strings.CutPrefix(doc, n.Name); ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, " ")) {
									doc = strings.TrimSpace(strings.TrimPrefix(rest, ":"))
								}
								ts := typ(id.Name)
								ts.values = append(ts.values, constSource{name: n.Name, value: v, doc: doc})
							}
						}
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) != 1 {
					continue
				}
				if recv := baseName(d.Recv.List[0].Type); recv != "" {
					typ(recv).methods[d.Name.Name] = d
				}
			}
		}
	}
	return ps, nil
}

// fieldNames returns the names a struct field declares; an embedded field
// is named by its type.
func fieldNames(f *ast.Field) []string {
	if len(f.Names) == 0 {
		if n := baseName(f.Type); n != "" {
			return []string{n}
		}
		return nil
	}
	var out []string
	for _, n := range f.Names {
		out = append(out, n.Name)
	}
	return out
}

// baseName returns the type name in T, *T or pkg.T.
func baseName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return baseName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.IndexExpr: // a generic receiver T[P]
		return baseName(t.X)
	}
	return ""
}

// text returns a comment's text with its lines joined into paragraphs:
// a schema description is read in a tooltip that wraps by itself.
func text(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	var paras []string
	for p := range strings.SplitSeq(strings.TrimSpace(cg.Text()), "\n\n") {
		paras = append(paras, strings.Join(strings.Fields(p), " "))
	}
	return strings.Join(paras, "\n\n")
}

func joinText(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}
