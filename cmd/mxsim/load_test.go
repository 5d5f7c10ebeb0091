package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/internal/relay"
	"github.com/mxsim/mxsim/journal"
)

// Every bad form of a flag of mxsim load is a usage error naming the
// flag, before anything starts.
func TestLoadFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("events:\n  - {at: 1s, for: 1s, kind: flood, hosts: [mx1.load.test]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknownHost := filepath.Join(dir, "host.yaml")
	if err := os.WriteFile(unknownHost, []byte("events:\n  - {at: 1s, for: 1s, kind: down, hosts: [mx99.load.test]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-metrics", "127.0.0.1"}, `-metrics "127.0.0.1": want host:port`},
		{[]string{"-metrics", "9464"}, `-metrics "9464": want host:port`},
		{[]string{"-metrics", ":9464"}, `-metrics ":9464": not a loopback address`},
		{[]string{"-metrics", "0.0.0.0:9464"}, `-metrics "0.0.0.0:9464": not a loopback address`},
		{[]string{"-metrics", "192.0.2.1:9464"}, `-metrics "192.0.2.1:9464": not a loopback address`},
		{[]string{"-metrics", "metrics.example:9464"}, `-metrics "metrics.example:9464": the host must be an IP address or localhost`},
		{[]string{"-metrics", "127.0.0.1:http-alt-nope"}, `-metrics "127.0.0.1:http-alt-nope": listen tcp`},
		{[]string{"-metrics", taken.Addr().String()}, fmt.Sprintf("-metrics %q: listen tcp %s: bind: address already in use", taken.Addr(), taken.Addr())},
		{[]string{"-rate", "0"}, "-rate: want messages per second above 0"},
		{[]string{"-rate", "fast"}, "-rate: want messages per second above 0"},
		{[]string{"-rate", "-5"}, "-rate: want messages per second above 0"},
		{[]string{"-messages", "-5"}, "-messages: want a whole number, 1 or more"},
		{[]string{"-messages", "0"}, "-messages: want a whole number, 1 or more"},
		{[]string{"-c", "0"}, "-c: want a whole number, 1 or more"},
		{[]string{"-per-session", "-1"}, "-per-session: want a whole number, 1 or more"},
		{[]string{"-rcpts", "0"}, "-rcpts: want a whole number, 1 or more"},
		{[]string{"-domains", "-1"}, "-domains: want a whole number, 1 or more"},
		{[]string{"-hosts", "x"}, "-hosts: want a whole number, 1 or more"},
		{[]string{"-null-mx", "2"}, "-null-mx: want a share from 0 to 1"},
		{[]string{"-nxdomain", "-0.1"}, "-nxdomain: want a share from 0 to 1"},
		{[]string{"-null-mx", "0.6", "-nxdomain", "0.6"}, "-null-mx and -nxdomain: together more than all the domains"},
		{[]string{"-size", "5-1"}, "-size: want a size in bytes"},
		{[]string{"-size", "big"}, "-size: want a size in bytes"},
		{[]string{"-seed", "-1"}, "-seed: want a whole number, 0 or more"},
		{[]string{"-duration", "-1s"}, "-duration: want a positive duration"},
		{[]string{"-drain", "0s"}, "-drain: want a positive duration"},
		{[]string{"-retry-interval", "soon"}, "-retry-interval: want a positive duration"},
		{[]string{"-duration", "10s", "-messages", "5"}, "-messages and -duration: give one of them"},
		{[]string{"-chaos", "hurricane"}, `-chaos: "hurricane": want none, flaky, storm, or a YAML file`},
		{[]string{"-chaos", bad}, bad + `:2:29: events[0].kind "flood"`},
		{[]string{"-chaos", unknownHost, "-print-chaos"}, unknownHost + ":2:5: events[0].hosts: no host mx99.load.test"},
		{[]string{"-variant", "nope"}, `-variant "nope": no such variant`},
		{[]string{"-variant", "resends-accepted", "-relay", "external", "-submit", "127.0.0.1:1"}, "-variant goes with the reference relay"},
		{[]string{"-scenario", "x.yaml", "-domains", "5"}, "-domains describes a generated network, not -scenario"},
		{[]string{"-scenario", filepath.Join(dir, "missing.yaml")}, "-scenario:"},
		{[]string{"-json", "-", "-html", "-"}, "only one report can go to stdout"},
		{[]string{"-relay", "external"}, "-relay external needs -submit"},
		{[]string{"-relay", "sendmail"}, `-relay "sendmail"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"load"}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("mxsim load %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
		if strings.Contains(stdout, "mxsim load PASS") || strings.Contains(stdout, "mxsim load FAIL") || strings.Contains(stdout+stderr, "metrics: http") {
			t.Errorf("mxsim load %q ran: %s", c.args, stdout)
		}
	}
}

// The same seed prints the same chaos schedule; another seed another.
func TestLoadPrintChaosSameSeed(t *testing.T) {
	out := func(seed string) string {
		code, stdout, stderr := runCLI(t, "load", "-messages", "100000", "-chaos", "flaky", "-seed", seed, "-print-chaos")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		return stdout
	}
	a, b, c := out("1"), out("1"), out("2")
	if a != b || a == c || !strings.Contains(a, "chaos flaky (seed 1)") || strings.Count(a, "\n") < 6 {
		t.Errorf("seed 1 twice:\n%s\n%s\nseed 2:\n%s", a, b, c)
	}
}

// A small run against the reference relay with the flaky schedule: 0
// lost, 0 duplicated, both reports written.
func TestLoadReferenceFlaky(t *testing.T) {
	dir := t.TempDir()
	js, page := filepath.Join(dir, "load.json"), filepath.Join(dir, "load.html")
	code, stdout, stderr := runCLI(t, "load", "-messages", "400", "-rate", "400", "-domains", "30", "-hosts", "6",
		"-null-mx", "0.05", "-nxdomain", "0.05", "-chaos", "flaky", "-seed", "3", "-json", js, "-html", page)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"mxsim load PASS", "0 lost, 0 duplicated", "latency", "per message", "preference", "report written: " + js} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "submitted 400/400") {
		t.Errorf("no progress line on stderr:\n%s", stderr)
	}
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Accepted   int   `json:"accepted"`
		Delivered  int   `json:"delivered"`
		Bounced    int   `json:"bounced"`
		Lost       []any `json:"lost"`
		Duplicated []any `json:"duplicated"`
		Chaos      struct {
			Events []any `json:"events"`
		} `json:"chaos"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 400 || res.Delivered+res.Bounced != 800 || len(res.Lost)+len(res.Duplicated) != 0 || len(res.Chaos.Events) == 0 {
		t.Errorf("JSON: %+v", res)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(html), "<svg"); n != 3 || !strings.Contains(string(html), `class="chaos"`) {
		t.Errorf("HTML report has %d charts, or no chaos shading", n)
	}
}

// The planted bug resends-accepted is caught: exit 1, the duplicates
// listed with their evidence.
func TestLoadCatchesResendsAccepted(t *testing.T) {
	var hosts []string
	for i := 1; i <= 4; i++ {
		hosts = append(hosts, fmt.Sprintf("mx%d.load.test", i))
	}
	sched := filepath.Join(t.TempDir(), "rcpt451.yaml")
	yaml := fmt.Sprintf("events:\n  - {at: 0s, for: 500ms, kind: reply, hosts: [%s], stage: rcpt, reply: \"451 4.3.0 later\", match: \"*r1@*\"}\n", strings.Join(hosts, ", "))
	if err := os.WriteFile(sched, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "load", "-variant", "resends-accepted", "-messages", "200", "-rate", "200",
		"-domains", "20", "-hosts", "4", "-null-mx", "0", "-nxdomain", "0", "-chaos", sched)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFail, stdout, stderr)
	}
	for _, want := range []string{"mxsim load FAIL", "relay reference (variant resends-accepted)", "\nduplicated (", "delivered 2 times", "client.submit: accepted", "smtp.message at mx"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
}

// Against an external relay (the reference relay on its own, which
// journals nothing into the run's network and cannot list its queue):
// deliveries are judged at the hosts, bounces from the DSNs that reach
// the sender's host.
func TestLoadExternalRelay(t *testing.T) {
	// Fixed addresses in this test's own /24 (127.77.0.0/24): DNS on .53,
	// the hosts in the next /24 (Plan.ForCase).
	dnsPort := freeTCPPort(t, "127.77.0.53")
	smtpPort := freeTCPPort(t, "127.77.1.10")
	r, err := relay.Start(relay.Config{Listen: "127.0.0.1:0", DNS: fmt.Sprintf("127.77.0.53:%d", dnsPort), Port: smtpPort,
		RetryInterval: 500 * time.Millisecond, MaxLifetime: time.Hour, Journal: journal.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	code, stdout, stderr := runCLI(t, "load", "-relay", "external", "-submit", r.Addr(),
		"-dns-addr", fmt.Sprintf("127.77.0.53:%d", dnsPort), "-smtp-port", strconv.Itoa(smtpPort),
		"-messages", "150", "-rate", "150", "-domains", "20", "-hosts", "4", "-null-mx", "0.1", "-nxdomain", "0.1", "-drain", "20s")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "relay external "+r.Addr()) || !strings.Contains(stdout, "attempts not reported by this relay") {
		t.Errorf("summary:\n%s", stdout)
	}
	if strings.Contains(stdout, " 0 bounced (5yz)") {
		t.Errorf("no bounce seen through the DSNs:\n%s", stdout)
	}
}

func freeTCPPort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A scenario file's network: its zones and hosts (mx1 down), not its steps.
func TestLoadScenarioNetwork(t *testing.T) {
	sc := filepath.Join("..", "..", "testdata", "scenarios", "mx-failover-refused.yaml")
	code, stdout, stderr := runCLI(t, "load", "-scenario", sc, "-messages", "60", "-rate", "100", "-json", "-")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var res struct {
		Delivered int `json:"delivered"`
		PerHost   []struct {
			Host     string `json:"host"`
			Messages int    `json:"messages"`
		} `json:"per_host"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	at := map[string]int{}
	for _, h := range res.PerHost {
		at[h.Host] = h.Messages
	}
	if res.Delivered != 120 || at["mx2.example.test"] == 0 || at["mx1.example.test"] != 0 {
		t.Errorf("delivered %d, per host %v; want 120, all at mx2", res.Delivered, at)
	}
	if !strings.Contains(stderr, "mxsim load PASS") {
		t.Errorf("summary not on stderr with -json -:\n%s", stderr)
	}
}

// TestLoadPostfix drives Postfix in its container through the flaky
// schedule: nothing lost, nothing duplicated, bounces seen.
func TestLoadPostfix(t *testing.T) {
	requireDockerCLI(t)
	code, stdout, stderr := runCLI(t, "load", "-relay", "postfix", "-messages", "300", "-rate", "50",
		"-domains", "30", "-hosts", "6", "-null-mx", "0.1", "-chaos", "flaky", "-drain", "2m")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"mxsim load PASS: relay postfix", "0 lost, 0 duplicated", "0 still queued"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, " 0 bounced (5yz)") {
		t.Errorf("no bounce, with null-MX domains:\n%s", stdout)
	}
}
