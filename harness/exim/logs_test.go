package exim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/journal"
)

// Lines Exim 4.96 logged in the adapter's conformance runs.
var logLines = []string{
	`exim[39]: 1xYi6t-00000d-0o <= alice@origin.test H=(client.mxsim.test) [127.0.0.1] P=esmtp S=393 for bob@far-away.test`,
	`exim[41]: 1xYi6t-00000d-0o H=smtp.example.test [127.22.63.10] TLS error on connection (recv): The TLS connection was non-properly terminated.`,
	`exim[40]: 1xYi6t-00000d-0o => bob@far-away.test R=smarthost T=remote_smtp S=406 H=smtp.example.test [127.22.63.10]:587 X=TLS1.3:ECDHE_X25519__ECDSA_SECP256R1_SHA256__AES_128_GCM:128 CV=yes DN="O=mxsim,CN=smtp.example.test" A=plain K C="250 2.0.0 Ok: queued" DT=0s`,
	`exim[809]: 1xYi6t-00000d-0o H=mx1.example.test [127.22.63.10]:25 Connection refused`,
	`exim[297]: 1xYi6t-00000d-0o H=mx1.example.test [127.22.63.11]:25: SMTP error from remote mail server after initial connection: 421 4.3.2 busy, try later`,
	`exim[881]: 1xYi6t-00000d-0o == bob@far-away.test R=dnslookup T=remote_smtp defer (-44) H=mx1.example.test [127.22.63.10]:25 DT=0s: SMTP error from remote mail server after RCPT TO:<bob@far-away.test>: 451 4.3.0 try again later`,
	`exim[924]: 1xYi6t-00000d-0o ** bob@far-away.test R=dnslookup T=remote_smtp H=mx1.example.test [127.22.63.10]:25: SMTP error from remote mail server after RCPT TO:<bob@far-away.test>: 550 5.1.1 no such user DT=0s`,
	`exim[926]: 1xYi7v-0000Ew-1N <= <> R=1xYi6t-00000d-0o U=Debian-exim P=local S=1808 for alice@origin.test`,
	`exim[935]: 1xYi7v-0000Ew-1N => alice@origin.test R=dnslookup T=remote_smtp S=1865 H=mx.origin.test [127.22.63.11]:25 K C="250 2.0.0 Ok: queued" DT=0s`,
	`exim[180]: 1xYi70-00002t-0L ** bob@gone.test: Unrouteable address DT=0s`,
	`exim[1188]: 1xYi8F-0000J6-1E == bob@example.test routing defer (-52) DT=0s: retry time not reached`,
	`exim[1102]: 1xYi86-0000Hk-2d H=mx1.example.test [127.22.63.10]:25: SMTP timeout after initial connection: Connection timed out`,
	`exim[642]: 1xYi7U-0000AL-1Z == bob@example.test R=dnslookup defer (-1) DT=0s: lowest numbered MX record points to local host`,
	`exim[642]: 1xYi7U-0000AL-1Z Frozen`,
	`exim[1]: 2026-12-02 10:52:07 Exim configuration error in line 12 of /etc/exim4/exim4.conf: main option "bogus" unknown`,
}

func TestLogEvents(t *testing.T) {
	parse := newParser()
	var got []string
	for _, l := range logLines {
		for _, e := range parse(l) {
			if e.Kind == journal.KindRelayLog {
				if e.Text != l {
					t.Errorf("relay.log text %q, want the line", e.Text)
				}
				if e.Err != "" {
					got = append(got, "error")
				}
				continue
			}
			s := fmt.Sprintf("%s peer=%s remote=%s code=%d", e.Kind, e.Peer, e.Remote, e.Code)
			if e.Err != "" {
				s += " err=" + e.Err
			}
			if m := e.Message; m != nil {
				s += fmt.Sprintf(" from=%s to=%s", m.From, strings.Join(m.To, ","))
			}
			got = append(got, s)
		}
	}
	want := []string{
		"relay.deliver peer=smtp.example.test remote=127.22.63.10 code=250 from=alice@origin.test to=bob@far-away.test",
		"relay.attempt peer=mx1.example.test remote=127.22.63.10 code=0 err=Connection refused",
		"relay.attempt peer=mx1.example.test remote=127.22.63.11 code=0 err=SMTP error from remote mail server after initial connection: 421 4.3.2 busy, try later",
		"relay.defer peer=mx1.example.test remote=127.22.63.10 code=451 from=alice@origin.test to=bob@far-away.test",
		"relay.bounce peer=mx1.example.test remote=127.22.63.10 code=550 from=alice@origin.test to=bob@far-away.test",
		// the bounce itself: from <>
		"relay.deliver peer=mx.origin.test remote=127.22.63.11 code=250 from= to=alice@origin.test",
		// a message that arrived before the scenario: sender unknown
		"relay.bounce peer= remote= code=0 from= to=bob@gone.test",
		"relay.defer peer= remote= code=0 from= to=bob@example.test",
		"relay.attempt peer=mx1.example.test remote=127.22.63.10 code=0 err=SMTP timeout after initial connection: Connection timed out",
		"relay.defer peer= remote= code=0 from= to=bob@example.test",
		"error",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestQuickAttempt(t *testing.T) {
	cases := []struct{ datagram, want string }{
		{"<22>exim[809]: 1xYi7o-0000D1-1y H=mx1.example.test [127.22.63.10]:25 Connection refused\n",
			"mx1.example.test 127.22.63.10 Connection refused"},
		{"<22>exim[1102]: 1xYi86-0000Hk-2d H=mx1.example.test [127.22.63.10]:25: SMTP timeout after initial connection: Connection timed out",
			"mx1.example.test 127.22.63.10 SMTP timeout after initial connection: Connection timed out"},
		{"<22>exim[9]: 1xYi86-0000Hk-2d H=[127.22.63.10] Connection refused", " 127.22.63.10 Connection refused"},
		// not host-level failures
		{"<22>exim[41]: 1xYi6t-00000d-0o H=smtp.example.test [127.22.63.10] TLS error on connection (recv): The TLS connection was non-properly terminated.", ""},
		{`<22>exim[40]: 1xYi6t-00000d-0o => bob@far-away.test R=smarthost T=remote_smtp S=406 H=smtp.example.test [127.22.63.10]:587 C="250 OK"`, ""},
		{"<22>exim[780]: H=(client.mxsim.test) [127.22.63.250] F=<spammer@outside.test> rejected RCPT <bob@example.test>: 5.7.1 Relay access denied", ""},
		{"<22>exim[1]: xx H=", ""},
	}
	for _, c := range cases {
		e := quickAttempt([]byte(c.datagram))
		got := ""
		if e != nil {
			got = e.Peer + " " + e.Remote + " " + e.Err
			if e.Kind != journal.KindRelayAttempt {
				t.Errorf("%q: kind %s", c.datagram, e.Kind)
			}
		}
		if got != c.want {
			t.Errorf("quickAttempt(%q) = %q, want %q", c.datagram, got, c.want)
		}
	}
}
