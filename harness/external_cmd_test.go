//go:build unix

package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// killPidFile kills the process whose id a command wrote to path.
func killPidFile(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("pid file: %v", err)
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestExternalFlushLeavesDaemon: a flush command that leaves a process
// running with its output open (a daemon restarted) returns when its
// shell does, and the process is left running.
func TestExternalFlushLeavesDaemon(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	x := External(ExternalConfig{Submit: "127.0.0.1:1", CmdTimeout: 20 * time.Second,
		FlushCmd: "sleep 30 & echo $! > " + pidFile + "; echo started"})
	defer killPidFile(t, pidFile)
	start := time.Now()
	if err := x.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Flush took %v: it waited for the background process", d)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 || !alive(pid) {
		t.Errorf("background process %q not running after the flush", b)
	}
}

// TestExternalFlushTimesOut: a flush command that hangs is killed at the
// timeout, with the processes of its group, and its error says so.
func TestExternalFlushTimesOut(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	x := External(ExternalConfig{Submit: "127.0.0.1:1", CmdTimeout: 300 * time.Millisecond,
		FlushCmd: "echo waiting >&2; sleep 30 & echo $! > " + pidFile + "; wait"})
	defer killPidFile(t, pidFile)
	err := x.Flush(context.Background())
	if !errors.Is(err, ErrCommand) || !strings.Contains(err.Error(), "flush command") || !strings.Contains(err.Error(), "timed out after 300ms") || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("Flush: %v, want a timeout naming the command and its stderr", err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d of the command's group still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether process pid runs: it exists and is not a zombie
// waiting for a parent to reap it.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: trust kill
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

const flushOnly = "name: flush-only\nrelay: {kind: external, submit: \"127.0.0.1:1\"}\nsteps:\n  - flush: {}\n"

func parseScenario(t *testing.T, src string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestExternalFlushFailureIsError: a flush command that fails makes its
// scenario an error, not a failure of the relay, with what it wrote to
// stderr.
func TestExternalFlushFailureIsError(t *testing.T) {
	sc := parseScenario(t, flushOnly)
	res := Run(context.Background(), sc, RunOptions{Relay: External(ExternalConfig{Submit: "127.0.0.1:1",
		FlushCmd: "echo to stdout; echo queue locked >&2; exit 3"})})
	if res.Verdict != report.Error || !strings.HasSuffix(res.Reason, "exit status 3: queue locked") {
		t.Errorf("%s %q: want an error with the command's stderr and exit status", res.Verdict, res.Reason)
	}
}

// TestExternalResetBeforeEachScenario: the reset command runs once before
// each scenario and each conformance case; one that fails makes the
// scenario an error, with its stderr.
func TestExternalResetBeforeEachScenario(t *testing.T) {
	count := filepath.Join(t.TempDir(), "resets")
	cfg := ExternalConfig{Submit: "127.0.0.1:1", FlushCmd: "true", ResetCmd: "echo reset >> " + count}
	sc := parseScenario(t, flushOnly)
	for range 2 {
		if res := Run(context.Background(), sc, RunOptions{Relay: External(cfg)}); res.Verdict != report.Pass {
			t.Fatalf("%s %q", res.Verdict, res.Reason)
		}
	}
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cases, err = scenarios.SelectCases(cases, "MX-004", "RETRY-006"); err != nil {
		t.Fatal(err)
	}
	res := Conformance(context.Background(), cases, Profile{}, ConformanceOptions{
		Relay: func(*scenarios.Scenario) (Relay, error) { return External(cfg), nil },
	})
	ran := 0
	for _, r := range res {
		if r.Verdict != report.NotApplicable {
			ran++
		}
	}
	b, _ := os.ReadFile(count)
	if got := strings.Count(string(b), "reset\n"); got != 2+ran || ran != 2 {
		t.Errorf("%d resets for 2 scenarios and %d cases run, want %d", got, ran, 2+ran)
	}

	cfg.ResetCmd = "echo spool busy >&2; false"
	res1 := Run(context.Background(), sc, RunOptions{Relay: External(cfg)})
	if res1.Verdict != report.Error || !strings.Contains(res1.Reason, "reset command") || !strings.Contains(res1.Reason, "spool busy") {
		t.Errorf("failing reset: %s %q, want an error with its stderr", res1.Verdict, res1.Reason)
	}
}

// misconfigured is a relay started on a network other than the one the
// harness gives it, that reports nothing (like an external relay set up
// wrong).
type misconfigured struct {
	Relay
	change func(*Network)
}

func (m misconfigured) Start(ctx context.Context, n Network) error {
	n.Journal = journal.New() // its reports go nowhere the checks read
	m.change(&n)
	return m.Relay.Start(ctx, n)
}

const oneDelivery = `name: one
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test}, within: 2s}
`

// TestNoHostAttemptedSaysWhy: a relay that reaches no host is told apart
// by what the simulated DNS saw: one resolving elsewhere asked it
// nothing; one connecting to another port asked about the domain, and the
// failure names the hosts' port.
func TestNoHostAttemptedSaysWhy(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Network)
		want   []string
	}{
		{"wrong DNS", func(n *Network) { n.DNSAddr = "127.0.0.1:1" }, []string{
			"no host was attempted: the relay asked the simulated DNS nothing", "; the simulated DNS is at 127.",
		}},
		{"wrong port", func(n *Network) { n.SMTPPort = 1 }, []string{
			"no host was attempted: the relay asked the simulated DNS about example.test (MX example.test.",
			"but no host saw a connection from it; the hosts listen on port ",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := parseScenario(t, oneDelivery)
			rl := misconfigured{Relay: Reference(referenceConfig(sc.Relay)), change: c.change}
			res := Run(context.Background(), sc, RunOptions{Relay: rl})
			if res.Verdict != report.Fail {
				t.Fatalf("%s %q, want a failure", res.Verdict, res.Reason)
			}
			for _, w := range c.want {
				if !strings.Contains(res.Reason, w) {
					t.Errorf("reason %q lacks %q", res.Reason, w)
				}
			}
		})
	}
}

// TestAttemptSummaryTLSFailed: hosts that saw the relay but took no
// message name the handshake that failed.
func TestAttemptSummaryTLSFailed(t *testing.T) {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindDNSQuery, Source: "dns", Text: "MX example.test. → NOERROR (1)", DNS: &journal.DNS{Name: "example.test.", Type: "MX"}})
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx1.example.test", Text: "connect from 127.0.0.1:4000"})
	j.Append(journal.Event{Kind: journal.KindSMTPTLS, Source: "mx1.example.test", Text: "TLS handshake failed (cert expired)", Err: "remote error: tls: bad certificate"})
	got := attemptSummary(j, "bob@example.test")
	want := "hosts attempted [mx1.example.test], 0 message(s) accepted in all; mx1.example.test: TLS handshake failed (cert expired): remote error: tls: bad certificate"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
