package postfix

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

func TestParams(t *testing.T) {
	n := harness.Network{SMTPPort: 2525, CAPEM: []byte("pem")}
	p, err := Params(scenarios.Relay{
		Hostname:      "relay.origin.test",
		TLS:           scenarios.TLSVerify,
		Smarthost:     "[smtp-relay.example.test]:587",
		SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "s3cret!"},
		RetryInterval: 1500 * time.Millisecond,
		MaxLifetime:   time.Minute,
		MaxMXHosts:    3,
		MainCF:        map[string]string{"smtp_connect_timeout": "1s"},
	}, n)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"myhostname":              "relay.origin.test",
		"smtp_tcp_port":           "2525",
		"smtp_tls_security_level": "verify",
		"smtp_tls_CAfile":         CAFile,
		// RFC 6409 port 587, as it is (no port mapped: a fixed plan);
		// brackets stay.
		"relayhost":               "[smtp-relay.example.test]:587",
		"smtp_sasl_auth_enable":   "yes",
		"smtp_sasl_password_maps": "static:relay:s3cret!",
		"minimal_backoff_time":    "2s",
		"maximal_backoff_time":    "3s",
		"maximal_queue_lifetime":  "60s",
		"bounce_queue_lifetime":   "60s",
		"smtp_mx_address_limit":   "3",
		"smtp_connect_timeout":    "1s", // main_cf wins over the defaults
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}

	p, _ = Params(scenarios.Relay{Smarthost: "smtp.example.test"}, n)
	if p["relayhost"] != "smtp.example.test:2525" {
		t.Errorf("relayhost without brackets = %q", p["relayhost"])
	}
	// On a random plan, 587 goes where the network maps it.
	mapped := n
	mapped.MappedPorts = map[int]int{587: 40587, 465: 40465}
	p, _ = Params(scenarios.Relay{Smarthost: "[smtp-relay.example.test]:587"}, mapped)
	if p["relayhost"] != "[smtp-relay.example.test]:40587" {
		t.Errorf("relayhost of a mapped 587 = %q", p["relayhost"])
	}
	p, _ = Params(scenarios.Relay{Smarthost: "[smtps.example.test]:465"}, mapped)
	if p["smtp_tls_wrappermode"] != "yes" || p["smtp_tls_security_level"] != "encrypt" || p["relayhost"] != "[smtps.example.test]:40465" {
		t.Errorf("implicit TLS relayhost: wrappermode %q, level %q, relayhost %q", p["smtp_tls_wrappermode"], p["smtp_tls_security_level"], p["relayhost"])
	}
	p, _ = Params(scenarios.Relay{Smarthost: "[smtps.example.test]:465", TLS: scenarios.TLSVerify}, n)
	if p["smtp_tls_security_level"] != "verify" {
		t.Errorf("implicit TLS relayhost under verify: level %q", p["smtp_tls_security_level"])
	}
	p, _ = Params(scenarios.Relay{}, harness.Network{SMTPPort: 25})
	if _, ok := p["smtp_tls_CAfile"]; ok || p["smtp_tls_security_level"] != "may" || p["relayhost"] != "" {
		t.Errorf("defaults: %v", p)
	}
}

func TestParamsErrors(t *testing.T) {
	n := harness.Network{SMTPPort: 25}
	cases := []struct {
		name string
		r    scenarios.Relay
		n    harness.Network
		want string
	}{
		{"external settings", scenarios.Relay{Submit: "127.0.0.1:25"}, n, "relay kind external"},
		{"submission without a user", scenarios.Relay{Submission: true}, n, "needs submit_auth"},
		{"submit password with space", scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "u", Password: "a b"}}, n, "submit_auth: user and password must be printable"},
		{"submit user with realm", scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "u@example.test", Password: "p"}}, n, "the user without @"},
		{"submit user empty", scenarios.Relay{SubmitAuth: &scenarios.Credentials{Password: "p"}}, n, "submit_auth: user"},
		{"bad smarthost", scenarios.Relay{Smarthost: "[smtp.example.test"}, n, `missing "]"`},
		{"password with space", scenarios.Relay{SmarthostAuth: &scenarios.Credentials{User: "u", Password: "a b"}}, n, "without spaces"},
		{"owned parameter", scenarios.Relay{MainCF: map[string]string{"inet_interfaces": "all"}}, n, "inet_interfaces is set by the adapter"},
		{"bad name", scenarios.Relay{MainCF: map[string]string{"Relay Host": "x"}}, n, `"Relay Host" is not a parameter name`},
		{"line break", scenarios.Relay{MainCF: map[string]string{"relayhost": "a\nb"}}, n, "line break"},
		{"no port", scenarios.Relay{}, harness.Network{}, "SMTP port 0"},
		{"implicit TLS without TLS", scenarios.Relay{Smarthost: "[smtps.example.test]:465", TLS: scenarios.TLSNone}, n, "implicit TLS (port 465) but tls is none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Params(c.r, c.n)
			if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v: want ErrSettings with %q", err, c.want)
			}
		})
	}
}

func TestLogEvents(t *testing.T) {
	from := map[string]string{}
	lines := []string{
		"postfix/qmgr[80]: 4B1C2E0123: from=<alice@origin.test>, size=321, nrcpt=1 (queue active)",
		"postfix/smtp[81]: connect to mx1.example.test[127.20.1.10]:2525: Connection refused",
		"postfix/smtp[81]: 4B1C2E0123: to=<bob@example.test>, relay=mx2.example.test[127.20.1.11]:2525, delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)",
		"postfix/smtp[82]: 4B1C2E0123: to=<bob@example.test>, relay=mx1.example.test[127.20.1.10]:2525, delay=0.1, delays=0/0/0/0, dsn=4.7.1, status=deferred (host mx1.example.test[127.20.1.10] said: 450 4.7.1 greylisted (in reply to RCPT TO command))",
		"postfix/smtp[83]: 4B1C2E0123: to=<bob@example.test>, relay=mx1.example.test[127.20.1.10]:2525, delay=0.1, delays=0/0/0/0, dsn=5.7.1, status=bounced (host mx1.example.test[127.20.1.10] said: 550 5.7.1 relaying denied (in reply to RCPT TO command))",
		"postfix/smtp[84]: fatal: Invalid TLS level \"bogus\"",
	}
	var got []string
	var evs []journal.Event
	for _, l := range lines {
		for _, e := range events(l, from) {
			evs = append(evs, e)
			got = append(got, fmt.Sprintf("%s peer=%s code=%d err=%q", e.Kind, e.Peer, e.Code, e.Err))
		}
	}
	want := []string{
		`relay.log peer= code=0 err=""`,
		`relay.log peer= code=0 err=""`,
		`relay.attempt peer=mx1.example.test code=0 err="Connection refused"`,
		`relay.log peer= code=0 err=""`,
		`relay.deliver peer=mx2.example.test code=250 err=""`,
		`relay.log peer= code=0 err=""`,
		`relay.defer peer=mx1.example.test code=450 err=""`,
		`relay.log peer= code=0 err=""`,
		`relay.bounce peer=mx1.example.test code=550 err=""`,
		`relay.log peer= code=0 err="Invalid TLS level \"bogus\""`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range evs {
		if e.Kind == journal.KindRelayBounce && (e.Message == nil || e.Message.From != "alice@origin.test") {
			t.Errorf("bounce event without the sender: %+v", e.Message)
		}
	}
	// A status line of a message this scenario's parser never saw (a
	// delivery of an earlier scenario still under way) is only a log line.
	stray := events("postfix/smtp[85]: 9C0FFEE123: to=<bob@example.test>, relay=mx1.example.test[127.20.1.10]:25, delay=3, delays=0/0/3/0, dsn=4.4.1, status=deferred (connect to mx1.example.test[127.20.1.10]:25: Connection timed out)", from)
	if len(stray) != 1 || stray[0].Kind != journal.KindRelayLog {
		t.Errorf("stray status line: %+v, want one relay.log", stray)
	}
}

func TestParamsSubmitAuth(t *testing.T) {
	p, err := Params(scenarios.Relay{Submission: true, SubmitAuth: &scenarios.Credentials{User: "alice", Password: "secret"}}, harness.Network{SMTPPort: 25})
	if err != nil {
		t.Fatal(err)
	}
	if p["smtpd_sasl_auth_enable"] != "yes" || p["smtpd_sender_restrictions"] != authRequired || p["smtpd_delay_reject"] != "no" {
		t.Errorf("submit_auth: %v", p)
	}
	for _, v := range p {
		if strings.Contains(v, "secret") {
			t.Errorf("the submit_auth password is in main.cf: %v", p)
		}
	}
}

func TestConfigKey(t *testing.T) {
	base, _ := Params(scenarios.Relay{}, harness.Network{SMTPPort: 25, CAPEM: []byte("ca1")})
	verify, _ := Params(scenarios.Relay{TLS: scenarios.TLSVerify}, harness.Network{SMTPPort: 25, CAPEM: []byte("ca1")})
	alice := &scenarios.Credentials{User: "alice", Password: "a"}
	switch {
	case configKey(base, nil, []byte("ca1")) != configKey(base, nil, []byte("ca2")):
		t.Error("a new CA changes the key of a configuration that checks no certificate")
	case configKey(verify, nil, []byte("ca1")) == configKey(verify, nil, []byte("ca2")):
		t.Error("a new CA leaves the key of tls: verify as it was: smtp(8) would keep the old CA")
	case configKey(base, nil, nil) == configKey(verify, nil, nil):
		t.Error("different parameters, same key")
	case configKey(base, alice, nil) == configKey(base, &scenarios.Credentials{User: "alice", Password: "b"}, nil):
		t.Error("a new submit_auth password leaves the key as it was")
	}
	if stateful(base) || !stateful(map[string]string{"smtp_connection_cache_on_demand": "yes"}) ||
		!stateful(map[string]string{"smtp_tls_session_cache_database": "btree:/tmp/x"}) {
		t.Error("stateful: wrong")
	}
}

func TestReadMainCF(t *testing.T) {
	p, err := ReadMainCF(strings.NewReader("# mine\nmyhostname = relay.origin.test\nsmtpd_relay_restrictions = permit_mynetworks,\n    reject_unauth_destination\ninet_interfaces = all\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p["myhostname"] != "relay.origin.test" || p["smtpd_relay_restrictions"] != "permit_mynetworks, reject_unauth_destination" {
		t.Errorf("parsed %v", p)
	}
	if _, ok := p["inet_interfaces"]; ok {
		t.Errorf("inet_interfaces is the adapter's and must be left out")
	}
	if _, err := ReadMainCF(strings.NewReader("myhostname relay.test\n")); !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), "main.cf:1") {
		t.Errorf("bad line: %v", err)
	}
}

func TestQuickAttempt(t *testing.T) {
	e := quickAttempt([]byte("<22>Nov 26 11:34:48 postfix/smtp[81]: connect to mx1.example.test[127.20.1.10]:2525: Connection refused\n"))
	if e == nil || e.Peer != "mx1.example.test" || e.Remote != "127.20.1.10" || e.Err != "Connection refused" {
		t.Fatalf("quickAttempt: %+v", e)
	}
	if e := quickAttempt([]byte("<22>Nov 26 11:34:48 postfix/smtpd[81]: connect from localhost[127.0.0.1]")); e != nil {
		t.Errorf("connect from is not an attempt: %+v", e)
	}
}

// TestParamsDANE: tls dane asks for DNSSEC (Postfix then trusts the AD
// bit) and turns the root-zone probe off; other policies leave DNSSEC
// alone. The TLSA owner follows smtp_tcp_port, the network's port.
func TestParamsDANE(t *testing.T) {
	p, err := Params(scenarios.Relay{TLS: scenarios.TLSDane}, harness.Network{SMTPPort: 2525})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"smtp_tls_security_level": "dane", "smtp_dns_support_level": "dnssec", "dnssec_probe": "", "smtp_tcp_port": "2525"} {
		if got, ok := p[k]; !ok || got != want {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, want)
		}
	}
	for _, tls := range []scenarios.TLSPolicy{"", scenarios.TLSMay, scenarios.TLSVerify} {
		p, err := Params(scenarios.Relay{TLS: tls}, harness.Network{SMTPPort: 25})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p["smtp_dns_support_level"]; ok {
			t.Errorf("tls %q sets smtp_dns_support_level", tls)
		}
		if _, ok := p["dnssec_probe"]; ok {
			t.Errorf("tls %q sets dnssec_probe", tls)
		}
	}
}

// TestParamsMTASTS: relay mta_sts points Postfix's TLS policy lookups at
// the resolver the adapter starts; without it there is no policy map.
func TestParamsMTASTS(t *testing.T) {
	n := harness.Network{SMTPPort: 25, CAPEM: []byte("pem")}
	p, err := Params(scenarios.Relay{MTASTS: true}, n)
	if err != nil {
		t.Fatal(err)
	}
	if p["smtp_tls_policy_maps"] != "socketmap:inet:127.0.0.1:8461:postfix" || p["smtp_tls_CAfile"] != CAFile {
		t.Errorf("policy map %q, CAfile %q", p["smtp_tls_policy_maps"], p["smtp_tls_CAfile"])
	}
	if !verifies(p) {
		t.Error("a policy map may make Postfix check certificates: the CA must be part of the configuration key")
	}
	p, _ = Params(scenarios.Relay{}, n)
	if _, ok := p["smtp_tls_policy_maps"]; ok {
		t.Errorf("policy map without mta_sts: %q", p["smtp_tls_policy_maps"])
	}
}
