package exim_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/exim"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

func TestBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  exim.Config
		want string
	}{
		{"subnet outside loopback", exim.Config{Subnet: netip.MustParsePrefix("10.1.2.0/24")}, "want a /24 inside 127.0.0.0/8"},
		{"subnet not /24", exim.Config{Subnet: netip.MustParsePrefix("127.1.0.0/16")}, "want a /24"},
		{"submit port", exim.Config{SubmitPort: 70000}, "submit port 70000 out of range"},
		{"negative submit port", exim.Config{SubmitPort: -1}, "submit port -1 out of range"},
		{"start timeout", exim.Config{StartTimeout: -time.Second}, "start timeout -1s is negative"},
		{"image", exim.Config{Image: "two words"}, `image "two words"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := exim.New(context.Background(), c.cfg)
			if err == nil {
				x.Close()
				t.Fatal("New accepted a bad config")
			}
			if !errors.Is(err, exim.ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want ErrConfig mentioning %q", err, c.want)
			}
		})
	}
}

// TestNoDocker points DOCKER_HOST at a socket nobody serves: New must say
// that there is no Docker engine, and leave nothing running.
func TestNoDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	x, err := exim.New(context.Background(), exim.Config{})
	if err == nil {
		x.Close()
		t.Fatal("New succeeded without a Docker engine")
	}
	if !errors.Is(err, exim.ErrNoDocker) || !strings.Contains(err.Error(), "no-docker.sock") {
		t.Errorf("error %q: want ErrNoDocker naming the socket", err)
	}
}

func TestVersion(t *testing.T) {
	x := needExim(t)
	if !strings.HasPrefix(x.Version(), "4.") || !strings.HasPrefix(x.Image(), "mxsim/exim:") {
		t.Errorf("version %q, image %q", x.Version(), x.Image())
	}
}

// TestBadSettings: settings Exim cannot honour are refused by Relay,
// before any network starts.
func TestBadSettings(t *testing.T) {
	x := needExim(t)
	_, err := x.Relay(scenarios.Relay{MainCF: map[string]string{"relayhost": "[smtp.example.test]"}})
	if !errors.Is(err, exim.ErrSettings) || !strings.Contains(err.Error(), "main_cf") {
		t.Fatalf("error %v: want ErrSettings naming main_cf", err)
	}
}

// relayNetwork is one MX that accepts everything, for submission tests.
func relayNetwork(x *exim.Exim, r harness.Relay) harness.Config {
	return harness.Config{
		Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test."}}}},
		Hosts: []harness.Host{{Name: "mx1.example.test"}},
		Plan:  x.Plan(),
		Relay: r,
	}
}

// TestBusy: one scenario at a time runs on an Exim.
func TestBusy(t *testing.T) {
	x := needExim(t)
	r1, _ := x.Relay(scenarios.Relay{})
	env := harness.Start(t, relayNetwork(x, r1))
	r2, _ := x.Relay(scenarios.Relay{})
	err := r2.Start(context.Background(), env.Network())
	if !errors.Is(err, exim.ErrBusy) {
		r2.Stop(context.Background())
		t.Fatalf("second Start on a busy Exim: %v, want ErrBusy", err)
	}
}

// TestWrongPlan: a network whose DNS is not the container's resolver is
// refused with a message that says which plan to use.
func TestWrongPlan(t *testing.T) {
	x := needExim(t)
	r, _ := x.Relay(scenarios.Relay{})
	cfg := relayNetwork(x, r)
	cfg.Plan = harness.Plan{}
	_, err := harness.New(context.Background(), cfg)
	if !errors.Is(err, exim.ErrSettings) || !strings.Contains(err.Error(), "Plan()") {
		t.Fatalf("error %v: want ErrSettings pointing at Plan()", err)
	}
}

// TestConfiguredEvent: each scenario's journal starts with the
// configuration Exim was given, credentials masked.
func TestConfiguredEvent(t *testing.T) {
	x := needExim(t)
	r, err := x.Relay(scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "alice", Password: "pw-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	env := harness.Start(t, relayNetwork(x, r))
	var conf string
	for _, e := range env.Journal().Events(journal.OfKind(journal.KindRelayLog)) {
		if strings.HasPrefix(e.Text, "exim "+x.Version()+" configured: ") {
			conf = e.Text
		}
	}
	if conf == "" || !strings.Contains(conf, "primary_hostname = relay.mxsim.test") || !strings.Contains(conf, "{eq{$auth2}{alice}}") {
		t.Fatalf("no configuration event with the settings in the journal:\n%s", env.Journal())
	}
	if strings.Contains(conf, "pw-secret") {
		t.Errorf("the password is in the journal: %s", conf)
	}
	// The harness submits with the credentials; without them Exim
	// refuses MAIL with 530 5.7.0.
	err = env.Send(context.Background(), harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, NoAuth: true})
	if err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("submission without AUTH: %v, want 530", err)
	}
	if err := env.Send(context.Background(), harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatalf("submission with AUTH: %v", err)
	}
	if err := env.WaitDelivered(context.Background(), 10*time.Second, "bob@example.test", "mx1.example.test"); err != nil {
		t.Fatalf("%v\n%s", err, env.Journal())
	}
}

// TestRefusedConnectionInJournal checks that Exim's "H=… Connection
// refused" becomes a relay.attempt naming the host, before the next
// host's connection.
func TestRefusedConnectionInJournal(t *testing.T) {
	x := needExim(t)
	for i := 0; i < repeat(); i++ {
		res := runScenario(t, x, "testdata/mx-failover-refused.yaml")
		if res.Verdict != report.Pass {
			t.Fatalf("%s", describe(res))
		}
		var found bool
		for _, e := range filterEvents(res.Events, journal.KindRelayAttempt) {
			if e.Peer == "mx1.example.test" && strings.Contains(e.Err, "Connection refused") {
				found = true
			}
		}
		if !found {
			t.Errorf("no relay.attempt for mx1.example.test with Connection refused:\n%s", describe(res))
		}
	}
}

// TestFrozenThenReset: with Exim's default self = freeze, a message whose
// best MX is Exim itself stays frozen in the queue (Queue lists it, with
// its submission); the next scenario starts with an empty queue.
func TestFrozenThenReset(t *testing.T) {
	x := needExim(t)
	res := runScenario(t, x, "testdata/self-in-mx-set-frozen.yaml")
	if res.Verdict != report.Pass {
		t.Fatalf("%s", describe(res))
	}
	var frozen bool
	for _, e := range res.Events {
		frozen = frozen || e.Kind == journal.KindRelayLog && strings.HasSuffix(e.Text, " Frozen")
	}
	if !frozen {
		t.Errorf("no Frozen line in the journal:\n%s", describe(res))
	}

	r, _ := x.Relay(scenarios.Relay{})
	env := harness.Start(t, relayNetwork(x, r))
	q, err := env.Queue(context.Background())
	if err != nil || len(q) != 0 {
		t.Fatalf("queue at the start of the next scenario: %+v, %v; want empty", q, err)
	}
	// A message queued now is listed with its submission header.
	if err := env.Send(context.Background(), harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitDelivered(context.Background(), 10*time.Second, "bob@example.test", "mx1.example.test"); err != nil {
		t.Fatalf("%v\n%s", err, env.Journal())
	}
}

// TestQueueListsSubmission: a deferred message is listed with its sender,
// recipient and the submission it came from.
func TestQueueListsSubmission(t *testing.T) {
	x := needExim(t)
	r, _ := x.Relay(scenarios.Relay{RetryInterval: time.Minute})
	cfg := relayNetwork(x, r)
	cfg.Hosts[0].Behavior.Replies.Rcpt = fakesmtp.Forced(fakesmtp.Reply{Code: 451, Enhanced: "4.3.0", Text: "try again later"})
	env := harness.Start(t, cfg)
	if err := env.Send(context.Background(), harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.Journal().Wait(ctx, func(evs []journal.Event) bool {
		for _, e := range evs {
			if e.Kind == journal.KindRelayDefer && e.Code == 451 {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no relay.defer with 451: %v\n%s", err, env.Journal())
	}
	q, err := env.Queue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	subs := harness.Submissions(env.Journal())
	if len(q) != 1 || len(subs) != 1 || q[0].To != "bob@example.test" || q[0].From != "alice@origin.test" || q[0].Submission != subs[0].ID {
		t.Fatalf("queue %+v, submissions %+v: want bob@example.test from alice@origin.test, submission %v", q, subs, subs)
	}
}

// TestCheckConf: Exim accepts the configuration for an external Exim in
// docs/mtas/exim, and refuses a broken one with its own message.
func TestCheckConf(t *testing.T) {
	x := needExim(t)
	conf, err := os.ReadFile("../../docs/mtas/exim/exim4.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CheckConf(context.Background(), string(conf)); err != nil {
		t.Errorf("docs/mtas/exim/exim4.conf: %v", err)
	}
	err = x.CheckConf(context.Background(), string(conf)+"\nbegin nonsense\n")
	if !errors.Is(err, exim.ErrRefused) || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("error %v: want ErrRefused with Exim's message about the unknown section", err)
	}
	// Every TLS policy and route renders to a file Exim accepts.
	for _, r := range []scenarios.Relay{
		{TLS: scenarios.TLSNone}, {TLS: scenarios.TLSEncrypt}, {TLS: scenarios.TLSVerify, MaxMXHosts: 2},
		{Smarthost: "smtp.example.test", SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "s3cret!"}},
		{Smarthost: "[smtps.example.test]:465", SubmitAuth: &scenarios.Credentials{User: "alice", Password: "pw"}, Submission: true},
	} {
		conf, err := exim.Conf(r, harness.Network{SMTPPort: 25, CAPEM: []byte("x")}, x.Ports())
		if err != nil {
			t.Fatal(err)
		}
		if err := x.CheckConf(context.Background(), conf); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
}
