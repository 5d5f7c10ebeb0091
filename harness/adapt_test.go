package harness

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

// adaptCaseYAML is a case not about TLS: two MX hosts without TLS, and a
// sender domain (origin.test) without a zone, whose bounce host ConfigFor
// adds.
const adaptCaseYAML = `
name: adapt
conformance: {id: MX-900, title: t, clause: c, level: MUST, rule: 6, requirement: r}
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}, {pref: 20, host: mx2.example.test}]
hosts:
  mx1.example.test: {}
  mx2.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test, at: mx1.example.test}, within: 3s}
`

// smartCaseYAML is a smarthost case not about AUTH.
const smartCaseYAML = `
name: smart
conformance: {id: AUTH-900, title: t, clause: c, level: MUST, rule: 25, requirement: r, applies: {route: smarthost}}
dns:
  example.test: {}
hosts:
  smtp.example.test: {ports: [587]}
relay: {smarthost: "[smtp.example.test]:587"}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test, at: smtp.example.test}, within: 3s}
`

func parseCase(t *testing.T, src string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("case.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

var (
	encrypt    = Profile{Route: scenarios.RouteDirect, TLS: scenarios.TLSEncrypt}
	verify     = Profile{Route: scenarios.RouteDirect, TLS: scenarios.TLSVerify}
	smartCreds = Profile{Route: scenarios.RouteSmarthost, TLS: scenarios.TLSMay, Smarthost: "[smtp.example.test]:587", SmarthostUser: "relay", SmarthostPassword: "secret"}
)

// TestAdaptMandatoryTLS: rule 1. Under mandatory TLS every host of a case
// not about TLS, and the bounce host, offer STARTTLS with a valid
// certificate; the case itself is not changed; the note says so.
func TestAdaptMandatoryTLS(t *testing.T) {
	sc := parseCase(t, adaptCaseYAML)
	out, note, ok, why := encrypt.adaptCase(sc, false)
	if !ok {
		t.Fatalf("not applicable: %s", why)
	}
	for _, name := range []string{"mx1.example.test", "mx2.example.test", "mx.origin.test"} {
		h := out.Host(name)
		if h == nil || h.TLS == nil || *h.TLS != *validTLS() {
			t.Errorf("%s: tls %+v, want STARTTLS offered with a valid certificate", name, h)
		}
		if !strings.Contains(note, name) {
			t.Errorf("note %q does not name %s", note, name)
		}
	}
	if !strings.Contains(note, "mandatory TLS") {
		t.Errorf("note %q does not say why", note)
	}
	if out.ZoneOf("origin.test") == nil {
		t.Error("no zone for the bounce host's domain")
	}
	if sc.Host("mx1.example.test").TLS != nil || len(sc.Hosts) != 2 || sc.ZoneOf("origin.test") != nil {
		t.Error("adaptCase changed the case it was given")
	}
	// The adapted network starts: ConfigFor takes it, with no second
	// bounce host.
	cfg, err := ConfigFor(out)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, h := range cfg.Hosts {
		if seen[h.Name] {
			t.Errorf("host %s twice", h.Name)
		}
		seen[h.Name] = true
		if h.Behavior.TLS.StartTLS != fakesmtp.TLSOffered {
			t.Errorf("host %s: STARTTLS %q", h.Name, h.Behavior.TLS.StartTLS)
		}
	}

	// Policies that are not mandatory change nothing.
	for _, tls := range []scenarios.TLSPolicy{"", scenarios.TLSNone, scenarios.TLSMay} {
		if out, note, ok, _ := (Profile{TLS: tls}).adaptCase(sc, false); out != sc || note != "" || !ok {
			t.Errorf("tls %q: adapted (%q)", tls, note)
		}
	}
}

// TestAdaptNotAboutTLSOnly: a case about TLS (a TLS rule, or applies tls)
// keeps its network; a host that sets up TLS itself keeps it, or the case
// does not apply when that TLS cannot serve a relay that must encrypt.
func TestAdaptNotAboutTLSOnly(t *testing.T) {
	for _, src := range []string{
		strings.Replace(adaptCaseYAML, "rule: 6", "rule: 21", 1),
		strings.Replace(adaptCaseYAML, "requirement: r}", "requirement: r, applies: {tls: [may, encrypt]}}", 1),
	} {
		sc := parseCase(t, src)
		if out, note, ok, why := encrypt.adaptCase(sc, false); out != sc || note != "" || !ok {
			t.Errorf("a case about TLS was adapted: %q %q", note, why)
		}
	}

	own := strings.Replace(adaptCaseYAML, "mx2.example.test: {}", "mx2.example.test: {tls: {starttls: required, cert: self-signed}}", 1)
	out, _, ok, why := encrypt.adaptCase(parseCase(t, own), false)
	if !ok || out.Host("mx2.example.test").TLS.StartTLS != fakesmtp.TLSRequired {
		t.Errorf("encrypt: a host's own TLS was not kept (%v, %s)", ok, why)
	}
	for _, c := range []struct {
		p    Profile
		src  string
		want string
	}{
		{verify, own, "host mx2.example.test serves a self-signed certificate"},
		{encrypt, strings.Replace(adaptCaseYAML, "mx2.example.test: {}", "mx2.example.test: {tls: {starttls: none}}", 1), "host mx2.example.test offers no STARTTLS"},
		{encrypt, strings.Replace(adaptCaseYAML, "mx2.example.test: {}", `mx2.example.test: {replies: {starttls: "454 4.7.0 no"}}`, 1), "host mx2.example.test refuses STARTTLS"},
		{encrypt, adaptCaseYAML + "  - set: {host: mx1.example.test, clear: [tls]}\n", "host mx1.example.test has its TLS changed by a step"},
	} {
		_, _, ok, why := c.p.adaptCase(parseCase(t, c.src), false)
		if ok || !strings.HasPrefix(why, c.want) || !strings.Contains(why, "would change what the case checks") {
			t.Errorf("%s: ok %v, why %q; want not applicable: %q…", c.p.TLS, ok, why, c.want)
		}
	}
}

// TestAdaptSmarthostCredentials: rule 2. The smarthost takes the
// profile's credentials, after STARTTLS; the reference relay logs in.
func TestAdaptSmarthostCredentials(t *testing.T) {
	sc := parseCase(t, smartCaseYAML)
	out, note, ok, why := smartCreds.adaptCase(sc, false)
	if !ok {
		t.Fatalf("not applicable: %s", why)
	}
	h := out.Host("smtp.example.test")
	if h.Auth == nil || !h.Auth.Required || len(h.Auth.Users) != 1 || h.Auth.Users["relay"] != "secret" || h.Auth.AllowInsecure {
		t.Errorf("smarthost auth %+v", h.Auth)
	}
	if h.TLS == nil || *h.TLS != *validTLS() {
		t.Errorf("smarthost tls %+v", h.TLS)
	}
	if !strings.Contains(note, "given AUTH") || !strings.Contains(note, "smarthost credentials") {
		t.Errorf("note %q", note)
	}
	if sc.Host("smtp.example.test").Auth != nil {
		t.Error("adaptCase changed the case it was given")
	}
	if cfg := smartCreds.configure(sc); cfg.SmarthostAuth == nil || cfg.SmarthostAuth.User != "relay" {
		t.Errorf("the reference relay does not log in: %+v", cfg.SmarthostAuth)
	}

	other := strings.Replace(smartCaseYAML, "smtp.example.test: {ports: [587]}", "smtp.example.test: {ports: [587], tls: {}, auth: {users: {other: pw}}}", 1)
	if _, _, ok, why := smartCreds.adaptCase(parseCase(t, other), false); ok || !strings.Contains(why, "takes other credentials") {
		t.Errorf("a smarthost with other users: ok %v, %q", ok, why)
	}
	noTLS := strings.Replace(smartCaseYAML, "smtp.example.test: {ports: [587]}", "smtp.example.test: {ports: [587], tls: {starttls: none}}", 1)
	if _, _, ok, why := smartCreds.adaptCase(parseCase(t, noTLS), false); ok || !strings.Contains(why, "cannot send it its credentials") {
		t.Errorf("a smarthost without TLS: ok %v, %q", ok, why)
	}
}

// TestAdaptTLSNoneNoAuth: rule 3. Under TLS none a case in which the
// relay must authenticate does not apply, unless it is about TLS none.
func TestAdaptTLSNoneNoAuth(t *testing.T) {
	none := smartCreds
	none.TLS = scenarios.TLSNone
	if _, _, ok, why := none.adaptCase(parseCase(t, smartCaseYAML), false); ok || !strings.Contains(why, "never sent without TLS") {
		t.Errorf("credentials under none: ok %v, %q", ok, why)
	}
	none.SmarthostUser, none.SmarthostPassword = "", ""
	if out, _, ok, _ := none.adaptCase(parseCase(t, smartCaseYAML), false); !ok || out.Host("smtp.example.test").Auth != nil {
		t.Error("no credentials under none: the case was changed or not applicable")
	}
	auth := strings.Replace(smartCaseYAML, "applies: {route: smarthost}", "applies: {route: smarthost, auth: true}", 1)
	auth = strings.Replace(auth, `relay: {smarthost: "[smtp.example.test]:587"}`, `relay: {smarthost: "[smtp.example.test]:587", smarthost_auth: {user: relay, password: secret}}`, 1)
	if _, _, ok, _ := none.adaptCase(parseCase(t, auth), true); ok {
		t.Error("an AUTH case applies under TLS none")
	}
	about := strings.Replace(auth, "auth: true}", "auth: true, tls: [none]}", 1)
	about = strings.Replace(about, "smarthost_auth:", "tls: none, smarthost_auth:", 1)
	if _, _, ok, why := none.adaptCase(parseCase(t, about), true); !ok {
		t.Errorf("a case about TLS none does not apply: %s", why)
	}
}

// TestAdaptEndToEnd: a case not about TLS runs under mandatory TLS over
// real sockets, passes, and its reason says the network was adapted.
func TestAdaptEndToEnd(t *testing.T) {
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := scenarios.SelectCases(cases, "MX-006", "RETRY-004")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Conformance(context.Background(), sel, verify, ConformanceOptions{Parallel: 2}) {
		if r.Verdict != report.Pass || len(r.Notes) == 0 || !strings.HasPrefix(r.Notes[0], "network adapted to the profile: hosts given STARTTLS") {
			t.Errorf("%s: %s: %q", r.ID, r.Verdict, r.Notes)
		}
	}
}

// TestConformanceConfigurableRelayGetsProfile: a relay the harness
// configures per case (Postfix) is given the case's relay section with
// the profile on top, as the reference relay is.
func TestConformanceConfigurableRelayGetsProfile(t *testing.T) {
	sc := parseCase(t, smartCaseYAML)
	p := smartCreds
	p.TLS = scenarios.TLSVerify
	var got scenarios.Relay
	before := sc.Relay
	res := Conformance(context.Background(), []*scenarios.Scenario{sc}, p, ConformanceOptions{
		Reference: true,
		Relay: func(sc *scenarios.Scenario) (Relay, error) {
			got = sc.Relay
			return nil, errors.New("not started")
		},
	})
	if res[0].Verdict != report.Error {
		t.Fatalf("%s: %s", res[0].Verdict, res[0].Reason)
	}
	if got.TLS != scenarios.TLSVerify || got.SmarthostAuth == nil || got.SmarthostAuth.User != "relay" || got.Smarthost != sc.Relay.Smarthost {
		t.Errorf("relay section %+v", got)
	}
	if sc.Relay.TLS != before.TLS || sc.Relay.SmarthostAuth != nil {
		t.Error("the case's own relay section was changed")
	}
}
