package fakesmtp

import (
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/journal"
)

// TestVerifyValidate: every bad form of Verify names its field.
func TestVerifyValidate(t *testing.T) {
	ok := &Reply{Code: 550, Enhanced: "5.7.26", Text: "no"}
	tests := []struct {
		v    Verify
		want []string // substrings of the error, in order; none: valid
	}{
		{Verify{SPF: true}, nil},
		{Verify{DMARC: true, Enforce: true, SPFReply: ok, DMARCReply: ok}, nil},
		{Verify{}, []string{"verify: turns on no check"}},
		{Verify{Enforce: true}, []string{"verify: turns on no check"}},
		{Verify{SPF: true, SPFReply: ok}, []string{"verify.spf_reply: set, but enforce is off"}},
		{Verify{SPF: true, Enforce: true, DMARCReply: ok}, []string{"verify.dmarc_reply: set, but its check is off: turn on dmarc"}},
		{Verify{DKIM: true, Enforce: true, SPFReply: ok}, []string{"verify.spf_reply: set, but its check is off: turn on spf"}},
		{Verify{SPF: true, Enforce: true, SPFReply: &Reply{Code: 250}}, []string{"verify.spf_reply.code: 250: a refusal is 4xx or 5xx"}},
		{Verify{SPF: true, Enforce: true, SPFReply: &Reply{Code: 550, Times: 1}}, []string{"verify.spf_reply.times: not supported"}},
		{Verify{DMARC: true, Enforce: true, DMARCReply: &Reply{Code: 550, Enhanced: "4.7.1"}}, []string{"verify.dmarc_reply.enhanced: class of"}},
	}
	for _, tc := range tests {
		err := Behavior{Verify: &tc.v}.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%+v: %v", tc.v, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v: valid, want %q", tc.v, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v, want %q", tc.v, err, w)
			}
		}
	}
}

// TestVerifyServing: the checks wait for the DNS, so a host that verifies
// answers the end of data off its event loop; both serving paths, and
// DATA and BDAT alike, record the results or refuse.
func TestVerifyServing(t *testing.T) {
	j := journal.New()
	dns, err := fakedns.NewServer(fakedns.Config{Journal: j, Zones: []fakedns.Zone{
		{Name: "good.test", Records: map[string][]string{"@": {`TXT "v=spf1 ip4:127.0.0.1 -all"`}, "_dmarc": {`TXT "v=DMARC1; p=reject"`}}},
		{Name: "bad.test", Records: map[string][]string{"@": {`TXT "v=spf1 -all"`}, "_dmarc": {`TXT "v=DMARC1; p=reject"`}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	for _, mode := range loopModes {
		t.Run(string(mode), func(t *testing.T) {
			h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", Loop: mode, Journal: j, Resolver: dns.Resolver(),
				Behavior: Behavior{Verify: &Verify{DMARC: true, Enforce: true}}})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			c := dial(t, h)
			if err := c.Hello("client.good.test"); err != nil {
				t.Fatal(err)
			}
			good := "From: alice@good.test\r\nSubject: " + string(mode) + "\r\n\r\nhi\r\n"
			if err := send(c, "alice@good.test", []string{"bob@example.test"}, good); err != nil {
				t.Fatalf("good.test: %v", err)
			}
			err = send(c, "alice@bad.test", []string{"bob@example.test"}, "From: alice@bad.test\r\n\r\nhi\r\n")
			if code(err) != 550 || !strings.Contains(err.Error(), "DMARC") {
				t.Fatalf("bad.test: %v, want 550 5.7.26", err)
			}
			if err := c.Reset(); err != nil {
				t.Fatal(err)
			}
			c.Quit()
			msgs := j.Events(journal.OfKind(journal.KindSMTPMessage), func(e journal.Event) bool { return e.Message.Subject == string(mode) })
			if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Message.AuthResults, hostName+"; spf=pass") || !strings.Contains(msgs[0].Message.AuthResults, "dmarc=pass header.from=good.test") {
				t.Fatalf("messages %+v, want one with spf=pass and dmarc=pass", msgs)
			}
			e := replyEvent(t, j, 550)
			if e.Fault != FaultVerifyDMARC {
				t.Errorf("refusal fault %q, want %q", e.Fault, FaultVerifyDMARC)
			}

			// BDAT: the same checks after the LAST chunk.
			r, _ := openRaw(t, h)
			r.run(steps(stepEHLO))
			r.cmd("MAIL FROM:<alice@bad.test>", "250 ")
			r.cmd("RCPT TO:<bob@example.test>", "250 ")
			r.write(bdat("From: alice@bad.test\r\n\r\nhi\r\n", true))
			r.expect("550 5.7.26 ")
		})
	}
}
