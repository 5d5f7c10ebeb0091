package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "usage"},
		{[]string{"-bin", "x", "-runs", "0"}, "usage"},
		{[]string{"-bin", "x", "-only", "smtp,nosuch"}, `unknown section "nosuch"`},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

func TestLastLine(t *testing.T) {
	if got := lastLine("noise\n{\"a\":1}\n"); got != `{"a":1}` {
		t.Errorf("lastLine = %q", got)
	}
}
