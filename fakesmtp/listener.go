package fakesmtp

import (
	"net"
	"slices"
	"sync/atomic"
)

// PortMode says how a host behaves on one of its listening addresses:
// a real MTA serves relay traffic on 25, submission on 587 and
// submission over implicit TLS on 465, each with its own rules. The
// host's Behavior is the rule on an MX port; the other modes adjust it
// for the sessions on their address only.
type PortMode string

// Port modes.
const (
	// PortMX ("" too): the behaviour as it is (port 25, and any port
	// that is neither 587 nor 465).
	PortMX PortMode = "mx"
	// PortSubmission (port 587, RFC 6409): STARTTLS is offered unless
	// the behaviour says otherwise (required stays required; an explicit
	// "none" stays none, for a careless submission host; implicit TLS is
	// off) and, when the behaviour has Auth with users, AUTH is required
	// before MAIL (530 5.7.0). Without Auth nothing is asked: the host
	// takes mail as on 25, with STARTTLS offered.
	PortSubmission PortMode = "submission"
	// PortSubmissions (port 465, RFC 8314 §3.3): TLS from connect, no
	// STARTTLS, and AUTH required before MAIL when the behaviour has Auth
	// with users, as on 587.
	PortSubmissions PortMode = "submissions"
)

// Values lists the port modes ("" is PortMX too).
func (PortMode) Values() []string {
	return []string{string(PortMX), string(PortSubmission), string(PortSubmissions)}
}

// ModeForPort is the mode a real MTA gives a port: 587 submission, 465
// submission over implicit TLS, anything else MX.
func ModeForPort(port int) PortMode {
	switch port {
	case 587:
		return PortSubmission
	case 465:
		return PortSubmissions
	}
	return PortMX
}

func (m PortMode) valid() bool { return m == "" || slices.Contains(m.Values(), string(m)) }

// apply returns b as sessions in mode m see it: b itself on an MX port,
// else an adjusted copy (b is never changed).
func (m PortMode) apply(b *Behavior) *Behavior {
	if m == "" || m == PortMX {
		return b
	}
	nb := *b
	switch m {
	case PortSubmission:
		nb.TLS.Implicit = false
		if nb.TLS.StartTLS == "" {
			nb.TLS.StartTLS = TLSOffered
		}
	case PortSubmissions:
		nb.TLS.Implicit = true
		nb.TLS.StartTLS = TLSNone
	}
	if a := nb.Auth; a != nil && len(a.Users) > 0 && !a.Required {
		na := *a
		na.Required = true
		nb.Auth = &na
	}
	return &nb
}

// Listener is one more address a host listens on (Config.Listeners).
type Listener struct {
	Addr string   // "IP:port"; port 0 picks a free one (see Host.Listeners)
	Mode PortMode // how sessions on it run; "": PortMX
}

// listener is one listening address of a host and what serves it. Its
// fields other than addr and mode are guarded by Host.mu.
type listener struct {
	addr       string
	mode       PortMode
	ln         net.Listener
	loop       *loop         // serves ln (Linux), or nil and acceptLoop does
	acceptDone chan struct{} // closed when acceptLoop ends

	// derived caches mode.apply of the host's current behaviour: a
	// session on a submission port reads it at every command.
	derived atomic.Pointer[derivedBehavior]
}

type derivedBehavior struct{ base, eff *Behavior }

// behavior returns base as this listener's sessions see it.
func (l *listener) behavior(base *Behavior) *Behavior {
	if l == nil || l.mode == "" || l.mode == PortMX {
		return base
	}
	if d := l.derived.Load(); d != nil && d.base == base {
		return d.eff
	}
	eff := l.mode.apply(base)
	l.derived.Store(&derivedBehavior{base: base, eff: eff})
	return eff
}
