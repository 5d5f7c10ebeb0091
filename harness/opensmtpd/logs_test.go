package opensmtpd

import (
	"testing"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// Lines logged by OpenSMTPD 6.8.0p2 (Debian bookworm) in mxsim's cases,
// as the log socket gets them, priority and time stamp stripped.
var realLines = []string{
	`smtpd[52]: a49fc7bac1907138 mta connecting address=smtp://127.72.0.10:25 host=127.72.0.10`,
	`smtpd[52]: a49fc7bac1907138 mta error reason=IO Error: Connection refused`,
	`smtpd[52]: smtp-out: Disabling route [] <-> 127.72.0.10 (127.72.0.10) for 15s`,
	`smtpd[52]: a49fc7bbad1e7020 mta connecting address=smtp://127.72.0.11:25 host=127.72.0.11`,
	`smtpd[52]: a49fc7bbad1e7020 mta connected`,
	`smtpd[52]: a49fc7bbad1e7020 mta delivery evpid=b119f8860e71fc58 from=<alice@origin.test> to=<bob@example.test> rcpt=<-> source="127.0.0.1" relay="127.72.0.11 (127.72.0.11)" delay=2s result="Ok" stat="250 2.0.0 Ok: queued"`,
	`smtpd[52]: dbfed2e10375b8f9 mta connecting address=smtp://127.72.0.12:25 host=127.72.0.12`,
	`smtpd[52]: dbfed2e10375b8f9 mta error reason=BANNER rejected: 421 4.3.2 busy, try later`,
	`smtpd[52]: 37ad172fca62ba56 mta delivery evpid=bfaa10e075f0f52e from=<alice@origin.test> to=<bob@example.test> rcpt=<-> source="127.0.0.1" relay="127.72.0.11 (127.72.0.11)" delay=0s result="TempFail" stat="450 4.7.1 greylisted"`,
	`smtpd[52]: 1aff3c8df19854af mta delivery evpid=32888231c5fcdc1b from=<alice@origin.test> to=<nobody@example.test> rcpt=<-> source="127.0.0.1" relay="127.72.0.11 (127.72.0.11)" delay=1s result="PermFail" stat="550 5.1.1 no such user"`,
	`smtpd[52]: 0000000000000000 mta delivery evpid=4e7c278c87778ff6 from=<alice@origin.test> to=<bob@nomail.test> rcpt=<-> source="-" relay="nomail.test" delay=0s result="TempFail" stat="No MX found for domain"`,
	`smtpd[52]: 1aff3c88962be8fd mta delivery evpid=9565a190c972321e from=<> to=<alice@origin.test> rcpt=<-> source="127.0.0.1" relay="127.72.0.12 (127.72.0.12)" delay=1s result="TempFail" stat="Connection closed unexpectedly"`,
	`smtpd[48]: info: OpenSMTPD 6.8.0p2 starting`,
}

func TestParser(t *testing.T) {
	names := map[string]string{"127.72.0.10": "mx1.example.test", "127.72.0.11": "mx2.example.test"}
	parse := newParser(func(ip string) string { return names[ip] })
	var got []journal.Event
	for _, l := range realLines {
		evs := parse(l)
		if len(evs) == 0 || evs[0].Kind != journal.KindRelayLog || evs[0].Text != l {
			t.Fatalf("%q: first event %+v, want the relay.log of the line", l, evs)
		}
		got = append(got, evs[1:]...)
	}
	want := []struct {
		kind journal.Kind
		peer string
		code int
		err  string
		to   string
		from string
	}{
		{journal.KindRelayAttempt, "mx1.example.test", 0, "", "", ""},
		{journal.KindRelayAttempt, "mx1.example.test", 0, "IO Error: Connection refused", "", ""},
		{journal.KindRelayAttempt, "mx2.example.test", 0, "", "", ""},
		{journal.KindRelayDeliver, "mx2.example.test", 250, "", "bob@example.test", "alice@origin.test"},
		// Not in the DNS's answers, and OpenSMTPD names it by address:
		// no name.
		{journal.KindRelayAttempt, "", 0, "", "", ""},
		{journal.KindRelayAttempt, "", 421, "BANNER rejected: 421 4.3.2 busy, try later", "", ""},
		// A session the parser did not see begin: the address in relay=.
		{journal.KindRelayDefer, "mx2.example.test", 450, "450 4.7.1 greylisted", "bob@example.test", "alice@origin.test"},
		{journal.KindRelayBounce, "mx2.example.test", 550, "550 5.1.1 no such user", "nobody@example.test", "alice@origin.test"},
		{journal.KindRelayDefer, "", 0, "No MX found for domain", "bob@nomail.test", "alice@origin.test"},
		{journal.KindRelayDefer, "", 0, "Connection closed unexpectedly", "alice@origin.test", ""},
	}
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("%s peer=%q code=%d err=%q", e.Kind, e.Peer, e.Code, e.Err)
		}
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Kind != w.kind || e.Peer != w.peer || e.Code != w.code || e.Err != w.err {
			t.Errorf("event %d: %s peer=%q code=%d err=%q, want %s peer=%q code=%d err=%q", i, e.Kind, e.Peer, e.Code, e.Err, w.kind, w.peer, w.code, w.err)
		}
		if w.to != "" && (e.Message == nil || e.Message.From != w.from || len(e.Message.To) != 1 || e.Message.To[0] != w.to) {
			t.Errorf("event %d: message %+v, want from %q to %q", i, e.Message, w.from, w.to)
		}
	}
	if got[0].Remote != "127.72.0.10:25" || got[1].Remote != "127.72.0.10" {
		t.Errorf("remotes %q, %q", got[0].Remote, got[1].Remote)
	}
}

// TestJournalNamer: the host name of an address is the name whose A
// record the simulated DNS answered with it, the newest first.
func TestJournalNamer(t *testing.T) {
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindDNSQuery, DNS: &journal.DNS{Name: "old.example.test.", Type: "A", Answer: []string{"old.example.test.\t300\tIN\tA\t127.72.0.10"}}})
	j.Append(journal.Event{Kind: journal.KindDNSQuery, DNS: &journal.DNS{Name: "example.test.", Type: "MX", Answer: []string{"example.test.\t300\tIN\tMX\t10 mx1.example.test."}}})
	j.Append(journal.Event{Kind: journal.KindDNSQuery, DNS: &journal.DNS{Name: "MX1.example.test.", Type: "A", Answer: []string{"mx1.example.test.\t300\tIN\tA\t127.72.0.10"}}})
	name := journalNamer(j)
	if got := name("127.72.0.10"); got != "mx1.example.test" {
		t.Errorf("127.72.0.10: %q, want mx1.example.test", got)
	}
	if got := name("127.72.0.99"); got != "" {
		t.Errorf("unknown address: %q", got)
	}
	if got := journalNamer(nil)("127.72.0.10"); got != "" {
		t.Errorf("nil journal: %q", got)
	}
}

func TestParseQueue(t *testing.T) {
	out := `bf251bbd7c568630|local|mta|auth|alice@origin.test|bob@nowhere.test|bob@nowhere.test|1796208751|1796208751|0|1|pending|397|Temporary failure in MX lookup
bf251bbd8e1eb4a9|inet4|mta||@|alice@origin.test|alice@origin.test|1796208751|1796208751|0|1|inflight|0|
`
	got, err := parseQueue(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.QueuedRecipient{
		{ID: "bf251bbd7c568630", From: "alice@origin.test", To: "bob@nowhere.test"},
		{ID: "bf251bbd8e1eb4a9", To: "alice@origin.test", InFlight: true},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if l, err := parseQueue("\n"); err != nil || len(l) != 0 {
		t.Errorf("empty queue: %v, %v", l, err)
	}
	if _, err := parseQueue("smtpctl: connect: /var/run/smtpd.sock: No such file or directory\n"); err == nil {
		t.Error("garbage: no error")
	}
}
