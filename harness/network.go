package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// Resolver returns a pure-Go resolver that asks the network's fake DNS
// (DNSAddr) and nothing else, over UDP and TCP alike: the resolver an own
// relay written in Go looks up MX and address records with. It is the
// resolver fakedns.Server.Resolver gives, made from the address alone.
func (n Network) Resolver() *net.Resolver {
	addr := n.DNSAddr
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			if addr == "" {
				return nil, fmt.Errorf("harness: Network.Resolver: %w: no DNSAddr", ErrConfig)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// relaySource is the Source of the events a relay under test journals.
const relaySource = "relay"

// ErrBadReport is wrapped by the error of a Report method given a value
// it cannot journal; nothing is journaled then.
var ErrBadReport = errors.New("bad report")

// ReportAttempt journals a delivery attempt (relay.attempt): the relay is
// connecting, or has tried to connect, to host at addr ("IP:port"; "" if
// unknown) for the recipients to (nil if unknown). err is the attempt's
// failure, if it is known when reporting (a refused connection); nil
// otherwise.
func (n Network) ReportAttempt(host, addr string, to []string, err error) error {
	if bad := n.check(host, addr, to, false); bad != "" {
		return badReport("ReportAttempt", bad)
	}
	e := journal.Event{Kind: journal.KindRelayAttempt, Source: relaySource, Peer: canonical(host), Remote: addr,
		Text: target(host, addr) + recipients(to)}
	if err != nil {
		e.Err = err.Error()
	}
	n.Journal.Append(e)
	return nil
}

// ReportDelivered journals that host at addr ("IP:port"; "" if unknown)
// accepted the message for the recipients to (relay.deliver).
func (n Network) ReportDelivered(host, addr string, to []string) error {
	if bad := n.check(host, addr, to, true); bad != "" {
		return badReport("ReportDelivered", bad)
	}
	n.Journal.Append(journal.Event{Kind: journal.KindRelayDeliver, Source: relaySource, Peer: canonical(host), Remote: addr,
		Code: 250, Text: target(host, addr) + recipients(to)})
	return nil
}

// ReportDeferred journals that the relay keeps the recipient to to try
// again later (relay.defer), with the reply that made it defer: its code
// (4yz, or 0 when there was none, as after a timeout) and its text.
func (n Network) ReportDeferred(to string, code int, reason string) error {
	if bad := n.checkDecision(to, code, 400, 499); bad != "" {
		return badReport("ReportDeferred", bad)
	}
	n.Journal.Append(journal.Event{Kind: journal.KindRelayDefer, Source: relaySource, Code: code,
		Text: "to=" + to + ": " + decision(code, reason)})
	return nil
}

// ReportBounced journals that the relay gave up on the recipient to of a
// message from from ("" for a bounce) (relay.bounce), with the reply that
// made it: its code (4yz or 5yz, or 0) and its text. It is the relay's
// decision; the bounce message it sends to from is mail like any other.
func (n Network) ReportBounced(from, to string, code int, reason string) error {
	if bad := n.checkDecision(to, code, 400, 599); bad != "" {
		return badReport("ReportBounced", bad)
	}
	n.Journal.Append(journal.Event{Kind: journal.KindRelayBounce, Source: relaySource, Code: code,
		Text:    "to=" + to + ": " + decision(code, reason),
		Message: &journal.Message{From: from, To: []string{to}}})
	return nil
}

func badReport(method, why string) error {
	return fmt.Errorf("harness: Network.%s: %w: %s", method, ErrBadReport, why)
}

// check says what is wrong with a host, its address and recipients
// (needed: at least one), or "".
func (n Network) check(host, addr string, to []string, needRcpt bool) string {
	switch {
	case n.Journal == nil:
		return "the Network has no Journal"
	case !validDomain(canonical(host)):
		return fmt.Sprintf("host %q: not a valid host name", host)
	}
	if addr != "" {
		if _, err := netip.ParseAddrPort(addr); err != nil {
			return fmt.Sprintf("addr %q: want \"IP:port\" (\"127.0.0.11:25\"), or \"\" when unknown", addr)
		}
	}
	if needRcpt && len(to) == 0 {
		return "no recipient"
	}
	for _, rc := range to {
		if bad := checkRcpt(rc); bad != "" {
			return bad
		}
	}
	return ""
}

// checkDecision says what is wrong with the recipient and the code of a
// decision whose code is 0 or in lo..hi, or "".
func (n Network) checkDecision(to string, code, lo, hi int) string {
	switch {
	case n.Journal == nil:
		return "the Network has no Journal"
	case code != 0 && (code < lo || code > hi):
		return fmt.Sprintf("code %d: want %d..%d, or 0 when no reply decided", code, lo, hi)
	}
	return checkRcpt(to)
}

func checkRcpt(rc string) string {
	if _, d, ok := strings.Cut(rc, "@"); !ok || d == "" || strings.ContainsAny(rc, " ,<>\r\n") {
		return fmt.Sprintf("recipient %q: want an address, \"bob@example.test\"", rc)
	}
	return ""
}

// target writes host and address as the reference relay does:
// "mx1.example.test[127.0.0.11]:25".
func target(host, addr string) string {
	host = canonical(host)
	if addr == "" {
		return host
	}
	if ip, port, err := net.SplitHostPort(addr); err == nil {
		return fmt.Sprintf("%s[%s]:%s", host, ip, port)
	}
	return fmt.Sprintf("%s[%s]", host, addr)
}

// recipients writes " to=a@x,b@y", the way the checks read it; "" for
// none.
func recipients(to []string) string {
	if len(to) == 0 {
		return ""
	}
	return " to=" + strings.Join(to, ",")
}

// decision writes a reply as "451 text", the code first unless the text
// starts with it.
func decision(code int, reason string) string {
	reason = strings.TrimSpace(reason)
	if code == 0 || strings.HasPrefix(reason, fmt.Sprint(code)) {
		return reason
	}
	if reason == "" {
		return fmt.Sprint(code)
	}
	return fmt.Sprintf("%d %s", code, reason)
}
