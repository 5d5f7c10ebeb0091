package main

import (
	"bytes"
	"os/exec"
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
		{[]string{"-bin", "x", "-mta-runs", "0"}, "usage"},
		{[]string{"-bin", "x", "-mta-relays", "postfix,external"}, `-mta-relays: "external" is not a relay kind`},
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

func TestPlacements(t *testing.T) {
	if name, args := pinned("", "smtp-source", "-s", "20"); name != "smtp-source" || strings.Join(args, " ") != "-s 20" {
		t.Errorf("unpinned: %s %q", name, args)
	}
	if name, args := pinned("1", "smtp-sink", "ADDR"); name != "taskset" || strings.Join(args, " ") != "-c 1 smtp-sink ADDR" {
		t.Errorf("pinned: %s %q", name, args)
	}
	for _, c := range []struct {
		cpus int
		pin  bool
		want string
	}{
		{1, true, "shared cores"},
		{2, false, "shared cores"},
		{2, true, "shared cores, one core each (server 1, driver 0), shared cores, fakesmtp without event loop (MXSIM_FAKESMTP_LOOP=off)"},
	} {
		r := &runner{c: config{cpus: c.cpus, pin: c.pin}}
		var got []string
		for _, p := range r.placements() {
			s := p.name
			if p.server != "" {
				s += " (server " + p.server + ", driver " + p.driver + ")"
			}
			if p.env != "" {
				s += " (" + p.env + ")"
			}
			got = append(got, s)
		}
		if strings.Join(got, ", ") != c.want {
			t.Errorf("cpus %d pin %v: %q, want %q", c.cpus, c.pin, got, c.want)
		}
	}
}

func TestOrderAlternates(t *testing.T) {
	for i, want := range []string{"smtp-sink fakesmtp", "fakesmtp smtp-sink", "smtp-sink fakesmtp"} {
		if got := strings.Join(orderOf(i), " "); got != want {
			t.Errorf("run %d: %s, want %s", i, got, want)
		}
	}
}

func TestUnsupportedKind(t *testing.T) {
	err := exec.Command("sh", "-c", "exit 2").Run()
	if !unsupported(`mxsim conformance: -relay "exim": want reference, external, postfix`, err) {
		t.Error("exit 2 with \"want reference, external\" is an unsupported kind")
	}
	if unsupported("mxsim conformance: -p 0: want 1 or more", err) {
		t.Error("another usage error is not an unsupported kind")
	}
	if unsupported(`want reference, external`, exec.Command("sh", "-c", "exit 1").Run()) {
		t.Error("exit 1 is not an unsupported kind")
	}
}

func TestConformanceSummary(t *testing.T) {
	out := "PASS  MX-001 ...\n\n38 passed, 0 failed, 2 informational, 0 errors, in 10.6s\nnot conforming: MX-013\n"
	if got := reConformanceSummary.FindString(out); got != "38 passed, 0 failed, 2 informational, 0 errors, in 10.6s" {
		t.Errorf("summary = %q", got)
	}
}
