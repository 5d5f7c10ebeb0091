package bench

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	stop, err := StartCPUProfile(filepath.Join(dir, "cpu.prof"))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if err := WriteProfile(filepath.Join(dir, "heap.prof"), "heap"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cpu.prof", "heap.prof"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v, want a non-empty profile", name, err)
		}
	}
	if _, err := StartCPUProfile(filepath.Join(dir, "no", "such", "dir.prof")); err == nil {
		t.Error("StartCPUProfile into a missing directory succeeded")
	}
	noop, err := StartCPUProfile("")
	if err != nil {
		t.Fatal(err)
	}
	noop()
}
