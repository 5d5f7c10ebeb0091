package postfix

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

// DefaultHostname is Postfix's myhostname when the scenario sets none.
const DefaultHostname = "relay.mxsim.test"

// CAFile is where the environment's CA is written in the container.
const CAFile = "/etc/postfix/mxsim-ca.pem"

// owned are the main.cf parameters the adapter sets itself: a scenario
// that sets them would cut Postfix off from the simulated network.
var owned = []string{"inet_interfaces", "inet_protocols", "smtp_tcp_port", "maillog_file", "queue_directory",
	"command_directory", "daemon_directory", "data_directory", "mail_owner", "master_service_disable", "smtp_tls_CAfile",
	"smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_sasl_type", "smtpd_sasl_path", "cyrus_sasl_config_path",
	"smtpd_sasl_local_domain"}

// Params returns the main.cf parameters that configure Postfix for a
// scenario's relay settings on network n: the adapter's defaults for a
// test network (short backoff and queue-run times, short timeouts), then
// the common settings, then the scenario's main_cf, which wins. Settings
// Postfix cannot honour are an error naming them.
func Params(r scenarios.Relay, n harness.Network) (map[string]string, error) {
	if r.Submit != "" || r.FlushCmd != "" || r.ResetCmd != "" {
		return nil, fmt.Errorf("postfix: %w: submit, flush_cmd and reset_cmd belong to relay kind external", ErrSettings)
	}
	if r.Submission && r.SubmitAuth == nil {
		return nil, fmt.Errorf("postfix: %w: submission (the relay's own 587/465 services) needs submit_auth, the user they authenticate", ErrSettings)
	}
	if n.SMTPPort <= 0 || n.SMTPPort > 65535 {
		return nil, fmt.Errorf("postfix: %w: SMTP port %d of the network out of range", ErrSettings, n.SMTPPort)
	}
	p := map[string]string{
		"myhostname": DefaultHostname,
		// The harness client submits from 127.0.0.1; any other loopback
		// address plays a client from outside. (Stock Postfix trusts
		// the subnets of its interfaces, here all of 127.0.0.0/8.)
		"mynetworks": "127.0.0.1/32",
		// Every simulated host listens on the network's one port.
		"smtp_tcp_port":           strconv.Itoa(n.SMTPPort),
		"smtp_tls_security_level": "may",
		"smtp_tls_loglevel":       "1",
		// Retries take seconds, not minutes (RFC 5321 §4.5.4.1 leaves the
		// interval to the sender).
		"queue_run_delay":      "1s",
		"minimal_backoff_time": "1s",
		"maximal_backoff_time": "2s",
		// A test network answers at once; hung hosts must not take 5 minutes.
		"smtp_connect_timeout":   "3s",
		"smtp_helo_timeout":      "3s",
		"smtp_mail_timeout":      "10s",
		"smtp_rcpt_timeout":      "10s",
		"smtp_data_init_timeout": "10s",
		"smtp_data_xfer_timeout": "10s",
		"smtp_data_done_timeout": "10s",
		"smtp_starttls_timeout":  "10s",
		"delay_warning_time":     "0h",
	}
	if len(n.CAPEM) > 0 {
		p["smtp_tls_CAfile"] = CAFile
	}
	if r.Hostname != "" {
		p["myhostname"] = r.Hostname
	}
	if r.TLS != "" {
		p["smtp_tls_security_level"] = string(r.TLS)
	}
	if r.TLS == scenarios.TLSDane {
		// DANE (RFC 7672) needs DNSSEC-validated answers: Postfix asks
		// with DO and trusts the AD bit of the fake DNS. It looks up TLSA
		// at _PORT._tcp.HOST, PORT being smtp_tcp_port. The DNSSEC probe
		// (a query for ". NS" at startup) is off: the fake DNS serves no
		// root zone, and its warning would come with every case.
		p["smtp_dns_support_level"] = "dnssec"
		p["dnssec_probe"] = ""
	}
	if r.MTASTS {
		// MTA-STS (RFC 8461) through Debian's postfix-mta-sts-resolver,
		// which the adapter starts for the scenario (mtasts.go): Postfix
		// asks it for each destination's TLS policy.
		p["smtp_tls_policy_maps"] = MTASTSPolicyMap
	}
	if r.Smarthost != "" {
		sh, err := scenarios.ParseSmarthost(r.Smarthost)
		if err != nil {
			return nil, fmt.Errorf("postfix: %w: %w", ErrSettings, err)
		}
		// The scenario's port says how the relay speaks to the smarthost
		// (465: TLS from connect) and where: the host lists it (ports:),
		// and listens on it as it is on a fixed plan, or on the free
		// port the network maps it to (Network.PortFor). An explicit
		// relayhost port wins over smtp_tcp_port, the default of
		// Postfix's SMTP client for a destination without one.
		host := sh.Host
		if !sh.MXLookup {
			host = "[" + host + "]"
		}
		p["relayhost"] = host + ":" + strconv.Itoa(n.PortFor(sh.Host, sh.Port))
		if sh.Port == 465 {
			// RFC 8314 §3.3: port 465 is TLS from the first byte. Postfix
			// speaks it with smtp_tls_wrappermode, which needs a mandatory
			// TLS level.
			switch r.TLS {
			case scenarios.TLSNone:
				return nil, fmt.Errorf("postfix: %w: smarthost %s is implicit TLS (port 465) but tls is none", ErrSettings, r.Smarthost)
			case "", scenarios.TLSMay:
				p["smtp_tls_security_level"] = string(scenarios.TLSEncrypt)
			}
			p["smtp_tls_wrappermode"] = "yes"
		}
	}
	if a := r.SmarthostAuth; a != nil {
		if !credRE.MatchString(a.User) || !credRE.MatchString(a.Password) {
			return nil, fmt.Errorf("postfix: %w: smarthost_auth: user and password must be printable, without spaces or commas", ErrSettings)
		}
		p["smtp_sasl_auth_enable"] = "yes"
		p["smtp_sasl_password_maps"] = "static:" + a.User + ":" + a.Password
		p["smtp_sasl_security_options"] = "noanonymous"
		p["smtp_sasl_tls_security_options"] = "noanonymous"
	}
	if a := r.SubmitAuth; a != nil {
		if !credRE.MatchString(a.User) || !credRE.MatchString(a.Password) || strings.Contains(a.User, "@") {
			return nil, fmt.Errorf("postfix: %w: submit_auth: user and password must be printable, without spaces or commas, the user without @", ErrSettings)
		}
		// Cyrus SASL checks the user in the sasldb that the adapter
		// writes for the scenario (saslpasswd2). The smtpd where the
		// harness submits offers STARTTLS and AUTH, and refuses MAIL
		// before AUTH with 530 5.7.0 (RFC 4954 §6), as the submission
		// services do (master.cf).
		p["smtpd_sasl_auth_enable"] = "yes"
		p["smtpd_tls_security_level"] = "may"
		p["smtpd_delay_reject"] = "no"
		p["smtpd_sender_restrictions"] = authRequired
	}
	if r.RetryInterval > 0 {
		p["minimal_backoff_time"] = seconds(r.RetryInterval)
		p["maximal_backoff_time"] = seconds(2 * r.RetryInterval)
		p["queue_run_delay"] = seconds(r.RetryInterval)
	}
	if r.MaxLifetime > 0 {
		p["maximal_queue_lifetime"] = seconds(r.MaxLifetime)
		p["bounce_queue_lifetime"] = seconds(r.MaxLifetime)
	}
	if r.MaxMXHosts > 0 {
		p["smtp_mx_address_limit"] = strconv.Itoa(r.MaxMXHosts)
		p["smtp_mx_session_limit"] = strconv.Itoa(r.MaxMXHosts)
	}
	if r.DKIM != nil || n.Relay.DKIM != nil {
		maps.Copy(p, dkimParams())
	}
	for _, k := range slices.Sorted(maps.Keys(r.MainCF)) {
		v := r.MainCF[k]
		switch {
		case !nameRE.MatchString(k):
			return nil, fmt.Errorf("postfix: %w: main_cf: %q is not a parameter name", ErrSettings, k)
		case slices.Contains(owned, k):
			return nil, fmt.Errorf("postfix: %w: main_cf: %s is set by the adapter and cannot be changed", ErrSettings, k)
		case strings.ContainsAny(v, "\r\n"):
			return nil, fmt.Errorf("postfix: %w: main_cf: %s: value has a line break", ErrSettings, k)
		}
		p[k] = v
	}
	return p, nil
}

var (
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	credRE = regexp.MustCompile(`^[!-+\--~]+$`) // printable ASCII without space and comma
)

// seconds renders d as a Postfix time value, at least one second.
func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10) + "s"
}

// ReadMainCF reads the parameters of a main.cf file (name = value lines,
// continuation lines that start with white space, # comments), leaving out
// those the adapter sets itself, so that a suite can test its own main.cf:
// pass the result as scenarios.Relay.MainCF.
func ReadMainCF(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	last, n := "", 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("postfix: %w: main.cf:%d: continuation line without a parameter", ErrSettings, n)
			}
			out[last] = strings.TrimSpace(out[last] + " " + trimmed)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !nameRE.MatchString(k) {
			return nil, fmt.Errorf("%w: main.cf:%d: want \"name = value\", got %q", ErrSettings, n, line)
		}
		last = k
		out[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("main.cf: %w", err)
	}
	for _, k := range owned {
		delete(out, k)
	}
	return out, nil
}
