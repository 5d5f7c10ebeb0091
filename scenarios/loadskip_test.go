package scenarios

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLoadAllSkipsOtherYAML: a YAML file of another tool found in a
// directory is left out and told to Skipped; the same file named, an
// empty file, a file that is not YAML, a list and a misspelt scenario
// are reported as mistakes.
func TestLoadAllSkipsOtherYAML(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"ok.yaml":             "name: ok\nsteps: [{flush: {}}]\n",
		"docker-compose.yaml": "name: lab\nservices:\n  web: {image: nginx}\nvolumes: {}\n",
		"k8s.yml":             "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Service\n",
		"ci.yml":              "# comment\non: push\n",
		"empty.yaml":          "",
		"list.yaml":           "- a\n- b\n",
		"broken.yaml":         "services: [\n",
		"misspelt.yaml":       "nmae: x\nstesp: [{flush: {}}]\n",
		"half.yaml":           "name: half\nhosts: {}\n",
	}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var skipped []string
	scs, err := LoadAllOptions(context.Background(), LoadOptions{Skipped: func(f string) { skipped = append(skipped, filepath.Base(f)) }}, dir)
	if want := []string{"ci.yml", "docker-compose.yaml", "k8s.yml"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %v, want %v", skipped, want)
	}
	if len(scs) != 1 || scs[0].Name != "ok" {
		t.Errorf("loaded %d scenarios, want ok", len(scs))
	}
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("error %v, want an ErrorList", err)
	}
	reported := map[string]bool{}
	for _, e := range l {
		reported[filepath.Base(e.File)] = true
	}
	for _, n := range []string{"empty.yaml", "list.yaml", "broken.yaml", "misspelt.yaml", "half.yaml"} {
		if !reported[n] {
			t.Errorf("%s not reported: %v", n, err)
		}
	}
	for _, n := range skipped {
		if reported[n] {
			t.Errorf("%s both skipped and reported", n)
		}
	}
	// Named, the compose file is a scenario with mistakes; LoadAll (no
	// Skipped) leaves it out of a directory all the same.
	if _, err := LoadAll(filepath.Join(dir, "docker-compose.yaml")); err == nil {
		t.Error("a named docker-compose.yaml loads without error")
	}
	if _, err := LoadAll(dir); err == nil || errors.As(err, &l) && slices.ContainsFunc(l, func(e *Error) bool { return filepath.Base(e.File) == "k8s.yml" }) {
		t.Errorf("LoadAll(dir) reports k8s.yml: %v", err)
	}
}
