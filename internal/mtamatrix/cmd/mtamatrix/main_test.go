package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingNoteFails: the command writes the document, then exits 1
// naming the cell that has no note.
func TestMissingNoteFails(t *testing.T) {
	dir := t.TempDir()
	report := `{"results": [{"name": "t", "id": "MX-001", "level": "MUST", "relay": "testmta 1.0", "verdict": "fail", "reason": "no host was attempted", "started": "2026-01-01T00:00:00Z", "duration_ns": 1}]}`
	os.WriteFile(filepath.Join(dir, "testmta.json"), []byte(report), 0o644)
	os.WriteFile(filepath.Join(dir, "runs.tsv"), []byte("testmta\tadapter\t-\tran\t1.5\ttestmta.json\t\n"), 0o644)
	out := filepath.Join(dir, "matrix.md")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-manifest", filepath.Join(dir, "runs.tsv"), "-out", out}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `testmta MX-001: FAIL has no note in internal/mtamatrix/notes.md (add "## testmta MX-001")`) {
		t.Errorf("stderr does not name the cell:\n%s", stderr.String())
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "**no note yet**") {
		t.Errorf("document does not mark the cell:\n%s", doc)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-manifest", "x", "extra"}, {"-nosuch"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-manifest", filepath.Join(t.TempDir(), "none.tsv")}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "none.tsv") {
		t.Errorf("missing manifest: exit %d, stderr %q", code, stderr.String())
	}
}
