package opensmtpd

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

var testPorts = Ports{Submit: 2525, Submission: 2587, Submissions: 2465}

var testNet = harness.Network{SMTPPort: 25, CAPEM: []byte("-----BEGIN CERTIFICATE-----\n")}

func render(t *testing.T, r scenarios.Relay, n harness.Network) Conf {
	t.Helper()
	c, err := Render(r, n, testPorts, "6.8.0p2")
	if err != nil {
		t.Fatalf("Render(%+v): %v", r, err)
	}
	return c
}

// directive returns the line of smtpd.conf that starts with prefix.
func directive(t *testing.T, conf, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(conf, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no %q line in:\n%s", prefix, conf)
	return ""
}

func TestRenderDefault(t *testing.T) {
	c := render(t, scenarios.Relay{}, testNet)
	for _, want := range []string{
		`ca mxsim cert "` + CAFile + `"`,
		"table trusted { 127.0.0.1 }",
		"listen on 127.0.0.1 port 2525 hostname relay.mxsim.test",
		`action "relay" relay helo relay.mxsim.test`,
		`match from src <trusted> for any action "relay"`,
		`match from socket for any action "relay"`,
	} {
		if !strings.Contains(c.Text, want+"\n") {
			t.Errorf("smtpd.conf lacks %q:\n%s", want, c.Text)
		}
	}
	if c.Hostname != DefaultHostname || c.Secrets != "" || len(c.Notes) != 0 {
		t.Errorf("conf %+v", c)
	}
	if strings.Contains(c.Text, "queue ttl") || strings.Contains(c.Text, "table secrets") {
		t.Errorf("default conf has settings nobody asked for:\n%s", c.Text)
	}
	// Without a CA (a relay checked before its network exists) no ca line.
	if c := render(t, scenarios.Relay{}, harness.Network{SMTPPort: 25}); strings.Contains(c.Text, "\nca ") {
		t.Errorf("ca without a CA:\n%s", c.Text)
	}
}

func TestRenderSettings(t *testing.T) {
	auth := &scenarios.Credentials{User: "relay", Password: "s3cret:x"}
	// A random plan maps the listed port 587 to a free port (PortFor).
	mapped := testNet
	mapped.MappedPorts = map[int]int{587: 40587}
	cases := []struct {
		name   string
		r      scenarios.Relay
		n      harness.Network
		action string
	}{
		{"may", scenarios.Relay{TLS: scenarios.TLSMay}, testNet, `action "relay" relay helo relay.mxsim.test`},
		{"encrypt", scenarios.Relay{TLS: scenarios.TLSEncrypt}, testNet, `action "relay" relay tls no-verify helo relay.mxsim.test`},
		{"verify", scenarios.Relay{TLS: scenarios.TLSVerify}, testNet, `action "relay" relay tls ca mxsim helo relay.mxsim.test`},
		{"hostname", scenarios.Relay{Hostname: "Relay.Example.Test."}, testNet, `action "relay" relay helo relay.example.test`},
		// The smarthost's port as the scenario names it (a fixed plan
		// binds it as it is), or as the network maps it.
		{"smarthost may", scenarios.Relay{Smarthost: "[smtp.example.test]:587"}, testNet,
			`action "relay" relay host smtp://smtp.example.test:587 helo relay.mxsim.test`},
		{"smarthost port mapped", scenarios.Relay{Smarthost: "[smtp.example.test]:587"}, mapped,
			`action "relay" relay host smtp://smtp.example.test:40587 helo relay.mxsim.test`},
		{"smarthost shared port", scenarios.Relay{Smarthost: "[smtp.example.test]"}, mapped,
			`action "relay" relay host smtp://smtp.example.test:25 helo relay.mxsim.test`},
		{"smarthost none", scenarios.Relay{Smarthost: "[smtp.example.test]:587", TLS: scenarios.TLSNone}, testNet,
			`action "relay" relay host smtp+notls://smtp.example.test:587 helo relay.mxsim.test`},
		{"smarthost encrypt", scenarios.Relay{Smarthost: "[smtp.example.test]:587", TLS: scenarios.TLSEncrypt}, testNet,
			`action "relay" relay host smtp+tls://smtp.example.test:587 tls no-verify helo relay.mxsim.test`},
		{"smarthost verify", scenarios.Relay{Smarthost: "[smtp.example.test]:587", TLS: scenarios.TLSVerify}, testNet,
			`action "relay" relay host smtp+tls://smtp.example.test:587 tls ca mxsim helo relay.mxsim.test`},
		{"smarthost auth may", scenarios.Relay{Smarthost: "[smtp.example.test]:587", SmarthostAuth: auth}, mapped,
			`action "relay" relay host smtp+tls://mxsim@smtp.example.test:40587 auth <secrets> tls no-verify helo relay.mxsim.test`},
		{"smarthost 465", scenarios.Relay{Smarthost: "[smtps.example.test]:465"}, testNet,
			`action "relay" relay host smtps://smtps.example.test:465 tls no-verify helo relay.mxsim.test`},
		{"smarthost 2525", scenarios.Relay{Smarthost: "[smtp.example.test]:2525"}, testNet,
			`action "relay" relay host smtp://smtp.example.test:2525 helo relay.mxsim.test`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := render(t, c.r, c.n)
			if got := directive(t, conf.Text, "action "); got != c.action {
				t.Errorf("action:\n got %s\nwant %s", got, c.action)
			}
		})
	}
	c := render(t, scenarios.Relay{Smarthost: "[smtp.example.test]:587", SmarthostAuth: auth}, testNet)
	if c.Secrets != "mxsim relay:s3cret:x\n" || !strings.Contains(c.Text, "table secrets file:"+SecretsFile+"\n") {
		t.Errorf("secrets %q, conf:\n%s", c.Secrets, c.Text)
	}
	if strings.Contains(c.Text, "s3cret") || strings.Contains(describe("6.8.0p2", scenarios.Relay{SmarthostAuth: auth}, c), "s3cret") {
		t.Errorf("the password is in smtpd.conf or its description")
	}
	c = render(t, scenarios.Relay{SubmitAuth: auth, Submission: true}, testNet)
	for _, want := range []string{
		`pki mxsim cert "` + CertFile + `"`,
		"table users file:" + UsersFile,
		"listen on 127.0.0.1 port 2525 hostname relay.mxsim.test tls pki mxsim auth <users>",
		"listen on 127.0.0.1 port 2587 hostname relay.mxsim.test tls-require pki mxsim auth <users>",
		"listen on 127.0.0.1 port 2465 hostname relay.mxsim.test smtps pki mxsim auth <users>",
		`match from any auth for any action "relay"`,
	} {
		if !strings.Contains(c.Text, want+"\n") {
			t.Errorf("smtpd.conf lacks %q:\n%s", want, c.Text)
		}
	}
	if c.User != "relay" || c.Password != "s3cret:x" || strings.Contains(c.Text, "s3cret") {
		t.Errorf("submit_auth: user %q password %q, conf:\n%s", c.User, c.Password, c.Text)
	}
	c = render(t, scenarios.Relay{MaxLifetime: 90 * time.Second, MaxMXHosts: 3}, testNet)
	if directive(t, c.Text, "queue ttl") != "queue ttl 90s" || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "max_mx_hosts 3 not applied") {
		t.Errorf("notes %q, conf:\n%s", c.Notes, c.Text)
	}
}

// TestRenderRefused: each setting OpenSMTPD cannot honour is an error
// naming it; those it has no setting for at all are ErrUnsupported.
func TestRenderRefused(t *testing.T) {
	auth := &scenarios.Credentials{User: "relay", Password: "secret"}
	cases := []struct {
		name        string
		r           scenarios.Relay
		n           harness.Network
		want        string
		unsupported bool
	}{
		{"retry interval", scenarios.Relay{RetryInterval: 4 * time.Second}, testNet, "retry_interval 4s", true},
		{"submission without submit_auth", scenarios.Relay{Submission: true}, testNet, "submission needs submit_auth", false},
		{"submit_auth with a space", scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "a b", Password: "c"}}, testNet, "submit_auth: user and password", false},
		{"tls none direct", scenarios.Relay{TLS: scenarios.TLSNone}, testNet, "tls none", true},
		{"tls dane", scenarios.Relay{TLS: scenarios.TLSDane}, testNet, "tls dane: OpenSMTPD 6.8 has no DANE", true},
		{"mta_sts", scenarios.Relay{MTASTS: true}, testNet, "mta_sts: OpenSMTPD 6.8 has no MTA-STS", true},
		{"dkim", scenarios.Relay{DKIM: &scenarios.RelayDKIM{Domain: "origin.test", Selector: "sel"}}, testNet, "dkim: OpenSMTPD 6.8 signs only through a filter", true},
		{"main_cf", scenarios.Relay{MainCF: map[string]string{"a": "b"}}, testNet, "main_cf", false},
		{"external keys", scenarios.Relay{FlushCmd: "true"}, testNet, "flush_cmd", false},
		{"bad hostname", scenarios.Relay{Hostname: "relay test\naction"}, testNet, `hostname "relay test\naction"`, false},
		{"smarthost MX", scenarios.Relay{Smarthost: "smtp.example.test:587"}, testNet, "write it in brackets", false},
		{"smarthost bad", scenarios.Relay{Smarthost: "[smtp.example.test"}, testNet, `missing "]"`, false},
		{"auth without smarthost", scenarios.Relay{SmarthostAuth: auth}, testNet, "smarthost_auth needs a smarthost", false},
		{"auth with tls none", scenarios.Relay{Smarthost: "[s.test]", SmarthostAuth: auth, TLS: scenarios.TLSNone}, testNet, "only authenticates over TLS", false},
		{"465 with tls none", scenarios.Relay{Smarthost: "[s.test]:465", TLS: scenarios.TLSNone}, testNet, "implicit TLS (port 465) but tls is none", false},
		{"password with space", scenarios.Relay{Smarthost: "[s.test]", SmarthostAuth: &scenarios.Credentials{User: "u", Password: "a b"}}, testNet, "without spaces", false},
		{"user with colon", scenarios.Relay{Smarthost: "[s.test]", SmarthostAuth: &scenarios.Credentials{User: "u:v", Password: "ab"}}, testNet, "without \":\"", false},
		{"negative lifetime", scenarios.Relay{MaxLifetime: -time.Second}, testNet, "must not be negative", false},
		{"hosts not on 25", scenarios.Relay{}, harness.Network{SMTPPort: 2525}, "port 25 only", false},
		{"port out of range", scenarios.Relay{}, harness.Network{}, "SMTP port 0", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render(c.r, c.n, testPorts, "6.8.0p2")
			if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v: want ErrSettings naming %q", err, c.want)
			}
			if got := errors.Is(err, harness.ErrUnsupported); got != c.unsupported {
				t.Errorf("ErrUnsupported %v, want %v: %v", got, c.unsupported, err)
			}
		})
	}
	if _, err := Render(scenarios.Relay{}, testNet, Ports{}, ""); !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), "submit port 0") {
		t.Errorf("submit port 0: %v", err)
	}
	if _, err := Render(scenarios.Relay{Submission: true, SubmitAuth: auth}, testNet, Ports{Submit: 2525}, ""); !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), "submission port 0") {
		t.Errorf("submission port 0: %v", err)
	}
}
