package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{},                                // no -addr
		{"-addr", "127.0.0.1:0", "extra"}, // positional argument
		{"-nosuchflag"},                   // unknown flag
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (usage)", args, code)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-addr", "not-an-address"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not-an-address") {
		t.Errorf("run(bad addr) = %d, stderr %q; want 1 and the address named", code, errb.String())
	}
}
