package harness_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

func TestMain(m *testing.M) {
	// Ginkgo's interrupt handler lives as long as the process, by design.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
}

const wait = 10 * time.Second

// exampleZones: example.test with two MX hosts of different preference,
// and origin.test, the senders' domain, which receives bounces.
func exampleZones() []fakedns.Zone {
	return []fakedns.Zone{
		{Name: "example.test", Records: map[string][]string{
			"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test."},
		}},
		{Name: "origin.test", Records: map[string][]string{
			"@": {"MX 10 mx.origin.test."},
		}},
	}
}

func start(t *testing.T, mx1, mx2 fakesmtp.Behavior, ref harness.ReferenceConfig) *harness.Env {
	t.Helper()
	return harness.Start(t, harness.Config{
		Zones: exampleZones(),
		Hosts: []harness.Host{
			{Name: "mx1.example.test", Behavior: mx1},
			{Name: "mx2.example.test", Behavior: mx2},
			{Name: "mx.origin.test"},
		},
		Relay: harness.Reference(ref),
	})
}

func send(t *testing.T, env *harness.Env, to string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{to}, Subject: t.Name()}); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPriorityOrder(t *testing.T) {
	t.Parallel()
	env := start(t, fakesmtp.Behavior{}, fakesmtp.Behavior{}, harness.ReferenceConfig{})
	send(t, env, "bob@example.test")
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "mx1.example.test"))
	must(t, harness.CheckAttemptedInOrder(env.Journal(), "mx1.example.test"))
	must(t, harness.CheckNotDelivered(env.Journal(), "bob@example.test", "mx2.example.test"))
	must(t, harness.CheckQueried(env.Journal(), "example.test", "MX"))
}

func TestFailoverOnRefusedConnection(t *testing.T) {
	t.Parallel()
	env := start(t, fakesmtp.Behavior{State: fakesmtp.Down}, fakesmtp.Behavior{}, harness.ReferenceConfig{})
	send(t, env, "bob@example.test")
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "mx2.example.test"))
	must(t, harness.CheckAttemptedInOrder(env.Journal(), "mx1.example.test", "mx2.example.test"))
	if n := harness.DeliveryCount(env.Journal(), "bob@example.test", ""); n != 1 {
		t.Fatalf("delivered %d times, want once", n)
	}
}

func TestGreylistedThenAcceptedOnRetry(t *testing.T) {
	t.Parallel()
	grey := fakesmtp.Behavior{Greylist: &fakesmtp.Greylist{Window: 50 * time.Millisecond}}
	env := start(t, grey, fakesmtp.Behavior{State: fakesmtp.Down}, harness.ReferenceConfig{})
	send(t, env, "bob@example.test")
	// The first attempt is greylisted: 451 at mx1, the relay defers.
	must(t, env.Wait(context.Background(), wait, func(j *journal.Journal) error {
		if len(j.Events(journal.OfKind(journal.KindRelayDefer))) == 0 {
			return errors.New("relay has not deferred yet")
		}
		return harness.CheckReplied(j, "mx1.example.test", 451)
	}))
	must(t, harness.CheckNotDelivered(env.Journal(), "bob@example.test", ""))
	time.Sleep(60 * time.Millisecond) // let the greylist window pass
	must(t, env.Flush(context.Background()))
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "mx1.example.test"))
	if n := len(env.Journal().Events(journal.OfKind(journal.KindRelayBounce))); n != 0 {
		t.Fatalf("relay bounced %d times for a greylisted message", n)
	}
}

func TestRelayingRefusedAtRCPT(t *testing.T) {
	t.Parallel()
	refuse := fakesmtp.Behavior{Relay: &fakesmtp.RelayPolicy{Accept: []string{"elsewhere.test"}}}
	env := start(t, refuse, refuse, harness.ReferenceConfig{})
	send(t, env, "bob@example.test")
	must(t, env.Wait(context.Background(), wait, func(j *journal.Journal) error {
		return harness.CheckBounced(j, "alice@origin.test", "5.7.1")
	}))
	must(t, harness.CheckReplied(env.Journal(), "mx1.example.test", 550))
	must(t, harness.CheckNotDelivered(env.Journal(), "bob@example.test", ""))
	// RFC 5321 §4.2.1: 5yz is permanent; the relay must not try mx2 for it.
	if got := harness.Attempts(env.Journal()); strings.Contains(strings.Join(got, " "), "mx2.example.test") {
		t.Fatalf("relay went on to mx2 after a 550 at mx1: attempts %v", got)
	}
}

func TestMandatoryTLSSkipsWrongNameCertificate(t *testing.T) {
	t.Parallel()
	wrong := fakesmtp.Behavior{TLS: fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered, Cert: fakesmtp.CertWrongName}}
	good := fakesmtp.Behavior{TLS: fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered, Cert: fakesmtp.CertValid}}
	env := start(t, wrong, good, harness.ReferenceConfig{TLS: "verify"})
	send(t, env, "bob@example.test")
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "mx2.example.test"))
	must(t, harness.CheckNotDelivered(env.Journal(), "bob@example.test", "mx1.example.test"))
	must(t, harness.CheckUsedTLS(env.Journal(), "mx2.example.test"))
	must(t, harness.CheckAttemptedInOrder(env.Journal(), "mx1.example.test", "mx2.example.test"))
	// Nothing but EHLO and STARTTLS may have crossed to mx1 in the clear.
	for _, e := range env.Journal().Events(journal.OfKind(journal.KindSMTPCommand), journal.From("mx1.example.test")) {
		if strings.HasPrefix(strings.ToUpper(e.Text), "MAIL") {
			t.Fatalf("relay sent %q to mx1 despite its wrong-name certificate", e.Text)
		}
	}
}

func TestAuthToSmarthost(t *testing.T) {
	t.Parallel()
	smarthost := fakesmtp.Behavior{
		TLS:  fakesmtp.TLS{StartTLS: fakesmtp.TLSRequired},
		Auth: &fakesmtp.Auth{Users: map[string]string{"relay": "secret"}, Required: true},
	}
	env := harness.Start(t, harness.Config{
		Zones: exampleZones(),
		Hosts: []harness.Host{
			{Name: "smtp.provider.test", Behavior: smarthost},
			{Name: "mx1.example.test"},
			{Name: "mx2.example.test"},
			{Name: "mx.origin.test"},
		},
		Relay: harness.Reference(harness.ReferenceConfig{
			Smarthost:     "[smtp.provider.test]",
			SmarthostAuth: &harness.ReferenceCredentials{User: "relay", Password: "secret"},
			TLS:           "verify",
		}),
	})
	send(t, env, "bob@example.test")
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "smtp.provider.test"))
	must(t, harness.CheckAuthenticated(env.Journal(), "smtp.provider.test", "relay"))
	must(t, harness.CheckUsedTLS(env.Journal(), "smtp.provider.test"))
	must(t, harness.CheckNoAuthBeforeTLS(env.Journal(), "smtp.provider.test"))
	must(t, harness.CheckNotDelivered(env.Journal(), "bob@example.test", "mx1.example.test"))
}

func TestServfailDefersThenDelivers(t *testing.T) {
	t.Parallel()
	env := start(t, fakesmtp.Behavior{}, fakesmtp.Behavior{}, harness.ReferenceConfig{})
	must(t, env.DNS().SetFault(fakedns.Fault{Name: "example.test", Type: "MX", Kind: fakedns.ServFail}))
	send(t, env, "bob@example.test")
	must(t, env.Wait(context.Background(), wait, func(j *journal.Journal) error {
		if len(j.Events(journal.OfKind(journal.KindRelayDefer))) == 0 {
			return errors.New("relay has not deferred the message")
		}
		return nil
	}))
	must(t, harness.CheckNotDelivered(env.Journal(), "bob@example.test", ""))
	if n := len(env.Journal().Events(journal.OfKind(journal.KindRelayBounce))); n != 0 {
		t.Fatalf("relay bounced on SERVFAIL (RFC 5321 §5.1: temporary)")
	}
	env.DNS().ClearFault("example.test", "MX")
	must(t, env.Flush(context.Background()))
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "mx1.example.test"))
}

func TestNullMXBounces(t *testing.T) {
	t.Parallel()
	env := harness.Start(t, harness.Config{
		Zones: []fakedns.Zone{
			{Name: "nomail.test", Records: map[string][]string{"@": {"MX 0 .", "A 127.0.0.1"}}},
			{Name: "origin.test", Records: map[string][]string{"@": {"MX 10 mx.origin.test."}}},
		},
		Hosts: []harness.Host{{Name: "mx.origin.test"}},
		Relay: harness.Reference(harness.ReferenceConfig{}),
	})
	send(t, env, "bob@nomail.test")
	must(t, env.Wait(context.Background(), wait, func(j *journal.Journal) error {
		return harness.CheckBounced(j, "alice@origin.test", "5.1.10")
	}))
	// RFC 7505 §3: no fallback to the domain's address records.
	if err := harness.CheckQueried(env.Journal(), "nomail.test", "A"); err == nil {
		t.Fatal("relay looked up A for a null-MX domain")
	}
}

func TestBadConfigLeavesNothingRunning(t *testing.T) {
	cases := []struct {
		name string
		cfg  harness.Config
		want string
	}{
		{"duplicate host", harness.Config{Hosts: []harness.Host{{Name: "mx.example.test"}, {Name: "MX.example.test."}}}, `duplicate host "MX.example.test."`},
		{"empty host name", harness.Config{Hosts: []harness.Host{{}}}, "host 1 has no name"},
		{"bad host name", harness.Config{Hosts: []harness.Host{{Name: "mx_1 .test"}}}, "not a valid host name"},
		{"bad behaviour", harness.Config{Hosts: []harness.Host{{Name: "mx.example.test", Behavior: fakesmtp.Behavior{State: "sideways"}}}}, "sideways"},
		{"bad record", harness.Config{Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"MX ten mx1.example.test."}}}}}, "MX ten"},
		{"subnet outside loopback", harness.Config{Plan: harness.Plan{Subnet: mustPrefix("10.0.0.0/24")}}, "inside 127.0.0.0/8"},
		{"subnet too large", harness.Config{Plan: harness.Plan{Subnet: mustPrefix("127.16.0.0/12")}}, "want a /24 (up to a /16)"},
		{"subnet too small", harness.Config{Plan: harness.Plan{Subnet: mustPrefix("127.9.9.0/28")}}, "want a /24 (up to a /16)"},
		{"too many hosts for the subnet", harness.Config{Plan: harness.Plan{Subnet: mustPrefix("127.9.9.0/24")}, Hosts: manyHosts(245)}, "245 hosts, at most 244 fit in 127.9.9.0/24"},
		{"bad port", harness.Config{Plan: harness.Plan{SMTPPort: 70000}}, "out of range"},
		{"bad relay", harness.Config{Relay: harness.Reference(harness.ReferenceConfig{TLS: "sometimes"})}, "sometimes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := openFDs(t)
			env, err := harness.New(context.Background(), c.cfg)
			if err == nil {
				env.Close()
				t.Fatalf("New succeeded, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			if after := openFDs(t); after > before {
				t.Fatalf("%d file descriptors open after the failed start, %d before", after, before)
			}
		})
	}
}

func TestStartCloseCyclesLeaveNoSocket(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	cfg := harness.Config{
		Zones: exampleZones(),
		Hosts: []harness.Host{
			{Name: "mx1.example.test"},
			{Name: "mx2.example.test", Behavior: fakesmtp.Behavior{TLS: fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered}}},
			{Name: "mx3.example.test", Behavior: fakesmtp.Behavior{State: fakesmtp.Down}},
			{Name: "mx.origin.test"}, // exampleZones' MX for origin.test: an MX must point at a host
		},
	}
	before := openFDs(t)
	for i := 0; i < n; i++ {
		env, err := harness.New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := env.Close(); err != nil {
			t.Fatalf("cycle %d: close: %v", i, err)
		}
	}
	if after := openFDs(t); after > before {
		t.Fatalf("%d file descriptors open after %d cycles, %d before", after, n, before)
	}
}

func BenchmarkStartEnv(b *testing.B) {
	cfg := harness.Config{
		Zones: exampleZones(),
		Hosts: []harness.Host{
			{Name: "mx1.example.test"},
			{Name: "mx2.example.test", Behavior: fakesmtp.Behavior{TLS: fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered}}},
			{Name: "mx.origin.test"}, // every MX points at a host (Config is checked as a scenario)
		},
	}
	for b.Loop() {
		env, err := harness.New(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		env.Close()
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func manyHosts(n int) []harness.Host {
	hosts := make([]harness.Host, n)
	for i := range hosts {
		hosts[i].Name = fmt.Sprintf("mx%d.big.test", i)
	}
	return hosts
}

// TestLargeNetwork: more hosts than a /24 holds get a larger block, every
// host its own address, and each one resolves and answers.
func TestLargeNetwork(t *testing.T) {
	env := harness.Start(t, harness.Config{
		Zones: []fakedns.Zone{{Name: "big.test", Records: map[string][]string{"@": {"MX 10 mx999.big.test."}}}},
		Hosts: manyHosts(1000),
	})
	seen := map[string]bool{}
	for _, h := range env.Hosts() {
		ip, _, _ := net.SplitHostPort(h.Addr())
		if seen[ip] {
			t.Fatalf("address %s given twice", ip)
		}
		seen[ip] = true
	}
	addrs, err := env.DNS().Resolver().LookupHost(context.Background(), "mx999.big.test")
	if err != nil || len(addrs) != 1 {
		t.Fatalf("lookup mx999.big.test: %v %v", addrs, err)
	}
	want, _, _ := net.SplitHostPort(env.Host("mx999.big.test").Addr())
	if addrs[0] != want {
		t.Fatalf("mx999.big.test resolves to %s, listens on %s", addrs[0], want)
	}
	c, err := net.Dial("tcp", env.Host("mx999.big.test").Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// openFDs counts this process's open file descriptors (Linux).
func openFDs(t *testing.T) int {
	t.Helper()
	// The first socket creates the runtime's poller descriptor: make sure
	// it exists before counting.
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(entries)
}

func TestSmarthostImplicitTLSAndSubmissionSTARTTLS(t *testing.T) {
	t.Parallel()
	env := harness.Start(t, harness.Config{
		Zones: exampleZones(),
		Hosts: []harness.Host{
			{Name: "smtps.provider.test", Behavior: fakesmtp.Behavior{
				TLS:  fakesmtp.TLS{Implicit: true},
				Auth: &fakesmtp.Auth{Users: map[string]string{"relay": "secret"}, Required: true},
			}},
			{Name: "mx1.example.test"},
			{Name: "mx2.example.test"},
			{Name: "mx.origin.test"},
		},
		Relay: harness.Reference(harness.ReferenceConfig{
			Smarthost:            "[smtps.provider.test]",
			SmarthostImplicitTLS: true,
			SmarthostAuth:        &harness.ReferenceCredentials{User: "relay", Password: "secret"},
			TLS:                  "verify",
			SubmitUsers:          map[string]string{"alice": "pw"},
		}),
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	msg := harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, StartTLS: true}
	must(t, env.Send(ctx, msg))
	must(t, env.WaitDelivered(ctx, wait, "bob@example.test", "smtps.provider.test"))
	must(t, harness.CheckAuthenticated(env.Journal(), "smtps.provider.test", "relay"))
	must(t, harness.CheckUsedTLS(env.Journal(), "smtps.provider.test"))
	must(t, harness.CheckNoAuthBeforeTLS(env.Journal(), "smtps.provider.test"))

	// Submission without the credentials the relay requires is refused.
	msg.User, msg.Password = "alice", "wrong"
	if err := env.Send(ctx, msg); err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("submission with a bad password: %v, want a 535 refusal", err)
	}
}

// TestFixedPorts runs a network on the ports a real MTA needs: DNS on 53,
// hosts on 25. It needs root (or a lowered unprivileged port start).
func TestFixedPorts(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.77.53:53")
	if err != nil {
		t.Skipf("cannot bind port 53 here (%v): run as root to test fixed ports", err)
	}
	probe.Close()
	plan := harness.FixedPlan()
	plan.Subnet = mustPrefix("127.0.77.0/24") // away from 127.0.0.53, which the machine may use
	env := harness.Start(t, harness.Config{
		Plan:  plan,
		Zones: exampleZones(),
		Hosts: []harness.Host{{Name: "mx1.example.test"}, {Name: "mx2.example.test"}, {Name: "mx.origin.test"}},
		Relay: harness.Reference(harness.ReferenceConfig{}),
	})
	if env.DNSAddr() != "127.0.77.53:53" || env.SMTPPort() != 25 || env.Host("mx1.example.test").Addr() != "127.0.77.10:25" {
		t.Fatalf("fixed plan gave DNS %s, port %d, mx1 at %s", env.DNSAddr(), env.SMTPPort(), env.Host("mx1.example.test").Addr())
	}
	send(t, env, "bob@example.test")
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "mx1.example.test"))
}
