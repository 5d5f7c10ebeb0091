package repotest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// root returns the module root: the nearest directory upwards holding
// go.mod.
func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod in any parent directory")
		}
		dir = up
	}
}

// files returns the repository's files, slash-separated and relative to
// root: what git tracks plus new files it does not ignore, or, without git,
// every regular file outside .git directories.
func files(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err == nil {
		var list []string
		for name := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
			if name != "" {
				list = append(list, name)
			}
		}
		return list
	}
	t.Logf("git ls-files: %v; walking the directory instead", err)
	var list []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			list = append(list, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// outside are references to files that only the project's authors have,
// beside the repository: a user's clone has none of them, so the
// repository must say what it needs in its own docs (docs/architecture.md,
// docs/conformance.md). They are built from pieces so that this file does
// not match itself.
var outside = []string{
	".." + "/shared/",
	"shared/" + "DESIGN",
	"shared/" + "STYLE",
	"DESIGN" + ".md",
	"RELAY-" + "RULES",
	"STYLE" + ".md",
}

// TestNoReferenceOutsideTheRepository fails for every line of a repository
// file that refers to those files. .ci/ is left out: it prepares the
// machine a run happens on, not the project.
func TestNoReferenceOutsideTheRepository(t *testing.T) {
	root := root(t)
	list := files(t, root)
	if len(list) == 0 {
		t.Fatal("no files found")
	}
	checked := 0
	for _, name := range list {
		if strings.HasPrefix(name, ".ci/") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted from the work tree, not yet from the index
		}
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for i, line := range bytes.Split(data, []byte("\n")) {
			for _, ref := range outside {
				if bytes.Contains(line, []byte(ref)) {
					t.Errorf("%s:%d: refers to %q, which is not in the repository: say it in docs/ instead", name, i+1, ref)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d files checked: the file list looks wrong", checked)
	}
}
