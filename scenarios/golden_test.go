package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateGolden parses every testdata/validate/<case>/in.yaml and
// compares the error report with want.txt. Each case is a broken file; a
// case that loads without error fails.
func TestValidateGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "validate", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 15 {
		t.Fatalf("found %d golden cases, want at least 15", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, "in.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse("in.yaml", in)
			if err == nil {
				t.Fatalf("Parse succeeded (scenario %q), want errors", s.Name)
			}
			if s != nil {
				t.Errorf("Parse returned a scenario with an error")
			}
			var list ErrorList
			if !errors.As(err, &list) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %T is not an ErrorList matching ErrInvalid", err)
			}
			got := err.Error() + "\n"
			wantFile := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", wantFile, got, want)
			}
			for _, e := range list {
				if e.File != "in.yaml" || e.Line <= 0 || e.Col <= 0 || !strings.Contains(e.Source, "^") {
					t.Errorf("error without a full position: %+v", e)
				}
			}
		})
	}
}
