package harness

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

// TestProfileCompatible: each setting of a scenario's relay section,
// against a profile that has it, one that says nothing, and one that has
// another.
func TestProfileCompatible(t *testing.T) {
	alice := &scenarios.Credentials{User: "alice", Password: "pw"}
	retryGap := []*scenarios.Step{{Expect: &scenarios.Expect{Conditions: scenarios.Conditions{RetryGap: &scenarios.RetryGap{}}}}}
	via := func(v scenarios.Via) []*scenarios.Step {
		return []*scenarios.Step{{Send: &scenarios.Send{From: "a@origin.test", To: []string{"b@example.test"}, Via: v}}}
	}
	for _, c := range []struct {
		name   string
		relay  scenarios.Relay
		steps  []*scenarios.Step
		p      Profile
		submit *scenarios.Credentials
		want   string // "" compatible
	}{
		{"empty section, empty profile", scenarios.Relay{}, nil, Profile{}, nil, ""},
		{"empty section, full profile", scenarios.Relay{}, nil,
			Profile{TLS: "may", Hostname: "mta.example.test", RetryInterval: time.Minute}, alice, ""},

		{"direct, direct", scenarios.Relay{}, nil, Profile{Route: "direct"}, nil, ""},
		{"direct, smarthost", scenarios.Relay{}, nil, Profile{Smarthost: "[smtp.example.test]:25"}, nil,
			"needs route direct; the relay is configured for a smarthost"},
		{"smarthost, direct", scenarios.Relay{Smarthost: "[smtp.example.test]:587"}, nil, Profile{Route: "direct"}, nil,
			"needs route smarthost; the relay is configured for direct delivery"},
		{"smarthost, not said", scenarios.Relay{Smarthost: "[smtp.example.test]:587"}, nil, Profile{Route: "smarthost"}, nil,
			"needs a smarthost; the profile does not name it (--smarthost)"},
		{"smarthost, other", scenarios.Relay{Smarthost: "[smtp.example.test]:587"}, nil, Profile{Smarthost: "[other.example.test]:587"}, nil,
			"needs smarthost smtp.example.test; the relay uses other.example.test"},
		{"smarthost, same", scenarios.Relay{Smarthost: "[smtp.example.test]:587"}, nil, Profile{Smarthost: "smtp.example.test"}, nil, ""},

		{"tls, same", scenarios.Relay{TLS: "verify"}, nil, Profile{TLS: "verify"}, nil, ""},
		{"tls, not said", scenarios.Relay{TLS: "verify"}, nil, Profile{}, nil,
			"needs TLS policy verify; the profile does not say the relay's, taken as may (--tls)"},
		{"tls may, not said", scenarios.Relay{TLS: "may"}, nil, Profile{}, nil, ""},
		{"tls, other", scenarios.Relay{TLS: "may"}, nil, Profile{TLS: "encrypt"}, nil,
			"needs TLS policy may; the relay is configured for encrypt"},
		{"tls default, other", scenarios.Relay{}, nil, Profile{TLS: "none"}, nil,
			"needs TLS policy may; the relay is configured for none"},

		{"smarthost auth, same", scenarios.Relay{Smarthost: "smtp.example.test", SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "s"}}, nil,
			Profile{Smarthost: "smtp.example.test", SmarthostUser: "relay", SmarthostPassword: "s"}, nil, ""},
		{"smarthost auth, none", scenarios.Relay{Smarthost: "smtp.example.test", SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "s"}}, nil,
			Profile{Smarthost: "smtp.example.test"}, nil, "needs smarthost credentials relay; the profile gives none (--smarthost-user)"},
		{"smarthost auth, other password", scenarios.Relay{Smarthost: "smtp.example.test", SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "s"}}, nil,
			Profile{Smarthost: "smtp.example.test", SmarthostUser: "relay", SmarthostPassword: "x"}, nil,
			"needs smarthost credentials of user relay; the relay logs in as relay"},

		{"hostname, same", scenarios.Relay{Hostname: "MTA.example.test."}, nil, Profile{Hostname: "mta.example.test"}, nil, ""},
		{"hostname, not said", scenarios.Relay{Hostname: "mta.example.test"}, nil, Profile{}, nil,
			"needs the relay's hostname to be mta.example.test; the profile does not say it (--hostname)"},
		{"hostname, other", scenarios.Relay{Hostname: "mta.example.test"}, nil, Profile{Hostname: "mx.example.test"}, nil,
			"needs the relay's hostname to be mta.example.test; it is mx.example.test"},

		{"submit auth, same", scenarios.Relay{SubmitAuth: alice}, nil, Profile{}, &scenarios.Credentials{User: "alice", Password: "pw"}, ""},
		{"submit auth, none", scenarios.Relay{SubmitAuth: alice}, nil, Profile{}, nil,
			"needs the relay to take submissions with AUTH as alice; it is given no submission credentials (--submit-user)"},
		{"submit auth, other", scenarios.Relay{SubmitAuth: alice}, nil, Profile{}, &scenarios.Credentials{User: "bob", Password: "pw"},
			"needs the relay to take submissions with AUTH as alice; it is given those of bob (--submit-user)"},

		{"retry interval, same", scenarios.Relay{RetryInterval: time.Minute}, nil, Profile{RetryInterval: time.Minute}, nil, ""},
		{"retry interval, not said", scenarios.Relay{RetryInterval: time.Minute}, nil, Profile{}, nil,
			"needs the relay's retry interval to be 1m0s; the profile does not say it (--retry-interval)"},
		{"retry interval, other", scenarios.Relay{RetryInterval: time.Minute}, nil, Profile{RetryInterval: 5 * time.Minute}, nil,
			"needs the relay's retry interval to be 1m0s; it is 5m0s"},
		{"retry gap, said", scenarios.Relay{}, retryGap, Profile{RetryInterval: time.Minute}, nil, ""},
		{"retry gap, not said", scenarios.Relay{}, retryGap, Profile{}, nil,
			"needs the relay's retry interval; the profile does not say it (--retry-interval)"},

		{"submission, named", scenarios.Relay{Submission: true}, via(scenarios.ViaSubmission), Profile{Submission: "127.0.0.1:587"}, nil, ""},
		{"submission, not named", scenarios.Relay{Submission: true}, via(scenarios.ViaSubmission), Profile{Submissions: "127.0.0.1:465"}, nil,
			"needs the relay's submission service (587-style: STARTTLS, AUTH); the profile does not name it (--submission)"},
		{"submissions, not named", scenarios.Relay{Submission: true}, via(scenarios.ViaSubmissions), Profile{Submission: "127.0.0.1:587"}, nil,
			"needs the relay's submissions service (465-style: TLS from connect); the profile does not name it (--submissions)"},
		{"submission services, no send to them", scenarios.Relay{Submission: true}, nil, Profile{}, nil, ""},

		{"main.cf", scenarios.Relay{MainCF: map[string]string{"smtp_tls_loglevel": "1", "delay_warning_time": "1h"}}, nil, Profile{}, nil,
			"needs main.cf parameters delay_warning_time, smtp_tls_loglevel, which only a Postfix started by mxsim (--relay postfix) is given"},

		{"dkim, key made for the run", scenarios.Relay{DKIM: &scenarios.RelayDKIM{Domain: "origin.test", Selector: "sel"}}, nil, Profile{}, nil,
			"needs relay dkim with a key made for the run; an external relay signs only with a key its operator configured (dkim key_file)"},
		{"dkim, key file", scenarios.Relay{DKIM: &scenarios.RelayDKIM{Domain: "origin.test", Selector: "sel", KeyFile: "k.pem"}}, nil, Profile{}, nil, ""},

		// Settings a profile cannot describe: the scenario runs (with a note).
		{"max_mx_hosts, max_lifetime", scenarios.Relay{MaxMXHosts: 3, MaxLifetime: time.Minute}, nil, Profile{}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := &scenarios.Scenario{Name: "s", Relay: c.relay, Steps: c.steps}
			ok, why := c.p.Compatible(sc, c.submit)
			if ok != (c.want == "") || why != c.want {
				t.Errorf("Compatible: %v %q, want %q", ok, why, c.want)
			}
		})
	}
}

// TestRunWithProfile: Run with a profile does not start a scenario the
// relay does not fit (no network: the relay's address is never dialled),
// and notes the settings it cannot judge.
func TestRunWithProfile(t *testing.T) {
	ext := External(ExternalConfig{Submit: "127.0.0.1:1"})
	sc := &scenarios.Scenario{Name: "s", Relay: scenarios.Relay{Smarthost: "[smtp.example.test]:587"},
		Steps: []*scenarios.Step{{Send: &scenarios.Send{From: "a@origin.test", To: []string{"b@example.test"}}}}}
	res := Run(context.Background(), sc, RunOptions{Relay: ext, Profile: &Profile{Route: "direct"}})
	if res.Verdict != report.NotApplicable || res.Reason != "needs route smarthost; the relay is configured for direct delivery" {
		t.Errorf("smarthost scenario, direct relay: %s %q", res.Verdict, res.Reason)
	}
	if len(res.Events) != 0 {
		t.Errorf("a scenario not applicable ran: %d events", len(res.Events))
	}
	sc.Relay = scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "alice", Password: "pw"}}
	res = Run(context.Background(), sc, RunOptions{Relay: External(ExternalConfig{Submit: "127.0.0.1:1", User: "bob", Password: "pw"}), Profile: &Profile{}})
	if res.Verdict != report.NotApplicable || !strings.Contains(res.Reason, "those of bob") {
		t.Errorf("submit_auth of another user: %s %q", res.Verdict, res.Reason)
	}
}
