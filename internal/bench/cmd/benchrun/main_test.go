package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/journal"
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
		{[]string{"-bin", "x", "-sink-subnet", "10.0.0.0/24"}, `-sink-subnet: "10.0.0.0/24": want a 127.A.B.0/24`},
		{[]string{"-bin", "x", "-sink-subnet", "127.78.0.0/16"}, `-sink-subnet: "127.78.0.0/16"`},
		{[]string{"-bin", "x", "-sink-subnet", "127.78.0.1"}, `-sink-subnet: "127.78.0.1"`},
		{[]string{"-bin", "x", "-sink-msgs", "0"}, "-sink-msgs"},
		{[]string{"-bin", "x", "-sink-sessions", "-1"}, "-sink-sessions"},
		{[]string{"-bin", "x", "-sink-hosts", "0"}, "-sink-hosts"},
		{[]string{"-bin", "x", "-sink-hosts", "100", "-sink-net-msgs", "99"}, "-sink-net-msgs at least -sink-hosts"},
		{[]string{"-bin", "x", "-only", "sinks"}, `unknown section "sinks"`},
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

func TestSourceArgs(t *testing.T) {
	got := strings.Join(sourceArgs(10, 2000, 1024, "rcpt@mxsim.bench.test", "127.0.0.1:2525", true), " ")
	want := "-s 10 -m 2000 -l 1024 -M source.bench.test -f bench@origin.test -t rcpt@mxsim.bench.test -d 127.0.0.1:2525"
	if got != want {
		t.Errorf("sourceArgs = %q, want %q", got, want)
	}
	if got := sourceArgs(1, 1, 1, "a@b.test", "ADDR", false); slices.Contains(got, "-d") || got[len(got)-1] != "ADDR" {
		t.Errorf("sourceArgs without reuse = %q", got)
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		total, parts int
		want         []int
	}{
		{20000, 100, nil},
		{10, 3, []int{4, 3, 3}},
		{2, 4, []int{1, 1, 0, 0}},
	} {
		got := split(c.total, c.parts)
		sum := 0
		for _, n := range got {
			sum += n
		}
		if len(got) != c.parts || sum != c.total || got[0]-got[len(got)-1] > 1 || (c.want != nil && !slices.Equal(got, c.want)) {
			t.Errorf("split(%d, %d) = %v", c.total, c.parts, got)
		}
	}
}

func TestWaitDeliveries(t *testing.T) {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindRelayDeliver}) // before the mark: not counted
	mark := int64(j.Len())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			if i == 2 {
				j.Append(journal.Event{Kind: journal.KindRelayDefer})
			}
			j.Append(journal.Event{Kind: journal.KindRelayLog})
			j.Append(journal.Event{Kind: journal.KindRelayDeliver})
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	delivered, failed, err := waitDeliveries(ctx, j, mark, 5)
	<-done
	if err != nil || delivered != 5 || failed != 1 {
		t.Fatalf("waitDeliveries = %d, %d, %v; want 5, 1, nil", delivered, failed, err)
	}
	// Fewer than asked: it gives up when ctx ends, with what it saw.
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	delivered, _, err = waitDeliveries(short, j, mark, 6)
	if !errors.Is(err, context.DeadlineExceeded) || delivered != 5 {
		t.Fatalf("waitDeliveries for 6 = %d, %v; want 5 and the deadline", delivered, err)
	}
}

func TestWaitDomains(t *testing.T) {
	j := journal.New()
	deliver := func(to string) {
		j.Append(journal.Event{Kind: journal.KindRelayDeliver, Message: &journal.Message{To: []string{to}}})
	}
	go func() {
		for range 3 {
			deliver("rcpt@sink.bench.test")
			deliver("RCPT@MXSIM.bench.test")
			deliver("rcpt@other.test")
			j.Append(journal.Event{Kind: journal.KindRelayDeliver}) // no message: not counted
		}
		j.Append(journal.Event{Kind: journal.KindRelayBounce})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at, failed, err := waitDomains(ctx, j, 0, 3, sinkDomain, mxsimDomain)
	if err != nil || len(at) != 2 || at[0].IsZero() || at[1].IsZero() || at[1].Before(at[0]) {
		t.Fatalf("waitDomains = %v, %d, %v", at, failed, err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, _, err := waitDomains(short, j, 0, 4, sinkDomain); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "[3]") {
		t.Fatalf("waitDomains for 4: %v; want the deadline, 3 delivered", err)
	}
}
