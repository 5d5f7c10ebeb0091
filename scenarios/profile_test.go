package scenarios

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
)

// TestProfilesShipped: the six profiles of docs/profiles.md are there,
// each with sources, and each of their faults changes the behaviour,
// alone, and validates.
func TestProfilesShipped(t *testing.T) {
	want := []string{"gmail-like", "mailgun-like", "microsoft-like", "sendgrid-like", "ses-like", "yahoo-like"}
	if got := ProfileName("").Values(); !reflect.DeepEqual(got, want) {
		t.Fatalf("profiles %v, want %v", got, want)
	}
	for _, p := range Profiles() {
		if len(p.Sources) == 0 || len(p.Faults) == 0 || len(p.Ports) == 0 {
			t.Errorf("%s: sources %v, faults %v, ports %v: want some of each", p.Name, p.Sources, p.Faults, p.Ports)
		}
		for _, s := range p.Sources {
			if !strings.HasPrefix(s, "https://") {
				t.Errorf("%s: source %q is not an https URL", p.Name, s)
			}
		}
		base, err := p.Behavior()
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if base.Limits.MaxSize == 0 || base.TLS.StartTLS == "" {
			t.Errorf("%s: base behaviour %+v: want its size limit and STARTTLS", p.Name, base)
		}
		if p.Role == "smarthost" && (base.Auth == nil || !base.Auth.Required) {
			t.Errorf("%s: a smarthost that does not require AUTH: %+v", p.Name, base.Auth)
		}
		for _, f := range p.Faults {
			b, err := p.Behavior(f.Name)
			if err != nil {
				t.Errorf("%s %s: %v", p.Name, f.Name, err)
				continue
			}
			if reflect.DeepEqual(b, base) {
				t.Errorf("%s: fault %s changes nothing", p.Name, f.Name)
			}
		}
		if _, err := p.Behavior(p.FaultNames()...); err != nil {
			t.Errorf("%s with every fault: %v", p.Name, err)
		}
	}
}

// TestProfileBehaviors checks what some profiles and faults are, as the
// provider documents them.
func TestProfileBehaviors(t *testing.T) {
	gmail, _ := LookupProfile("gmail-like")
	b, err := gmail.Behavior("rate_limited", "tls_required")
	if err != nil {
		t.Fatal(err)
	}
	if l := b.Limits.MessagesPerClient; l == nil || l.Reply == nil || l.Reply.Code != 421 || l.Reply.Enhanced != "4.7.28" || l.Count != 2 || l.Per != 2*time.Second {
		t.Errorf("gmail-like rate_limited: %+v", l)
	}
	if b.TLS.StartTLS != fakesmtp.TLSRequired || b.Limits.MaxSize != 35882577 {
		t.Errorf("gmail-like tls_required: %+v, size %d", b.TLS, b.Limits.MaxSize)
	}
	sg, _ := LookupProfile("sendgrid-like")
	b, err = sg.Behavior()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Auth.Users["apikey"]; !ok {
		t.Errorf("sendgrid-like users %v: want apikey", b.Auth.Users)
	}
	ses, _ := LookupProfile("ses-like")
	b, err = ses.Behavior("throttled")
	if err != nil {
		t.Fatal(err)
	}
	if l := b.Limits.MessagesPerClient; l == nil || l.Reply.Code != 454 || !strings.Contains(l.Reply.Text, "Throttling failure: Maximum sending rate exceeded") || l.Per != time.Second {
		t.Errorf("ses-like throttled: %+v", l)
	}
	if _, err := ses.Behavior("rate_limited"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `unknown fault "rate_limited" of profile ses-like (valid: throttled, daily_quota, sender_unverified)`) {
		t.Errorf("unknown fault: %v", err)
	}
	if _, ok := LookupProfile("gmail"); ok {
		t.Errorf("LookupProfile(gmail) found one")
	}
}

// TestProfileOverride: the host's own keys win; behaviour parts merge
// key by key; faults apply in order, under the host's keys.
func TestProfileOverride(t *testing.T) {
	src := `name: override
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test:
    profile: gmail-like
    faults: [rate_limited, recipient_unknown, over_quota]
    limits: {max_size: 1000}
    tls: {starttls: none}
  mx2.example.test:
    # Lifting the profile's size limit: max_size 0 with unlimited_size.
    limits: {max_size: 0, unlimited_size: true}
    profile: sendgrid-like
    auth: {users: {apikey: mine}}
    greeting: "421 4.3.2 busy"
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
`
	s, err := Parse("override.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Host("mx1.example.test")
	b, err := h.Behavior.Apply(fakesmtp.Behavior{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Limits.MaxSize != 1000 || b.Limits.MessagesPerClient == nil || b.Limits.MessagesPerClient.Count != 2 {
		t.Errorf("limits %+v: want the host's max_size and the fault's rate limit", b.Limits)
	}
	if b.TLS.StartTLS != fakesmtp.TLSNone {
		t.Errorf("tls %+v: want the host's none", b.TLS)
	}
	if len(b.Replies.Rcpt) != 1 || b.Replies.Rcpt[0].Reply.Code != 452 {
		t.Errorf("rcpt %+v: want over_quota's 452, the last fault", b.Replies.Rcpt)
	}
	if h.Profile != "gmail-like" || !reflect.DeepEqual(h.Faults, []string{"rate_limited", "recipient_unknown", "over_quota"}) {
		t.Errorf("profile %q faults %v", h.Profile, h.Faults)
	}
	if p := s.PosOf(&h.Faults[1]); p != (Pos{Line: 8, Col: 28}) {
		t.Errorf("faults[1] at %v, want 8:28", p)
	}
	if p := s.PosOf(&h.Limits.MaxSize); p != (Pos{Line: 9, Col: 24}) {
		t.Errorf("limits.max_size at %v, want 9:24 (the host's)", p)
	}
	if p := s.PosOf(&h.Limits.MessagesPerClient); p != (Pos{Line: 8, Col: 14}) {
		t.Errorf("limits.messages_per_client at %v, want 8:14 (the fault's name)", p)
	}
	b2, err := s.Host("mx2.example.test").Behavior.Apply(fakesmtp.Behavior{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b2.Auth.Users, map[string]string{"apikey": "mine"}) || !b2.Auth.Required || len(b2.Replies.Greeting) != 1 || !b2.Limits.UnlimitedSize {
		t.Errorf("sendgrid-like overridden: auth %+v greeting %+v", b2.Auth, b2.Replies.Greeting)
	}
}

// TestProfileErrors: every bad form of profile and faults, and mistakes
// that come of a host's keys over a profile's, at their line and column.
func TestProfileErrors(t *testing.T) {
	for _, c := range []struct {
		name, hosts, want string
	}{
		{"unknown profile", "    profile: gmial-like\n",
			`7:14: invalid profile "gmial-like" (valid: gmail-like, mailgun-like, microsoft-like, sendgrid-like, ses-like, yahoo-like) (did you mean "gmail-like"?)`},
		{"profile not a string", "    profile: [gmail-like]\n", `7:14: "profile" must be a string, got a list`},
		{"unknown fault", "    profile: gmail-like\n    faults: [rate_limted]\n",
			`8:14: unknown fault "rate_limted" of profile gmail-like (valid: rate_limited, recipient_rate_limited, deferred, recipient_unknown, over_quota, tls_required, auth_required) (did you mean "rate_limited"?)`},
		{"fault of another profile", "    profile: ses-like\n    faults: [rate_limited]\n",
			`8:14: unknown fault "rate_limited" of profile ses-like (valid: throttled, daily_quota, sender_unverified)`},
		{"dns fault on a host", "    profile: gmail-like\n    faults: [servfail]\n",
			`8:14: unknown fault "servfail" of profile gmail-like (valid: rate_limited, recipient_rate_limited, deferred, recipient_unknown, over_quota, tls_required, auth_required); servfail is a DNS fault: write it under a zone in dns, as fault or faults`},
		{"dns fault map on a host", "    profile: gmail-like\n    faults: [{name: example.test, kind: servfail}]\n",
			`8:14: host fault must be the name of a fault of profile gmail-like (valid: rate_limited, recipient_rate_limited, deferred, recipient_unknown, over_quota, tls_required, auth_required), got a mapping; DNS faults (servfail, nxdomain, …) go under a zone in dns, as fault or faults`},
		{"faults not a list", "    profile: gmail-like\n    faults: rate_limited\n",
			`8:13: host faults must be a list of the names of faults of the host's profile, got a string; DNS faults`},
		{"faults without profile", "    faults: [rate_limited]\n",
			`7:5: host faults are faults of a provider profile: give the host a profile (gmail-like, mailgun-like, microsoft-like, sendgrid-like, ses-like, yahoo-like) too; DNS faults`},
		{"duplicate fault", "    profile: gmail-like\n    faults: [deferred, deferred]\n", `8:24: duplicate fault "deferred" (first at 8:14)`},
		{"duplicate faults key", "    profile: gmail-like\n    faults: [deferred]\n    faults: [deferred]\n", `9:5: duplicate key "faults" (first at 8:5)`},
		{"duplicate profile key", "    profile: gmail-like\n    profile: ses-like\n", `8:5: duplicate key "profile" (first at 7:5)`},
		{"bad override", "    profile: ses-like\n    limits: {messages_per_client: {count: 0, per: 1s}}\n",
			`8:43: limits.messages_per_client.count: 0: want at least 1 message per window`},
		{"override clashing with the profile", "    profile: gmail-like\n    limits: {unlimited_size: true}\n",
			`8:30: limits.unlimited_size: contradicts max_size 35882577`},
		{"unknown key beside a profile", "    profile: gmail-like\n    limts: {}\n", `8:5: unknown key "limts" in host mx1.example.test (did you mean "limits"?)`},
		{"profile fault name in dns", "", `4:14: "rate_limited" is a fault of provider profiles, not a DNS fault: write it under a host that has a profile, as faults: [rate_limited]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			zone := "    mx: [{pref: 10, host: mx1.example.test}]\n"
			if c.hosts == "" {
				zone += "    faults: [rate_limited]\n"
				c.hosts = "    profile: gmail-like\n"
				zone = "    faults: [rate_limited]\n    mx: [{pref: 10, host: mx1.example.test}]\n"
			}
			src := "name: bad\ndns:\n  example.test:\n" + zone + "hosts:\n  mx1.example.test:\n" + c.hosts + "steps:\n  - flush: {}\n"
			_, err := Parse("bad.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), "bad.yaml:"+c.want) {
				t.Errorf("source:\n%s\nerror:\n%v\nwant %q", src, err, c.want)
			}
		})
	}
}

// TestReadProfilesRejects: a profile file the loader would ship broken
// is refused, with the file named.
func TestReadProfilesRejects(t *testing.T) {
	good := "name: x-like\ndescription: d\nrole: receiver\nsources: [https://example.test/]\nports: [25]\nbehavior: {}\nfaults:\n  f: {description: d, behavior: {tls: {starttls: required}}}\n"
	if ps, err := readProfiles(fstest.MapFS{"profiles/x-like.yaml": {Data: []byte(good)}}); err != nil || len(ps) != 1 || ps[0].Faults[0].Name != "f" {
		t.Fatalf("good profile: %v %v", ps, err)
	}
	for name, src := range map[string]string{
		"other name":     strings.Replace(good, "name: x-like", "name: y-like", 1),
		"unknown key":    good + "extra: 1\n",
		"no sources":     strings.Replace(good, "sources: [https://example.test/]\n", "", 1),
		"bad role":       strings.Replace(good, "role: receiver", "role: mx", 1),
		"no behavior":    strings.Replace(good, "behavior: {}\n", "", 1),
		"fault no descr": strings.Replace(good, "{description: d, behavior:", "{behavior:", 1),
		"no ports":       strings.Replace(good, "ports: [25]\n", "", 1),
		"empty ports":    strings.Replace(good, "ports: [25]", "ports: []", 1),
		"port 0":         strings.Replace(good, "ports: [25]", "ports: [25, 0]", 1),
		"port too big":   strings.Replace(good, "ports: [25]", "ports: [25, 65536]", 1),
		"port twice":     strings.Replace(good, "ports: [25]", "ports: [25, 587, 25]", 1),
		"receiver no 25": strings.Replace(good, "ports: [25]", "ports: [587]", 1),
	} {
		if _, err := readProfiles(fstest.MapFS{"profiles/x-like.yaml": {Data: []byte(src)}}); err == nil || !strings.Contains(err.Error(), "profiles/x-like.yaml") {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}

// TestProfilePorts: a host listens on its profile's ports unless it
// lists its own; a smarthost profile's ports leave out the shared port
// 25, so a relay must name one of them, and is told which when it does
// not.
func TestProfilePorts(t *testing.T) {
	src := `name: ports
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: {profile: gmail-like}
  smtp.sendgrid.test:
    profile: sendgrid-like
  smtp.ses.test:
    profile: ses-like
    ports: [25, 587]
  smtp.mailgun.test:
    profile: mailgun-like
    ports: []
relay:
  smarthost: "[smtp.sendgrid.test]:587"
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
`
	s, err := Parse("ports.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]int{
		"mx1.example.test":   {25},
		"smtp.sendgrid.test": {587, 465, 2525},
		"smtp.ses.test":      {25, 587}, // the host's own win
		"smtp.mailgun.test":  nil,       // written empty: the shared port
	} {
		h := s.Host(name)
		if !slices.Equal(h.Ports, want) {
			t.Errorf("%s: ports %v, want %v", name, h.Ports, want)
		}
	}
	sg := s.Host("smtp.sendgrid.test")
	if p := s.PosOf(&sg.Ports[1]); p != (Pos{Line: 8, Col: 14}) {
		t.Errorf("sendgrid-like's port 465 at %v, want 8:14 (the profile's name)", p)
	}
	if p := s.PosOf(&s.Host("smtp.ses.test").Ports[1]); p != (Pos{Line: 11, Col: 17}) {
		t.Errorf("the host's own port 587 at %v, want 11:17", p)
	}
	for _, ok := range []string{"[smtp.sendgrid.test]:465", "[smtp.sendgrid.test]:2525", "[smtp.ses.test]", "[smtp.ses.test]:587", "[smtp.mailgun.test]:25", "[smtp.mailgun.test]"} {
		if _, err := Parse("ports.yaml", []byte(strings.Replace(src, "[smtp.sendgrid.test]:587", ok, 1))); err != nil {
			t.Errorf("smarthost %s: %v", ok, err)
		}
	}
	for sh, want := range map[string]string{
		"[smtp.sendgrid.test]":      `ports.yaml:16:14: smarthost "[smtp.sendgrid.test]": host smtp.sendgrid.test does not listen on port 25 (its ports, from profile sendgrid-like: [587, 465, 2525]); name one of them (smarthost: "[smtp.sendgrid.test]:587") or give the host ports of its own (ports: [587, 465, 2525, 25])`,
		"smtp.sendgrid.test:25":     `smarthost "smtp.sendgrid.test:25": host smtp.sendgrid.test does not listen on port 25 (its ports, from profile sendgrid-like: [587, 465, 2525]); name one of them (smarthost: "smtp.sendgrid.test:587")`,
		"[smtp.sendgrid.test]:2587": `host smtp.sendgrid.test does not listen on port 2587 (its ports, from profile sendgrid-like: [587, 465, 2525]); name one of them (smarthost: "[smtp.sendgrid.test]:587")`,
		"[smtp.ses.test]:465":       `host smtp.ses.test does not listen on port 465 (its ports: [25, 587]); add 465 to its ports (ports: [25, 587, 465])`,
	} {
		_, err := Parse("ports.yaml", []byte(strings.Replace(src, "[smtp.sendgrid.test]:587", sh, 1)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("smarthost %s: %v\nwant %q", sh, err, want)
		}
	}
}

// TestProfileAnchors: a profile reached through an alias or a merge key
// ("<<") is applied as one written out, the host's keys still winning.
func TestProfileAnchors(t *testing.T) {
	src := `name: anchors
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: &yahoo {profile: yahoo-like, faults: [deferred]}
  mx2.example.test: *yahoo
  mx3.example.test:
    <<: *yahoo
    tls: {starttls: required}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
`
	s, err := Parse("anchors.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mx1.example.test", "mx2.example.test", "mx3.example.test"} {
		h := s.Host(name)
		b, err := h.Behavior.Apply(fakesmtp.Behavior{})
		if err != nil {
			t.Fatal(err)
		}
		if h.Profile != "yahoo-like" || len(b.Replies.Greeting) != 1 || b.Replies.Greeting[0].Reply.Code != 421 || b.Limits.MaxSize != 41697280 {
			t.Errorf("%s: profile %q, greeting %+v, size %d: want yahoo-like with its deferred fault", name, h.Profile, b.Replies.Greeting, b.Limits.MaxSize)
		}
		if want := map[bool]fakesmtp.TLSMode{true: fakesmtp.TLSRequired, false: fakesmtp.TLSOffered}[name == "mx3.example.test"]; b.TLS.StartTLS != want {
			t.Errorf("%s: starttls %s, want %s", name, b.TLS.StartTLS, want)
		}
	}
	// A fault under a merge key is checked like one written out.
	bad := strings.Replace(src, "faults: [deferred]", "faults: [deferd]", 1)
	if _, err := Parse("anchors.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), `anchors.yaml:6:59: unknown fault "deferd" of profile yahoo-like`) {
		t.Errorf("bad fault through aliases: %v", err)
	}
}
