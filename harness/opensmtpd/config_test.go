package opensmtpd_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/opensmtpd"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

func TestBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  opensmtpd.Config
		want string
	}{
		{"subnet outside loopback", opensmtpd.Config{Subnet: netip.MustParsePrefix("10.1.2.0/24")}, "want a /24 inside 127.0.0.0/8"},
		{"subnet not /24", opensmtpd.Config{Subnet: netip.MustParsePrefix("127.1.0.0/16")}, "want a /24"},
		{"submit port", opensmtpd.Config{SubmitPort: 70000}, "submit port 70000 out of range"},
		{"negative submit port", opensmtpd.Config{SubmitPort: -1}, "submit port -1 out of range"},
		{"start timeout", opensmtpd.Config{StartTimeout: -time.Second}, "start timeout -1s is negative"},
		{"image", opensmtpd.Config{Image: "two words"}, `image "two words"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := opensmtpd.New(context.Background(), c.cfg)
			if err == nil {
				o.Close()
				t.Fatal("New accepted a bad config")
			}
			if !errors.Is(err, opensmtpd.ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want ErrConfig mentioning %q", err, c.want)
			}
		})
	}
}

// TestNoDocker points DOCKER_HOST at a socket nobody serves: New must say
// that there is no Docker engine, and leave nothing running.
func TestNoDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	o, err := opensmtpd.New(context.Background(), opensmtpd.Config{})
	if err == nil {
		o.Close()
		t.Fatal("New succeeded without a Docker engine")
	}
	if !errors.Is(err, opensmtpd.ErrNoDocker) || !strings.Contains(err.Error(), "no-docker.sock") {
		t.Errorf("error %q: want ErrNoDocker naming the socket", err)
	}
}

// TestUnsupportedSettings: a setting OpenSMTPD has no equivalent for is
// refused by Relay, before any network starts.
func TestUnsupportedSettings(t *testing.T) {
	o := needOpenSMTPD(t)
	for _, c := range []struct {
		r    scenarios.Relay
		want string
	}{
		{scenarios.Relay{RetryInterval: time.Minute}, "retry_interval"},
		{scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "alice", Password: "pw"}}, "submit_auth"},
		{scenarios.Relay{TLS: scenarios.TLSNone}, "tls none"},
	} {
		_, err := o.Relay(c.r)
		if !errors.Is(err, opensmtpd.ErrSettings) || !errors.Is(err, harness.ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.want, err)
		}
	}
}

// TestRefusedConfig gives OpenSMTPD a value smtpd.conf refuses (a queue
// ttl too long for it): the run ends with smtpd's own message, and the
// next scenario on the same container still passes.
func TestRefusedConfig(t *testing.T) {
	o := needOpenSMTPD(t)
	sc, err := scenarios.LoadFile("../../testdata/scenarios/mx-priority.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Relay.MaxLifetime = 100 * 365 * 24 * time.Hour
	opts, err := o.RunOptions(sc)
	if err != nil {
		t.Fatal(err)
	}
	res := harness.Run(context.Background(), sc, opts)
	if res.Verdict != report.Error || !strings.Contains(res.Reason, "invalid ttl delay") {
		t.Fatalf("verdict %s, reason %q: want an error with smtpd's message about the ttl", res.Verdict, res.Reason)
	}
	if !strings.Contains(res.Reason, opensmtpd.ErrRefused.Error()) {
		t.Errorf("reason %q does not say OpenSMTPD refused its configuration", res.Reason)
	}
	sc.Relay.MaxLifetime = 0
	opts, _ = o.RunOptions(sc)
	if res := harness.Run(context.Background(), sc, opts); res.Verdict != report.Pass {
		t.Fatalf("scenario after a refused configuration: %s", describe(res))
	}
}

// relayNetwork is one MX that accepts everything.
func relayNetwork(o *opensmtpd.OpenSMTPD, r harness.Relay) harness.Config {
	return harness.Config{
		Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test."}}}},
		Hosts: []harness.Host{{Name: "mx1.example.test"}},
		Plan:  o.Plan(),
		Relay: r,
	}
}

// TestQueueAndFlush: a message the MX defers is listed by Queue (smtpctl
// show queue) until a flush (smtpctl schedule all) delivers it; the
// configuration is journaled once, without the smarthost password.
func TestQueueAndFlush(t *testing.T) {
	o := needOpenSMTPD(t)
	r, err := o.Relay(scenarios.Relay{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := relayNetwork(o, r)
	cfg.Hosts[0].Behavior.Replies.Rcpt = []fakesmtp.Rule{{Reply: fakesmtp.Reply{Code: 451, Enhanced: "4.7.1", Text: "later", Times: 1}}}
	env := harness.Start(t, cfg)
	ctx := context.Background()
	if err := env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Wait(ctx, 10*time.Second, has(journal.KindRelayDefer)); err != nil {
		t.Fatalf("no relay.defer: %v", err)
	}
	q, err := r.(harness.QueueReporter).Queue(ctx)
	if err != nil || len(q) != 1 || q[0].To != "bob@example.test" || q[0].From != "alice@origin.test" {
		t.Fatalf("queue %+v, %v: want bob@example.test from alice@origin.test", q, err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.Wait(ctx, 20*time.Second, has(journal.KindRelayDeliver)); err != nil {
		t.Fatalf("no relay.deliver after the flush: %v", err)
	}
	n := 0
	for _, e := range env.Journal().Events(journal.OfKind(journal.KindRelayLog)) {
		if strings.Contains(e.Text, "configured:") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d configuration lines, want 1", n)
	}
}

// has is a Wait check: an event of kind is in the journal.
func has(kind journal.Kind) func(*journal.Journal) error {
	return func(j *journal.Journal) error {
		if len(j.Events(journal.OfKind(kind))) == 0 {
			return errors.New("no " + string(kind))
		}
		return nil
	}
}

// TestRenderedConfsAccepted: smtpd -n accepts the smtpd.conf of every
// form Render writes.
func TestRenderedConfsAccepted(t *testing.T) {
	o := needOpenSMTPD(t)
	auth := &scenarios.Credentials{User: "relay", Password: "secret"}
	n := harness.Network{SMTPPort: 25, CAPEM: []byte("x"), HostPorts: map[string]int{"smtp.example.test": 587}}
	for i, r := range []scenarios.Relay{
		{},
		{TLS: scenarios.TLSEncrypt, Hostname: "relay.example.test"},
		{TLS: scenarios.TLSVerify, MaxLifetime: time.Hour, MaxMXHosts: 3},
		{Smarthost: "[smtp.example.test]:587", TLS: scenarios.TLSNone},
		{Smarthost: "[smtp.example.test]:587", SmarthostAuth: auth},
		{Smarthost: "[smtp.example.test]:587", SmarthostAuth: auth, TLS: scenarios.TLSVerify},
		{Smarthost: "[smtps.example.test]:465", SmarthostAuth: auth, TLS: scenarios.TLSEncrypt},
		{SubmitAuth: &scenarios.Credentials{User: "alice", Password: "pw"}, Submission: true},
	} {
		c, err := opensmtpd.Render(r, n, opensmtpd.PortsOf(o), o.Version())
		if err != nil {
			t.Errorf("%d %+v: %v", i, r, err)
			continue
		}
		if out, err := opensmtpd.CheckConf(context.Background(), o, c); err != nil {
			t.Errorf("%d %+v: %v: %s\n%s", i, r, err, out, c.Text)
		}
	}
}
