package postfix_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

func TestBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  postfix.Config
		want string
	}{
		{"subnet outside loopback", postfix.Config{Subnet: netip.MustParsePrefix("10.1.2.0/24")}, "want a /24 inside 127.0.0.0/8"},
		{"subnet not /24", postfix.Config{Subnet: netip.MustParsePrefix("127.1.0.0/16")}, "want a /24"},
		{"submit port", postfix.Config{SubmitPort: 70000}, "submit port 70000 out of range"},
		{"submission port", postfix.Config{SubmissionPort: -1}, "submission port -1 out of range"},
		{"submissions port", postfix.Config{SubmissionsPort: 65536}, "submissions port 65536 out of range"},
		{"same ports", postfix.Config{SubmitPort: 2525, SubmissionsPort: 2525}, "ports must differ (2525, 0, 2525)"},
		{"same submission ports", postfix.Config{SubmissionPort: 2587, SubmissionsPort: 2587}, "ports must differ"},
		{"start timeout", postfix.Config{StartTimeout: -time.Second}, "start timeout -1s is negative"},
		{"image", postfix.Config{Image: "two words"}, `image "two words"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pf, err := postfix.New(context.Background(), c.cfg)
			if err == nil {
				pf.Close()
				t.Fatal("New accepted a bad config")
			}
			if !errors.Is(err, postfix.ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want ErrConfig mentioning %q", err, c.want)
			}
		})
	}
}

// TestNoDocker points DOCKER_HOST at a socket nobody serves: New must say
// that there is no Docker engine, and leave nothing running.
func TestNoDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	pf, err := postfix.New(context.Background(), postfix.Config{})
	if err == nil {
		pf.Close()
		t.Fatal("New succeeded without a Docker engine")
	}
	if !errors.Is(err, postfix.ErrNoDocker) || !strings.Contains(err.Error(), "no-docker.sock") {
		t.Errorf("error %q: want ErrNoDocker naming the socket", err)
	}
}

func TestUnknownMainCFParameter(t *testing.T) {
	pf := needPostfix(t)
	_, err := pf.Relay(scenarios.Relay{MainCF: map[string]string{"mynetworks": "127.0.0.0/8", "smtp_tls_securty_level": "may"}})
	if !errors.Is(err, postfix.ErrSettings) || !strings.Contains(err.Error(), `"smtp_tls_securty_level"`) {
		t.Fatalf("error %v: want ErrSettings naming smtp_tls_securty_level", err)
	}
}

// TestRefusedValue gives Postfix a value it refuses: the run ends with
// Postfix's own message, and the next scenario on the same container
// still passes.
func TestRefusedValue(t *testing.T) {
	pf := needPostfix(t)
	sc, err := scenarios.LoadFile("../../testdata/scenarios/mx-priority.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Relay.MainCF = map[string]string{"minimal_backoff_time": "soon"}
	opts, err := pf.RunOptions(sc)
	if err != nil {
		t.Fatal(err)
	}
	res := harness.Run(context.Background(), sc, opts)
	if res.Verdict != report.Error || !strings.Contains(res.Reason, "fatal:") || !strings.Contains(res.Reason, "minimal_backoff_time") {
		t.Fatalf("verdict %s, reason %q: want an error with Postfix's message about minimal_backoff_time", res.Verdict, res.Reason)
	}
	if !strings.Contains(res.Reason, postfix.ErrRefused.Error()) {
		t.Errorf("reason %q does not say Postfix refused its configuration", res.Reason)
	}

	sc.Relay.MainCF = nil
	opts, _ = pf.RunOptions(sc)
	if res := harness.Run(context.Background(), sc, opts); res.Verdict != report.Pass {
		t.Fatalf("scenario after a refused configuration: %s", describe(res))
	}
}

// relayNetwork is one MX that accepts everything, for submission tests.
func relayNetwork(pf *postfix.Postfix, r harness.Relay) harness.Config {
	return harness.Config{
		Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test."}}}},
		Hosts: []harness.Host{{Name: "mx1.example.test"}},
		Plan:  pf.Plan(),
		Relay: r,
	}
}

// TestRelayRefusedOutsideMynetworks: a client outside mynetworks, not
// authenticated, must not relay to a domain Postfix does not serve
// (RFC 5321 §3.6.2; rule 28 of docs/conformance.md).
func TestRelayRefusedOutsideMynetworks(t *testing.T) {
	pf := needPostfix(t)
	// The harness client connects from 127.0.0.1, outside 127.0.0.2/32.
	r, err := pf.Relay(scenarios.Relay{MainCF: map[string]string{"mynetworks": "127.0.0.2/32"}})
	if err != nil {
		t.Fatal(err)
	}
	env := harness.Start(t, relayNetwork(pf, r))
	err = env.Send(context.Background(), harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}})
	if err == nil || !strings.Contains(err.Error(), "Relay access denied") {
		t.Fatalf("submission from outside mynetworks: %v, want Relay access denied", err)
	}
	if !strings.Contains(err.Error(), "454") && !strings.Contains(err.Error(), "554") {
		t.Errorf("refusal %q: want 454 (defer_unauth_destination) or 554", err)
	}
	if err := harness.CheckNotDelivered(env.Journal(), "bob@example.test", ""); err != nil {
		t.Error(err)
	}
	waitLog(t, env.Journal(), "Relay access denied")
}

// TestRelayAllowedForMynetworks: the same submission from inside
// mynetworks is relayed and delivered.
func TestRelayAllowedForMynetworks(t *testing.T) {
	pf := needPostfix(t)
	r, err := pf.Relay(scenarios.Relay{MainCF: map[string]string{"mynetworks": "127.0.0.1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	env := harness.Start(t, relayNetwork(pf, r))
	if err := env.Send(context.Background(), harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatalf("submission from mynetworks: %v", err)
	}
	if err := env.WaitDelivered(context.Background(), 10*time.Second, "bob@example.test", "mx1.example.test"); err != nil {
		t.Fatalf("%v\n%s", err, env.Journal())
	}
	waitLog(t, env.Journal(), "status=sent")
}

// TestVerifyDefers checks that under smtp_tls_security_level = verify a
// wrong-name certificate leaves the message deferred, with Postfix's
// reason in a relay.defer event.
func TestVerifyDefers(t *testing.T) {
	pf := needPostfix(t)
	res := runScenario(t, pf, "../../testdata/postfix/tls-verify-wrong-name-deferred.yaml")
	if res.Verdict != report.Pass {
		t.Fatalf("%s", describe(res))
	}
	defers := filterEvents(res.Events, journal.KindRelayDefer)
	if len(defers) == 0 {
		t.Fatalf("no relay.defer event:\n%s", describe(res))
	}
	if !strings.Contains(defers[0].Text, "certificate") {
		t.Errorf("defer %q does not mention the certificate", defers[0].Text)
	}
	if len(filterEvents(res.Events, journal.KindRelayBounce)) != 0 {
		t.Errorf("a wrong-name certificate must defer, not bounce:\n%s", describe(res))
	}
}

// TestBusy: one scenario at a time runs on a Postfix.
func TestBusy(t *testing.T) {
	pf := needPostfix(t)
	r1, _ := pf.Relay(scenarios.Relay{})
	env := harness.Start(t, relayNetwork(pf, r1))
	r2, _ := pf.Relay(scenarios.Relay{})
	err := r2.Start(context.Background(), env.Network())
	if !errors.Is(err, postfix.ErrBusy) {
		r2.Stop(context.Background())
		t.Fatalf("second Start on a busy Postfix: %v, want ErrBusy", err)
	}
}

// TestWrongPlan: a network whose DNS is not the container's resolver is
// refused with a message that says which plan to use.
func TestWrongPlan(t *testing.T) {
	pf := needPostfix(t)
	r, _ := pf.Relay(scenarios.Relay{})
	cfg := relayNetwork(pf, r)
	cfg.Plan = harness.Plan{}
	_, err := harness.New(context.Background(), cfg)
	if !errors.Is(err, postfix.ErrSettings) || !strings.Contains(err.Error(), "Plan()") {
		t.Fatalf("error %v: want ErrSettings pointing at Plan()", err)
	}
}

func waitLog(t *testing.T, j *journal.Journal, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := j.Wait(ctx, func(evs []journal.Event) bool {
		for _, e := range evs {
			if e.Kind == journal.KindRelayLog && strings.Contains(e.Text, text) {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Errorf("no Postfix log line with %q in the journal:\n%s", text, j)
	}
}
