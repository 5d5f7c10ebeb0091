package repotest

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// module is this repository's module path.
const module = "github.com/mxsim/mxsim"

// TestLayers checks that the folder tree reads as the dependency order
// (docs/architecture.md): journal at the bottom, the fakes and the
// reference relay on it, the harness above them, the CLI on top. A package
// may only import packages of its own layer or below, so nothing below
// harness/ imports anything under it.
func TestLayers(t *testing.T) {
	// The layers, bottom up; a package belongs to the first prefix it has.
	layers := [][]string{
		{"journal"},
		{"fakedns", "fakesmtp", "scenarios", "internal/relay", "harness/report", "internal/metrics"},
		{"harness", "internal/mtaimage", "internal/mtactr", "internal/bench", "internal/mtamatrix"},
		{"cmd", "internal/repotest"},
	}
	layerOf := func(pkg string) (int, bool) {
		rel, ok := strings.CutPrefix(pkg, module+"/")
		if !ok {
			return 0, false
		}
		for i, l := range layers {
			for _, p := range l {
				if rel == p || strings.HasPrefix(rel, p+"/") {
					return i, true
				}
			}
		}
		return 0, false
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if errors.Is(err, exec.ErrNotFound) {
		t.Skipf("go list: %v (needs the go command)", err)
	}
	if err != nil {
		t.Fatalf("go list: %v", err) // an import cycle, for one
	}
	checked := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		from, ok := layerOf(pkg)
		if !ok {
			t.Errorf("package %s is in no layer of this test: add it where it belongs", pkg)
			continue
		}
		for _, imp := range imports {
			to, ok := layerOf(imp)
			if !ok {
				continue // the standard library or another module
			}
			checked++
			rel := strings.TrimPrefix(imp, module+"/")
			if to > from {
				t.Errorf("%s imports %s, which sits above it", strings.TrimPrefix(pkg, module+"/"), rel)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no import between the repository's packages was checked")
	}
}
