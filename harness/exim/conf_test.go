package exim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

var testPorts = Ports{Submit: 2525, Submission: 2587, Submissions: 2465}

// lines returns the significant lines of a configuration, trimmed.
func lines(conf string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(conf, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			m[strings.Join(strings.Fields(t), " ")] = true
		}
	}
	return m
}

func TestConf(t *testing.T) {
	// A random plan maps the listed port 587 to a free port.
	n := harness.Network{SMTPPort: 25, CAPEM: []byte("pem"), MappedPorts: map[int]int{587: 40587}}
	conf, err := Conf(scenarios.Relay{
		Hostname:      "relay.origin.test",
		TLS:           scenarios.TLSVerify,
		Smarthost:     "[smtp-relay.example.test]:587",
		SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "s3cret!"},
		SubmitAuth:    &scenarios.Credentials{User: "alice", Password: "pw"},
		Submission:    true,
		RetryInterval: 1500 * time.Millisecond,
		MaxLifetime:   time.Minute,
		MaxMXHosts:    3,
	}, n, testPorts)
	if err != nil {
		t.Fatal(err)
	}
	got := lines(conf)
	for _, want := range []string{
		"primary_hostname = relay.origin.test",
		"daemon_smtp_ports = 2525 : 2587 : 2465",
		"tls_on_connect_ports = 2465",
		"hostlist relay_from_hosts = <; 127.0.0.1",
		"smarthost:",
		"route_list = * smtp-relay.example.test bydns",
		// the smarthost listens on the port the network maps 587 to
		"port = 40587",
		"hosts_require_tls = *",
		"tls_verify_hosts = *",
		"tls_verify_certificates = " + CAFile,
		"hosts_require_auth = *",
		"hosts_max_try = 3",
		"* * F,1m,2s",
		"client_send = ^relay^s3cret!",
		"client_send = : relay : s3cret!",
		"server_condition = ${if and {{eq{$auth2}{alice}}{eq{$auth3}{pw}}}}",
		"server_advertise_condition = ${if or {{def:tls_in_cipher}{!eq{$received_port}{2587}}}}",
		"log_file_path = syslog",
	} {
		if !got[want] {
			t.Errorf("no line %q in:\n%s", want, conf)
		}
	}
	for _, not := range []string{"dnslookup:", "self = fail", "ignore_target_hosts = 127.0.0.0/8", "condition = ${if or {{eq{$received_port}{2587}}{eq{$received_port}{2465}}}}"} {
		if got[not] {
			t.Errorf("line %q in:\n%s", not, conf)
		}
	}

	// Defaults: direct delivery, TLS may, Exim's lifetime.
	conf, err = Conf(scenarios.Relay{}, harness.Network{SMTPPort: 25}, testPorts)
	if err != nil {
		t.Fatal(err)
	}
	got = lines(conf)
	for _, want := range []string{"primary_hostname = " + DefaultHostname, "dnslookup:", "port = 25", "* * F,4d,1s",
		"condition = ${if or {{eq{$received_port}{2587}}{eq{$received_port}{2465}}}}"} {
		if !got[want] {
			t.Errorf("defaults: no line %q in:\n%s", want, conf)
		}
	}
	for _, not := range []string{"hosts_require_tls = *", "hosts_avoid_tls = *", "tls_verify_certificates = " + CAFile, "plain:", "hosts_max_try = 0"} {
		if got[not] {
			t.Errorf("defaults: line %q in:\n%s", not, conf)
		}
	}

	for _, c := range []struct {
		r    scenarios.Relay
		want []string
	}{
		{scenarios.Relay{TLS: scenarios.TLSNone}, []string{"hosts_avoid_tls = *"}},
		{scenarios.Relay{TLS: scenarios.TLSEncrypt}, []string{"hosts_require_tls = *"}},
		{scenarios.Relay{Smarthost: "smtp.example.test"}, []string{"route_list = * smtp.example.test/MX bydns", "port = 25"}},
		{scenarios.Relay{Smarthost: "[smtps.example.test]:465"}, []string{"protocol = smtps", "port = 465"}},
		// The smarthost's port as the scenario names it: a fixed plan
		// binds it as it is (Network.PortFor).
		{scenarios.Relay{Smarthost: "[smtp.example.test]:2525"}, []string{"route_list = * smtp.example.test bydns", "port = 2525"}},
		{scenarios.Relay{Smarthost: "smtp.example.test:587"}, []string{"route_list = * smtp.example.test/MX bydns", "port = 587"}},
	} {
		conf, err := Conf(c.r, harness.Network{SMTPPort: 25}, testPorts)
		if err != nil {
			t.Fatal(err)
		}
		got := lines(conf)
		for _, want := range c.want {
			if !got[want] {
				t.Errorf("%+v: no line %q in:\n%s", c.r, want, conf)
			}
		}
	}
}

func TestConfMasked(t *testing.T) {
	d, err := confFor(scenarios.Relay{Smarthost: "[smtp.example.test]:587",
		SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "s3cret!"},
		SubmitAuth:    &scenarios.Credentials{User: "alice", Password: "pw-alice"}}, harness.Network{SMTPPort: 25}, testPorts)
	if err != nil {
		t.Fatal(err)
	}
	shown, err := render(d.masked())
	if err != nil {
		t.Fatal(err)
	}
	s := describe(shown)
	if strings.Contains(s, "s3cret!") || strings.Contains(s, "pw-alice") || !strings.Contains(s, maskedCred) {
		t.Errorf("credentials not masked: %s", s)
	}
	if d.SmarthostAuth.Password != "s3cret!" {
		t.Error("masked changed the original")
	}
	if strings.Contains(s, "#") || strings.Contains(s, "\\") {
		t.Errorf("comments or continuations in %s", s)
	}
}

func TestConfErrors(t *testing.T) {
	n := harness.Network{SMTPPort: 25}
	cred := &scenarios.Credentials{User: "u", Password: "p"}
	cases := []struct {
		name  string
		r     scenarios.Relay
		n     harness.Network
		ports Ports
		want  string
	}{
		{"external settings", scenarios.Relay{Submit: "127.0.0.1:25"}, n, testPorts, "relay kind external"},
		{"main_cf", scenarios.Relay{MainCF: map[string]string{"relayhost": "x"}}, n, testPorts, "main_cf holds Postfix parameters"},
		{"bad smarthost", scenarios.Relay{Smarthost: "[smtp.example.test"}, n, testPorts, `missing "]"`},
		{"password with space", scenarios.Relay{Smarthost: "[smtp.example.test]", SmarthostAuth: &scenarios.Credentials{User: "u", Password: "a b"}}, n, testPorts, "without spaces"},
		{"password with expansion", scenarios.Relay{Smarthost: "[smtp.example.test]", SmarthostAuth: &scenarios.Credentials{User: "u", Password: "${run{x}}"}}, n, testPorts, "smarthost_auth: user and password"},
		{"user with colon", scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "a:b", Password: "p"}}, n, testPorts, "submit_auth: user and password"},
		{"empty password", scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "a"}}, n, testPorts, "submit_auth: user and password"},
		{"auth without smarthost", scenarios.Relay{SmarthostAuth: cred}, n, testPorts, "smarthost_auth needs a smarthost"},
		{"submission without auth", scenarios.Relay{Submission: true}, n, testPorts, "submission needs submit_auth"},
		{"bad tls", scenarios.Relay{TLS: "dnssec"}, n, testPorts, `tls "dnssec"`},
		{"bad hostname", scenarios.Relay{Hostname: "relay example"}, n, testPorts, `hostname "relay example"`},
		{"negative interval", scenarios.Relay{RetryInterval: -time.Second}, n, testPorts, "must not be negative"},
		{"no port", scenarios.Relay{}, harness.Network{}, testPorts, "SMTP port 0"},
		{"no listening port", scenarios.Relay{}, n, Ports{Submit: 2525}, "listening port 0"},
		{"implicit TLS without TLS", scenarios.Relay{Smarthost: "[smtps.example.test]:465", TLS: scenarios.TLSNone}, n, testPorts, "implicit TLS (port 465) but tls is none"},
		{"mta_sts", scenarios.Relay{MTASTS: true}, n, testPorts, "mta_sts: Exim has no MTA-STS"},
		{"dkim", scenarios.Relay{DKIM: &scenarios.RelayDKIM{Domain: "origin.test", Selector: "sel"}}, n, testPorts, "dkim: the Exim adapter does not configure DKIM signing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Conf(c.r, c.n, c.ports)
			if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v: want ErrSettings with %q", err, c.want)
			}
			if got := errors.Is(err, harness.ErrUnsupported); got != (c.name == "mta_sts" || c.name == "dkim") {
				t.Errorf("ErrUnsupported %v: %v", got, err)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1s", 400 * time.Millisecond: "1s", 1500 * time.Millisecond: "2s", 4 * time.Second: "4s",
		90 * time.Second: "90s", time.Minute: "1m", 5 * time.Minute: "5m", 2 * time.Hour: "2h", 96 * time.Hour: "4d",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestConfDANE: tls dane asks for DNSSEC in the main section, the router
// and the transport, and tries DANE with every host; other policies do
// none of it.
func TestConfDANE(t *testing.T) {
	for _, sh := range []string{"", "[smtp-relay.example.test]:587"} {
		conf, err := Conf(scenarios.Relay{TLS: scenarios.TLSDane, Smarthost: sh}, harness.Network{SMTPPort: 25}, testPorts)
		if err != nil {
			t.Fatal(err)
		}
		got := lines(conf)
		for _, want := range []string{"dns_dnssec_ok = 1", "dnssec_request_domains = *", "hosts_try_dane = *"} {
			if !got[want] {
				t.Errorf("smarthost %q: no %q in\n%s", sh, want, conf)
			}
		}
		if strings.Count(conf, "\n  dnssec_request_domains = *\n") != 2 {
			t.Errorf("smarthost %q: want dnssec_request_domains in the router and the transport:\n%s", sh, conf)
		}
		if got["hosts_require_tls = *"] {
			t.Errorf("smarthost %q: tls dane requires TLS of every host:\n%s", sh, conf)
		}
	}
	conf, err := Conf(scenarios.Relay{TLS: scenarios.TLSVerify}, harness.Network{SMTPPort: 25}, testPorts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(conf, "dane") || strings.Contains(conf, "dnssec") {
		t.Errorf("tls verify mentions DANE or DNSSEC:\n%s", conf)
	}
}
