package harness

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/journal"
)

func TestPlanForCase(t *testing.T) {
	pfx := netip.MustParsePrefix
	for _, c := range []struct {
		plan Plan
		k    int
		want string
	}{
		{FixedPlan(), 0, "127.0.1.0/24"},
		{FixedPlan(), 1, "127.0.2.0/24"},
		{FixedPlan(), 254, "127.0.255.0/24"},
		{FixedPlan(), 255, "127.1.0.0/24"},
		{Plan{Subnet: pfx("127.73.0.0/24"), DNSPort: 53, SMTPPort: 25}, 0, "127.73.1.0/24"},
		{Plan{Subnet: pfx("127.73.0.7/24")}, 2, "127.73.3.0/24"},                           // not masked yet
		{Plan{Subnet: pfx("127.255.255.0/24")}, 0, "127.0.0.0/24"},                         // wraps inside 127.0.0.0/8
		{Plan{Subnet: pfx("127.255.255.0/24")}, 1 << 16, "127.0.1.0/24"},                   // never Subnet itself
		{Plan{Subnet: pfx("127.8.0.0/23")}, 0, "127.8.2.0/23"},                             // blocks of the subnet's size
		{Plan{Subnet: pfx("127.8.0.0/23")}, 1<<15 - 2, "127.7.254.0/23"},                   // the last before it
		{Plan{Subnet: pfx("127.8.0.0/23"), Hosts: pfx("127.9.0.0/24")}, 0, "127.8.2.0/23"}, // Hosts is replaced
	} {
		got := c.plan.ForCase(c.k)
		if got.Hosts.String() != c.want || got.Subnet != c.plan.Subnet || got.DNSPort != c.plan.DNSPort || got.SMTPPort != c.plan.SMTPPort {
			t.Errorf("%+v.ForCase(%d) = %+v, want hosts in %s and the rest unchanged", c.plan, c.k, got, c.want)
		}
	}
	// Without a fixed subnet, nothing changes: each case picks its own.
	for _, p := range []Plan{{}, {SMTPPort: 25}, {DNSPort: 53}} {
		if got := p.ForCase(3); got != p {
			t.Errorf("%+v.ForCase(3) = %+v, want it unchanged", p, got)
		}
	}
	// The cases of a run never share a block, nor use the DNS's.
	seen := map[netip.Prefix]int{}
	for k := range 3000 {
		p, err := FixedPlan().ForCase(k).resolve(3)
		if err != nil {
			t.Fatalf("case %d: %v", k, err)
		}
		if j, dup := seen[p.Hosts]; dup {
			t.Fatalf("cases %d and %d share %s", j, k, p.Hosts)
		}
		seen[p.Hosts] = k
		for i := range 3 {
			if a := p.hostAddr(i); p.Subnet.Contains(a) || a == netip.MustParseAddr("127.0.0.1") {
				t.Fatalf("case %d: host %d at %s", k, i, a)
			}
		}
		if p.DNSAddr() != netip.MustParseAddr("127.0.0.53") {
			t.Fatalf("case %d: DNS moved to %s", k, p.DNSAddr())
		}
	}
}

// TestPlanHosts runs a network whose hosts live outside the DNS's /24.
func TestPlanHosts(t *testing.T) {
	plan := Plan{Subnet: netip.MustParsePrefix("127.73.0.0/24")}.ForCase(4)
	env, err := New(context.Background(), Config{Plan: plan, Hosts: []Host{{Name: "mx1.example.test"}, {Name: "mx2.example.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if !strings.HasPrefix(env.DNSAddr(), "127.73.0.53:") || !strings.HasPrefix(env.Host("mx1.example.test").Addr(), "127.73.5.10:") ||
		!strings.HasPrefix(env.Host("mx2.example.test").Addr(), "127.73.5.11:") {
		t.Fatalf("DNS at %s, mx1 at %s, mx2 at %s; want 127.73.0.53, 127.73.5.10, 127.73.5.11",
			env.DNSAddr(), env.Host("mx1.example.test").Addr(), env.Host("mx2.example.test").Addr())
	}
	// The A records give the hosts' own addresses.
	addrs, err := env.DNS().Resolver().LookupHost(context.Background(), "mx2.example.test")
	if err != nil || len(addrs) != 1 || addrs[0] != "127.73.5.11" {
		t.Errorf("mx2.example.test resolves to %v, %v; want 127.73.5.11", addrs, err)
	}
}

func TestPlanHostsBadForms(t *testing.T) {
	pfx := netip.MustParsePrefix
	sub := pfx("127.73.0.0/24")
	for _, c := range []struct {
		plan  Plan
		hosts int
		want  string
	}{
		{Plan{Hosts: pfx("127.73.1.0/24")}, 1, "hosts block 127.73.1.0/24 without a subnet"},
		{Plan{Subnet: sub, Hosts: pfx("10.0.0.0/24")}, 1, "hosts block 10.0.0.0/24: want a /24 (up to a /16) inside 127.0.0.0/8"},
		{Plan{Subnet: sub, Hosts: pfx("127.72.0.0/12")}, 1, "hosts block 127.72.0.0/12: want a /24"},
		{Plan{Subnet: sub, Hosts: pfx("127.73.1.0/28")}, 1, "hosts block 127.73.1.0/28: want a /24"},
		{Plan{Subnet: sub, Hosts: pfx("::1/128")}, 1, "inside 127.0.0.0/8"},
		{Plan{Subnet: sub, Hosts: pfx("127.73.0.0/16")}, 1, "hosts block 127.73.0.0/16 overlaps subnet 127.73.0.0/24"},
		{Plan{Subnet: sub, Hosts: pfx("127.73.1.0/24")}, 245, "245 hosts, at most 244 fit in 127.73.1.0/24"},
	} {
		_, err := c.plan.resolve(c.hosts)
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want ErrConfig and %q", c.plan, err, c.want)
		}
	}
	// Hosts equal to the subnet is the subnet.
	p, err := Plan{Subnet: sub, Hosts: sub}.resolve(1)
	if err != nil || p.Hosts.IsValid() || p.hostAddr(0) != netip.MustParseAddr("127.73.0.10") {
		t.Errorf("hosts = subnet: %+v, %v", p, err)
	}
}

// strayJournal holds one message of its own network, one submitted in
// another (an earlier run's, delivered in a session of its own), and a
// bounce that quotes another network's message.
func strayJournal() (*journal.Journal, string, string) {
	j := journal.New()
	own := idPrefix(j) + "1@mxsim.test"
	other := "1a2b3c.7@mxsim.test"
	msg := func(session, from, to, id string, raw string) {
		j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: "mx1.example.test", Session: session})
		j.Append(journal.Event{Kind: journal.KindSMTPCommand, Source: "mx1.example.test", Session: session, Text: "MAIL FROM:<" + from + ">"})
		m := &journal.Message{From: from, To: []string{to}, Raw: []byte(raw)}
		if id != "" {
			m.Headers = map[string][]string{SubmissionHeader: {id}}
		}
		j.Append(journal.Event{Kind: journal.KindSMTPMessage, Source: "mx1.example.test", Session: session, Message: m})
		j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: "mx1.example.test", Session: session, Code: 250, Text: "250 ok"})
		j.Append(journal.Event{Kind: journal.KindSMTPCommand, Source: "mx1.example.test", Session: session, Text: "QUIT"})
	}
	msg("mx1.example.test#1", "alice@origin.test", "bob@example.test", other, "")
	msg("mx1.example.test#2", "", "alice@origin.test", "", "Subject: failure\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"+SubmissionHeader+": "+other+"\r\n")
	msg("mx1.example.test#3", "alice@origin.test", "carol@example.test", own, "")
	return j, own, other
}

func TestStrays(t *testing.T) {
	j, own, other := strayJournal()
	s := Strays(j)
	if len(s) != 2 || s[0].Session != "mx1.example.test#1" || s[0].IDs[0] != other || s[1].From != "" || s[1].IDs[0] != other {
		t.Fatalf("strays: %+v, want bob's message and the bounce about it (%s)", s, other)
	}
	// No check counts them, nor their sessions.
	if err := CheckNotDelivered(j, "bob@example.test", ""); err != nil {
		t.Errorf("not delivered to bob: %v", err)
	}
	if err := CheckDelivered(j, "bob@example.test", ""); err == nil {
		t.Error("CheckDelivered counts the stray")
	}
	if err := CheckBounced(j, "alice@origin.test", ""); err == nil {
		t.Error("CheckBounced counts the stray bounce")
	}
	if err := CheckSpread(j, 2, "mx1.example.test"); err == nil || !strings.Contains(err.Error(), "mx1.example.test 1 (1 messages)") {
		t.Errorf("spread: %v, want one session of mail (the own one)", err)
	}
	if d := Deliveries(j); len(d) != 1 || d[0].Message != own {
		t.Errorf("deliveries: %+v, want carol's only", d)
	}
	if err := CheckDelivered(j, "carol@example.test", "mx1.example.test"); err != nil {
		t.Errorf("own message: %v", err)
	}
	// The raw journal still holds them, for reports.
	if n := len(j.Events(journal.OfKind(journal.KindSMTPMessage))); n != 3 {
		t.Errorf("journal holds %d messages, want 3", n)
	}
}

// A session that carried an own message and a stray counts (for the own
// one); a message with an identifier not made by a network is never a
// stray.
func TestStraysMixedSession(t *testing.T) {
	j := journal.New()
	for _, id := range []string{"a1", "ffff.2@mxsim.test", idPrefix(j) + "1@mxsim.test"} {
		j.Append(journal.Event{Kind: journal.KindSMTPMessage, Source: "mx1.example.test", Session: "mx1.example.test#1",
			Message: &journal.Message{From: "a@origin.test", To: []string{"b@example.test"}, Headers: map[string][]string{SubmissionHeader: {id}}}})
	}
	s := Strays(j)
	if len(s) != 1 || s[0].IDs[0] != "ffff.2@mxsim.test" {
		t.Fatalf("strays %+v, want ffff.2@mxsim.test only", s)
	}
	if n := DeliveryCount(j, "b@example.test", ""); n != 2 {
		t.Errorf("%d deliveries counted, want 2 (the stray left out, its session kept)", n)
	}
}
