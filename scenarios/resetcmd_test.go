package scenarios

import (
	"errors"
	"strings"
	"testing"
)

// TestResetCmd: reset_cmd is taken for relay kind external and refused,
// at its line and column, for any other kind.
func TestResetCmd(t *testing.T) {
	ok := "name: ok\nrelay:\n  kind: external\n  submit: 127.0.0.1:2525\n  reset_cmd: \"exim -bp | exiqgrep -i | xargs -r exim -Mrm\"\nsteps:\n  - flush: {}\n"
	s, err := Parse("ok.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if s.Relay.ResetCmd != "exim -bp | exiqgrep -i | xargs -r exim -Mrm" {
		t.Errorf("ResetCmd %q", s.Relay.ResetCmd)
	}
	for _, kind := range []string{"reference", "postfix"} {
		bad := "name: bad\nrelay:\n  kind: " + kind + "\n  reset_cmd: \"true\"\nsteps:\n  - flush: {}\n"
		_, err := Parse("bad.yaml", []byte(bad))
		var l ErrorList
		if !errors.As(err, &l) || len(l) != 1 || l[0].Line != 4 || l[0].Col != 14 || !strings.Contains(l[0].Msg, "reset_cmd is a setting of relay kind external, not "+kind) {
			t.Errorf("kind %s: %v, want one error at 4:14 naming reset_cmd", kind, err)
		}
	}
}
