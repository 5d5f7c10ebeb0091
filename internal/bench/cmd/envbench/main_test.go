package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{},                            // no mode
		{"-mode", "fast"},             // unknown mode
		{"-mode", "start", "-n", "0"}, // bad count
		{"-mode", "scale", "extra"},   // positional argument
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (usage)", args, code)
		}
	}
}

// TestModes runs both modes small, over real sockets, and checks the
// figures are there; it asserts no timing.
func TestModes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-mode", "start", "-n", "3"}, &out, &errb); code != 0 {
		t.Fatalf("start mode = %d: %s", code, errb.String())
	}
	var st startResult
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.N != 3 || st.MedianNS <= 0 {
		t.Errorf("start mode output %q: %+v, %v", out.String(), st, err)
	}
	for _, args := range [][]string{
		{"-mode", "scale", "-domains", "30", "-hosts", "5", "-queries", "20"},
		{"-mode", "scale", "-domains", "30", "-hosts", "5", "-queries", "20", "-harness"},
	} {
		out.Reset()
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("%q = %d: %s", args, code, errb.String())
		}
		var sc scaleResult
		if err := json.Unmarshal(out.Bytes(), &sc); err != nil {
			t.Fatalf("%q: output %q: %v", args, out.String(), err)
		}
		if sc.Answered != 20 || sc.Hosts != 5 || sc.StartNS <= 0 || sc.RSS <= 0 {
			t.Errorf("%q: %+v, want 20 answered lookups and figures set", args, sc)
		}
	}
}
