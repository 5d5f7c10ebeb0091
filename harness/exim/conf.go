package exim

import (
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

// DefaultHostname is Exim's primary_hostname when the scenario sets none.
const DefaultHostname = "relay.mxsim.test"

// Files the adapter writes in the container.
const (
	ConfFile   = "/etc/exim4/exim4.conf"           // the configuration Exim reads
	CAFile     = "/etc/exim4/mxsim-ca.pem"         // the environment's CA
	ServerCert = "/etc/exim4/mxsim-server.pem"     // the certificate of Exim's own STARTTLS
	ServerKey  = "/etc/exim4/mxsim-server.key"     // and its key
	maskedCred = "********"                        // credentials in logged configurations
	spoolDir   = "/var/spool/exim4"                // Debian's spool_directory
	newConf    = "/etc/exim4/exim4.conf.mxsim-new" // a configuration being checked
)

// DefaultLifetime is how long a message stays queued when the scenario
// sets no max_lifetime: the cutoff of Exim's own default retry rule
// (F,2h,15m; G,16h,1h,1.5; F,4d,6h).
const DefaultLifetime = 4 * 24 * time.Hour

// Ports are the ports of 127.0.0.1 Exim listens on.
type Ports struct {
	Submit      int // plain submission, where the harness submits
	Submission  int // 587-style: STARTTLS, then AUTH
	Submissions int // 465-style: TLS from the first byte, then AUTH
}

//go:embed exim4.conf.tmpl
var confText string

// confTemplate is exim4.conf.tmpl. Its actions are in [[ ]], since Exim's
// own expansions are full of braces.
var confTemplate = template.Must(template.New("exim4.conf").Delims("[[", "]]").Option("missingkey=error").Parse(confText))

// confData is what the template is rendered from.
type confData struct {
	Hostname      string
	Ports         Ports
	ServerCert    string
	ServerKey     string
	Smarthost     *smarthostData
	Port          int    // the remote_smtp transport's port
	SMTPS         bool   // TLS from the first byte (a smarthost on 465)
	TLS           string // none, may, encrypt, verify, dane
	CAFile        string
	MaxTry        int
	SmarthostAuth *scenarios.Credentials
	SubmitAuth    *scenarios.Credentials
	RetryInterval string
	Lifetime      string
}

type smarthostData struct {
	Name     string // as the scenario wrote it
	Host     string
	MXLookup bool
}

// Conf returns Exim's configuration file for a scenario's relay settings
// on network n, Exim listening on ports: the adapter's settings for a test
// network (short timeouts and retry times, syslog), then the scenario's
// settings. Settings Exim cannot honour are an error naming them.
func Conf(r scenarios.Relay, n harness.Network, ports Ports) (string, error) {
	d, err := confFor(r, n, ports)
	if err != nil {
		return "", err
	}
	return render(d)
}

func render(d confData) (string, error) {
	var b strings.Builder
	if err := confTemplate.Execute(&b, d); err != nil {
		return "", fmt.Errorf("exim: render %s: %w", confTemplate.Name(), err)
	}
	return b.String(), nil
}

// masked returns d with its credentials replaced, for logging.
func (d confData) masked() confData {
	for _, c := range []**scenarios.Credentials{&d.SubmitAuth, &d.SmarthostAuth} {
		if *c != nil {
			*c = &scenarios.Credentials{User: (*c).User, Password: maskedCred}
		}
	}
	return d
}

func confFor(r scenarios.Relay, n harness.Network, ports Ports) (confData, error) {
	if r.Submit != "" || r.FlushCmd != "" || r.ResetCmd != "" {
		return confData{}, fmt.Errorf("exim: %w: submit, flush_cmd and reset_cmd belong to relay kind external", ErrSettings)
	}
	if len(r.MainCF) > 0 {
		return confData{}, fmt.Errorf("exim: %w: main_cf holds Postfix parameters; the exim relay has no such settings", ErrSettings)
	}
	if n.SMTPPort <= 0 || n.SMTPPort > 65535 {
		return confData{}, fmt.Errorf("exim: %w: SMTP port %d of the network out of range", ErrSettings, n.SMTPPort)
	}
	for _, p := range []int{ports.Submit, ports.Submission, ports.Submissions} {
		if p <= 0 || p > 65535 {
			return confData{}, fmt.Errorf("exim: %w: listening port %d out of range", ErrSettings, p)
		}
	}
	if r.Submission && r.SubmitAuth == nil {
		return confData{}, fmt.Errorf("exim: %w: submission needs submit_auth (the services take mail only after AUTH)", ErrSettings)
	}
	d := confData{
		Hostname:   DefaultHostname,
		Ports:      ports,
		ServerCert: ServerCert,
		ServerKey:  ServerKey,
		Port:       n.SMTPPort,
		TLS:        string(scenarios.TLSMay),
		SubmitAuth: r.SubmitAuth,
		// Retries take seconds, not minutes (RFC 5321 §4.5.4.1 leaves the
		// interval to the sender).
		RetryInterval: "1s",
		Lifetime:      duration(DefaultLifetime),
	}
	if len(n.CAPEM) > 0 {
		d.CAFile = CAFile
	}
	if r.Hostname != "" {
		if !hostRE.MatchString(r.Hostname) {
			return confData{}, fmt.Errorf("exim: %w: hostname %q: not a host name", ErrSettings, r.Hostname)
		}
		d.Hostname = strings.TrimSuffix(r.Hostname, ".")
	}
	if r.MTASTS {
		// Exim has no MTA-STS of its own, and the adapter wires no
		// resolver into it.
		return confData{}, fmt.Errorf("exim: %w: mta_sts: Exim has no MTA-STS (RFC 8461) resolver here: %w", ErrSettings, harness.ErrUnsupported)
	}
	if r.DKIM != nil {
		// Exim can sign (dkim_private_key in the transport), but the
		// adapter does not configure it yet.
		return confData{}, fmt.Errorf("exim: %w: dkim: the Exim adapter does not configure DKIM signing: %w", ErrSettings, harness.ErrUnsupported)
	}
	switch r.TLS {
	case "":
	case scenarios.TLSNone, scenarios.TLSMay, scenarios.TLSEncrypt, scenarios.TLSVerify, scenarios.TLSDane:
		d.TLS = string(r.TLS)
	default:
		return confData{}, fmt.Errorf("exim: %w: tls %q: want none, may, encrypt, verify or dane", ErrSettings, r.TLS)
	}
	if r.Smarthost != "" {
		sh, err := scenarios.ParseSmarthost(r.Smarthost)
		if err != nil {
			return confData{}, fmt.Errorf("exim: %w: %w", ErrSettings, err)
		}
		d.Smarthost = &smarthostData{Name: r.Smarthost, Host: sh.Host, MXLookup: sh.MXLookup}
		// The scenario's port says how the relay speaks to the smarthost
		// (465: TLS from connect) and where: the host lists it (ports:)
		// and listens on it as it is on a fixed plan, or on the free port
		// the network maps it to (Network.PortFor).
		d.Port = n.PortFor(sh.Host, sh.Port)
		if sh.Port == 465 {
			// RFC 8314 §3.3: port 465 is TLS from the first byte.
			if r.TLS == scenarios.TLSNone {
				return confData{}, fmt.Errorf("exim: %w: smarthost %s is implicit TLS (port 465) but tls is none", ErrSettings, r.Smarthost)
			}
			d.SMTPS = true
		}
	}
	if a := r.SmarthostAuth; a != nil {
		if err := checkCred("smarthost_auth", a); err != nil {
			return confData{}, err
		}
		if d.Smarthost == nil {
			return confData{}, fmt.Errorf("exim: %w: smarthost_auth needs a smarthost", ErrSettings)
		}
		d.SmarthostAuth = a
	}
	if a := r.SubmitAuth; a != nil {
		if err := checkCred("submit_auth", a); err != nil {
			return confData{}, err
		}
	}
	if r.RetryInterval < 0 || r.MaxLifetime < 0 || r.MaxMXHosts < 0 {
		return confData{}, fmt.Errorf("exim: %w: retry_interval, max_lifetime and max_mx_hosts must not be negative", ErrSettings)
	}
	if r.RetryInterval > 0 {
		d.RetryInterval = duration(r.RetryInterval)
	}
	if r.MaxLifetime > 0 {
		d.Lifetime = duration(r.MaxLifetime)
	}
	d.MaxTry = r.MaxMXHosts
	return d, nil
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)

// credSpecial are the characters that Exim's configuration and expansions
// give a meaning to where credentials are written: PLAIN and list
// separators, expansion and quoting characters.
const credSpecial = `^:$\{}"`

func checkCred(what string, c *scenarios.Credentials) error {
	for _, s := range []string{c.User, c.Password} {
		ok := s != ""
		for _, r := range s {
			if r <= ' ' || r > '~' || strings.ContainsRune(credSpecial, r) {
				ok = false
			}
		}
		if !ok {
			return fmt.Errorf("exim: %w: %s: user and password must be printable ASCII without spaces or any of %s (the exim relay writes them into Exim's configuration)", ErrSettings, what, credSpecial)
		}
	}
	return nil
}

// duration renders d as an Exim time value in whole seconds, at least one.
func duration(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	switch {
	case s%86400 == 0:
		return strconv.FormatInt(s/86400, 10) + "d"
	case s%3600 == 0:
		return strconv.FormatInt(s/3600, 10) + "h"
	case s%60 == 0:
		return strconv.FormatInt(s/60, 10) + "m"
	}
	return strconv.FormatInt(s, 10) + "s"
}

// describe returns the significant lines of a configuration file (no
// comments, no blank lines), joined, for a relay.log event.
func describe(conf string) string {
	var lines []string
	cont := false
	for _, l := range strings.Split(conf, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if cont {
			lines[len(lines)-1] += " " + strings.TrimSuffix(t, "\\")
		} else {
			lines = append(lines, strings.TrimSuffix(t, "\\"))
		}
		cont = strings.HasSuffix(t, "\\")
	}
	return strings.Join(lines, "; ")
}
