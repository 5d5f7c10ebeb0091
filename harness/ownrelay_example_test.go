package harness_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

// ownRelay is a small relay of your own: it takes mail on a submission
// listener and, before answering the final dot, hands it to the
// smarthost the relay settings name, with their credentials and TLS
// policy. It has no queue: a message no host took is refused with 451.
type ownRelay struct {
	n    harness.Network
	srv  *smtp.Server
	addr string
}

func (r *ownRelay) Start(ctx context.Context, n harness.Network) error {
	if n.Relay.Smarthost == nil {
		return fmt.Errorf("own relay: no smarthost in the relay settings: %w", harness.ErrUnsupported)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r.n, r.addr = n, ln.Addr().String()
	r.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{r: r}, nil }))
	r.srv.Domain = cmp.Or(n.Relay.Hostname, "relay.test")
	go r.srv.Serve(ln)
	return nil
}

func (r *ownRelay) Submission() harness.Submission {
	return harness.Submission{Addr: r.addr}
}
func (r *ownRelay) Flush(ctx context.Context) error { return nil } // nothing is ever queued
func (r *ownRelay) Stop(ctx context.Context) error  { return r.srv.Shutdown(ctx) }
func (r *ownRelay) ReportsDecisions() bool          { return true } // harness.DecisionReporter

// session is one submission: the envelope, then the message.
type session struct {
	r    *ownRelay
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *session) Reset()                                      { s.from, s.to = "", nil }
func (s *session) Logout() error                               { return nil }
func (s *session) Data(body io.Reader) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.r.deliver(ctx, s.from, s.to, data); err != nil {
		for _, rc := range s.to {
			s.r.n.ReportDeferred(rc, 451, err.Error())
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 1}, Message: "not delivered, try again"}
	}
	return nil
}

// deliver tries the smarthost's MX hosts (or the smarthost itself, when
// written "[host]") in order, each at the address the fake DNS gives it.
func (r *ownRelay) deliver(ctx context.Context, from string, to []string, data []byte) error {
	sh, dns := r.n.Relay.Smarthost, r.n.Resolver()
	hosts := []string{sh.Host}
	if sh.MXLookup {
		mxs, err := dns.LookupMX(ctx, sh.Host)
		if err != nil {
			return err
		}
		hosts = hosts[:0]
		for _, mx := range mxs { // sorted by preference
			hosts = append(hosts, strings.TrimSuffix(mx.Host, "."))
		}
	}
	var errs []error
	for _, host := range hosts {
		ips, err := dns.LookupHost(ctx, host)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		addr := net.JoinHostPort(ips[0], strconv.Itoa(r.n.PortFor(host, sh.Port)))
		if err := r.send(host, addr, from, to, data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", host, err))
			continue
		}
		r.n.ReportDelivered(host, addr, to)
		return nil
	}
	return errors.Join(errs...)
}

// send is one SMTP session at host: TLS as the policy says (the
// certificate checked against the network's CA under "verify"), AUTH with
// the smarthost's credentials once encrypted, then the message.
func (r *ownRelay) send(host, addr, from string, to []string, data []byte) error {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	r.n.ReportAttempt(host, addr, to, err) // a host that is down counts as attempted
	if err != nil {
		return err
	}
	policy, sh := r.n.Relay.TLS, r.n.Relay.Smarthost
	tlsConfig := &tls.Config{ServerName: host, RootCAs: r.n.CAPool, InsecureSkipVerify: policy != scenarios.TLSVerify}
	encrypted := sh.ImplicitTLS || policy != scenarios.TLSNone
	var c *smtp.Client
	switch {
	case sh.ImplicitTLS:
		c = smtp.NewClient(tls.Client(conn, tlsConfig))
	case encrypted: // this small relay wants STARTTLS under "may" too
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			return err
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if a := sh.Auth; a != nil && encrypted {
		if err := c.Auth(sasl.NewPlainClient("", a.User, a.Password)); err != nil {
			return err
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(data)); err != nil {
		return err
	}
	return c.Quit()
}

// A relay of your own runs a scenario: the scenario's relay section
// (smarthost, its credentials, the TLS policy, the relay's name) reaches
// it in Network.Relay when it starts.
func Example_ownRelay() {
	sc, err := scenarios.LoadFile("testdata/own-relay-smarthost.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	// In a test: harness.RunScenario(t, "testdata/own-relay-smarthost.yaml", &ownRelay{})
	res := harness.Run(context.Background(), sc, harness.RunOptions{Relay: &ownRelay{}, RelayName: "own"})
	fmt.Println(res.Verdict, res.Reason)
	// Output:
	// pass
}
