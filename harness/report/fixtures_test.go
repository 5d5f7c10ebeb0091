package report

import (
	"fmt"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// hostile is untrusted text that must come out of every report escaped.
const hostile = `<script>alert(1)</script>`

// t0 is when the sample run started.
func t0() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) }

// eventLog builds journal events with sequence numbers and times.
type eventLog struct {
	start  time.Time
	events []journal.Event
}

// at appends e, ms milliseconds after the start.
func (l *eventLog) at(ms float64, e journal.Event) {
	e.Seq = int64(len(l.events)) + 1
	e.Time = l.start.Add(time.Duration(ms * float64(time.Millisecond)))
	l.events = append(l.events, e)
}

// smtp appends a session event of host's session n.
func (l *eventLog) smtp(ms float64, host string, n int, kind journal.Kind, text string, code int) {
	l.at(ms, journal.Event{Kind: kind, Source: host, Session: fmt.Sprintf("%s#%d", host, n), Text: text, Code: code,
		Remote: "127.0.5.1:40112", Local: "127.0.5.12:2525"})
}

func dnsMX(name string, answers ...string) journal.Event {
	return journal.Event{Kind: journal.KindDNSQuery, Source: "dns", Remote: "127.0.5.1:53311",
		Text: fmt.Sprintf("MX %s → NOERROR (%d)", name, len(answers)),
		DNS:  &journal.DNS{Name: name, Type: "MX", Rcode: "NOERROR", Answer: answers, Proto: "udp"}}
}

func dnsA(name, addr string) journal.Event {
	return journal.Event{Kind: journal.KindDNSQuery, Source: "dns", Remote: "127.0.5.1:53312",
		Text: "A " + name + " → NOERROR (1)",
		DNS:  &journal.DNS{Name: name, Type: "A", Rcode: "NOERROR", Answer: []string{name + "\t300\tIN\tA\t" + addr}, Proto: "udp"}}
}

// failoverResult: mx1 refuses connections, the relay delivers at mx2.
func failoverResult() Result {
	l := &eventLog{start: t0()}
	// The client journals the start of its submission, then its outcome
	// once the relay has queued the message.
	sub := &journal.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, Headers: map[string][]string{"X-Mxsim-Submission": {"s1"}}}
	l.at(1.2, journal.Event{Kind: journal.KindClientSend, Source: "client", Remote: "127.0.5.2:2525",
		Text: "from alice@origin.test to bob@example.test", Message: sub})
	l.at(1.5, journal.Event{Kind: journal.KindRelaySubmit, Source: "relay", Text: "id=1a2b from=alice@origin.test to=bob@example.test"})
	l.at(1.7, journal.Event{Kind: journal.KindClientSubmit, Source: "client", Remote: "127.0.5.2:2525",
		Text: "from alice@origin.test to bob@example.test", Message: sub})
	l.at(2.1, dnsMX("example.test.", "example.test.\t300\tIN\tMX\t10 mx1.example.test.", "example.test.\t300\tIN\tMX\t20 mx2.example.test."))
	l.at(2.6, dnsA("mx1.example.test.", "127.0.5.11"))
	l.at(3.0, journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Remote: "127.0.5.11:2525",
		Text: "mx1.example.test[127.0.5.11]:2525 id=1a2b to=bob@example.test"})
	l.at(3.3, journal.Event{Kind: journal.KindRelayLog, Source: "relay", Remote: "127.0.5.11:2525", Code: 421,
		Text: "mx1.example.test[127.0.5.11]:2525 id=1a2b: 421 4.4.1 connect to mx1.example.test[127.0.5.11]:2525: connection refused",
		Err:  "dial tcp 127.0.5.11:2525: connect: connection refused"})
	l.at(3.7, dnsA("mx2.example.test.", "127.0.5.12"))
	l.at(4.0, journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Remote: "127.0.5.12:2525", Peer: "mx2.example.test",
		Text: "mx2.example.test[127.0.5.12]:2525 id=1a2b to=bob@example.test"})
	mx2 := "mx2.example.test"
	l.smtp(4.4, mx2, 1, journal.KindSMTPConnect, "connect from 127.0.5.1:40112", 0)
	l.smtp(4.6, mx2, 1, journal.KindSMTPReply, "220 mx2.example.test ESMTP mxsim", 220)
	l.smtp(5.0, mx2, 1, journal.KindSMTPCommand, "EHLO relay.test", 0)
	// fakesmtp journals a multi-line reply one line at a time.
	l.smtp(5.2, mx2, 1, journal.KindSMTPReply, "250-mx2.example.test Hello relay.test", 250)
	l.smtp(5.2, mx2, 1, journal.KindSMTPReply, "250-PIPELINING", 250)
	l.smtp(5.2, mx2, 1, journal.KindSMTPReply, "250-8BITMIME", 250)
	l.smtp(5.2, mx2, 1, journal.KindSMTPReply, "250 ENHANCEDSTATUSCODES", 250)
	l.smtp(5.6, mx2, 1, journal.KindSMTPCommand, "MAIL FROM:<alice@origin.test>", 0)
	l.smtp(5.8, mx2, 1, journal.KindSMTPReply, "250 2.0.0 Roger, accepting mail from <alice@origin.test>", 250)
	l.smtp(6.1, mx2, 1, journal.KindSMTPCommand, "RCPT TO:<bob@example.test>", 0)
	l.smtp(6.3, mx2, 1, journal.KindSMTPReply, "250 2.0.0 I'll make sure <bob@example.test> gets this", 250)
	l.smtp(6.6, mx2, 1, journal.KindSMTPCommand, "DATA", 0)
	l.smtp(6.8, mx2, 1, journal.KindSMTPReply, "354 2.0.0 Go ahead. End your data with <CR><LF>.<CR><LF>", 354)
	l.at(7.4, journal.Event{Kind: journal.KindSMTPMessage, Source: mx2, Session: mx2 + "#1",
		Text:    "message from alice@origin.test to bob@example.test, 412 bytes, subject \"hello\"",
		Message: &journal.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, Size: 412, Subject: "hello", ID: "<1a2b@relay.test>"}})
	l.smtp(7.5, mx2, 1, journal.KindSMTPReply, "250 2.0.0 OK: queued", 250)
	l.at(7.7, journal.Event{Kind: journal.KindRelayDeliver, Source: "relay", Remote: "127.0.5.12:2525", Code: 250,
		Text: "mx2.example.test[127.0.5.12]:2525 id=1a2b to=bob@example.test"})
	l.smtp(7.9, mx2, 1, journal.KindSMTPCommand, "QUIT", 0)
	l.smtp(8.0, mx2, 1, journal.KindSMTPReply, "221 2.0.0 Bye", 221)
	l.smtp(8.1, mx2, 1, journal.KindSMTPDisconnect, "disconnect", 0)
	return Result{
		Name:        "mx-failover-on-refused",
		File:        "scenarios/library/mx-failover-on-refused.yaml",
		Description: "The preferred MX refuses connections; mail must go to the backup.",
		Tags:        []string{"mx", "failover", "rfc5321-5.1"},
		Relay:       "reference",
		Verdict:     Pass,
		Started:     t0(),
		Duration:    410 * time.Millisecond,
		Hosts: []Host{
			{Name: "mx1.example.test", Addr: "127.0.5.11:2525", Behavior: "down"},
			{Name: "mx2.example.test", Addr: "127.0.5.12:2525"},
		},
		Events: l.events,
	}
}

// greylistResult: mx3 greylists after STARTTLS and the relay never
// retries; two expectations fail. A reply carries hostile text.
func greylistResult() Result {
	start := t0().Add(time.Second)
	l := &eventLog{start: start}
	mx3 := "mx3.example.test"
	l.at(0.8, journal.Event{Kind: journal.KindClientSubmit, Source: "client", Remote: "127.0.5.2:2525",
		Text: "from alice@origin.test to bob@example.test"})
	l.at(1.6, dnsMX("example.test.", "example.test.\t300\tIN\tMX\t10 mx3.example.test."))
	l.at(2.0, journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: mx3, Remote: "127.0.5.13:2525",
		Text: "mx3.example.test[127.0.5.13]:2525 id=9f8e to=bob@example.test"})
	l.smtp(2.3, mx3, 1, journal.KindSMTPConnect, "connect from 127.0.5.1:40113", 0)
	l.smtp(2.5, mx3, 1, journal.KindSMTPReply, "220 mx3.example.test ESMTP mxsim", 220)
	l.smtp(2.8, mx3, 1, journal.KindSMTPCommand, "EHLO relay.test", 0)
	l.smtp(3.0, mx3, 1, journal.KindSMTPReply, "250-mx3.example.test Hello relay.test\n250-STARTTLS\n250 8BITMIME", 250)
	l.smtp(3.2, mx3, 1, journal.KindSMTPCommand, "STARTTLS", 0)
	l.smtp(3.4, mx3, 1, journal.KindSMTPReply, "220 2.0.0 Ready to start TLS", 220)
	l.at(5.9, journal.Event{Kind: journal.KindSMTPTLS, Source: mx3, Session: mx3 + "#1", Text: "TLS 1.3 TLS_AES_128_GCM_SHA256, certificate valid",
		TLS: &journal.TLS{Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", ServerName: mx3, CertKind: "valid"}})
	l.smtp(6.2, mx3, 1, journal.KindSMTPCommand, "EHLO relay.test", 0)
	l.smtp(6.4, mx3, 1, journal.KindSMTPReply, "250-mx3.example.test Hello relay.test\n250 8BITMIME", 250)
	l.smtp(6.6, mx3, 1, journal.KindSMTPCommand, "MAIL FROM:<alice@origin.test>", 0)
	l.smtp(6.8, mx3, 1, journal.KindSMTPReply, "250 2.0.0 Roger, accepting mail from <alice@origin.test>", 250)
	l.smtp(7.0, mx3, 1, journal.KindSMTPCommand, "RCPT TO:<bob@example.test>", 0)
	l.at(7.2, journal.Event{Kind: journal.KindSMTPReply, Source: mx3, Session: mx3 + "#1", Code: 451, Fault: "greylist",
		Text: "451 4.7.1 greylisted, try again later " + hostile})
	l.at(7.5, journal.Event{Kind: journal.KindRelayDefer, Source: "relay", Code: 451,
		Text: "id=9f8e to=bob@example.test: 451 4.7.1 greylisted, try again later"})
	l.smtp(7.7, mx3, 1, journal.KindSMTPCommand, "QUIT", 0)
	l.smtp(7.8, mx3, 1, journal.KindSMTPReply, "221 2.0.0 Bye", 221)
	l.smtp(7.9, mx3, 1, journal.KindSMTPDisconnect, "disconnect", 0)
	l.at(2010, journal.Event{Kind: journal.KindControl, Source: "harness", Text: "greylist window for mx3.example.test passed; flush queue"})
	return Result{
		Name:        "greylist-retry",
		File:        "scenarios/library/greylist-retry.yaml",
		Description: "The only MX greylists the first attempt; the relay must retry and deliver.",
		Tags:        []string{"greylist", "rfc6647"},
		Relay:       "reference",
		Verdict:     Fail,
		Started:     start,
		Duration:    10020 * time.Millisecond,
		Failures: []Failure{
			{Pos: "scenario.yaml:14:5", Step: "expect delivered to bob@example.test at mx3.example.test within 10s",
				Expected: "a message to bob@example.test accepted at mx3.example.test",
				Actual:   "no message accepted; last: deferred 451 4.7.1 greylisted " + hostile},
			{Pos: "scenario.yaml:15:5", Step: "expect attempted [mx3.example.test, mx3.example.test]",
				Expected: "attempts [mx3.example.test, mx3.example.test]", Actual: "attempts [mx3.example.test]"},
		},
		Hosts:  []Host{{Name: mx3, Addr: "127.0.5.13:2525", Behavior: "greylist 2s, STARTTLS offered"}},
		Events: l.events,
	}
}

// errorResult: the network could not start.
func errorResult() Result {
	return Result{
		Name:     "smarthost-auth-plain",
		File:     "scenarios/library/smarthost-auth-plain.yaml",
		Relay:    "reference",
		Verdict:  Error,
		Reason:   "relay did not start: listen tcp 127.0.5.2:587: bind: address already in use",
		Started:  t0().Add(12 * time.Second),
		Duration: 30 * time.Millisecond,
	}
}

// notApplicableResult: the relay cannot do DANE.
func notApplicableResult() Result {
	return Result{
		Name:     "dane-tlsa-usage-3",
		File:     "scenarios/library/dane-tlsa-usage-3.yaml",
		Tags:     []string{"tls", "dane"},
		Relay:    "reference",
		Verdict:  NotApplicable,
		Reason:   "the relay does not validate DNSSEC, so DANE does not apply",
		Started:  t0().Add(13 * time.Second),
		Duration: 0,
	}
}

// sampleResults is a whole run of four scenarios.
func sampleResults() []Result {
	return []Result{failoverResult(), greylistResult(), errorResult(), notApplicableResult()}
}

// conformanceResults is a conformance run.
func conformanceResults() []Result {
	pass := failoverResult()
	pass.ID, pass.Level, pass.Clause, pass.Name = "MX-013", "MUST", "RFC 5321 §4.2.1", "failover on connection refused"
	ns := Result{ID: "TLS-020", Level: "SHOULD", Clause: "RFC 3207 §4", Name: "opportunistic TLS falls back to plaintext",
		Verdict: NonStrict, Reason: "delivered without TLS but did not first try STARTTLS", Duration: 120 * time.Millisecond}
	info := Result{ID: "MX-009", Level: "INFO", Clause: "RFC 5321 §5.1", Name: "MX target is a CNAME",
		Verdict: Informational, Reason: "relay followed the CNAME and delivered", Duration: 80 * time.Millisecond}
	fail := greylistResult()
	fail.ID, fail.Level, fail.Clause, fail.Name = "GL-017", "MUST", "RFC 6647 §2.1", "retry after greylisting"
	return []Result{pass, ns, info, fail}
}
