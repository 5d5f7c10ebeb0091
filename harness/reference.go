package harness

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/internal/relay"
	"github.com/mxsim/mxsim/scenarios"
)

// ReferenceConfig configures the reference relay, mxsim's small but
// correct Go MTA. The zero value is a working relay: direct delivery by MX
// lookup, opportunistic TLS, every client trusted. The DNS server, the
// hosts' SMTP port, the CA of their certificates and the journal come from
// the Network at Start.
type ReferenceConfig struct {
	// Hostname is the name the relay gives in EHLO; default "relay.test".
	Hostname string
	// Listen is the submission listener's "IP:port"; default
	// "127.0.0.1:0" (a free port, see Submission).
	Listen string
	// Smarthost sends all mail through one host instead of by MX lookup:
	// "host" looks up its MX, "[host]" only its A/AAAA; an optional
	// ":port" is the port as a scenario names it (Host.Ports): the relay
	// connects where the network has it listen (Network.PortFor), 465
	// with TLS from connect. Empty: direct delivery.
	Smarthost string
	// SmarthostAuth are the credentials for AUTH (PLAIN, else LOGIN) to
	// the smarthost, never sent before TLS unless AllowInsecureAuth.
	SmarthostAuth        *ReferenceCredentials
	AllowInsecureAuth    bool // AUTH to the smarthost without TLS
	SmarthostImplicitTLS bool // TLS from connect to the smarthost (RFC 8314); implied by port 465
	// TLS is the outbound TLS policy, as Postfix's smtp_tls_security_level:
	// none, may (default), encrypt, verify.
	TLS scenarios.TLSPolicy
	// RootCAs verify the hosts' certificates under TLS verify; nil: the
	// network's CA.
	RootCAs *x509.CertPool
	// SubmitUsers, when non-nil, make submission require AUTH (PLAIN or
	// LOGIN) with these users and passwords; the client submits as the
	// first user in name order.
	SubmitUsers map[string]string
	// SubmissionListen and SubmissionsListen, when set, add the relay's
	// 587-style (STARTTLS, AUTH required) and 465-style (TLS from connect)
	// submission services for SubmitUsers; "127.0.0.1:0" picks a free port.
	SubmissionListen  string
	SubmissionsListen string
	// RetryInterval is how often deferred mail is retried by itself;
	// default 1m. Flush retries at once.
	RetryInterval time.Duration
	// MaxLifetime bounces deferred mail older than this; default 5m.
	MaxLifetime time.Duration
	// MaxMXHosts bounds the MX hosts tried per attempt; default 5, at
	// least 2 (RFC 5321 §5.1).
	MaxMXHosts int
	// Timeout bounds each DNS query, dial and SMTP command; default 10s.
	Timeout time.Duration
	// Rand shuffles equal MX preferences; nil: randomly seeded.
	Rand *rand.Rand
	// Mynetworks are the trusted client networks (Postfix mynetworks): an
	// untrusted client that has not authenticated may not relay. Nil
	// trusts every client.
	Mynetworks []netip.Prefix
	// MTASTS makes the relay honour MTA-STS policies (RFC 8461), fetched
	// from the network's policy web hosts (Network.MTASTSPort) with the
	// network's CA.
	MTASTS bool
	// Variant plants a known bug on purpose, for checking that a suite
	// catches it ("no-shuffle", …; `mxsim conformance -list-variants`
	// lists them). Empty: the correct relay.
	Variant string
	// DKIM makes the relay sign with DKIM the mail whose From domain is
	// DKIM.Domain or below it; its Key is required here. Nil: the
	// settings' DKIM (RelaySettings.DKIM, whose key New makes and
	// publishes).
	DKIM *DKIMSigning
}

// ReferenceCredentials are a user name and password for SMTP AUTH.
type ReferenceCredentials = Credentials

// Reference returns the reference relay as a relay under test.
func Reference(cfg ReferenceConfig) Relay { return &reference{cfg: cfg} }

type reference struct {
	cfg ReferenceConfig
	r   *relay.Relay
}

var _ Relay = (*reference)(nil)

// internal returns the relay package's configuration for the network n.
func (c ReferenceConfig) internal(n Network) (relay.Config, error) {
	cfg := relay.Config{
		Hostname:             c.Hostname,
		Listen:               c.Listen,
		DNS:                  n.DNSAddr,
		Port:                 n.SMTPPort,
		Smarthost:            c.Smarthost,
		AllowInsecureAuth:    c.AllowInsecureAuth,
		SmarthostImplicitTLS: c.SmarthostImplicitTLS,
		TLS:                  relay.TLSPolicy(c.TLS),
		RootCAs:              c.RootCAs,
		SubmitUsers:          c.SubmitUsers,
		SubmissionListen:     c.SubmissionListen,
		SubmissionsListen:    c.SubmissionsListen,
		RetryInterval:        c.RetryInterval,
		MaxLifetime:          c.MaxLifetime,
		MaxMXHosts:           c.MaxMXHosts,
		Timeout:              c.Timeout,
		Journal:              n.Journal,
		Rand:                 c.Rand,
		Mynetworks:           c.Mynetworks,
		MTASTS:               c.MTASTS,
		MTASTSPort:           n.MTASTSPort,
	}
	if cfg.Smarthost != "" {
		// The smarthost listens where the network says for the port
		// named (Host.Ports, Host.Port): the relay is told the port it
		// is bound to.
		if sh, err := scenarios.ParseSmarthost(cfg.Smarthost); err == nil {
			named := 0 // none written: the host's MX port
			if strings.LastIndexByte(cfg.Smarthost, ':') > strings.LastIndexByte(cfg.Smarthost, ']') {
				named = sh.Port
			}
			cfg.SmarthostImplicitTLS = cfg.SmarthostImplicitTLS || named == 465
			host := sh.Host
			if !sh.MXLookup {
				host = "[" + host + "]"
			}
			cfg.Smarthost = host + ":" + strconv.Itoa(n.PortFor(sh.Host, named))
		}
	}
	if cfg.TLS == "" {
		cfg.TLS = relay.TLSMay
	}
	if cfg.RootCAs == nil {
		cfg.RootCAs = n.CAPool
	}
	if a := c.SmarthostAuth; a != nil {
		cfg.SmarthostAuth = &relay.Credentials{User: a.User, Password: a.Password}
	}
	if d := c.DKIM; d != nil {
		if d.Key == nil {
			return relay.Config{}, fmt.Errorf("%w: DKIM.Key is nil (RelaySettings.DKIM makes and publishes one)", ErrConfig)
		}
		cfg.DKIM = &relay.DKIM{Domain: canonical(d.Domain), Selector: d.Selector, Key: d.Key}
	}
	if c.Variant != "" {
		v, ok := relay.LookupVariant(c.Variant)
		if !ok {
			return relay.Config{}, fmt.Errorf("%w: unknown variant %q", ErrConfig, c.Variant)
		}
		cfg.Bugs = v.Bugs
	}
	return cfg, nil
}

// withSettings returns c with every setting it leaves unset taken from s
// (Network.Relay).
func (c ReferenceConfig) withSettings(s RelaySettings) ReferenceConfig {
	c.Hostname = cmp.Or(c.Hostname, s.Hostname)
	c.TLS = cmp.Or(c.TLS, s.TLS)
	c.RetryInterval = cmp.Or(c.RetryInterval, s.RetryInterval)
	c.MaxLifetime = cmp.Or(c.MaxLifetime, s.MaxLifetime)
	c.MaxMXHosts = cmp.Or(c.MaxMXHosts, s.MaxMXHosts)
	c.MTASTS = c.MTASTS || s.MTASTS
	if sh := s.Smarthost; sh != nil && c.Smarthost == "" {
		// The port as the settings name it; internal maps it to where
		// the host listens (Network.PortFor).
		c.Smarthost = sh.String()
		c.SmarthostImplicitTLS = c.SmarthostImplicitTLS || sh.ImplicitTLS
		if c.SmarthostAuth == nil && sh.Auth != nil {
			a := *sh.Auth
			c.SmarthostAuth = &a
		}
	}
	if a := s.SubmitAuth; a != nil && c.SubmitUsers == nil {
		c.SubmitUsers = map[string]string{a.User: a.Password}
	}
	if c.DKIM == nil {
		c.DKIM = s.DKIM
	}
	if s.Submission && c.SubmissionListen == "" && c.SubmissionsListen == "" {
		c.SubmissionListen, c.SubmissionsListen = "127.0.0.1:0", "127.0.0.1:0"
	}
	return c
}

func (ref *reference) Start(ctx context.Context, n Network) error {
	if ref.r != nil {
		return errors.New("reference relay: already started")
	}
	ref.cfg = ref.cfg.withSettings(n.Relay)
	cfg, err := ref.cfg.internal(n)
	if err != nil {
		return fmt.Errorf("reference relay: %w", err)
	}
	r, err := relay.Start(cfg)
	if err != nil {
		return fmt.Errorf("reference relay: %w", err)
	}
	ref.r = r
	return nil
}

func (ref *reference) Submission() Submission {
	s := Submission{Addr: ref.r.Addr(), SubmissionAddr: ref.r.SubmissionAddr(), SubmissionsAddr: ref.r.SubmissionsAddr()}
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

// ReportsDecisions: the reference relay journals every attempt and
// decision (DecisionReporter).
func (ref *reference) ReportsDecisions() bool { return true }

var _ QueueReporter = (*reference)(nil)

// Queue lists the reference relay's queue, the attempts in progress
// included.
func (ref *reference) Queue(ctx context.Context) ([]QueuedRecipient, error) {
	if ref.r == nil {
		return nil, errors.New("reference relay: not started")
	}
	var out []QueuedRecipient
	for _, p := range ref.r.Pending() {
		q := QueuedRecipient{ID: p.ID, From: p.From, To: p.To, InFlight: p.Running}
		if v := headerValue(p.Data, SubmissionHeader); v != "" {
			q.Submission = v
		}
		out = append(out, q)
	}
	return out, nil
}
