package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

func TestParseProfile(t *testing.T) {
	p, err := ParseProfile("p.yaml", []byte("route: smarthost\ntls: verify\nsmarthost: \"[smtp.example.test]:587\"\nsmarthost_user: relay\nsmarthost_password: secret\nhostname: relay.example.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Profile{Route: "smarthost", TLS: "verify", Smarthost: "[smtp.example.test]:587", SmarthostUser: "relay", SmarthostPassword: "secret", Hostname: "relay.example.test"}
	if p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
	if p, err := ParseProfile("r.yaml", []byte("retry_interval: 5m\n")); err != nil || p.RetryInterval != 5*time.Minute {
		t.Errorf("retry_interval: %+v, %v", p, err)
	}
	if p, err := ParseProfile("empty.yaml", []byte("\n")); err != nil || p != (Profile{}) {
		t.Errorf("empty profile: %+v, %v", p, err)
	}
	for _, c := range []struct{ src, want string }{
		{"rout: direct\n", `unknown field "rout"`},
		{"route: [direct]\n", "p.yaml"},
		{"route: pigeon\n", `route "pigeon": want direct or smarthost`},
		{"tls: strict\n", `tls "strict"`},
		{"route: direct\nsmarthost: smtp.example.test\n", "with route direct"},
		{"smarthost: \"[x\"\n", `missing "]"`},
		{"smarthost_password: p\n", "go together"},
		{"route: direct\nsmarthost_user: u\nsmarthost_password: p\n", "credentials with route direct"},
		{"hostname: \"a b\"\n", `hostname "a b"`},
		{"retry_interval: -1s\n", "retry_interval -1s: want a positive duration"},
		{"retry_interval: soon\n", "p.yaml"},
		{"submission: 587\n", `submission "587": want host:port`},
		{"submissions: \"127.0.0.1\"\n", `submissions "127.0.0.1": want host:port`},
	} {
		_, err := ParseProfile("p.yaml", []byte(c.src))
		if err == nil || !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want ErrProfile and %q", c.src, err, c.want)
		}
	}
}

func TestProfileApplies(t *testing.T) {
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*scenarios.Scenario{}
	for _, c := range cases {
		byID[c.Conformance.ID] = c
	}
	for _, c := range []struct {
		p         Profile
		reference bool
		id        string
		want      string // "" applies
	}{
		{Profile{}, true, "TLS-004", ""},
		{Profile{}, true, "AUTH-001", ""},
		{Profile{}, true, "MX-011", ""},
		{Profile{}, false, "MX-006", ""},
		{Profile{}, false, "TLS-004", "needs TLS policy verify; the profile does not say"},
		{Profile{}, false, "AUTH-003", "needs route smarthost; the relay is configured for direct delivery"},
		{Profile{TLS: "may"}, true, "TLS-003", "needs TLS policy encrypt or verify; the relay is configured for may"},
		{Profile{TLS: "verify"}, true, "TLS-003", ""},
		{Profile{Route: "smarthost"}, true, "MX-006", "needs route direct; the relay is configured for a smarthost"},
		{Profile{Smarthost: "[other.example.test]:25"}, false, "AUTH-003", "needs smarthost smtp.example.test; the relay uses other.example.test"},
		{Profile{Smarthost: "[smtp.example.test]:587"}, false, "AUTH-003", ""},
		{Profile{Smarthost: "[smtp.example.test]:587"}, false, "AUTH-001", "needs smarthost credentials relay; the profile gives none"},
		{Profile{Smarthost: "[smtp.example.test]:587", SmarthostUser: "bob", SmarthostPassword: "x"}, false, "AUTH-001", "the relay logs in as bob"},
		{Profile{Smarthost: "[smtp.example.test]:587", SmarthostUser: "relay", SmarthostPassword: "secret"}, false, "AUTH-001", ""},
		{Profile{}, false, "MX-001", ""},
		{Profile{Hostname: "mta.example.test"}, true, "MX-011", "needs the relay's hostname to be relay.example.test; it is mta.example.test"},
		{Profile{Hostname: "relay.example.test"}, false, "MX-011", ""},
		{Profile{}, false, "RETRY-010", "needs the relay's retry interval; the profile does not say it (--retry-interval)"},
		{Profile{RetryInterval: 5 * time.Minute}, false, "RETRY-010", ""},
		{Profile{}, true, "RETRY-010", ""},
	} {
		sc := byID[c.id]
		if sc == nil {
			t.Fatalf("no case %s", c.id)
		}
		ok, why := c.p.Applies(sc, c.reference)
		switch {
		case c.want == "" && !ok:
			t.Errorf("%s with %+v (reference %v): not applicable: %s", c.id, c.p, c.reference, why)
		case c.want != "" && (ok || !strings.Contains(why, c.want)):
			t.Errorf("%s with %+v (reference %v): applies=%v %q, want %q", c.id, c.p, c.reference, ok, why, c.want)
		}
	}
	// MX-011 for an external relay whose name the profile does not give.
	if ok, why := (Profile{}).Applies(byID["MX-011"], false); ok || !strings.Contains(why, "--hostname") {
		t.Errorf("MX-011 external, no hostname: %v %q", ok, why)
	}
}

// TestConformanceRetryIntervalFromProfile: RETRY-010 judges an external
// relay by the retry interval its profile states. This relay retries
// every 300 ms but the profile says an hour: the first retry is caught.
func TestConformanceRetryIntervalFromProfile(t *testing.T) {
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cases, err = scenarios.SelectCases(cases, "RETRY-010"); err != nil {
		t.Fatal(err)
	}
	res := Conformance(context.Background(), cases, Profile{RetryInterval: time.Hour}, ConformanceOptions{
		Relay: func(*scenarios.Scenario) (Relay, error) {
			return Reference(referenceConfig(scenarios.Relay{RetryInterval: 300 * time.Millisecond})), nil
		},
	})
	if len(res) != 1 || res[0].Verdict != report.Fail || !strings.Contains(res[0].Reason, "sooner than 30m0s after a 4yz") {
		t.Fatalf("RETRY-010: %s %q, want a failure judged by 30m (half the profile's hour)", res[0].Verdict, res[0].Reason)
	}
}

func TestGrade(t *testing.T) {
	for _, c := range []struct {
		level scenarios.Level
		in    report.Verdict
		want  report.Verdict
	}{
		{scenarios.LevelMust, report.Fail, report.Fail},
		{scenarios.LevelMust, report.Pass, report.Pass},
		{scenarios.LevelShould, report.Fail, report.NonStrict},
		{scenarios.LevelShould, report.Pass, report.Pass},
		{scenarios.LevelInfo, report.Fail, report.Informational},
		{scenarios.LevelInfo, report.Pass, report.Informational},
		{scenarios.LevelShould, report.Error, report.Error},
		{scenarios.LevelMust, report.NotApplicable, report.NotApplicable},
	} {
		if got, _ := Grade(c.level, c.in, "why"); got != c.want {
			t.Errorf("Grade(%s, %s) = %s, want %s", c.level, c.in, got, c.want)
		}
	}
}

// TestConformanceExternalRelayRefused runs a case against an external
// relay that is not there: the case errors (it could not submit), which
// is not a pass, and a case for another configuration is not applicable.
func TestConformanceExternalRelayRefused(t *testing.T) {
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases, err = scenarios.SelectCases(cases, "MX-004", "AUTH-003")
	if err != nil {
		t.Fatal(err)
	}
	res := Conformance(context.Background(), cases, Profile{}, ConformanceOptions{
		Relay: func(*scenarios.Scenario) (Relay, error) { return External(ExternalConfig{Submit: "127.0.0.1:1"}), nil },
	})
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].ID != "AUTH-003" || res[0].Verdict != report.NotApplicable {
		t.Errorf("AUTH-003: %s %q", res[0].Verdict, res[0].Reason)
	}
	if res[1].ID != "MX-004" || res[1].Verdict != report.Fail || !strings.Contains(res[1].Reason, "127.0.0.1:1") {
		t.Errorf("MX-004: %s %q", res[1].Verdict, res[1].Reason)
	}
	if res[1].Level != "MUST" || res[1].Clause != "RFC 5321 §5.1" || res[1].Description == "" {
		t.Errorf("metadata not carried: %+v", res[1])
	}
}

// TestConformanceExternalWithoutFlush: an external relay without a flush
// command cannot be made to retry now: a case that flushes is not
// applicable to it (it would fail a relay that retries later); with a
// flush command it runs.
func TestConformanceExternalWithoutFlush(t *testing.T) {
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases, err = scenarios.SelectCases(cases, "RETRY-006")
	if err != nil {
		t.Fatal(err)
	}
	for _, flush := range []string{"", "true"} {
		res := Conformance(context.Background(), cases, Profile{}, ConformanceOptions{
			Relay: func(*scenarios.Scenario) (Relay, error) {
				return External(ExternalConfig{Submit: "127.0.0.1:1", FlushCmd: flush}), nil
			},
		})
		na := res[0].Verdict == report.NotApplicable && strings.Contains(res[0].Reason, "--flush-cmd")
		if na != (flush == "") {
			t.Errorf("flush command %q: %s %q", flush, res[0].Verdict, res[0].Reason)
		}
	}
}

// TestConformanceUnsupportedSetting: a relay the harness configures per
// case that cannot take a case's setting at all (ErrUnsupported) makes the
// case not applicable, with the adapter's reason; any other error of the
// adapter stays an error.
func TestConformanceUnsupportedSetting(t *testing.T) {
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases, err = scenarios.SelectCases(cases, "SUBMIT-001", "MX-004")
	if err != nil {
		t.Fatal(err)
	}
	res := Conformance(context.Background(), cases, Profile{}, ConformanceOptions{
		Reference: true,
		Relay: func(sc *scenarios.Scenario) (Relay, error) {
			if sc.Relay.Submission {
				return nil, fmt.Errorf("adapter: no submission service: %w", ErrUnsupported)
			}
			return nil, errors.New("adapter: broken")
		},
	})
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].ID != "MX-004" || res[0].Verdict != report.Error {
		t.Errorf("MX-004: %s %q, want an error", res[0].Verdict, res[0].Reason)
	}
	if res[1].ID != "SUBMIT-001" || res[1].Verdict != report.NotApplicable || !strings.Contains(res[1].Reason, "no submission service") {
		t.Errorf("SUBMIT-001: %s %q, want not applicable with the adapter's reason", res[1].Verdict, res[1].Reason)
	}
}

// TestConformanceInterrupted: a cancelled run reports every case, none
// as passed.
func TestConformanceInterrupted(t *testing.T) {
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range Conformance(ctx, cases[:3], Profile{}, ConformanceOptions{}) {
		if r.Verdict == report.Pass || r.ID == "" {
			t.Errorf("%s: %s after cancel", r.ID, r.Verdict)
		}
	}
}

// TestBrokenInvariantFailsAnyLevel: a relay that delivers twice fails
// even an INFO case, whose other failures are only informational.
func TestBrokenInvariantFailsAnyLevel(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "scenarios", "conformance", "retry-007-mixed-recipients.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(data), "level: MUST", "level: INFO", 1)
	sc, err := scenarios.Parse("info-007.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		variant string
		want    report.Verdict
	}{{"", report.Informational}, {"resends-accepted", report.Fail}} {
		res := Conformance(context.Background(), []*scenarios.Scenario{sc}, Profile{}, ConformanceOptions{
			Configure: func(cfg *ReferenceConfig) { cfg.Variant = c.variant },
		})
		if res[0].Verdict != c.want {
			t.Errorf("variant %q: %s %q, want %s", c.variant, res[0].Verdict, res[0].Reason, c.want)
		}
	}
}
