package harness_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// recorder is a relay that only keeps the Network it is started with.
type recorder struct{ n harness.Network }

func (r *recorder) Start(ctx context.Context, n harness.Network) error { r.n = n; return nil }
func (r *recorder) Submission() harness.Submission                     { return harness.Submission{} }
func (r *recorder) Flush(ctx context.Context) error                    { return nil }
func (r *recorder) Stop(ctx context.Context) error                     { return nil }

// TestRelaySettingsReachTheRelay: a scenario's relay section, and a Go
// Config's RelaySettings, reach Relay.Start in Network.Relay.
func TestRelaySettingsReachTheRelay(t *testing.T) {
	t.Parallel()
	sc, err := scenarios.Parse("x.yaml", []byte(`
name: x
dns:
  example.test: {mx: [{pref: 10, host: mx1.example.test}]}
hosts:
  mx1.example.test: {}
  smtps.example.test: {ports: [465]}
relay:
  hostname: relay.example.test
  tls: verify
  smarthost: "[smtps.example.test]:465"
  smarthost_auth: {user: relay, password: secret}
  submit_auth: {user: alice, password: pw}
  submission: true
  retry_interval: 2s
  max_lifetime: 1m
  max_mx_hosts: 3
  mta_sts: true
steps:
  - wait: 1ms
`))
	if err != nil {
		t.Fatal(err)
	}
	want := harness.RelaySettings{
		Hostname: "relay.example.test",
		TLS:      scenarios.TLSVerify,
		Smarthost: &harness.Smarthost{Host: "smtps.example.test", Port: 465, ImplicitTLS: true,
			Auth: &harness.Credentials{User: "relay", Password: "secret"}},
		SubmitAuth:    &harness.Credentials{User: "alice", Password: "pw"},
		Submission:    true,
		RetryInterval: 2 * time.Second,
		MaxLifetime:   time.Minute,
		MaxMXHosts:    3,
		MTASTS:        true,
	}
	rec := &recorder{}
	if res := harness.Run(context.Background(), sc, harness.RunOptions{Relay: rec}); res.Verdict != "pass" {
		t.Fatalf("run: %s %s", res.Verdict, res.Reason)
	}
	if !reflect.DeepEqual(rec.n.Relay, want) {
		t.Errorf("Run: Network.Relay = %+v, want %+v", rec.n.Relay, want)
	}

	rec = &recorder{}
	harness.Start(t, harness.Config{
		Zones:         []fakedns.Zone{harness.Zone("example.test", harness.MX(10, "mx1.example.test"))},
		Hosts:         append(harness.Hosts("mx1.example.test"), harness.Host{Name: "smtps.example.test", Ports: []int{465}}),
		Relay:         rec,
		RelaySettings: want,
	})
	if !reflect.DeepEqual(rec.n.Relay, want) {
		t.Errorf("Start: Network.Relay = %+v, want %+v", rec.n.Relay, want)
	}
}

// TestReferenceTakesRelaySettings: the reference relay, given no
// smarthost of its own, uses the Config's: a Go network with a smarthost
// in a few lines.
func TestReferenceTakesRelaySettings(t *testing.T) {
	t.Parallel()
	sh, err := harness.ParseSmarthost("[smtp.provider.test]:587")
	if err != nil {
		t.Fatal(err)
	}
	sh.Auth = &harness.Credentials{User: "relay", Password: "secret"}
	env := harness.Start(t, harness.Config{
		Zones: []fakedns.Zone{
			harness.Zone("example.test", harness.MX(10, "mx1.example.test"), harness.MX(20, "mx2.example.test")),
			harness.Zone("origin.test", harness.MX(10, "mx.origin.test")),
		},
		Hosts: append(harness.Hosts("mx1.example.test", "mx2.example.test", "mx.origin.test"), harness.Host{
			Name: "smtp.provider.test", Ports: []int{587}, Behavior: fakesmtp.Behavior{
				TLS:  fakesmtp.TLS{StartTLS: fakesmtp.TLSRequired},
				Auth: &fakesmtp.Auth{Users: map[string]string{"relay": "secret"}, Required: true},
			}}),
		Relay:         harness.Reference(harness.ReferenceConfig{}),
		RelaySettings: harness.RelaySettings{Smarthost: sh, TLS: scenarios.TLSVerify},
	})
	send(t, env, "bob@example.test")
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "smtp.provider.test"))
	must(t, harness.CheckAuthenticated(env.Journal(), "smtp.provider.test", "relay"))
	must(t, harness.CheckNotDelivered(env.Journal(), "bob@example.test", "mx1.example.test"))
}

func TestParseSmarthost(t *testing.T) {
	for in, want := range map[string]harness.Smarthost{
		"smtp.example.test":         {Host: "smtp.example.test", Port: 25, MXLookup: true},
		"[SMTP.example.test.]:587":  {Host: "smtp.example.test", Port: 587},
		"[smtps.example.test]:465":  {Host: "smtps.example.test", Port: 465, ImplicitTLS: true},
		"smtp.example.test:2525":    {Host: "smtp.example.test", Port: 2525, MXLookup: true},
		"[smtp.example.test]":       {Host: "smtp.example.test", Port: 25},
		"smtps.example.test:465":    {Host: "smtps.example.test", Port: 465, MXLookup: true, ImplicitTLS: true},
		"[mail.provider.test]:1025": {Host: "mail.provider.test", Port: 1025},
	} {
		got, err := harness.ParseSmarthost(in)
		if err != nil || *got != want {
			t.Errorf("ParseSmarthost(%q) = %+v, %v; want %+v", in, got, err, want)
			continue
		}
		// String writes what ParseSmarthost reads.
		if again, err := harness.ParseSmarthost(got.String()); err != nil || *again != want {
			t.Errorf("ParseSmarthost(%q.String() = %q) = %+v, %v", in, got.String(), again, err)
		}
	}
	for in, want := range map[string]string{
		"":                     `smarthost "": `,
		"[smtp.example.test":   `smarthost "[smtp.example.test": missing "]"`,
		"smtp.example.test:x":  `smarthost "smtp.example.test:x": bad port "x"`,
		"smtp.example.test:0":  `bad port "0"`,
		"[smtp.example.test]x": `bad port "x"`,
		"bad..name":            `smarthost "bad..name": `,
	} {
		_, err := harness.ParseSmarthost(in)
		if !errors.Is(err, harness.ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSmarthost(%q): %v, want ErrConfig and %q", in, err, want)
		}
	}
}

// TestConfigErrorsAllAtOnce: every mistake of a Config is reported in
// one error, each naming its field and worded as a scenario file's.
func TestConfigErrorsAllAtOnce(t *testing.T) {
	t.Parallel()
	_, err := harness.New(context.Background(), harness.Config{
		Zones: []fakedns.Zone{
			{Name: "example.test", Records: map[string][]string{
				"@":   {"MX ten mx1.example.test.", "MX 20 mx9.example.test.", "MX 30 mx1"},
				"www": {"A 10.0.0.1"},
			}},
			{Name: "example.test"},
		},
		Hosts: []harness.Host{{Name: "mx1.example.test"}, {Name: "mx1.example.test"}, {Name: "bad..name"}},
		RelaySettings: harness.RelaySettings{
			TLS:       "sometimes",
			Smarthost: &harness.Smarthost{Host: "smtp.example.test", Port: 25},
		},
	})
	want := []string{
		`harness: bad config: Hosts[1]: duplicate host "mx1.example.test"`,
		`harness: bad config: Hosts[2]: host "bad..name": not a valid host name`,
		`harness: bad config: Zones[1]: duplicate zone "example.test" (first at Zones[0])`,
		`harness: bad config: RelaySettings.TLS: invalid tls "sometimes" (valid: none, may, encrypt, verify, dane)`,
		`harness: bad config: Zones[0].Records["@"][0]: bad record "MX ten mx1.example.test." for example.test: bad MX Pref (write it as in a zone file, without owner: "MX 10 mx1.example.test.")`,
		`harness: bad config: Zones[0].Records["www"][0]: record "A 10.0.0.1" for www.example.test: 10.0.0.1 is not on loopback (127.0.0.0/8, ::1): the relay would leave the simulated network (allow_non_loopback: true permits it)`,
		`harness: bad config: Zones[0].Records["@"][1]: MX target "mx9.example.test" is not defined in hosts and has no A/AAAA record in dns`,
		`harness: bad config: RelaySettings: smarthost "smtp.example.test" is not defined in hosts`,
	}
	if err == nil {
		t.Fatal("New took the config")
	}
	if again := (harness.Config{Zones: []fakedns.Zone{harness.Zone("example.test", harness.MX(10, "mx9.example.test"))}}).Validate(); again == nil ||
		!strings.Contains(again.Error(), `MX target "mx9.example.test" is not defined`) {
		t.Errorf("Validate: %v", again)
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	if !errors.Is(err, harness.ErrConfig) || !errors.Is(err, fakedns.ErrNotLoopback) {
		t.Errorf("error does not match ErrConfig and fakedns.ErrNotLoopback: %v", err)
	}
}

// TestConfigMXTargets: an MX must point at a host, or at a name with an
// address record, a published name or a CNAME — as in a scenario file.
func TestConfigMXTargets(t *testing.T) {
	t.Parallel()
	ok := []harness.Config{
		{Zones: []fakedns.Zone{harness.Zone("example.test", harness.MX(10, "mx1.example.test"))}, Hosts: harness.Hosts("mx1.example.test")},
		// Relative, with TTL and class, a null MX.
		{Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"300 IN MX 10 mx1"}}}}, Hosts: harness.Hosts("mx1.example.test")},
		{Zones: []fakedns.Zone{harness.Zone("example.test", harness.MX(0, "."))}},
		// An address record of the zones, a published name, an alias.
		{Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mail"}, "mail": {"A 127.0.0.9"}}}}},
		{Zones: []fakedns.Zone{harness.Zone("example.test", harness.MX(10, "mx.example.test"))},
			Hosts: []harness.Host{{Name: "mx-a.example.test", PublishAs: []string{"mx.example.test"}}}},
		{Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"MX 10 alias"}, "alias": {"CNAME mx1.example.test."}}}},
			Hosts: harness.Hosts("mx1.example.test")},
	}
	for i, cfg := range ok {
		env, err := harness.New(context.Background(), cfg)
		if err != nil {
			t.Errorf("config %d: %v", i, err)
			continue
		}
		env.Close()
	}
	for _, c := range []struct {
		zone fakedns.Zone
		want string
	}{
		{harness.Zone("example.test", harness.MX(10, "mx2.example.test")),
			`Zones[0].Records["@"][0]: MX target "mx2.example.test" is not defined in hosts and has no A/AAAA record in dns`},
		{fakedns.Zone{Name: "example.test", Records: map[string][]string{"example.test.": {"MX 10 other"}}},
			`Zones[0].Records["example.test."][0]: MX target "other.example.test" is not defined in hosts`},
		{harness.Zone("example.test", harness.MX(0, "."), harness.MX(10, "mx1.example.test")),
			`Zones[0].Records["@"][0]: null MX (host ".") must be the only MX record of example.test (RFC 7505 §3)`},
		{harness.Zone("example.test", harness.MX(5, ".")), `null MX (host ".") must have pref 0`},
		{harness.Zone("example.test", harness.Record{Owner: "other.test.", Data: "A 127.0.0.1"}), `Zones[0].Records["other.test."][0]: name "other.test" is not in zone example.test`},
		{harness.Zone("example.test", harness.Record{Owner: "@", Data: "A 127.0.0"}), `Zones[0].Records["@"][0]: bad record "A 127.0.0" for example.test: bad A A`},
		{harness.Zone("bad..zone"), `Zones[0]: zone "bad..zone": not a valid domain`},
		// The constructors' bad forms are the Config's.
		{harness.Zone("example.test", harness.MX(-1, "mx1.example.test")), `Zones[0].Records["@"][0]: bad record "MX -1 mx1.example.test." for example.test: bad MX Pref`},
		{harness.Zone("example.test", harness.MX(70000, "mx1.example.test")), `bad record "MX 70000 mx1.example.test." for example.test: bad MX Pref`},
		{harness.Zone("example.test", harness.MX(10, "bad..name")), `Zones[0].Records["@"][0]: bad record "MX 10 bad..name." for example.test`},
	} {
		_, err := harness.New(context.Background(), harness.Config{Zones: []fakedns.Zone{c.zone}, Hosts: harness.Hosts("mx1.example.test")})
		if !errors.Is(err, harness.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want ErrConfig and %q", c.zone, err, c.want)
		}
	}
}

func TestRelaySettingsBadForms(t *testing.T) {
	t.Parallel()
	hosts := harness.Hosts("smtp.example.test")
	for _, c := range []struct {
		s    harness.RelaySettings
		want string
	}{
		{harness.RelaySettings{Hostname: "bad..name"}, `RelaySettings.Hostname: bad domain "bad..name"`},
		{harness.RelaySettings{TLS: "VERIFY"}, `RelaySettings.TLS: invalid tls "VERIFY" (valid: none, may, encrypt, verify, dane)`},
		{harness.RelaySettings{RetryInterval: -time.Second}, `RelaySettings.RetryInterval: must not be negative, got -1s`},
		{harness.RelaySettings{MaxLifetime: -time.Second}, `RelaySettings.MaxLifetime: must not be negative, got -1s`},
		{harness.RelaySettings{MaxMXHosts: -1}, `RelaySettings.MaxMXHosts: must not be negative, got -1`},
		{harness.RelaySettings{SubmitAuth: &harness.Credentials{User: "alice"}}, `RelaySettings.SubmitAuth: needs a User and a Password`},
		{harness.RelaySettings{Submission: true}, `RelaySettings: submission needs submit_auth`},
		{harness.RelaySettings{Smarthost: &harness.Smarthost{Port: 25}}, `RelaySettings.Smarthost.Host: bad domain ""`},
		{harness.RelaySettings{Smarthost: &harness.Smarthost{Host: "SMTP.example.test", Port: 25}}, `RelaySettings.Smarthost.Host: write "SMTP.example.test" lowercase`},
		{harness.RelaySettings{Smarthost: &harness.Smarthost{Host: "smtp.example.test"}}, `RelaySettings.Smarthost.Port: 0 out of range 1..65535`},
		{harness.RelaySettings{Smarthost: &harness.Smarthost{Host: "smtp.example.test", Port: 25, Auth: &harness.Credentials{Password: "x"}}}, `RelaySettings.Smarthost.Auth: needs a User and a Password`},
		{harness.RelaySettings{Smarthost: &harness.Smarthost{Host: "nowhere.example.test", Port: 25}}, `RelaySettings: smarthost "nowhere.example.test" is not defined in hosts`},
	} {
		_, err := harness.New(context.Background(), harness.Config{Hosts: hosts, RelaySettings: c.s})
		if !errors.Is(err, harness.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want ErrConfig and %q", c.s, err, c.want)
		}
	}
}

func TestNetworkResolver(t *testing.T) {
	t.Parallel()
	env := harness.Start(t, harness.Config{
		Zones: []fakedns.Zone{harness.Zone("example.test", harness.MX(20, "mx2.example.test"), harness.MX(10, "mx1.example.test"))},
		Hosts: harness.Hosts("mx1.example.test", "mx2.example.test"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res := env.Network().Resolver()
	mxs, err := res.LookupMX(ctx, "example.test")
	if err != nil || len(mxs) != 2 || mxs[0].Host != "mx1.example.test." || mxs[0].Pref != 10 {
		t.Fatalf("LookupMX: %v, %v", mxs, err)
	}
	ips, err := res.LookupHost(ctx, "mx2.example.test")
	want, _, _ := net.SplitHostPort(env.Host("mx2.example.test").Addr())
	if err != nil || len(ips) != 1 || ips[0] != want {
		t.Errorf("LookupHost mx2: %v, %v; want [%s]", ips, err, want)
	}
	if err := harness.CheckQueried(env.Journal(), "example.test", "MX"); err != nil {
		t.Errorf("the fake DNS was not asked: %v", err)
	}
	if _, err := (harness.Network{}).Resolver().LookupMX(ctx, "example.test"); err == nil || !strings.Contains(err.Error(), "no DNSAddr") {
		t.Errorf("a Network without DNSAddr: %v, want an error naming DNSAddr", err)
	}
}

// TestReportHelpers: the Report methods write what the checks read.
func TestReportHelpers(t *testing.T) {
	t.Parallel()
	n := harness.Network{Journal: journal.New()}
	must(t, n.ReportAttempt("mx1.example.test", "127.0.0.11:25", []string{"bob@example.test"}, errors.New("connection refused")))
	must(t, n.ReportAttempt("MX2.example.test.", "127.0.0.12:25", nil, nil))
	must(t, n.ReportDeferred("bob@example.test", 451, "4.3.0 try later"))
	must(t, n.ReportDelivered("mx2.example.test", "127.0.0.12:25", []string{"carol@example.test"}))
	must(t, n.ReportBounced("alice@origin.test", "dave@example.test", 550, "5.1.1 no such user"))
	j := n.Journal
	must(t, harness.CheckAttemptedInOrder(j, "mx1.example.test", "mx2.example.test"))
	must(t, harness.CheckDeferred(j, "bob@example.test", 451))
	must(t, harness.CheckBounced(j, "alice@origin.test", "550"))
	must(t, harness.CheckBounced(j, "alice@origin.test", "5.1.1"))
	events := j.Events()
	if e := events[0]; e.Kind != journal.KindRelayAttempt || e.Peer != "mx1.example.test" || e.Remote != "127.0.0.11:25" ||
		e.Text != "mx1.example.test[127.0.0.11]:25 to=bob@example.test" || e.Err != "connection refused" {
		t.Errorf("attempt: %+v", e)
	}
	if e := events[2]; e.Kind != journal.KindRelayDefer || e.Code != 451 || e.Text != "to=bob@example.test: 451 4.3.0 try later" {
		t.Errorf("defer: %+v", e)
	}
	if e := events[3]; e.Kind != journal.KindRelayDeliver || e.Peer != "mx2.example.test" || e.Code != 250 {
		t.Errorf("deliver: %+v", e)
	}

	bad := []struct {
		name   string
		report func(harness.Network) error
		want   string
	}{
		{"attempt: no host", func(n harness.Network) error { return n.ReportAttempt("", "127.0.0.1:25", nil, nil) }, `ReportAttempt: bad report: host "": not a valid host name`},
		{"attempt: address", func(n harness.Network) error { return n.ReportAttempt("mx1.example.test", "127.0.0.1", nil, nil) }, `addr "127.0.0.1": want "IP:port"`},
		{"attempt: recipient", func(n harness.Network) error {
			return n.ReportAttempt("mx1.example.test", "", []string{"bob"}, nil)
		}, `recipient "bob": want an address`},
		{"deliver: no recipient", func(n harness.Network) error { return n.ReportDelivered("mx1.example.test", "127.0.0.1:25", nil) }, "ReportDelivered: bad report: no recipient"},
		{"defer: 5yz", func(n harness.Network) error { return n.ReportDeferred("bob@example.test", 550, "no") }, "ReportDeferred: bad report: code 550: want 400..499, or 0"},
		{"defer: recipient", func(n harness.Network) error { return n.ReportDeferred("", 451, "later") }, `ReportDeferred: bad report: recipient "": want an address`},
		{"bounce: 2yz", func(n harness.Network) error { return n.ReportBounced("a@x.test", "bob@example.test", 250, "ok") }, "code 250: want 400..599"},
		{"bounce: recipient list", func(n harness.Network) error {
			return n.ReportBounced("a@x.test", "bob@example.test,carol@example.test", 550, "no")
		}, `recipient "bob@example.test,carol@example.test"`},
	}
	for _, c := range bad {
		before := len(n.Journal.Events())
		err := c.report(n)
		if !errors.Is(err, harness.ErrBadReport) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrBadReport and %q", c.name, err, c.want)
		}
		if after := len(n.Journal.Events()); after != before {
			t.Errorf("%s: journaled %d events", c.name, after-before)
		}
		if err := c.report(harness.Network{}); !errors.Is(err, harness.ErrBadReport) {
			t.Errorf("%s without a journal: %v, want ErrBadReport", c.name, err)
		}
	}
	if err := (harness.Network{}).ReportAttempt("mx1.example.test", "", nil, nil); err == nil || !strings.Contains(err.Error(), "no Journal") {
		t.Errorf("without a journal: %v", err)
	}
}

func TestHostsBadForms(t *testing.T) {
	t.Parallel()
	_, err := harness.New(context.Background(), harness.Config{Hosts: harness.Hosts("", "mx1.example.test", "MX1.example.test.")})
	for _, want := range []string{`Hosts[0]: host 1 has no name`, `Hosts[2]: duplicate host "MX1.example.test."`} {
		if !errors.Is(err, harness.ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want ErrConfig and %q", err, want)
		}
	}
}

// TestConstructors: the constructors make the literals they stand for.
func TestConstructors(t *testing.T) {
	got := harness.Zone("example.test",
		harness.MX(10, "mx1.example.test"), harness.MX(20, "mx2.example.test."), harness.MX(0, "."),
		harness.TXT(`v=spf1 "-all"`), harness.Record{Owner: "www", Data: "A 127.0.0.9"})
	want := fakedns.Zone{Name: "example.test", Records: map[string][]string{
		"@":   {"MX 10 mx1.example.test.", "MX 20 mx2.example.test.", "MX 0 .", `TXT "v=spf1 \"-all\""`},
		"www": {"A 127.0.0.9"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Zone = %+v, want %+v", got, want)
	}
	if h := harness.Hosts("a.test", "b.test"); !reflect.DeepEqual(h, []harness.Host{{Name: "a.test"}, {Name: "b.test"}}) {
		t.Errorf("Hosts = %+v", h)
	}
}
