package opensmtpd

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

// DefaultHostname is OpenSMTPD's name when the scenario sets none.
const DefaultHostname = "relay.mxsim.test"

// Files the adapter writes in the container.
const (
	// ConfFile is OpenSMTPD's configuration.
	ConfFile = "/etc/smtpd.conf"
	// CAFile holds the environment's CA, trusted with smtpd.conf's ca.
	CAFile = "/etc/smtpd/mxsim-ca.pem"
	// SecretsFile is the credentials table of the smarthost's AUTH.
	SecretsFile = "/etc/smtpd/secrets"
	// MailnameFile gives OpenSMTPD its server name (bounces, Received).
	MailnameFile = "/etc/mailname"
	// UsersFile is the credentials table of submission AUTH.
	UsersFile = "/etc/smtpd/users"
	// CertFile and KeyFile are the listeners' self-signed certificate.
	CertFile = "/etc/smtpd/mxsim-cert.pem"
	KeyFile  = "/etc/smtpd/mxsim-key.pem"
)

// Ports are the ports of 127.0.0.1 where OpenSMTPD takes mail.
type Ports struct {
	Submit      int // the harness's submissions
	Submission  int // 587-style service (relay setting submission)
	Submissions int // 465-style service
}

// secretsLabel is the label of the smarthost's credentials in SecretsFile.
const secretsLabel = "mxsim"

//go:embed smtpd.conf.tmpl
var confText string

var confTmpl = template.Must(template.New("smtpd.conf").Parse(confText))

// Conf is OpenSMTPD's configuration for one case: smtpd.conf and the
// files it names.
type Conf struct {
	// Text is smtpd.conf.
	Text string
	// Hostname is OpenSMTPD's own name, also written to /etc/mailname.
	Hostname string
	// Secrets is the credentials table ("label user:password\n"), empty
	// without smarthost AUTH.
	Secrets string
	// User and Password are the submit_auth credentials ("": none); the
	// users table gets the password hashed.
	User, Password string
	// Notes are the settings the scenario gives that OpenSMTPD keeps as
	// it is, each with the reason.
	Notes []string
}

// confData fills smtpd.conf.tmpl.
type confData struct {
	Version     string
	Summary     string
	Notes       []string
	CAFile      string
	SecretsFile string
	Label       string
	QueueTTL    string
	Users       string
	CertFile    string
	KeyFile     string
	SubmitPort  int
	// SubmissionPort and SubmissionsPort are 0 without submission services.
	SubmissionPort  int
	SubmissionsPort int
	Hostname        string
	Relay           string // the options of action "relay" before helo, each followed by a space
}

var (
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)
	credRE     = regexp.MustCompile(`^[!-~]+$`) // printable ASCII, no space
)

// Render returns OpenSMTPD's configuration for a scenario's relay
// settings on network n, taking mail on the ports of 127.0.0.1 in ports.
// Settings OpenSMTPD cannot honour are an error naming them; those it has
// no setting for at all wrap harness.ErrUnsupported, so that a
// conformance case that needs them is not applicable.
func Render(r scenarios.Relay, n harness.Network, ports Ports, version string) (Conf, error) {
	if r.Submit != "" || r.FlushCmd != "" || r.ResetCmd != "" {
		return Conf{}, fmt.Errorf("opensmtpd: %w: submit, flush_cmd and reset_cmd belong to relay kind external", ErrSettings)
	}
	if len(r.MainCF) > 0 {
		return Conf{}, fmt.Errorf("opensmtpd: %w: main_cf is for relay kind postfix", ErrSettings)
	}
	if r.Submission && r.SubmitAuth == nil {
		return Conf{}, fmt.Errorf("opensmtpd: %w: submission needs submit_auth (its services require AUTH)", ErrSettings)
	}
	if r.RetryInterval != 0 {
		// scheduler_ramqueue.c: a deferred envelope is retried after
		// 400 s × n² (n = 1, 2, …), fixed at compile time.
		return Conf{}, fmt.Errorf("opensmtpd: %w: retry_interval %s: OpenSMTPD 6.8's retry schedule is fixed (400 s, then 1600 s, 3600 s…; smtpd.conf has no setting for it): %w", ErrSettings, r.RetryInterval, harness.ErrUnsupported)
	}
	if r.MaxLifetime < 0 || r.MaxMXHosts < 0 {
		return Conf{}, fmt.Errorf("opensmtpd: %w: max_lifetime and max_mx_hosts must not be negative", ErrSettings)
	}
	if n.SMTPPort <= 0 || n.SMTPPort > 65535 {
		return Conf{}, fmt.Errorf("opensmtpd: %w: SMTP port %d of the network out of range", ErrSettings, n.SMTPPort)
	}
	for _, p := range []struct {
		name string
		port int
	}{{"submit", ports.Submit}, {"submission", ports.Submission}, {"submissions", ports.Submissions}} {
		if p.port < 0 || p.port > 65535 || (p.port == 0 && (p.name == "submit" || r.Submission)) {
			return Conf{}, fmt.Errorf("opensmtpd: %w: %s port %d out of range", ErrSettings, p.name, p.port)
		}
	}
	c := Conf{Hostname: DefaultHostname}
	if r.Hostname != "" {
		if !hostnameRE.MatchString(r.Hostname) || len(r.Hostname) > 253 {
			return Conf{}, fmt.Errorf("opensmtpd: %w: hostname %q is not a host name", ErrSettings, r.Hostname)
		}
		c.Hostname = strings.ToLower(strings.TrimSuffix(r.Hostname, "."))
	}
	d := confData{Version: version, SubmitPort: ports.Submit, Hostname: c.Hostname}
	if a := r.SubmitAuth; a != nil {
		if !credRE.MatchString(a.User) || !credRE.MatchString(a.Password) {
			return Conf{}, fmt.Errorf("opensmtpd: %w: submit_auth: user and password must be printable, without spaces", ErrSettings)
		}
		// OpenSMTPD offers AUTH only under TLS: the harness's listener
		// then takes STARTTLS and requires AUTH.
		c.User, c.Password = a.User, a.Password
		d.Users, d.CertFile, d.KeyFile = UsersFile, CertFile, KeyFile
		if r.Submission {
			d.SubmissionPort, d.SubmissionsPort = ports.Submission, ports.Submissions
		}
	}
	if len(n.CAPEM) > 0 {
		d.CAFile = CAFile
	}
	tls := r.TLS
	if tls == "" {
		tls = scenarios.TLSMay
	}
	if r.MTASTS {
		return Conf{}, fmt.Errorf("opensmtpd: %w: mta_sts: OpenSMTPD 6.8 has no MTA-STS (RFC 8461): %w", ErrSettings, harness.ErrUnsupported)
	}
	if r.DKIM != nil {
		// OpenSMTPD signs only through a filter (filter-dkimsign), which
		// Debian's package does not ship.
		return Conf{}, fmt.Errorf("opensmtpd: %w: dkim: OpenSMTPD 6.8 signs only through a filter that is not installed: %w", ErrSettings, harness.ErrUnsupported)
	}
	if tls == scenarios.TLSDane {
		return Conf{}, fmt.Errorf("opensmtpd: %w: tls dane: OpenSMTPD 6.8 has no DANE (RFC 7672): it never looks up TLSA records: %w", ErrSettings, harness.ErrUnsupported)
	}
	var opts []string
	if r.Smarthost == "" {
		if r.SmarthostAuth != nil {
			return Conf{}, fmt.Errorf("opensmtpd: %w: smarthost_auth needs a smarthost", ErrSettings)
		}
		if n.SMTPPort != 25 {
			// The port of MX delivery is 25, fixed in mta.c.
			return Conf{}, fmt.Errorf("opensmtpd: %w: the network's hosts listen on port %d; OpenSMTPD delivers to MX hosts on port 25 only", ErrSettings, n.SMTPPort)
		}
		switch tls {
		case scenarios.TLSNone:
			return Conf{}, fmt.Errorf("opensmtpd: %w: tls none: OpenSMTPD 6.8 always tries STARTTLS when it delivers to MX hosts (only a smarthost can be smtp+notls://): %w", ErrSettings, harness.ErrUnsupported)
		case scenarios.TLSEncrypt:
			opts = append(opts, "tls no-verify")
		case scenarios.TLSVerify:
			opts = append(opts, "tls")
		}
	} else {
		sh, err := scenarios.ParseSmarthost(r.Smarthost)
		if err != nil {
			return Conf{}, fmt.Errorf("opensmtpd: %w: %w", ErrSettings, err)
		}
		if sh.MXLookup {
			// relay host takes a host, never a domain's MX set.
			return Conf{}, fmt.Errorf("opensmtpd: %w: smarthost %s: OpenSMTPD relays to one host (relay host URL), not to the MX hosts of a domain: write it in brackets, [%s]", ErrSettings, r.Smarthost, sh.Host)
		}
		// The scenario's port says how to speak to the smarthost (465:
		// TLS from connect) and where: the host lists it (ports:) and
		// listens on it as it is on a fixed plan, or on the free port the
		// network maps it to (Network.PortFor).
		port := n.PortFor(sh.Host, sh.Port)
		proto := "smtp"
		switch {
		case sh.Port == 465:
			// RFC 8314 §3.3: TLS from the first byte.
			if tls == scenarios.TLSNone {
				return Conf{}, fmt.Errorf("opensmtpd: %w: smarthost %s is implicit TLS (port 465) but tls is none", ErrSettings, r.Smarthost)
			}
			proto = "smtps"
		case tls == scenarios.TLSNone:
			if r.SmarthostAuth != nil {
				return Conf{}, fmt.Errorf("opensmtpd: %w: smarthost_auth with tls none: OpenSMTPD only authenticates over TLS (smtp+tls:// or smtps://)", ErrSettings)
			}
			proto = "smtp+notls"
		case tls != scenarios.TLSMay || r.SmarthostAuth != nil:
			// OpenSMTPD sends credentials only over TLS it requires.
			proto = "smtp+tls"
		}
		label := ""
		if a := r.SmarthostAuth; a != nil {
			if !credRE.MatchString(a.User) || strings.Contains(a.User, ":") || !credRE.MatchString(a.Password) {
				return Conf{}, fmt.Errorf("opensmtpd: %w: smarthost_auth: user and password must be printable, without spaces (and the user without \":\")", ErrSettings)
			}
			label = secretsLabel + "@"
			c.Secrets = secretsLabel + " " + a.User + ":" + a.Password + "\n"
			d.SecretsFile, d.Label = SecretsFile, secretsLabel
		}
		opts = append(opts, "host "+proto+"://"+label+sh.Host+":"+strconv.Itoa(port))
		if c.Secrets != "" {
			opts = append(opts, "auth <secrets>")
		}
		switch {
		case proto == "smtp" || proto == "smtp+notls":
		case tls == scenarios.TLSVerify:
			// smtp+tls:// and smtps:// check the certificate by default.
			opts = append(opts, "tls")
		default:
			opts = append(opts, "tls no-verify")
		}
	}
	if tls == scenarios.TLSVerify && d.CAFile != "" {
		opts = append(opts, "ca mxsim")
	}
	if r.MaxLifetime > 0 {
		d.QueueTTL = seconds(r.MaxLifetime)
	}
	if r.MaxMXHosts > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("max_mx_hosts %d not applied: OpenSMTPD 6.8 has no such limit and tries every host of the MX set", r.MaxMXHosts))
	}
	for _, o := range opts {
		d.Relay += o + " "
	}
	d.Notes = c.Notes
	d.Summary = summary(r, c.Hostname)
	var b strings.Builder
	if err := confTmpl.Execute(&b, d); err != nil {
		return Conf{}, fmt.Errorf("opensmtpd: smtpd.conf template: %w", err)
	}
	c.Text = b.String()
	return c, nil
}

// summary describes the settings for the file's heading and the case's
// relay.log, credentials masked.
func summary(r scenarios.Relay, hostname string) string {
	tls := r.TLS
	if tls == "" {
		tls = scenarios.TLSMay
	}
	parts := []string{"hostname " + hostname, "tls " + string(tls)}
	if r.Smarthost != "" {
		parts = append(parts, "smarthost "+r.Smarthost)
	} else {
		parts = append(parts, "direct MX delivery")
	}
	if r.SmarthostAuth != nil {
		parts = append(parts, "smarthost_auth "+r.SmarthostAuth.User+":…")
	}
	if r.SubmitAuth != nil {
		parts = append(parts, "submit_auth "+r.SubmitAuth.User+":…")
	}
	if r.Submission {
		parts = append(parts, "submission services")
	}
	if r.MaxLifetime > 0 {
		parts = append(parts, "max_lifetime "+r.MaxLifetime.String())
	}
	if r.MaxMXHosts > 0 {
		parts = append(parts, "max_mx_hosts "+strconv.Itoa(r.MaxMXHosts))
	}
	return strings.Join(parts, ", ")
}

// seconds renders d as an smtpd.conf delay, at least one second.
func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10) + "s"
}
