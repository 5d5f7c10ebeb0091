package scenarios

import (
	"errors"
	"strings"
	"testing"
)

// TestClock: clock takes real or virtual (default: real, the empty
// value); a misspelt value and a virtual clock for a relay other than
// the reference relay are errors at the clock key's value.
func TestClock(t *testing.T) {
	s, err := Parse("virtual.yaml", []byte("name: ok\nclock: virtual\nsteps:\n  - wait: 10m\n"))
	if err != nil || s.Clock != ClockVirtual {
		t.Fatalf("clock: virtual: %v, %q", err, s.Clock)
	}
	if s, err := Parse("real.yaml", []byte(okScenario)); err != nil || s.Clock != "" {
		t.Fatalf("no clock: %v, %q, want the real time (empty)", err, s.Clock)
	}
	for _, tc := range []struct {
		name, src string
		line, col int
		want      string
	}{
		{"misspelt", "name: bad\nclock: virtul\nsteps:\n  - flush: {}\n", 2, 8, `"virtul"`},
		{"not a string", "name: bad\nclock: [virtual]\nsteps:\n  - flush: {}\n", 2, 8, "clock"},
		{"postfix", "name: bad\nclock: virtual\nrelay:\n  kind: postfix\nsteps:\n  - flush: {}\n", 2, 8, "clock: virtual needs the reference relay (relay kind postfix"},
		{"external", "name: bad\nclock: virtual\nrelay:\n  kind: external\n  submit: 127.0.0.1:2525\nsteps:\n  - flush: {}\n", 2, 8, "relay kind external"},
	} {
		_, err := Parse("clock.yaml", []byte(tc.src))
		var l ErrorList
		if !errors.As(err, &l) {
			t.Errorf("%s: %v, want an error list", tc.name, err)
			continue
		}
		found := false
		for _, e := range l {
			found = found || e.Line == tc.line && e.Col == tc.col && strings.Contains(e.Error(), tc.want)
		}
		if !found {
			t.Errorf("%s: %v, want an error at clock.yaml:%d:%d saying %q", tc.name, err, tc.line, tc.col, tc.want)
		}
	}
}
