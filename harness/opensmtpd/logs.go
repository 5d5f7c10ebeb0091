package opensmtpd

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// OpenSMTPD 6.8 logs its outgoing sessions as reports, one line per
// step, each starting with the session's ID:
//
//	a49fc7bac1907138 mta connecting address=smtp://127.72.0.10:25 host=127.72.0.10
//	a49fc7bac1907138 mta error reason=IO Error: Connection refused
//	a49fc7bbad1e7020 mta connected
//	a49fc7bbad1e7020 mta delivery evpid=b119f8860e71fc58 from=<alice@origin.test> to=<bob@example.test> rcpt=<-> source="127.0.0.1" relay="127.72.0.11 (127.72.0.11)" delay=2s result="Ok" stat="250 2.0.0 Ok: queued"
//
// It names hosts by address (and by their PTR name, which the simulated
// DNS does not serve): the parser finds the host name in the answers the
// simulated DNS gave, as the name whose A record holds the address.

var (
	connectingRE = regexp.MustCompile(`^([0-9a-f]{16}) mta connecting address=([a-z+]+)://([^\s]+?)(?::(\d+))? host=(\S+)`)
	errorRE      = regexp.MustCompile(`^([0-9a-f]{16}) mta error reason=(.*)$`)
	deliveryRE   = regexp.MustCompile(`^([0-9a-f]{16}) mta delivery evpid=([0-9a-f]+) from=<([^>]*)> to=<([^>]*)> .*?relay="([^"]*)" .*?result="([A-Za-z]+)" stat="(.*)"$`)
	relayAddrRE  = regexp.MustCompile(`\(([^()]*)\)$`)
	statCodeRE   = regexp.MustCompile(`^([2-5]\d\d)[ -]`)
	innerCodeRE  = regexp.MustCompile(`\b([2-5]\d\d)[ -][245]\.\d{1,3}\.\d{1,3}\b`)
)

// namer finds the host name of an address that the relay connected to.
type namer func(ip string) string

// journalNamer returns a namer that reads the simulated DNS's answers in
// j: the newest name whose A (or AAAA) record holds the address. The
// DNS records a query before it answers, so a relay that connects to an
// address it looked up finds it there.
func journalNamer(j *journal.Journal) namer {
	cache := map[string]string{}
	return func(ip string) string {
		if name, ok := cache[ip]; ok {
			return name
		}
		if j == nil {
			return ""
		}
		evs := j.Events(journal.OfKind(journal.KindDNSQuery))
		for i := len(evs) - 1; i >= 0; i-- {
			d := evs[i].DNS
			if d == nil || (d.Type != "A" && d.Type != "AAAA") {
				continue
			}
			for _, rr := range d.Answer {
				f := strings.Fields(rr)
				if len(f) >= 2 && (f[len(f)-2] == "A" || f[len(f)-2] == "AAAA") && f[len(f)-1] == ip {
					name := strings.ToLower(strings.TrimSuffix(d.Name, "."))
					cache[ip] = name
					return name
				}
			}
		}
		return ""
	}
}

// parser turns one scenario's log lines into journal events. It keeps
// the host of each session.
type parser struct {
	name    namer
	session map[string]hostAddr // session ID → host
}

type hostAddr struct{ name, ip string }

// newParser returns the parser of one scenario's log lines; name finds
// host names (journalNamer of the scenario's journal).
func newParser(name namer) func(string) []journal.Event {
	p := &parser{name: name, session: map[string]hostAddr{}}
	return p.events
}

// events turns one OpenSMTPD log line ("smtpd[12]: text") into journal
// events: always a relay.log, plus relay.attempt for each connection and
// for one that failed, relay.deliver, relay.defer and relay.bounce for a
// recipient's result.
func (p *parser) events(line string) []journal.Event {
	log := journal.Event{Kind: journal.KindRelayLog, Source: "relay", Text: line}
	text := line
	if i := strings.Index(line, "]: "); i > 0 && strings.HasPrefix(line, "smtpd[") {
		text = line[i+3:]
	}
	for _, pfx := range []string{"fatal: ", "error: "} {
		if strings.HasPrefix(text, pfx) {
			log.Err = strings.TrimPrefix(text, pfx)
		}
	}
	out := []journal.Event{log}
	if m := connectingRE.FindStringSubmatch(text); m != nil {
		ip := m[3]
		h := hostAddr{name: p.hostName(ip, m[5]), ip: ip}
		p.session[m[1]] = h
		remote := ip
		if m[4] != "" {
			remote = joinHostPort(ip, m[4])
		}
		return append(out, journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Session: m[1], Peer: h.name,
			Remote: remote, Text: h.label() + ": connecting (" + m[2] + ")"})
	}
	if m := errorRE.FindStringSubmatch(text); m != nil {
		h := p.session[m[1]]
		e := journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Session: m[1], Peer: h.name, Remote: h.ip,
			Text: h.label() + ": " + m[2], Err: m[2]}
		e.Code = code(m[2])
		return append(out, e)
	}
	m := deliveryRE.FindStringSubmatch(text)
	if m == nil {
		return out
	}
	sess, from, to, relay, result, stat := m[1], m[3], m[4], m[5], m[6], m[7]
	h, ok := p.session[sess]
	if !ok && relay != "" {
		// relay="PTRNAME (IP)": the session began before the parser.
		if a := relayAddrRE.FindStringSubmatch(relay); a != nil {
			h = hostAddr{name: p.hostName(a[1], ""), ip: a[1]}
		}
	}
	e := journal.Event{Source: "relay", Session: sess, Peer: h.name, Remote: h.ip, Text: text, Code: code(stat),
		Message: &journal.Message{From: from, To: []string{to}}}
	switch result {
	case "Ok":
		e.Kind = journal.KindRelayDeliver
	case "TempFail":
		e.Kind = journal.KindRelayDefer
		e.Err = stat
	case "PermFail", "Loop":
		e.Kind = journal.KindRelayBounce
		e.Err = stat
	default:
		return out
	}
	return append(out, e)
}

// hostName names the host at ip: the simulated DNS's name for it, else
// the name OpenSMTPD logged when it is not just the address.
func (p *parser) hostName(ip, logged string) string {
	if p.name != nil {
		if n := p.name(ip); n != "" {
			return n
		}
	}
	if logged != "" && logged != ip {
		return strings.ToLower(strings.TrimSuffix(logged, "."))
	}
	return ""
}

func (h hostAddr) label() string {
	switch {
	case h.name != "" && h.ip != "":
		return h.name + "[" + h.ip + "]"
	case h.ip != "":
		return "[" + h.ip + "]"
	}
	return h.name
}

// code returns the SMTP reply code at the start of an OpenSMTPD status
// ("450 4.7.1 greylisted") or inside it ("BANNER rejected: 421 4.3.2
// busy"), 0 when it has none ("Connection refused").
func code(s string) int {
	if m := statCodeRE.FindStringSubmatch(s); m != nil {
		c, _ := strconv.Atoi(m[1])
		return c
	}
	if m := innerCodeRE.FindStringSubmatch(s); m != nil {
		c, _ := strconv.Atoi(m[1])
		return c
	}
	if i := strings.Index(s, ": "); i >= 0 {
		if m := statCodeRE.FindStringSubmatch(s[i+2:]); m != nil {
			c, _ := strconv.Atoi(m[1])
			return c
		}
	}
	return 0
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
