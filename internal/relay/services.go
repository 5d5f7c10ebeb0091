package relay

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/mxsim/mxsim/journal"
)

// service names the listener a submission session came in on.
type service int

const (
	serviceSubmit      service = iota // Config.Listen: the relay's plain submission port (trusted clients, AUTH when SubmitUsers)
	serviceSubmission                 // Config.SubmissionListen: 587-style, STARTTLS then AUTH, AUTH required (RFC 6409, RFC 4954)
	serviceSubmissions                // Config.SubmissionsListen: 465-style, TLS from connect (RFC 8314 §3.3), AUTH required
)

func (s service) String() string {
	return [...]string{"submit", "submission", "submissions"}[s]
}

// errEncryptionRequired answers AUTH before STARTTLS on the submission
// service (RFC 4954 §6: 538 5.7.11).
var errEncryptionRequired = &smtp.SMTPError{Code: codeEncryptionRequired, EnhancedCode: smtp.EnhancedCode{5, 7, 11},
	Message: "Encryption required for requested authentication mechanism"}

// listener is one bound listener of the relay and the server on it.
type listener struct {
	svc  service
	ln   *trackingListener
	srv  *smtp.Server
	done chan struct{} // closed when Serve returns
}

// listen binds the listener of svc at addr. On the submissions service
// the connection speaks TLS from its first byte (RFC 8314 §3.3), unless
// Bugs.PlaintextSubmissions.
func (r *Relay) listen(svc service, addr string) (*listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: listen on %q (%s): %w", addr, svc, err)
	}
	tl := &trackingListener{Listener: l, conns: map[net.Conn]struct{}{}}
	return &listener{svc: svc, ln: tl, srv: r.newServer(svc), done: make(chan struct{})}, nil
}

// serve runs the listener's server until it is closed. The tracking
// listener sits under TLS, so that go-smtp sees a *tls.Conn and Close
// can still cut the raw connections.
func (r *Relay) serve(l *listener) {
	defer close(l.done)
	var ln net.Listener = l.ln
	if l.svc == serviceSubmissions && !r.cfg.Bugs.PlaintextSubmissions {
		ln = tls.NewListener(l.ln, r.submitTLS)
	}
	if err := l.srv.Serve(ln); err != nil && !r.closing() {
		r.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source, Text: l.svc.String() + " server stopped", Err: err.Error()})
	}
}

// SubmissionAddr returns the address of the 587-style submission service,
// or "" when Config.SubmissionListen is empty.
func (r *Relay) SubmissionAddr() string { return r.addrOf(serviceSubmission) }

// SubmissionsAddr returns the address of the 465-style (implicit TLS)
// submission service, or "" when Config.SubmissionsListen is empty.
func (r *Relay) SubmissionsAddr() string { return r.addrOf(serviceSubmissions) }

func (r *Relay) addrOf(svc service) string {
	for _, l := range r.listeners {
		if l.svc == svc {
			return l.ln.Addr().String()
		}
	}
	return ""
}
