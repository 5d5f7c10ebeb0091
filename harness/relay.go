package harness

import (
	"context"
	"crypto/x509"
	"slices"

	"github.com/mxsim/mxsim/journal"
)

// Relay is a relay under test: the reference relay in this process, an
// MTA already running, or a real Postfix in a container. The harness
// starts it after the network and stops it before.
type Relay interface {
	// Start starts the relay against the network n.
	Start(ctx context.Context, n Network) error
	// Submission says where and how the client submits mail to it.
	Submission() Submission
	// Flush asks the relay to retry its deferred mail now (postqueue -f).
	Flush(ctx context.Context) error
	// Stop stops the relay. It is called once, after a successful Start.
	Stop(ctx context.Context) error
}

// DecisionReporter is implemented by a Relay that says whether it
// journals its own decisions about each recipient (relay.deliver,
// relay.defer, relay.bounce, relay.attempt): the reference relay does,
// the Postfix adapter does from Postfix's log. A relay that does not
// implement it, as External, is taken to report nothing, and failure
// messages say so instead of reading meaning into the missing events.
type DecisionReporter interface {
	ReportsDecisions() bool
}

// Network is what a relay under test is told about the environment, and
// what it may use of it.
//
// The Report methods journal a relay's own reports, the events the
// reference relay writes: an own relay calls them so that checks and
// failure messages see what it did, not only what reached the hosts.
// ReportAttempt is what makes a host that is down count as attempted
// (CheckAttemptedInOrder, the attempted condition): a host that refuses
// the connection, or is not there, leaves no trace of its own. A relay
// that reports its decisions too (ReportDelivered, ReportDeferred,
// ReportBounced) should implement DecisionReporter. Each returns an error
// wrapping ErrBadReport, and journals nothing, for a value it cannot
// journal (a host that is no host name, an address that is not
// "IP:port", a code out of its class) or when Journal is nil.
type Network struct {
	DNSAddr  string           // "IP:port" of the fake DNS
	SMTPPort int              // port every simulated host listens on
	CAPEM    []byte           // PEM of the CA that signs the hosts' valid certificates
	CAPool   *x509.CertPool   // the same CA as a pool
	Journal  *journal.Journal // where the relay may write its own events
	// HostPorts are the hosts that listen on a port other than SMTPPort
	// (Host.Port: a smarthost named with its port), by canonical name.
	HostPorts map[string]int
	// MappedPorts are, on a plan whose SMTP port was picked free, the
	// ports the hosts list (Host.Ports, a scenario host's ports:) other
	// than 25, to the free ports they listen on instead: 587 -> 40123.
	// Nil when the plan fixes the ports (real MTAs: a listed port is
	// bound as it is) or no host lists one. See PortFor.
	MappedPorts map[int]int
	// ListedPorts are the ports the hosts that list some listen on
	// (Host.Ports, as named: 25, 587…), by canonical name; a host not in
	// it listens on 25 only.
	ListedPorts map[string][]int
	// Relay are the settings the relay is asked to run with: the
	// scenario's relay section under Run and RunScenario,
	// Config.RelaySettings under New and Start. A relay that cannot
	// honour one should fail Start with an error wrapping ErrUnsupported
	// rather than run as something else.
	Relay RelaySettings
	// MTASTSPort is the port the MTA-STS policy web hosts listen on
	// (Config.MTASTS); 0 when there are none. 443 under a plan with SMTP
	// port 25.
	MTASTSPort int
}

// PortOf returns the port the simulated host name listens on: its MX
// port (25 in the plan's terms), or the first of its ports when it lists
// no 25.
func (n Network) PortOf(name string) int {
	if p, ok := n.HostPorts[canonical(name)]; ok {
		return p
	}
	return n.SMTPPort
}

// PortFor returns the port to connect to for port of host name, as a
// scenario names it ("[smtp.example.test]:587"): for 25 (or 0), PortOf;
// for a port the plan maps (MappedPorts), the port it is mapped to; any
// other as it is (on a fixed plan a listed port is bound as it is; a
// port no host lists is refused there). name may also be a domain whose
// MX hosts list the port: a mapped port is the same on every host.
func (n Network) PortFor(name string, port int) int {
	if port == 0 || port == 25 {
		if ports, ok := n.ListedPorts[canonical(name)]; ok && !slices.Contains(ports, 25) {
			return n.SMTPPort // the shared port, where this host does not listen
		}
		return n.PortOf(name)
	}
	if p, ok := n.MappedPorts[port]; ok {
		return p
	}
	return port
}

// Submission is where the client submits mail to a relay.
type Submission struct {
	Addr     string // "IP:port"
	User     string // AUTH credentials, if the relay requires them
	Password string
	// The relay's own submission services, "" when it offers none:
	// 587-style (STARTTLS, then AUTH) and 465-style (TLS from connect).
	SubmissionAddr  string
	SubmissionsAddr string
}

// flushReporter is implemented by relays that may have no way to retry
// their queue on demand (an external relay without a flush command): a
// conformance case that flushes is then not applicable to them, rather
// than a failure of a relay that would have retried later.
type flushReporter interface{ CanFlush() bool }

// QueueReporter is implemented by a relay under test that can list its
// queue. The accounted-for invariant and the queued and deferred
// conditions need it; for a relay without it they are not judged (the
// invariant) or fail saying why (the conditions).
type QueueReporter interface {
	// Queue lists every recipient the relay still holds: deferred, or in
	// a delivery attempt in progress. A recipient must leave the listing
	// only after its outcome (delivered at a host, relay.bounce) is
	// journaled.
	Queue(ctx context.Context) ([]QueuedRecipient, error)
}
