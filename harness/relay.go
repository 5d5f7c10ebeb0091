package harness

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/mxsim/mxsim/internal/relay"
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

// Network is what a relay under test is told about the environment.
type Network struct {
	DNSAddr  string           // "IP:port" of the fake DNS
	SMTPPort int              // port every simulated host listens on
	CAPEM    []byte           // PEM of the CA that signs the hosts' valid certificates
	CAPool   *x509.CertPool   // the same CA as a pool
	Journal  *journal.Journal // where the relay may write its own events
}

// Submission is where the client submits mail to a relay.
type Submission struct {
	Addr     string // "IP:port"
	User     string // AUTH credentials, if the relay requires them
	Password string
}

// ReferenceConfig configures the reference relay. DNS, Port, RootCAs and
// Journal are filled in from the Network at Start.
type ReferenceConfig = relay.Config

// ReferenceCredentials are the reference relay's AUTH credentials.
type ReferenceCredentials = relay.Credentials

// Reference returns the reference relay, a small but correct Go MTA, as a
// relay under test.
func Reference(cfg ReferenceConfig) Relay { return &reference{cfg: cfg} }

type reference struct {
	cfg ReferenceConfig
	r   *relay.Relay
}

var _ Relay = (*reference)(nil)

func (ref *reference) Start(ctx context.Context, n Network) error {
	if ref.r != nil {
		return errors.New("reference relay: already started")
	}
	cfg := ref.cfg
	cfg.DNS = n.DNSAddr
	if cfg.Port == 0 {
		cfg.Port = n.SMTPPort
	}
	if cfg.RootCAs == nil {
		cfg.RootCAs = n.CAPool
	}
	cfg.Journal = n.Journal
	r, err := relay.Start(cfg)
	if err != nil {
		return fmt.Errorf("reference relay: %w", err)
	}
	ref.r = r
	return nil
}

func (ref *reference) Submission() Submission {
	s := Submission{Addr: ref.r.Addr()}
	// The client submits as the first user in name order.
	for u, p := range ref.cfg.SubmitUsers {
		if s.User == "" || u < s.User {
			s.User, s.Password = u, p
		}
	}
	return s
}

func (ref *reference) Flush(ctx context.Context) error {
	ref.r.Flush()
	return nil
}

func (ref *reference) Stop(ctx context.Context) error { return ref.r.Close() }
