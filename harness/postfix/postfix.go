// Package postfix runs a real Postfix, in a container, as the relay under
// test. One container serves a whole suite; each scenario reconfigures it:
//
//  1. New finds or builds the image mxsim/postfix:VERSION-rN (package
//     internal/mtaimage), checks that 127.A.B.53:53 can be bound for the
//     fake DNS, and starts the container (package internal/mtactr, shared
//     with the Exim and OpenSMTPD adapters) with host networking, that DNS
//     address as its only resolver and a unix socket as /dev/log; Postfix
//     runs without chroot, its smtpd on a loopback port of its own;
//  2. Relay(settings) checks a scenario's relay settings (unknown main.cf
//     parameters are an error naming them) and returns a harness.Relay;
//  3. its Start works out the scenario's main.cf parameters and, when they
//     differ from those Postfix runs with, writes the environment's CA and
//     the sasldb of the scenario's submit_auth user, resets main.cf to the
//     base configuration, applies the parameters with postconf (for a
//     scenario with main_cf or hostname, after running Postfix's smtp and
//     smtpd once in stand-alone mode so that a value Postfix refuses is
//     reported with Postfix's own message) and reloads with a new queue
//     manager; it sends Postfix's log lines into the scenario's journal
//     (relay.log, plus relay.attempt, relay.deliver, relay.defer and
//     relay.bounce);
//  4. Flush is `postqueue -f` once the attempts under way have ended; Stop
//     detaches the journal, empties the queue and makes the queue manager
//     forget dead destinations, so the next scenario starts clean without
//     a reload; Close removes the container.
//
// Postfix's own submission services (587-style and 465-style, AUTH with
// Cyrus SASL and a sasldb) serve scenarios with submission: true.
//
// Docker must be reachable (DOCKER_HOST or /var/run/docker.sock), and
// binding port 53 needs root or a lowered
// net.ipv4.ip_unprivileged_port_start. testcontainers-go runs without its
// reaper (TESTCONTAINERS_RYUK_DISABLED=true), so Close must be called.
package postfix

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/internal/mtactr"
	"github.com/mxsim/mxsim/internal/mtaimage"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// Errors of this package, wrapped with details.
var (
	// ErrNoDocker means no Docker engine answered.
	ErrNoDocker = mtaimage.ErrNoDocker
	// ErrImage means the Postfix image could not be found or built.
	ErrImage = mtaimage.ErrBuild
	// ErrConfig means a Config is not valid.
	ErrConfig = errors.New("bad config")
	// ErrPort53 means the fake DNS cannot bind port 53, which Postfix needs.
	ErrPort53 = mtactr.ErrPort53
	// ErrStart means the container or Postfix in it did not start.
	ErrStart = mtactr.ErrStart
	// ErrSettings means relay settings that Postfix cannot honour.
	ErrSettings = errors.New("bad relay settings")
	// ErrRefused means Postfix refused its configuration; the error
	// carries Postfix's own message.
	ErrRefused = errors.New("postfix refused its configuration")
	// ErrBusy means a scenario is already running on this Postfix.
	ErrBusy = mtactr.ErrBusy
	// ErrClosed means the Postfix was closed.
	ErrClosed = mtactr.ErrClosed
)

// Config configures a Postfix container.
type Config struct {
	// Image is the image to run; empty: the newest mxsim/postfix:VERSION-rN,
	// built first when there is none.
	Image string
	// Subnet is the 127.A.B.0/24 whose .53 is the container's resolver;
	// every scenario run on this Postfix must use it (see Plan). The zero
	// value picks one at random.
	Subnet netip.Prefix
	// SubmitPort is the port of Postfix's own smtpd on 127.0.0.1, where
	// the harness submits mail; 0 picks a free one.
	SubmitPort int
	// SubmissionPort and SubmissionsPort are the ports on 127.0.0.1 of
	// Postfix's own submission services, 587-style (STARTTLS, then AUTH)
	// and 465-style (TLS from connect, then AUTH); 0 picks free ones.
	// Scenarios with submission: true use them.
	SubmissionPort, SubmissionsPort int
	// StartTimeout bounds the container start; default 60s.
	StartTimeout time.Duration
	// BuildLog receives image build progress; nil discards it.
	BuildLog io.Writer
}

// Postfix is a running Postfix container. One scenario at a time runs on
// it; its methods are safe for concurrent use.
type Postfix struct {
	cfg     Config
	image   string
	version string
	submit  string // "127.0.0.1:port"
	// The submission services, "127.0.0.1:port": 587-style and 465-style.
	submission, submissions string
	ctr                     *mtactr.Container
	known                   map[string]bool // main.cf parameter names Postfix knows

	// Used only by the scenario that holds the container's claim.
	applied string          // key (configKey) of the configuration Postfix runs; "": reload first
	checked map[string]bool // keys whose configuration passed the stand-alone check
	dkim    bool            // OpenDKIM may be running (startDKIM)
}

// New starts a Postfix container as cfg says. On error nothing is left
// running. The caller must Close it.
func New(ctx context.Context, cfg Config) (*Postfix, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := mtactr.CheckDocker(ctx); err != nil {
		return nil, fmt.Errorf("postfix: %w", err)
	}
	dnsIP := mtactr.At(cfg.Subnet, 53)
	if err := mtactr.CheckPort53(dnsIP); err != nil {
		return nil, fmt.Errorf("postfix: %w", err)
	}
	image := cfg.Image
	if image == "" {
		var err error
		if image, err = mtaimage.Ensure(ctx, mtaimage.Postfix, mtaimage.Options{Log: cfg.BuildLog}); err != nil {
			return nil, fmt.Errorf("postfix: image: %w", err)
		}
	}
	ports := []int{cfg.SubmitPort, cfg.SubmissionPort, cfg.SubmissionsPort}
	for i, port := range ports {
		for port == 0 || slices.Contains(ports[:i], port) {
			var err error
			if port, err = mtactr.FreePort(); err != nil {
				return nil, fmt.Errorf("postfix: %w: submission port: %w", ErrStart, err)
			}
		}
		ports[i] = port
	}
	p := &Postfix{cfg: cfg, image: image, known: map[string]bool{}, checked: map[string]bool{}}
	local := func(port int) string {
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String()
	}
	p.submit, p.submission, p.submissions = local(ports[0]), local(ports[1]), local(ports[2])
	ctr, err := mtactr.Start(ctx, mtactr.Config{Name: "postfix", Image: image, DNS: dnsIP, Script: startScript(ports[0], ports[1], ports[2]),
		Greeting: p.submit, StartTimeout: cfg.StartTimeout, Early: quickAttempt})
	if err != nil {
		return nil, err
	}
	p.ctr = ctr
	out, code, err := ctr.Exec(ctx, "postconf", "-d")
	if err != nil || code != 0 {
		ctr.Close()
		return nil, fmt.Errorf("postfix: %w: postconf -d: exit %d: %v: %s", ErrStart, code, err, lastLine(out))
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		// "name = value", or "name =" when the default is empty.
		if name, _, found := strings.Cut(sc.Text(), " ="); found {
			p.known[name] = true
		}
		if v, found := strings.CutPrefix(sc.Text(), "mail_version = "); found {
			p.version = strings.TrimSpace(v)
		}
	}
	return p, nil
}

func (cfg *Config) check() error {
	c := mtactr.Common{Subnet: cfg.Subnet, Image: cfg.Image, StartTimeout: cfg.StartTimeout,
		Ports: []mtactr.Port{{Name: "submit port", N: cfg.SubmitPort}, {Name: "submission port", N: cfg.SubmissionPort}, {Name: "submissions port", N: cfg.SubmissionsPort}}}
	if err := c.Check(); err != nil {
		return fmt.Errorf("postfix: %w: %w", ErrConfig, err)
	}
	cfg.Subnet, cfg.StartTimeout = c.Subnet, c.StartTimeout
	return nil
}

// Files of the adapter in the container.
const (
	// queueDir and daemonDir are Debian's queue_directory and
	// daemon_directory (parameters the adapter owns), written out
	// because each postconf run costs a good part of a second on a busy
	// machine.
	queueDir  = "/var/spool/postfix"
	daemonDir = "/usr/lib/postfix/sbin"
	// RelayCertFile and RelayKeyFile are the certificate and key of
	// Postfix's smtpd (STARTTLS, and TLS from connect on the submissions
	// service): self-signed for myhostname's default, made with openssl
	// at start (ca-certificates, in the image, depends on openssl).
	RelayCertFile = "/etc/postfix/mxsim-relay.pem"
	RelayKeyFile  = "/etc/postfix/mxsim-relay.key"
	// saslDir holds Cyrus SASL's smtpd.conf and the sasldb of the
	// scenario's submit_auth user.
	saslDir = "/etc/postfix/sasl"
	saslDB  = saslDir + "/sasldb2"
	// SASLRealm is the Cyrus SASL realm of submit_auth users
	// (smtpd_sasl_local_domain), fixed so that it does not follow
	// myhostname.
	SASLRealm = "mxsim"
)

// submissionOpts are the master.cf overrides shared by the two submission
// services: AUTH required before MAIL (RFC 6409 §4.3: 530 5.7.0, RFC 4954
// §6), relaying only for authenticated clients.
const submissionOpts = " -o smtpd_sasl_auth_enable=yes -o smtpd_delay_reject=no" +
	" -o {smtpd_sender_restrictions=" + authRequired + "}" +
	" -o {smtpd_relay_restrictions=permit_sasl_authenticated, reject}" +
	" -o smtpd_client_restrictions= -o smtpd_helo_restrictions="

// authRequired refuses MAIL from a client that has not authenticated with
// RFC 4954 §6's 530 5.7.0 (Postfix's own reject would be 554 5.7.1).
const authRequired = "permit_sasl_authenticated, check_client_access static:{530 5.7.0 Authentication required}"

// startScript prepares Postfix for a test network and runs it in the
// foreground: no chroot, no port 25 listener, no local delivery (the
// Postfix adapter in docs/architecture.md; the settings in docs/postfix.md,
// "How it works"); its smtpd on 127.0.0.1:port, and the two submission
// services. Its main.cf is saved as the base that every scenario starts
// from.
func startScript(port, submission, submissions int) string {
	listen := "127.0.0.1:" + strconv.Itoa(port)
	sub := "127.0.0.1:" + strconv.Itoa(submission)
	subs := "127.0.0.1:" + strconv.Itoa(submissions)
	return strings.Join([]string{
		"set -e",
		"ln -sf /run/mxsim/log /dev/log",
		"postconf -F '*/*/chroot = n'",
		"postconf -MX smtp/inet",
		"postconf -M '" + listen + "/inet=" + listen + " inet n - n - - smtpd'",
		"postconf -M '" + sub + "/inet=" + sub + " inet n - n - - smtpd -o syslog_name=postfix/submission" +
			" -o smtpd_tls_security_level=encrypt -o smtpd_tls_auth_only=yes" + submissionOpts + "'",
		"postconf -M '" + subs + "/inet=" + subs + " inet n - n - - smtpd -o syslog_name=postfix/submissions" +
			" -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt" + submissionOpts + "'",
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj /CN=" + DefaultHostname +
			" -addext subjectAltName=DNS:" + DefaultHostname + " -keyout " + RelayKeyFile + " -out " + RelayCertFile + " 2>/dev/null",
		"chmod 600 " + RelayKeyFile,
		"mkdir -p " + saslDir,
		"printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: " + saslDB + "\n' > " + saslDir + "/smtpd.conf",
		"postconf -e 'inet_interfaces = loopback-only' 'inet_protocols = ipv4' 'mydestination =' " +
			"'relay_domains =' 'alias_maps =' 'alias_database =' 'local_recipient_maps =' 'biff = no' " +
			"'smtpd_tls_security_level = none' 'smtp_tls_CApath =' 'smtp_tls_session_cache_database =' " +
			"'smtpd_tls_session_cache_database =' 'smtp_address_preference = ipv4' 'maillog_file =' " +
			"'smtpd_tls_cert_file = " + RelayCertFile + "' 'smtpd_tls_key_file = " + RelayKeyFile + "' " +
			"'smtpd_sasl_type = cyrus' 'smtpd_sasl_path = smtpd' 'cyrus_sasl_config_path = " + saslDir + "' " +
			"'smtpd_sasl_local_domain = " + SASLRealm + "' " +
			// A session cached for one case's host must not carry the
			// next case's mail (see docs/postfix.md, "Between cases").
			"'smtp_connection_cache_on_demand = no' " +
			// A daemon that dies is restarted after a second, not a minute.
			"'service_throttle_time = 1s'",
		"cp /etc/postfix/main.cf /etc/postfix/main.cf.mxsim",
		"exec postfix start-fg",
	}, "\n")
}

// exec runs a command in the container and returns its combined output.
func (p *Postfix) exec(ctx context.Context, cmd ...string) (string, int, error) {
	return p.ctr.Exec(ctx, cmd...)
}

// Version returns Postfix's mail_version ("3.7.11").
func (p *Postfix) Version() string { return p.version }

// Image returns the image the container runs.
func (p *Postfix) Image() string { return p.image }

// SubmitAddr returns "127.0.0.1:port" where Postfix's smtpd accepts mail.
func (p *Postfix) SubmitAddr() string { return p.submit }

// SubmissionAddrs returns "127.0.0.1:port" of Postfix's submission
// services: 587-style (STARTTLS, then AUTH) and 465-style (TLS from
// connect, then AUTH). Both require AUTH as a scenario's submit_auth user.
func (p *Postfix) SubmissionAddrs() (submission, submissions string) {
	return p.submission, p.submissions
}

// Plan returns the address plan every scenario on this Postfix must use:
// its subnet, DNS on .53 port 53 (a resolv.conf has no port), hosts on
// port 25 of their own addresses, as on the Internet: Postfix's smtp(8)
// checks whether an MX host is itself ("mail loops back to myself", RFC
// 5321 §5.1) only when it delivers to port 25.
func (p *Postfix) Plan() harness.Plan {
	return harness.Plan{Subnet: p.cfg.Subnet, DNSPort: 53, SMTPPort: 25}
}

// RunOptions returns the options that run sc against this Postfix with
// harness.Run: the relay for sc's settings, its plan and its name.
func (p *Postfix) RunOptions(sc *scenarios.Scenario) (harness.RunOptions, error) {
	r, err := p.Relay(sc.Relay)
	if err != nil {
		return harness.RunOptions{}, err
	}
	return harness.RunOptions{Relay: r, RelayName: "postfix " + p.version, Plan: p.Plan()}, nil
}

// Relay returns the relay under test for one scenario's relay settings.
// Settings that Postfix cannot honour, and main.cf parameters it does not
// know, are an error naming them.
func (p *Postfix) Relay(settings scenarios.Relay) (harness.Relay, error) {
	if _, err := Params(settings, harness.Network{SMTPPort: 25}); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(settings.MainCF)) {
		if !p.known[k] {
			return nil, fmt.Errorf("postfix: %w: main_cf: unknown parameter %q (Postfix %s has no such parameter)", ErrSettings, k, p.version)
		}
	}
	return &scenarioRelay{p: p, settings: settings}, nil
}

// Close removes the container and the log socket.
func (p *Postfix) Close() error { return p.ctr.Close() }

// scenarioRelay is the harness.Relay of one scenario on a Postfix.
type scenarioRelay struct {
	p        *Postfix
	settings scenarios.Relay
	started  bool
}

var (
	_ harness.Relay            = (*scenarioRelay)(nil)
	_ harness.DecisionReporter = (*scenarioRelay)(nil)
)

// ReportsDecisions: the adapter reads Postfix's log into the journal
// (relay.attempt, relay.deliver, relay.defer, relay.bounce; see logs.go).
func (r *scenarioRelay) ReportsDecisions() bool { return true }

// Start reconfigures Postfix for the scenario on network n.
func (r *scenarioRelay) Start(ctx context.Context, n harness.Network) error {
	p := r.p
	if err := p.ctr.Claim(); err != nil {
		return err
	}
	if err := r.start(ctx, n); err != nil {
		// Put the base configuration back, so that no daemon that
		// Postfix starts meanwhile reads the refused one; the next
		// scenario writes its own and reloads.
		p.applied = ""
		p.exec(context.WithoutCancel(ctx), "cp", "/etc/postfix/main.cf.mxsim", "/etc/postfix/main.cf")
		p.ctr.Release()
		return err
	}
	r.started = true
	return nil
}

func (r *scenarioRelay) start(ctx context.Context, n harness.Network) error {
	p := r.p
	want := netip.AddrPortFrom(mtactr.At(p.cfg.Subnet, 53), 53).String()
	if n.DNSAddr != want {
		return fmt.Errorf("postfix: %w: the network's DNS is at %s, but the container resolves through %s: run the scenario with (*Postfix).Plan()", ErrSettings, n.DNSAddr, want)
	}
	params, err := Params(r.settings, n)
	if err != nil {
		return err
	}
	d := n.Relay.DKIM
	if d == nil && r.settings.DKIM != nil {
		return fmt.Errorf("postfix: %w: relay dkim: the network's relay settings carry no DKIM key (run the scenario with harness.Run, or set harness.Config.RelaySettings.DKIM)", ErrSettings)
	}
	if d != nil || p.dkim {
		p.dkim = true
		if err := p.startDKIM(ctx, d); err != nil {
			return err
		}
		p.dkim = d != nil
	}
	key := configKey(params, r.settings.SubmitAuth, n.CAPEM)
	how := "as for the last scenario, not reloaded"
	if key != p.applied {
		p.applied = ""
		// Only the scenario's own main_cf and hostname can hold a value
		// Postfix refuses: Params derives every other value from settings
		// that the scenarios package has checked.
		check := (len(r.settings.MainCF) > 0 || r.settings.Hostname != "") && !p.checked[key]
		if err := p.apply(ctx, params, r.settings.SubmitAuth, n.CAPEM, check); err != nil {
			return err
		}
		if check {
			p.checked[key] = true
		}
		how = "reloaded"
		if !stateful(params) {
			p.applied = key
		}
	}
	if r.settings.MTASTS {
		// A fresh resolver per scenario: it trusts this environment's CA
		// and has no policy cached from an earlier one.
		if err := p.startMTASTS(ctx, n.Journal); err != nil {
			return err
		}
	}
	p.ctr.Attach(n.Journal, newParser())
	n.Journal.Append(journal.Event{Kind: journal.KindRelayLog, Source: "relay",
		Text: fmt.Sprintf("postfix %s configured (%s): %s", p.version, how, describeParams(params))})
	return nil
}

// configKey identifies a configuration: the main.cf parameters, the
// submit_auth user, and the environment's CA when a parameter makes
// Postfix check certificates (a running smtp(8) keeps the CA it read at
// its start, so a new CA then needs new processes).
func configKey(params map[string]string, auth *scenarios.Credentials, caPEM []byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(params)) {
		fmt.Fprintf(h, "%s=%s\x00", k, params[k])
	}
	if auth != nil {
		fmt.Fprintf(h, "auth %s\x00%s\x00", auth.User, auth.Password)
	}
	if verifies(params) {
		h.Write(caPEM)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// verifies reports whether the parameters may make Postfix's smtp(8)
// check a host's certificate against the CA.
func verifies(params map[string]string) bool {
	for k, v := range params {
		if strings.Contains(k, "policy_maps") || strings.Contains(k, "per_site") {
			return true
		}
		if strings.Contains(k, "tls_security_level") {
			switch v {
			case "verify", "secure", "dane", "dane-only", "fingerprint":
				return true
			}
		}
	}
	return false
}

// stateful reports whether the parameters turn on a cache that outlives a
// scenario inside Postfix's processes (the connection cache, the TLS
// session cache, TLS connection reuse): such a configuration is reloaded
// for every scenario, so that nothing cached in one reaches the next.
func stateful(params map[string]string) bool {
	on := func(k string) bool { v := params[k]; return v != "" && v != "no" }
	return on("smtp_connection_cache_on_demand") || params["smtp_connection_cache_destinations"] != "" ||
		params["smtp_tls_session_cache_database"] != "" || on("smtp_tls_connection_reuse")
}

// shellFuncs are shell functions of the scripts below, builtins only: qmgr
// prints the process ID of Postfix's queue manager, nothing when none
// runs; queued succeeds when a message is in a queue, and empty deletes
// every message when one is (postsuper -d ALL takes a second even on an
// empty queue).
const shellFuncs = `qmgr() { for d in /proc/[0-9]*; do c=; read -r c <"$d/comm" 2>/dev/null; [ "$c" = qmgr ] && echo "${d#/proc/}"; done; true; }
queued() {
	for f in ` + queueDir + `/incoming/* ` + queueDir + `/active/* ` + queueDir + `/hold/* ` + queueDir + `/maildrop/* \
		` + queueDir + `/deferred/* ` + queueDir + `/deferred/*/* ` + queueDir + `/deferred/*/*/*; do [ -f "$f" ] && return 0; done; return 1
}
empty() { if queued; then postsuper -d ALL 2>&1; fi; }
`

// applyScript configures Postfix for a scenario, in one exec:
//
//  1. writes the CA ($1) and the sasldb of the submit_auth user ($2,
//     password $3); resets main.cf and applies the parameters ("name =
//     value" arguments after $4) with postconf, then dates main.cf ten
//     seconds back: the master spawns no daemon for about two seconds
//     after a reload that finds main.cf younger than that (measured:
//     the new queue manager came 2.2–2.6 s after the reload with a fresh
//     main.cf, 0.1–0.3 s with one dated back; Postfix 3.7), and every
//     case that changes the configuration paid those seconds;
//  2. when $4 is 1, runs Postfix's smtp and smtpd once in stand-alone
//     mode, side by side: each parses main.cf as a delivery would, and a
//     value it refuses ends it with a fatal log line. smtp announces its
//     protocol once main.cf is read and is stopped there; smtpd greets
//     and ends at EOF;
//  3. empties the queue, makes the master re-read main.cf (what postfix
//     reload does, without its checks) and waits until a new queue
//     manager runs. The old one keeps the old configuration until it
//     exits "as soon as is convenient" (master(8)), one to two seconds
//     later, and a message deferred before that would get the old
//     minimal_backoff_time: it is told to stop at once (SIGTERM, as
//     postfix stop does; the queue is empty). The master handles the
//     reload before it reaps the old queue manager (its main loop), so
//     the new one reads the new main.cf.
//
// Exit 10: postconf complained (its output follows); 11: the check
// failed; 12: saslpasswd2 failed; 21: no new queue manager within 10s.
const applyScript = shellFuncs + `ca=$1 user=$2 pw=$3 check=$4; shift 4
if [ -n "$ca" ]; then printf '%s' "$ca" > ` + CAFile + ` || exit 1; fi
rm -f ` + saslDB + `
if [ -n "$user" ]; then
	printf '%s' "$pw" | saslpasswd2 -p -c -f ` + saslDB + ` -u ` + SASLRealm + ` "$user" 2>&1 || exit 12
	chown root:postfix ` + saslDB + ` && chmod 640 ` + saslDB + ` || exit 12
fi
cp /etc/postfix/main.cf.mxsim /etc/postfix/main.cf || exit 1
out=$(postconf -e "$@" 2>&1)
if [ $? -ne 0 ] || printf '%s' "$out" | grep -q -e 'warning:' -e 'fatal:'; then printf '%s\n' "$out"; exit 10; fi
touch -d '10 seconds ago' /etc/postfix/main.cf || exit 1
cd ` + queueDir + ` || exit 1
if [ "$check" = 1 ]; then
	d=` + daemonDir + `
	timeout 10 "$d/smtpd" -S -n smtpd -t inet </dev/null >/dev/null 2>&1 & spid=$!
	out=$(mktemp); "$d/smtp" -S -n smtp -t unix </dev/null >"$out" 2>&1 & pid=$!
	i=0; while [ $i -lt 250 ] && [ ! -s "$out" ] && kill -0 $pid 2>/dev/null; do sleep 0.02; i=$((i+1)); done
	if [ -s "$out" ]; then kill $pid 2>/dev/null; wait $pid; rc=0; else wait $pid; rc=$?; fi; rm -f "$out"
	wait $spid || rc=1
	[ $rc -eq 0 ] || exit 11
fi
empty >/dev/null
old=$(qmgr)
kill -HUP $(cat pid/master.pid) || exit 1
[ -z "$old" ] || kill -TERM $old 2>/dev/null
i=0; while [ $i -lt 500 ]; do
	new=$(qmgr); if [ -n "$new" ] && [ "$new" != "$old" ]; then exit 0; fi
	sleep 0.02; i=$((i+1))
done
echo "still ${new:-none}"; exit 21
`

// apply writes the configuration for a scenario into the container,
// checks it when check is set and reloads Postfix (applyScript).
func (p *Postfix) apply(ctx context.Context, params map[string]string, auth *scenarios.Credentials, caPEM []byte, check bool) error {
	user, pw := "", ""
	if auth != nil {
		user, pw = auth.User, auth.Password
	}
	args := []string{"sh", "-c", applyScript, "sh", string(caPEM), user, pw, "0"}
	if check {
		args[7] = "1"
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		args = append(args, k+" = "+params[k])
	}
	since := int64(p.ctr.Log().Len())
	fatal := func(s string) bool { return strings.Contains(s, ": fatal: ") || strings.Contains(s, ": panic: ") }
	out, code, err := p.exec(ctx, args...)
	switch {
	case err != nil:
		return fmt.Errorf("postfix: configure: %w", err)
	case code == 10:
		return fmt.Errorf("%w: postconf: %s", ErrRefused, strings.TrimSpace(out))
	case code == 12:
		return fmt.Errorf("postfix: %w: saslpasswd2 for submit_auth user %q: %s", ErrSettings, user, strings.TrimSpace(out))
	case code == 11:
		if p.ctr.WaitLog(ctx, since, 2*time.Second, fatal) == nil {
			for _, e := range p.ctr.Log().Since(since) {
				if fatal(e.Text) {
					return fmt.Errorf("%w: %s", ErrRefused, e.Text)
				}
			}
		}
		return fmt.Errorf("%w: stand-alone smtp/smtpd failed: %s", ErrRefused, strings.TrimSpace(out))
	case code == 21:
		// A queue manager that refuses its parameters dies at start.
		for _, e := range p.ctr.Log().Since(since) {
			if strings.Contains(e.Text, "qmgr") && fatal(e.Text) {
				return fmt.Errorf("%w: %s", ErrRefused, e.Text)
			}
		}
		return fmt.Errorf("postfix: %w: the queue manager did not restart within 10s of the reload (%s)", ErrStart, strings.TrimSpace(out))
	case code != 0:
		return fmt.Errorf("postfix: configure: exit %d: %s", code, strings.TrimSpace(out))
	}
	return nil
}

// resetScript readies a running Postfix for the next scenario when a
// scenario ends: it empties the queue when anything is left in it, and
// `postqueue -f` makes the queue manager forget the destinations and
// transports it marked dead (its "flush dead" request), which it would
// otherwise skip for up to minimal_backoff_time.
const resetScript = shellFuncs + `empty || exit 1
postqueue -f 2>&1
`

// Submission returns Postfix's smtpd address, with the scenario's
// submit_auth credentials, and its submission services when the scenario
// asks for them (submission: true).
func (r *scenarioRelay) Submission() harness.Submission {
	s := harness.Submission{Addr: r.p.submit}
	if a := r.settings.SubmitAuth; a != nil {
		s.User, s.Password = a.User, a.Password
	}
	if r.settings.Submission {
		s.SubmissionAddr, s.SubmissionsAddr = r.p.submission, r.p.submissions
	}
	return s
}

// flushScript waits (up to 5 seconds) until no message is in the active
// queue, then runs postqueue -f. A message in the active queue is in a
// delivery attempt: a flush sent then finds nothing deferred, and the
// message, deferred a moment later, would wait out the whole backoff
// time. Waiting first makes a flush right after a host's 4yz retry the
// message, as it would on a relay that had already written it back.
const flushScript = `i=0
while [ $i -lt 250 ]; do
	set -- ` + queueDir + `/active/*; [ -f "$1" ] || break
	sleep 0.02; i=$((i+1))
done
postqueue -f 2>&1
`

// Flush makes Postfix retry its deferred mail now, once the delivery
// attempts under way have ended (flushScript).
func (r *scenarioRelay) Flush(ctx context.Context) error {
	out, code, err := r.p.exec(ctx, "sh", "-c", flushScript)
	if err != nil || code != 0 {
		return fmt.Errorf("postfix: postqueue -f: exit %d: %s%v", code, strings.TrimSpace(out), errOrEmpty(err))
	}
	return nil
}

var _ harness.QueueReporter = (*scenarioRelay)(nil)

// Queue lists Postfix's queue with `postqueue -j` (ListQueue), a
// recipient each. A message in the incoming or active queue is taken as
// in an attempt in progress. Postfix's listing does not carry the
// message's headers: each entry stands for any message from its sender to
// its recipient.
func (r *scenarioRelay) Queue(ctx context.Context) ([]harness.QueuedRecipient, error) {
	list, err := r.ListQueue(ctx)
	if err != nil {
		return nil, err
	}
	return recipients(list), nil
}

// parseQueue reads the output of postqueue -j, a recipient each.
func parseQueue(out string) ([]harness.QueuedRecipient, error) {
	list, err := parseQueueList(out)
	if err != nil {
		return nil, err
	}
	return recipients(list), nil
}

// recipients flattens a queue listing to its recipients.
func recipients(list []harness.Queued) []harness.QueuedRecipient {
	var out []harness.QueuedRecipient
	for _, m := range list {
		inFlight := m.Queue == "incoming" || m.Queue == "active" || m.Queue == "maildrop"
		for _, rc := range m.To {
			out = append(out, harness.QueuedRecipient{ID: m.ID, From: m.From, To: rc.To, InFlight: inFlight})
		}
	}
	return out
}

// Stop detaches the scenario's journal, empties the queue and makes the
// queue manager forget the destinations it marked dead (resetScript); the
// container keeps running for the next scenario.
func (r *scenarioRelay) Stop(ctx context.Context) error {
	if !r.started {
		return nil
	}
	r.started = false
	p := r.p
	// Lines about the last deliveries may still be on their way: wait for
	// a short silence (at most a second) before detaching the journal.
	p.ctr.Quiet(ctx, 150*time.Millisecond, time.Second)
	p.ctr.Attach(nil, nil)
	var err error
	if out, code, xerr := p.exec(ctx, "sh", "-c", resetScript); xerr != nil || code != 0 {
		err = fmt.Errorf("postfix: empty queue: exit %d: %s%v", code, strings.TrimSpace(out), errOrEmpty(xerr))
		p.applied = "" // the next scenario reloads, which empties the queue too
	}
	p.ctr.Release()
	return err
}

// CheckPort53 checks that the fake DNS can bind ip:53, which Postfix needs
// (a resolv.conf has no port), and says what to do when it cannot.
func CheckPort53(ip netip.Addr) error {
	if err := mtactr.CheckPort53(ip); err != nil {
		return fmt.Errorf("postfix: %w", err)
	}
	return nil
}

func describeParams(params map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(params)) {
		if i > 0 {
			b.WriteString(", ")
		}
		v := params[k]
		if strings.HasPrefix(v, "static:") {
			v = "static:…" // credentials stay out of reports
		}
		b.WriteString(k + "=" + v)
	}
	return b.String()
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

func lastLine(s string) string { return mtactr.LastLines(s, 1) }
