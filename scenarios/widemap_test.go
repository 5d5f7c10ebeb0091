package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
)

// dumpAST writes the tree under n, one node a line with its type, value
// and position, for comparing two parses.
type dumpAST struct{ b *strings.Builder }

func (v dumpAST) Visit(n ast.Node) ast.Visitor {
	if n == nil {
		v.b.WriteString(")\n")
		return nil
	}
	tk := n.GetToken()
	fmt.Fprintf(v.b, "(%s", n.Type())
	if tk != nil && tk.Position != nil {
		fmt.Fprintf(v.b, " %q %d:%d", tk.Value, tk.Position.Line, tk.Position.Column)
	}
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle {
		fmt.Fprintf(v.b, " block of %d", len(m.Values))
	}
	v.b.WriteByte('\n')
	return v
}

// parseBoth parses src the usual way and entry by entry (wideMapEntries
// 1), with batches of one and of three entries, and returns the trees (or
// the errors) as text.
func parseBoth(src []byte) (whole string, wide []string) {
	one := func() string {
		e := newErrs("in.yaml", src)
		body := parseDocument(e, src, "extra", "empty")
		var b strings.Builder
		if body != nil {
			ast.Walk(dumpAST{&b}, body)
		}
		b.WriteString(e.list.Error())
		return b.String()
	}
	whole = one()
	defer func(n, b int) { wideMapEntries, wideBatch = n, b }(wideMapEntries, wideBatch)
	wideMapEntries = 1
	for _, wideBatch = range []int{1, 3} {
		wide = append(wide, one())
	}
	return whole, wide
}

// TestWideMapAgrees parses every YAML file of the repository's scenarios,
// golden cases, library and conformance cases both ways: the trees, with
// every position, and the syntax errors are the same.
func TestWideMapAgrees(t *testing.T) {
	var paths []string
	for _, pattern := range []string{"../testdata/*/*.yaml", "../testdata/validate/*/in.yaml", "library/*.yaml", "conformance/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 100 {
		t.Fatalf("found %d YAML files, want at least 100", len(paths))
	}
	extra := map[string]string{
		"wide-top":       "a: 1\nb:\n  c: 2\n  d: [1,\n    2]\n  e: &x {f: 3}\n  g: *x\n  <<: *x\nh:\n- 1\n- i: 2\n  j: 3\n",
		"header":         "---\na: 1\nb: 2\n",
		"header-inline":  "--- {a: 1}\n",
		"two-docs":       "a: 1\n---\nb: 2\n",
		"bad-indent":     "a:\n  b: 1\n c: 2\n",
		"flow-at-level":  "a: {b: 1,\n}\nc: 2\n",
		"literal":        "a: |\n  x\n  y\nb: 2\n",
		"anchor-on-key":  "&k a: 1\nb: 2\n",
		"question-key":   "? a\n: 1\nb: 2\n",
		"comments":       "# c\na: 1 # c\n# c\nb:\n  # c\n  c: 2\n",
		"syntax-in-deep": "a:\n  b:\n    c: [1\n  d: 2\n",
		"empty-value":    "a:\nb:\n  c:\n  d: 1\n",
		"empty-deep":     "a:\n  b:\n    c:\nd: 1\n",
		"empty-in-list":  "a:\n  - b:\nc: 1\n",
		"empty-anchored": "a: &x\n  b:\nc: 1\n",
		"empty-at-end":   "a:\n  b:\n    c:\n",
		"list-of-empty":  "a:\n- b:\n- c: 1\nd: 2\n",
		"tag-below":      "a: !!str\n  x\nb:\n  !!map\n  c: 1\n",
		"plain-lines":    "a: b\n  c\nd:\n  e: f\n    g\n",
		"odd-keys":       "\"a\": 1\n'b':\n  1: x\n  true: y\n  null: z\n  1.5: w\n",
		"crlf":           "a: 1\r\nb:\r\n  c:\r\n  d: 2\r\n",
		"tabs":           "a:\n\tb: 1\n",
		"bad-in-entry":   "a:\n  b: 1\n  c: [2\n  d: 3\ne: 4\n",
		"key-after-list": "a:\n  - 1\n  b: 2\n",
		"deeper-sibling": "a:\n  b: 1\n    c: 2\n",
		"merge-at-level": "x: &x {m: 1}\ny:\n  <<: *x\n  n: 2\n",
	}
	extra["big"] = string(bigScenario(1500))
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		extra[p] = string(src)
	}
	for name, src := range extra {
		whole, wide := parseBoth([]byte(src))
		for i, w := range wide {
			if whole != w {
				t.Errorf("%s: the parses differ\n--- whole\n%s\n--- entry by entry, batch %d\n%s", name, whole, []int{1, 3}[i], w)
			}
		}
	}
}
