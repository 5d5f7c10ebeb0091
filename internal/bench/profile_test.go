package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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

func TestParseProcStatCPU(t *testing.T) {
	// A command name with blanks and parentheses, utime 150 and stime 75 ticks.
	line := "4242 (sink (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 75 0 0 20 0 5 0 100 1000000 300\n"
	got, err := parseProcStatCPU(line)
	if err != nil || got != 2250*time.Millisecond {
		t.Errorf("parseProcStatCPU = %v, %v; want 2.25s", got, err)
	}
	for _, bad := range []string{"", "4242 sink S 1", "4242 (sink) S 1 2 3", "4242 (sink) S 1 4242 4242 0 -1 4194560 900 0 0 0 x 75 0"} {
		if _, err := parseProcStatCPU(bad); err == nil {
			t.Errorf("parseProcStatCPU(%q): no error", bad)
		}
	}
	// This process has used some CPU by now.
	if d, err := ProcessCPU(os.Getpid()); err != nil || d < 0 {
		t.Errorf("ProcessCPU(self) = %v, %v", d, err)
	}
}
