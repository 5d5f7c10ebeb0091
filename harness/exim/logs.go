package exim

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// Exim's main log, as the adapter reads it from syslog: one line per
// event, "exim[PID]: " then, for a message, its ID (Exim 4.96:
// 1rAbCd-0001Ef-Gh) and a flag:
//
//	<=  the message arrived (sender, H=client, for recipients)
//	=>  delivered to a recipient (H=host [ip]:port, C="250 …")
//	->  delivered to one more recipient in the same transaction
//	==  deferred ("SMTP error from remote mail server after RCPT TO:<…>: 451 …")
//	**  bounced (failed permanently)
//
// and, with no flag, host-level errors: "H=host [ip]:port Connection
// refused", "H=host [ip]:port: SMTP error from remote mail server after
// initial connection: 421 …", "SMTP timeout after …".

// newParser returns the parser of one scenario's log lines: events, with
// the map of message IDs to senders that delivery events need.
func newParser() func(string) []journal.Event {
	from := map[string]string{}
	return func(line string) []journal.Event { return events(line, from) }
}

var (
	// msgRE: a line about a message: its ID and the rest.
	msgRE = regexp.MustCompile(`(?:^|\]: )([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}) (.*)$`)
	// hostRE: " H=name [ip]" or " H=[ip]", with an optional ":port".
	peerRE = regexp.MustCompile(`(?:^| )H=([^\s\[]*) ?\[([^\]]+)\](?::\d+)?`)
	// smtpErrRE: the remote's reply in a failure.
	smtpErrRE = regexp.MustCompile(`SMTP error from remote (?:mail server|mailer) after [^:]*(?::<[^>]*>)?[^:]*: ([2-5]\d\d)\b`)
	// confirmRE: the remote's reply to the final dot in a delivery.
	confirmRE = regexp.MustCompile(` C="([2-5]\d\d)\b`)
)

// events turns one Exim log line into journal events: always a relay.log,
// plus relay.attempt for a host-level failure (a host that refused the
// connection leaves no trace of its own), relay.deliver, relay.defer and
// relay.bounce for a recipient's outcome. from maps message IDs to
// senders.
func events(line string, from map[string]string) []journal.Event {
	log := journal.Event{Kind: journal.KindRelayLog, Source: "relay", Text: line}
	if strings.Contains(line, "configuration error") {
		log.Err = line
	}
	out := []journal.Event{log}
	m := msgRE.FindStringSubmatch(line)
	if m == nil {
		return out
	}
	id, rest := m[1], m[2]
	flag, body, _ := strings.Cut(rest, " ")
	var kind journal.Kind
	switch flag {
	case "<=":
		sender, _, _ := strings.Cut(body, " ")
		if sender == "<>" {
			sender = ""
		}
		from[id] = sender
		return out
	case "=>", "->":
		kind = journal.KindRelayDeliver
	case "==":
		kind = journal.KindRelayDefer
	case "**":
		kind = journal.KindRelayBounce
	default:
		if strings.HasPrefix(rest, "H=") {
			// A host-level failure: the host was tried.
			if p := peerRE.FindStringSubmatch(rest); p != nil {
				reason := strings.TrimLeft(rest[len(p[0]):], ": ")
				if afterSession(reason) {
					return out
				}
				out = append(out, journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: p[1], Remote: p[2],
					Text: p[1] + "[" + p[2] + "]: " + reason, Err: reason})
			}
		}
		return out
	}
	rcpt, _, _ := strings.Cut(body, " ")
	rcpt = strings.TrimSuffix(rcpt, ":")
	e := journal.Event{Kind: kind, Source: "relay", Text: line,
		Message: &journal.Message{From: from[id], To: []string{rcpt}}}
	if p := peerRE.FindStringSubmatch(body); p != nil {
		e.Peer, e.Remote = p[1], p[2]
	}
	if c := smtpErrRE.FindStringSubmatch(body); c != nil {
		e.Code, _ = strconv.Atoi(c[1])
	} else if c := confirmRE.FindStringSubmatch(body); c != nil && kind == journal.KindRelayDeliver {
		e.Code, _ = strconv.Atoi(c[1])
	}
	return append(out, e)
}

// quickAttempt returns the relay.attempt of a host-level failure datagram
// ("… 1rAbCd-0001Ef-Gh H=mx1.example.test [127.1.2.10]:25 Connection
// refused") using plain byte searches, or nil: it must reach the journal
// before the host Exim tries next records its own connection.
func quickAttempt(d []byte) *journal.Event {
	i := bytes.Index(d, []byte(" H="))
	// The message ID right before: 6-6-2 characters.
	if i < 16 || !isMessageID(d[i-16:i]) || i > 16 && d[i-17] != ' ' {
		return nil
	}
	rest := d[i+3:]
	lb := bytes.IndexByte(rest, '[')
	rb := bytes.IndexByte(rest, ']')
	if lb < 0 || rb < lb {
		return nil
	}
	host := string(bytes.TrimSpace(rest[:lb]))
	ip := string(rest[lb+1 : rb])
	tail := rest[rb+1:]
	if len(tail) > 0 && tail[0] == ':' {
		// ":port", then the reason
		j := 1
		for j < len(tail) && tail[j] >= '0' && tail[j] <= '9' {
			j++
		}
		tail = tail[j:]
	}
	reason := string(bytes.TrimLeft(bytes.TrimRight(tail, "\x00\r\n"), ": "))
	if afterSession(reason) {
		return nil
	}
	return &journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: host, Remote: ip,
		Text: host + "[" + ip + "]: " + reason, Err: reason}
}

// afterSession tells whether a host-level error is about the end of a
// session rather than an attempt: "TLS error on connection (recv): The
// TLS connection was non-properly terminated." when a host closes TLS
// without close_notify after QUIT, as the simulated hosts do.
func afterSession(reason string) bool {
	return strings.HasPrefix(reason, "TLS error on connection (recv)") || strings.HasPrefix(reason, "TLS error on connection (send)")
}

// isMessageID tells whether b is an Exim 4.96 message ID: 6-6-2 base-62
// characters.
func isMessageID(b []byte) bool {
	if len(b) != 16 {
		return false
	}
	for i, c := range b {
		switch {
		case i == 6 || i == 13:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return true
}
