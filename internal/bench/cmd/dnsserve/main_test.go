package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-addr", "127.0.0.1:0", "-zone", "z"}, // no -origin
		{"-addr", "127.0.0.1:0", "-zone", "z", "-origin", "bench.test", "extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (usage)", args, code)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.zone")
	if err := os.WriteFile(bad, []byte("@ IN MX ten\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ zone, want string }{
		{filepath.Join(dir, "missing.zone"), "missing.zone"},
		{bad, "bad.zone"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"-addr", "127.0.0.1:0", "-zone", c.zone, "-origin", "bench.test"}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("run(zone %s) = %d, stderr %q; want 1 naming %s", c.zone, code, errb.String(), c.want)
		}
	}
}
