package harness

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/scenarios"
)

// lookup asks the environment's DNS for name/qtype and returns the
// answer's records as text without owner, TTL and class.
func lookup(t *testing.T, env *Env, name string, qtype uint16) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, err := dns.Exchange(m, env.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range r.Answer {
		h := rr.Header().String()
		out = append(out, strings.TrimSpace(strings.TrimPrefix(rr.String(), h)))
	}
	return out
}

// fetchPolicy GETs https://mta-sts.DOMAIN/.well-known/mta-sts.txt from
// the address DNS gives that name, trusting the environment's CA.
func fetchPolicy(t *testing.T, env *Env, domain string) (*http.Response, string, error) {
	t.Helper()
	addrs := lookup(t, env, "mta-sts."+domain, dns.TypeA)
	if len(addrs) != 1 {
		t.Fatalf("mta-sts.%s: A records %v, want one", domain, addrs)
	}
	ip := addrs[0]
	_, port, _ := net.SplitHostPort(env.MTASTSHost(domain).Addr())
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(ip, port))
		},
		TLSClientConfig:   &tls.Config{RootCAs: env.CA().Pool(), ServerName: "mta-sts." + domain},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://mta-sts." + domain + "/.well-known/mta-sts.txt")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func TestMTASTSWebHosts(t *testing.T) {
	env := Start(t, Config{
		Zones: []fakedns.Zone{Zone("example.test", MX(10, "mx1.example.test"))},
		Hosts: Hosts("mx1.example.test"),
		MTASTS: []MTASTS{
			{Domain: "example.test", Mode: scenarios.STSEnforce, MX: []string{"MX1.example.test", "*.example.test"}, ID: "a1", MaxAge: 600},
			{Domain: "missing.test", Mode: scenarios.STSTesting, MX: []string{"mx.missing.test"}, Missing: true},
			{Domain: "expired.test", Mode: scenarios.STSNone, Cert: fakesmtp.CertExpired},
			{Domain: "wrong.test", Mode: scenarios.STSNone, Cert: fakesmtp.CertWrongName},
			{Domain: "self.test", Mode: scenarios.STSNone, Cert: fakesmtp.CertSelfSigned},
		},
	})
	if got := lookup(t, env, "_mta-sts.example.test", dns.TypeTXT); len(got) != 1 || got[0] != `"v=STSv1; id=a1;"` {
		t.Errorf("TXT = %q", got)
	}
	// Each web host has an address of its own, in the environment's block,
	// other than the SMTP host's.
	web := env.MTASTSHost("example.test")
	mx1, _ := netip.ParseAddrPort(env.Host("mx1.example.test").Addr())
	ap, err := netip.ParseAddrPort(web.Addr())
	if err != nil || ap.Addr() == mx1.Addr() || !env.plan.hostBlock().Contains(ap.Addr()) {
		t.Errorf("web host at %s, mx1 at %s, block %s", web.Addr(), mx1, env.plan.hostBlock())
	}
	if other, _ := netip.ParseAddrPort(env.MTASTSHost("missing.test").Addr()); other.Addr() == ap.Addr() {
		t.Errorf("two web hosts share %s", ap.Addr())
	}
	if env.Network().MTASTSPort != int(ap.Port()) {
		t.Errorf("Network.MTASTSPort %d, web host on %d", env.Network().MTASTSPort, ap.Port())
	}

	resp, body, err := fetchPolicy(t, env, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.example.test\r\nmax_age: 600\r\n"
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" || body != want {
		t.Errorf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if web.Fetches() != 1 {
		t.Errorf("fetches %d", web.Fetches())
	}
	if resp, _, err := fetchPolicy(t, env, "missing.test"); err != nil || resp.StatusCode != 404 {
		t.Errorf("missing: %v, %v", resp, err)
	}
	for _, d := range []string{"expired.test", "wrong.test", "self.test"} {
		var ve *tls.CertificateVerificationError
		if _, _, err := fetchPolicy(t, env, d); !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a certificate error", d, err)
		}
	}

	// A live change: the new body, and the TXT record's new id.
	if err := env.SetMTASTS("example.test", MTASTS{Mode: scenarios.STSTesting, MX: []string{"mx2.example.test"}, ID: "b2"}); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := fetchPolicy(t, env, "example.test"); !strings.Contains(body, "mode: testing\r\nmx: mx2.example.test\r\nmax_age: 86400") {
		t.Errorf("after SetMTASTS: %q", body)
	}
	if got := lookup(t, env, "_mta-sts.example.test", dns.TypeTXT); len(got) != 1 || !strings.Contains(got[0], "id=b2;") {
		t.Errorf("TXT after SetMTASTS = %q", got)
	}
	for _, c := range []struct {
		domain string
		p      MTASTS
		want   string
	}{
		{"nowhere.test", MTASTS{Mode: scenarios.STSNone}, "no MTA-STS policy for nowhere.test"},
		{"example.test", MTASTS{Mode: "strict"}, `mode "strict"`},
		{"example.test", MTASTS{Mode: scenarios.STSEnforce}, "mode enforce needs MX patterns"},
		{"example.test", MTASTS{Mode: scenarios.STSNone, ID: "a-b"}, `id "a-b"`},
	} {
		if err := env.SetMTASTS(c.domain, c.p); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetMTASTS(%s, %+v) = %v, want %q", c.domain, c.p, err, c.want)
		}
	}
}

func TestMTASTSConfigErrors(t *testing.T) {
	err := Config{MTASTS: []MTASTS{
		{Domain: "", Mode: scenarios.STSNone},
		{Domain: "a.test", Mode: "enforced", MX: []string{"mx.a.test"}},
		{Domain: "b.test", Mode: scenarios.STSEnforce},
		{Domain: "c.test", Mode: scenarios.STSTesting, MX: []string{"mx*.c.test"}, MaxAge: -5, ID: "x_y", Cert: "forged"},
		{Domain: "c.test", Mode: scenarios.STSNone},
	}}.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("Validate: %v", err)
	}
	for _, want := range []string{
		`MTASTS[0]: domain "": not a valid domain`,
		`MTASTS[1]: mode "enforced" (want enforce, testing or none)`,
		`MTASTS[2]: mode enforce needs MX patterns`,
		`MTASTS[3]: mx "mx*.c.test": a wildcard is only "*." at the start, max_age -5 out of range 0..31557600, id "x_y": want 1 to 32 letters and digits, cert "forged"`,
		`MTASTS[4]: a second policy for c.test`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestMTASTSReferenceRelay runs the reference relay with mta_sts over the
// web host, the fake DNS and the SMTP hosts, with a live policy change.
func TestMTASTSReferenceRelay(t *testing.T) {
	offered := fakesmtp.Behavior{TLS: fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered}}
	env := Start(t, Config{
		Zones:         []fakedns.Zone{Zone("example.test", MX(10, "mx1.example.test"), MX(20, "mx2.example.test"))},
		Hosts:         []Host{{Name: "mx1.example.test", Behavior: offered}, {Name: "mx2.example.test", Behavior: offered}},
		MTASTS:        []MTASTS{{Domain: "example.test", Mode: scenarios.STSEnforce, MX: []string{"mx2.example.test"}, ID: "one"}},
		RelaySettings: RelaySettings{MTASTS: true},
		Relay:         Reference(ReferenceConfig{Timeout: 3 * time.Second}),
	})
	ctx := context.Background()
	if err := env.Send(ctx, Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitDelivered(ctx, 10*time.Second, "bob@example.test", "mx2.example.test"); err != nil {
		t.Fatal(err)
	}
	j := env.Journal()
	for _, err := range []error{
		CheckNotDelivered(j, "bob@example.test", "mx1.example.test"),
		CheckUsedTLS(j, "mx2.example.test"),
		CheckQueried(j, "_mta-sts.example.test", "TXT"),
		CheckQueried(j, "mta-sts.example.test", "A"),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	web := env.MTASTSHost("example.test")
	if web.Fetches() != 1 {
		t.Errorf("%d fetches, want 1", web.Fetches())
	}
	if err := env.SetMTASTS("example.test", MTASTS{Mode: scenarios.STSEnforce, MX: []string{"mx1.example.test"}, ID: "two"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Send(ctx, Message{From: "alice@origin.test", To: []string{"carol@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitDelivered(ctx, 10*time.Second, "carol@example.test", "mx1.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := CheckNotDelivered(j, "carol@example.test", "mx2.example.test"); err != nil {
		t.Error(err)
	}
	if web.Fetches() != 2 {
		t.Errorf("%d fetches after the id changed, want 2", web.Fetches())
	}
}

// TestMTASTSScenarioFile runs a scenario that writes mta_sts in its zone
// and changes it with a set step, from YAML.
func TestMTASTSScenarioFile(t *testing.T) {
	sc, err := scenarios.Parse("sts.yaml", []byte(`name: sts
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}, {pref: 20, host: mx2.example.test}]
    mta_sts: {mode: enforce, mx: [mx2.example.test], id: "one", max_age: 60}
hosts:
  mx1.example.test: {tls: {starttls: offered}}
  mx2.example.test: {tls: {starttls: offered}}
relay: {mta_sts: true}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test, at: mx2.example.test}}
  - set: {mta_sts: {domain: example.test, mode: testing, mx: [mx2.example.test], id: "two"}}
  - send: {from: alice@origin.test, to: [carol@example.test]}
  - expect: {delivered: {to: carol@example.test, at: mx1.example.test}}
`))
	if err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), sc, RunOptions{})
	if res.Verdict != "pass" {
		t.Fatalf("%s: %s", res.Verdict, res.Reason)
	}
}
