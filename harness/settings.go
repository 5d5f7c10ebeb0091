package harness

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/scenarios"
)

// RelaySettings are what the relay under test is asked to be: a
// scenario's relay section (Run and RunScenario fill them from it), or
// Config.RelaySettings in Go. Every Relay receives them at Start, in
// Network.Relay; an own relay configures itself from them, and the
// reference relay takes each one its ReferenceConfig leaves unset. The
// zero value asks for nothing in particular: direct delivery by MX
// lookup, opportunistic TLS, the relay's own defaults.
type RelaySettings struct {
	// Hostname is the name the relay gives in EHLO, and its own name in
	// MX sets; "": the relay's default.
	Hostname string
	// Smarthost, when non-nil, sends all mail through one host instead
	// of by MX lookup (Postfix's relayhost).
	Smarthost *Smarthost
	// TLS is the outbound TLS policy, as Postfix's
	// smtp_tls_security_level: none, may, encrypt, verify (the
	// certificate against Network.CAPool); "": may.
	TLS scenarios.TLSPolicy
	// SubmitAuth, when non-nil, makes submission require AUTH with these
	// credentials; the relay's Submission returns them, for the client.
	SubmitAuth *Credentials
	// Submission asks for the relay's own submission services for
	// SubmitAuth (required then): 587-style (STARTTLS, then AUTH) and
	// 465-style (TLS from connect), returned in Submission.SubmissionAddr
	// and SubmissionsAddr.
	Submission bool
	// RetryInterval is how often deferred mail is retried by itself; 0:
	// the relay's default. Env.Flush retries at once.
	RetryInterval time.Duration
	// MaxLifetime: deferred mail older than this is bounced; 0: the
	// relay's default.
	MaxLifetime time.Duration
	// MaxMXHosts bounds the MX hosts tried per attempt; 0: the relay's
	// default.
	MaxMXHosts int
	// DKIM, when non-nil, asks the relay to sign with DKIM; New publishes
	// the key, and makes one when DKIM.Key is nil (see DKIMSigning).
	DKIM *DKIMSigning
	// MTASTS asks the relay to honour the MTA-STS policies (RFC 8461) of
	// the domains it delivers to: Config.MTASTS publishes them, at
	// Network.MTASTSPort.
	MTASTS bool
}

// Smarthost is the one host a relay sends all mail through, parsed from
// Postfix relayhost syntax ("[smtp.example.test]:587"; ParseSmarthost).
type Smarthost struct {
	// Host is the smarthost's name, lowercase, without the final dot.
	Host string
	// Port is the port written after the name, 25 when none was. It
	// says how to speak to the host (465: TLS from connect); connect to
	// Network.PortOf(Host), where the simulated host listens.
	Port int
	// MXLookup: look up Host's MX records and deliver to them ("host");
	// false: Host's own address only ("[host]").
	MXLookup bool
	// ImplicitTLS: TLS from connect (RFC 8314), no STARTTLS; set for
	// port 465.
	ImplicitTLS bool
	// Auth, when non-nil, are the credentials for AUTH at the smarthost,
	// never to be sent before TLS.
	Auth *Credentials
}

// Credentials are a user name and password for SMTP AUTH.
type Credentials struct{ User, Password string }

// ParseSmarthost parses Postfix relayhost syntax: "host", "host:port",
// "[host]" or "[host]:port" (brackets: no MX lookup). Port 465 means TLS
// from connect.
func ParseSmarthost(relayhost string) (*Smarthost, error) {
	sh, err := scenarios.ParseSmarthost(relayhost)
	if err != nil {
		return nil, fmt.Errorf("harness: %w: %w", ErrConfig, err)
	}
	return &Smarthost{Host: sh.Host, Port: sh.Port, MXLookup: sh.MXLookup, ImplicitTLS: sh.Port == 465}, nil
}

// String writes the smarthost in relayhost syntax, the way
// ParseSmarthost reads it.
func (s Smarthost) String() string {
	h := s.Host
	if !s.MXLookup {
		h = "[" + h + "]"
	}
	if s.Port != 0 && s.Port != 25 {
		h += ":" + strconv.Itoa(s.Port)
	}
	return h
}

// RelaySettingsFor returns the settings a scenario's relay section asks
// for. The section is checked when the scenario is loaded; an error here
// means a scenario built in Go with a bad smarthost.
func RelaySettingsFor(r scenarios.Relay) (RelaySettings, error) {
	s := RelaySettings{
		Hostname:      r.Hostname,
		TLS:           r.TLS,
		Submission:    r.Submission,
		RetryInterval: r.RetryInterval,
		MaxLifetime:   r.MaxLifetime,
		MaxMXHosts:    r.MaxMXHosts,
		MTASTS:        r.MTASTS,
	}
	if r.SubmitAuth != nil {
		s.SubmitAuth = &Credentials{User: r.SubmitAuth.User, Password: r.SubmitAuth.Password}
	}
	if r.DKIM != nil {
		// A key_file relative to the working directory (ConfigFor reads
		// it relative to the scenario file).
		d, err := dkimOf(r.DKIM, "")
		if err != nil {
			return RelaySettings{}, fmt.Errorf("harness: %w: %w", ErrConfig, err)
		}
		s.DKIM = d
	}
	if r.Smarthost != "" {
		sh, err := ParseSmarthost(r.Smarthost)
		if err != nil {
			return RelaySettings{}, err
		}
		if r.SmarthostAuth != nil {
			sh.Auth = &Credentials{User: r.SmarthostAuth.User, Password: r.SmarthostAuth.Password}
		}
		s.Smarthost = sh
	}
	return s, nil
}

// scenario returns the settings as a scenario's relay section, for the
// scenario's checks (Config.Validate).
func (s RelaySettings) scenario() scenarios.Relay {
	r := scenarios.Relay{
		Hostname:      s.Hostname,
		TLS:           s.TLS,
		Submission:    s.Submission,
		RetryInterval: s.RetryInterval,
		MaxLifetime:   s.MaxLifetime,
		MaxMXHosts:    s.MaxMXHosts,
		MTASTS:        s.MTASTS,
	}
	if c := s.SubmitAuth; c != nil {
		r.SubmitAuth = &scenarios.Credentials{User: c.User, Password: c.Password}
	}
	if d := s.DKIM; d != nil {
		r.DKIM = &scenarios.RelayDKIM{Domain: d.Domain, Selector: d.Selector}
	}
	if sh := s.Smarthost; sh != nil {
		r.Smarthost = sh.String()
		if c := sh.Auth; c != nil {
			r.SmarthostAuth = &scenarios.Credentials{User: c.User, Password: c.Password}
		}
	}
	return r
}

// check reports what is wrong with the settings' values on their own,
// the checks a scenario file's relay section gets as it is read; the
// scenario's checks (a smarthost that is no host, …) come from
// Scenario.Validate.
func (s RelaySettings) check() []string {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if s.Hostname != "" && !validDomain(canonical(s.Hostname)) {
		add("Hostname: bad domain %q", s.Hostname)
	}
	if s.TLS != "" && !slices.Contains(s.TLS.Values(), string(s.TLS)) {
		add("TLS: invalid tls %q (valid: %s)", s.TLS, strings.Join(s.TLS.Values(), ", "))
	}
	if s.RetryInterval < 0 {
		add("RetryInterval: must not be negative, got %v", s.RetryInterval)
	}
	if s.MaxLifetime < 0 {
		add("MaxLifetime: must not be negative, got %v", s.MaxLifetime)
	}
	if s.MaxMXHosts < 0 {
		add("MaxMXHosts: must not be negative, got %d", s.MaxMXHosts)
	}
	if c := s.SubmitAuth; c != nil && (c.User == "" || c.Password == "") {
		add("SubmitAuth: needs a User and a Password")
	}
	if d := s.DKIM; d != nil {
		if why := d.problems(); why != "" {
			add("DKIM: %s", why)
		}
	}
	if sh := s.Smarthost; sh != nil {
		switch {
		case sh.Host == "" || !validDomain(canonical(sh.Host)):
			add("Smarthost.Host: bad domain %q", sh.Host)
		case sh.Host != canonical(sh.Host):
			add("Smarthost.Host: write %q lowercase, without the final dot (ParseSmarthost does)", sh.Host)
		}
		if sh.Port < 1 || sh.Port > 65535 {
			add("Smarthost.Port: %d out of range 1..65535 (25 when the relayhost names none)", sh.Port)
		}
		if c := sh.Auth; c != nil && (c.User == "" || c.Password == "") {
			add("Smarthost.Auth: needs a User and a Password")
		}
	}
	return bad
}
