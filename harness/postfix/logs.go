package postfix

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// newParser returns the parser of one scenario's log lines: events, with
// the map of queue IDs to senders that bounce events need.
func newParser() func(string) []journal.Event {
	from := map[string]string{}
	return func(line string) []journal.Event { return events(line, from) }
}

// quickAttempt returns the relay.attempt of a "]: connect to HOST[IP]:PORT:
// REASON" datagram using plain byte searches, or nil.
func quickAttempt(d []byte) *journal.Event {
	const marker = "]: connect to "
	i := bytes.Index(d, []byte(marker))
	if i < 0 {
		return nil
	}
	rest := d[i+len(marker):]
	lb := bytes.IndexByte(rest, '[')
	rb := bytes.IndexByte(rest, ']')
	if lb <= 0 || rb < lb {
		return nil
	}
	host, ip := string(rest[:lb]), string(rest[lb+1:rb])
	reason := ""
	if k := bytes.Index(rest[rb:], []byte(": ")); k >= 0 {
		reason = string(bytes.TrimRight(rest[rb+k+2:], "\x00\r\n"))
	}
	return &journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: host, Remote: ip,
		Text: host + "[" + ip + "]: " + reason, Err: reason}
}

var (
	connectRE = regexp.MustCompile(`\]: connect to ([^\[\s]+)\[([^\]]*)\](?::\d+)?: (.*)$`)
	fromRE    = regexp.MustCompile(`\]: ([0-9A-F]{6,}|[0-9A-Za-z]{10,}): from=<([^>]*)>`)
	statusRE  = regexp.MustCompile(`\]: ([0-9A-F]{6,}|[0-9A-Za-z]{10,}): to=<([^>]*)>.*?, relay=([^\[,\s]+)(?:\[[^\]]*\](?::\d+)?)?,.* status=(sent|deferred|bounced)`)
	saidRE    = regexp.MustCompile(`said: ([2-5]\d\d)\b`)
	codeRE    = regexp.MustCompile(`\(([245]\d\d) [245]\.\d{1,3}\.\d{1,3}\b`)
)

// events turns one Postfix log line into journal events: always a
// relay.log, plus relay.attempt for a connection that failed (a host that
// is down leaves no trace of its own), relay.deliver, relay.defer and
// relay.bounce for a recipient's status. from maps queue IDs to senders.
func events(line string, from map[string]string) []journal.Event {
	log := journal.Event{Kind: journal.KindRelayLog, Source: "relay", Text: line}
	if i := strings.Index(line, "]: "); i > 0 {
		rest := line[i+3:]
		for _, p := range []string{"fatal: ", "panic: ", "error: "} {
			if strings.HasPrefix(rest, p) {
				log.Err = strings.TrimPrefix(rest, p)
			}
		}
	}
	out := []journal.Event{log}
	if m := connectRE.FindStringSubmatch(line); m != nil {
		out = append(out, journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: m[1],
			Remote: m[2], Text: m[1] + "[" + m[2] + "]: " + m[3], Err: m[3]})
		return out
	}
	if m := fromRE.FindStringSubmatch(line); m != nil {
		from[m[1]] = m[2]
		return out
	}
	m := statusRE.FindStringSubmatch(line)
	if m == nil {
		return out
	}
	qid, rcpt, peer, status := m[1], m[2], m[3], m[4]
	sender, ours := from[qid]
	if !ours {
		// A message of an earlier scenario whose delivery was still
		// under way when it ended: its line is only a relay.log here.
		return out
	}
	e := journal.Event{Source: "relay", Peer: peer, Text: line,
		Message: &journal.Message{From: sender, To: []string{rcpt}}}
	if c := saidRE.FindStringSubmatch(line); c != nil {
		e.Code, _ = strconv.Atoi(c[1])
	} else if c := codeRE.FindStringSubmatch(line); c != nil {
		e.Code, _ = strconv.Atoi(c[1])
	}
	switch status {
	case "sent":
		e.Kind = journal.KindRelayDeliver
	case "deferred":
		e.Kind = journal.KindRelayDefer
	case "bounced":
		e.Kind = journal.KindRelayBounce
	}
	if peer == "none" {
		e.Peer = ""
	}
	return append(out, e)
}
