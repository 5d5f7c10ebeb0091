package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// TestProfilesList: "mxsim profiles" names every profile with its role,
// its faults and its sources.
func TestProfilesList(t *testing.T) {
	code, stdout, stderr := runCLI(t, "profiles")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	ps := scenarios.Profiles()
	if len(ps) < 6 {
		t.Fatalf("%d profiles, want the six of docs/profiles.md", len(ps))
	}
	for _, p := range ps {
		if !strings.Contains(stdout, p.Name+" ("+p.Role+"): "+p.Description) {
			t.Errorf("no line for %s in:\n%s", p.Name, stdout)
		}
		for _, s := range p.Sources {
			if !strings.Contains(stdout, "source "+s+"\n") {
				t.Errorf("%s: source %s not listed", p.Name, s)
			}
		}
		for _, f := range p.Faults {
			if !strings.Contains(stdout, "fault "+f.Name) {
				t.Errorf("%s: fault %s not listed", p.Name, f.Name)
			}
		}
	}
	// A host with a profile listens on its ports: a smarthost's leave out
	// the shared port, and the listing says which to name.
	for _, want := range []string{
		"gmail-like (receiver)", "\n  ports  25 (the shared MX port)\n",
		"sendgrid-like (smarthost)", "\n  ports  587, 465, 2525 (not the shared port 25: relay.smarthost \"[HOST]:587\")\n",
		"ses-like (smarthost)", "\n  ports  587, 465, 2587 (not the shared port 25: relay.smarthost \"[HOST]:587\")\n",
	} {
		i := strings.Index(stdout, want)
		if i < 0 {
			t.Errorf("no %q in:\n%s", want, stdout)
			continue
		}
		stdout = stdout[i:] // each ports line after its profile's name
	}
}

// TestProfilesShow: "mxsim profiles NAME" prints the profile's YAML as
// shipped; a bad name or too many are usage errors.
func TestProfilesShow(t *testing.T) {
	code, stdout, stderr := runCLI(t, "profiles", "ses-like")
	p, _ := scenarios.LookupProfile("ses-like")
	if code != exitOK || stderr != "" || stdout != string(p.YAML) {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"name: ses-like", "https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html", "454 4.7.0 Throttling failure"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("ses-like YAML lacks %q", want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"profiles", "gmail"}, `mxsim profiles: unknown profile "gmail" (valid: gmail-like, `},
		{[]string{"profiles", "gmail-like", "ses-like"}, "want at most one profile name, got 2"},
		{[]string{"profiles", "-x"}, "flag provided but not defined: -x"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("mxsim %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}

// TestValidateEveryProfile: "mxsim validate" accepts a scenario whose
// host takes each profile with all its faults, and rejects an unknown
// profile and fault at their line and column.
func TestValidateEveryProfile(t *testing.T) {
	dir := t.TempDir()
	for _, p := range scenarios.Profiles() {
		// A receiver as the MX host; a smarthost as the relay's smarthost,
		// on each of its ports.
		host, zone, relay := "mx1.example.test", "\n    mx: [{pref: 10, host: mx1.example.test}]", ""
		if p.Role == "smarthost" {
			host, zone = "smtp.example.test", " {}"
			relay = fmt.Sprintf("relay:\n  smarthost: \"[smtp.example.test]:%d\"\n", p.Ports[0])
		}
		src := fmt.Sprintf(`name: uses-%s
dns:
  example.test:%s
hosts:
  %s:
    profile: %s
    faults: [%s]
%ssteps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
`, p.Name, zone, host, p.Name, strings.Join(p.FaultNames(), ", "), relay)
		if p.Role == "smarthost" {
			for _, port := range p.Ports[1:] {
				other := strings.Replace(src, fmt.Sprintf("]:%d", p.Ports[0]), fmt.Sprintf("]:%d", port), 1)
				other = strings.Replace(other, "name: uses-"+p.Name, fmt.Sprintf("name: uses-%s-%d", p.Name, port), 1)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", p.Name, port)), []byte(other), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, p.Name+".yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) < len(scenarios.Profiles())+6 {
		t.Fatalf("%d files, want one per profile and one per other port of smarthosts", len(files))
	}
	code, stdout, stderr := runCLI(t, "validate", dir)
	if code != exitOK || !strings.Contains(stdout, fmt.Sprintf("%d scenario(s) valid", len(files))) {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	src := `name: bad
hosts:
  mx1.example.test:
    profile: gmial-like
  mx2.example.test:
    profile: gmail-like
    faults: [rate_limted]
  smtp.example.test:
    profile: sendgrid-like
relay:
  smarthost: "[smtp.example.test]"
steps:
  - flush: {}
`
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "validate", bad)
	for _, want := range []string{
		bad + `:4:14: invalid profile "gmial-like" (valid: gmail-like, mailgun-like, microsoft-like, sendgrid-like, ses-like, yahoo-like) (did you mean "gmail-like"?)`,
		bad + `:7:14: unknown fault "rate_limted" of profile gmail-like (valid: rate_limited, `,
		bad + `:11:14: smarthost "[smtp.example.test]": host smtp.example.test does not listen on port 25 (its ports, from profile sendgrid-like: [587, 465, 2525]); name one of them (smarthost: "[smtp.example.test]:587")`,
	} {
		if code != exitFail || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr:\n%s\nwant %q", code, stderr, want)
		}
	}
}

// netRecorder is a relay under test that keeps the network it is
// started against, to say where its hosts listen.
type netRecorder struct {
	harness.Relay
	mu sync.Mutex
	n  harness.Network
}

func (r *netRecorder) Start(ctx context.Context, n harness.Network) error {
	r.mu.Lock()
	r.n = n
	r.mu.Unlock()
	return r.Relay.Start(ctx, n)
}

func (r *netRecorder) network() harness.Network {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *netRecorder) ReportsDecisions() bool {
	d, ok := r.Relay.(harness.DecisionReporter)
	return ok && d.ReportsDecisions()
}

func (r *netRecorder) Queue(ctx context.Context) ([]harness.QueuedRecipient, error) {
	return r.Relay.(harness.QueueReporter).Queue(ctx)
}

// TestProviderSmarthostsOn587: the sendgrid-like and ses-like scenarios
// pass against the reference relay, which connects to the smarthost on
// the port the network gives its 587 (the profile's first port), never
// on the shared port.
func TestProviderSmarthostsOn587(t *testing.T) {
	for file, host := range map[string]string{
		"provider-sendgrid-smarthost.yaml": "smtp.mailservice.test",
		"provider-ses-throttling.yaml":     "email-smtp.cloud.test",
	} {
		t.Run(file, func(t *testing.T) {
			sc, err := scenarios.LoadFile(filepath.Join(scenarioDir, file))
			if err != nil {
				t.Fatal(err)
			}
			if h := sc.Host(host); h == nil || h.Ports[0] != 587 || sc.Relay.Smarthost != "["+host+"]:587" {
				t.Fatalf("host %s %+v, smarthost %q: want the profile's ports and [%s]:587", host, h, sc.Relay.Smarthost, host)
			}
			ref, err := harness.RelayFor(sc.Relay)
			if err != nil {
				t.Fatal(err)
			}
			rec := &netRecorder{Relay: ref}
			res := harness.Run(context.Background(), sc, harness.RunOptions{Relay: rec})
			if res.Verdict != report.Pass {
				t.Fatalf("%s: %s %v", res.Verdict, res.Reason, res.Failures)
			}
			n := rec.network()
			want := n.PortFor(host, 587)
			if want == 0 || want == n.SMTPPort {
				t.Fatalf("PortFor(%s, 587) = %d (SMTP port %d): want a port of its own", host, want, n.SMTPPort)
			}
			connects := 0
			for _, e := range res.Events {
				if e.Kind != journal.KindSMTPConnect || e.Source != host {
					continue
				}
				connects++
				ap, err := netip.ParseAddrPort(e.Local)
				if err != nil || int(ap.Port()) != want {
					t.Errorf("smtp.connect at %s on %q, want port %d (Network().PortFor(%s, 587))", host, e.Local, want, host)
				}
			}
			if connects == 0 {
				t.Errorf("no smtp.connect at %s", host)
			}
		})
	}
}
