package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONRaw: run and conformance leave the bytes of the messages out of
// the JSON report (their size and SHA-256 kept) unless -json-raw; a bad
// value of the flag is a usage error naming it.
func TestJSONRaw(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join("..", "..", "testdata", "scenarios", "mx-priority.yaml")
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"run", []string{"run", sc}},
		{"conformance", []string{"conformance", "-cases", "MX-006"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			small, full := filepath.Join(dir, c.name+".json"), filepath.Join(dir, c.name+"-raw.json")
			for _, args := range [][]string{
				append([]string{c.args[0], "-json", small}, c.args[1:]...),
				append([]string{c.args[0], "-json-raw", "-json", full}, c.args[1:]...),
			} {
				if code, stdout, stderr := runCLI(t, args...); code != 0 {
					t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
				}
			}
			s, f := read(small), read(full)
			if strings.Contains(s, `"raw": "`) || !strings.Contains(s, `"raw_omitted": true`) || !strings.Contains(s, `"raw_sha256": "`) {
				t.Errorf("default JSON report: message bytes in it, or not said to be left out")
			}
			if !strings.Contains(f, `"raw": "`) || strings.Contains(f, "raw_omitted") {
				t.Errorf("-json-raw: no message bytes in the JSON report")
			}
			if len(s) >= len(f) {
				t.Errorf("default JSON %d bytes, with -json-raw %d", len(s), len(f))
			}
		})
	}
	code, _, stderr := runCLI(t, "run", "-json-raw=maybe", "-json", filepath.Join(dir, "x.json"), sc)
	if code != 2 || !strings.Contains(stderr, "-json-raw") {
		t.Errorf("-json-raw=maybe: exit %d, stderr %q; want 2 and the flag named", code, stderr)
	}
}
