// Package opensmtpd runs a real OpenSMTPD, in a container, as the relay
// under test. One container serves a whole suite; each scenario
// reconfigures it:
//
//  1. New finds or builds the image mxsim/opensmtpd:VERSION-rN (package
//     internal/mtaimage), checks that 127.A.B.53:53 can be bound for the
//     fake DNS, and starts the container (package internal/mtactr, shared
//     with the Postfix and Exim adapters) with host networking, that DNS
//     address as its only resolver and a unix socket as /dev/log. The
//     container's command is a small supervisor that runs `smtpd -F`
//     (foreground, logging to syslog) and, when smtpd ends, waits to be
//     told to start it again: OpenSMTPD has no reload, and keeps route
//     suspensions, per-route connect delays, cached sessions and resolved
//     MX sets in memory, so every scenario gets a fresh smtpd;
//  2. Relay(settings) renders smtpd.conf for a scenario's relay settings
//     from the template smtpd.conf.tmpl (Render: settings OpenSMTPD cannot
//     honour are an error naming them) and returns a harness.Relay;
//  3. its Start writes the environment's CA, the credentials table and
//     /etc/mailname, checks the file with `smtpd -n` (a file smtpd refuses
//     is an error carrying smtpd's own message), starts smtpd on it with an
//     empty queue, waits for its greeting and sends its log lines into the
//     scenario's journal (relay.log, plus relay.attempt, relay.deliver,
//     relay.defer and relay.bounce);
//  4. Flush is `smtpctl schedule all`; Queue lists `smtpctl show queue`;
//     Stop detaches the journal, stops smtpd and empties the queue; Close
//     removes the container.
//
// Docker must be reachable (DOCKER_HOST or /var/run/docker.sock), and
// binding port 53 needs root or a lowered
// net.ipv4.ip_unprivileged_port_start. testcontainers-go runs without its
// reaper (TESTCONTAINERS_RYUK_DISABLED=true), so Close must be called.
package opensmtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
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
	// ErrImage means the OpenSMTPD image could not be found or built.
	ErrImage = mtaimage.ErrBuild
	// ErrConfig means a Config is not valid.
	ErrConfig = errors.New("bad config")
	// ErrPort53 means the fake DNS cannot bind port 53, which OpenSMTPD needs.
	ErrPort53 = mtactr.ErrPort53
	// ErrStart means the container or OpenSMTPD in it did not start.
	ErrStart = mtactr.ErrStart
	// ErrSettings means relay settings that OpenSMTPD cannot honour.
	ErrSettings = errors.New("bad relay settings")
	// ErrRefused means OpenSMTPD refused its configuration; the error
	// carries smtpd's own message.
	ErrRefused = errors.New("opensmtpd refused its configuration")
	// ErrBusy means a scenario is already running on this OpenSMTPD.
	ErrBusy = mtactr.ErrBusy
	// ErrClosed means the OpenSMTPD was closed.
	ErrClosed = mtactr.ErrClosed
)

// Config configures an OpenSMTPD container.
type Config struct {
	// Image is the image to run; empty: the newest
	// mxsim/opensmtpd:VERSION-rN, built first when there is none.
	Image string
	// Subnet is the 127.A.B.0/24 whose .53 is the container's resolver;
	// every scenario run on this OpenSMTPD must use it (see Plan). The
	// zero value picks one at random.
	Subnet netip.Prefix
	// SubmitPort is the port on 127.0.0.1 where OpenSMTPD takes mail from
	// the harness; 0 picks a free one.
	SubmitPort int
	// StartTimeout bounds the container start; default 60s.
	StartTimeout time.Duration
	// BuildLog receives image build progress; nil discards it.
	BuildLog io.Writer
}

// Paths of the supervisor in the container.
const (
	pidFile  = "/run/mxsim-smtpd.pid"
	ctlFifo  = "/run/mxsim-smtpd.ctl"
	newConf  = "/etc/smtpd.conf.mxsim"
	spoolDir = "/var/spool/smtpd"
)

// OpenSMTPD is a running OpenSMTPD container. One scenario at a time runs
// on it; its methods are safe for concurrent use.
type OpenSMTPD struct {
	cfg     Config
	image   string
	version string
	ports   Ports
	submit  string // "127.0.0.1:port" of ports.Submit
	ctr     *mtactr.Container
}

// New starts an OpenSMTPD container as cfg says. On error nothing is
// left running. The caller must Close it.
func New(ctx context.Context, cfg Config) (*OpenSMTPD, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := mtactr.CheckDocker(ctx); err != nil {
		return nil, fmt.Errorf("opensmtpd: %w", err)
	}
	dnsIP := mtactr.At(cfg.Subnet, 53)
	if err := mtactr.CheckPort53(dnsIP); err != nil {
		return nil, fmt.Errorf("opensmtpd: %w", err)
	}
	image := cfg.Image
	if image == "" {
		var err error
		if image, err = mtaimage.Ensure(ctx, mtaimage.OpenSMTPD, mtaimage.Options{Log: cfg.BuildLog}); err != nil {
			return nil, fmt.Errorf("opensmtpd: image: %w", err)
		}
	}
	port := cfg.SubmitPort
	if port == 0 {
		var err error
		if port, err = mtactr.FreePort(); err != nil {
			return nil, fmt.Errorf("opensmtpd: %w: submission port: %w", ErrStart, err)
		}
	}
	o := &OpenSMTPD{cfg: cfg, image: image, ports: Ports{Submit: port}}
	for _, p := range []*int{&o.ports.Submission, &o.ports.Submissions} {
		var err error
		if *p, err = mtactr.FreePort(); err != nil {
			return nil, fmt.Errorf("opensmtpd: %w: submission port: %w", ErrStart, err)
		}
	}
	o.submit = localAddr(port)
	base, err := Render(scenarios.Relay{}, harness.Network{SMTPPort: 25}, o.ports, "")
	if err != nil {
		return nil, err
	}
	ctr, err := mtactr.Start(ctx, mtactr.Config{Name: "opensmtpd", Image: image, DNS: dnsIP,
		Script: startScript(base.Text), Greeting: o.submit, StartTimeout: cfg.StartTimeout})
	if err != nil {
		return nil, err
	}
	o.ctr = ctr
	out, _, err := ctr.Exec(ctx, "smtpd", "-h")
	if v, ok := strings.CutPrefix(strings.TrimSpace(firstLine(out)), "version: OpenSMTPD "); ok {
		o.version = v
	}
	if o.version == "" {
		ctr.Close()
		return nil, fmt.Errorf("opensmtpd: %w: smtpd -h: no version in %q%s", ErrStart, out, errOrEmpty(err))
	}
	return o, nil
}

func (cfg *Config) check() error {
	c := mtactr.Common{Subnet: cfg.Subnet, Image: cfg.Image, StartTimeout: cfg.StartTimeout,
		Ports: []mtactr.Port{{Name: "submit port", N: cfg.SubmitPort}}}
	if err := c.Check(); err != nil {
		return fmt.Errorf("opensmtpd: %w: %w", ErrConfig, err)
	}
	cfg.Subnet, cfg.StartTimeout = c.Subnet, c.StartTimeout
	return nil
}

// startScript is the container's command: it writes the base
// configuration and supervises smtpd. smtpd runs in the foreground and
// logs to syslog (-F), so its lines reach /dev/log; when it ends (Stop
// kills it), the supervisor waits for a line on a FIFO before it starts
// smtpd again, so that a restart reads the next scenario's configuration
// and a smtpd that cannot start is not restarted in a loop.
func startScript(conf string) string {
	return strings.Join([]string{
		"ln -sf /run/mxsim/log /dev/log",
		"mkdir -p -m 711 " + spoolDir,
		"mkdir -p /etc/smtpd",
		// The listeners' certificate, for submissions with AUTH.
		"(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=" + DefaultHostname +
			" -keyout " + KeyFile + " -out " + CertFile + " 2>/dev/null)",
		"cat > " + ConfFile + " <<'MXSIM_EOF'\n" + conf + "MXSIM_EOF",
		"echo " + DefaultHostname + " > " + MailnameFile,
		"rm -f " + ctlFifo + " && mkfifo " + ctlFifo,
		"while :; do",
		"  smtpd -F -f " + ConfFile + " & echo $! > " + pidFile,
		"  wait $!",
		`  echo "mxsim: smtpd ended with status $?"`,
		"  read -r _ < " + ctlFifo,
		"done",
	}, "\n")
}

// stopScript stops smtpd, waits until none of its processes is left, and
// empties the queue (its directories stay).
const stopScript = `pid=$(cat ` + pidFile + ` 2>/dev/null) && kill -TERM "$pid" 2>/dev/null || true
i=0
while :; do
  n=0
  for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = smtpd ] && n=$((n+1)); done
  [ $n -eq 0 ] && break
  i=$((i+1)); [ $i -gt 400 ] && { echo "smtpd still running (pid $pid)"; exit 1; }
  sleep 0.025
done
find ` + spoolDir + ` -mindepth 2 -delete
`

// refusedCode is restartScript's exit status when smtpd -n refuses the
// configuration.
const refusedCode = 3

// restartScript writes a scenario's files (arguments: smtpd.conf, the CA,
// the credentials table, the host name, the submit_auth user and
// password), checks smtpd.conf with smtpd -n (exit refusedCode with
// smtpd's message when it refuses it: the running smtpd is left alone),
// stops smtpd, empties the queue, and tells the supervisor to start smtpd
// on the new files.
var restartScript = `set -e
umask 022
printf '%s' "$1" > ` + newConf + `
[ -z "$2" ] || printf '%s' "$2" > ` + CAFile + `
[ -z "$3" ] || (umask 027 && printf '%s' "$3" > ` + SecretsFile + `)
[ -z "$5" ] || (umask 027 && printf '%s %s\n' "$5" "$(smtpctl encrypt "$6")" > ` + UsersFile + `)
printf '%s\n' "$4" > ` + MailnameFile + `
if ! out=$(smtpd -n -f ` + newConf + ` 2>&1); then echo "$out"; exit ` + strconv.Itoa(refusedCode) + `; fi
` + stopScript + `mv ` + newConf + ` ` + ConfFile + `
timeout 10 sh -c 'echo start > ` + ctlFifo + `'
`

// Version returns OpenSMTPD's version ("6.8.0p2").
func (o *OpenSMTPD) Version() string { return o.version }

// Image returns the image the container runs.
func (o *OpenSMTPD) Image() string { return o.image }

// SubmitAddr returns "127.0.0.1:port" where OpenSMTPD takes mail.
func (o *OpenSMTPD) SubmitAddr() string { return o.submit }

// Plan returns the address plan every scenario on this OpenSMTPD must
// use: its subnet, DNS on .53 port 53 (a resolv.conf has no port), hosts
// on port 25 of their own addresses: OpenSMTPD delivers to MX hosts on
// port 25 only.
func (o *OpenSMTPD) Plan() harness.Plan {
	return harness.Plan{Subnet: o.cfg.Subnet, DNSPort: 53, SMTPPort: 25}
}

// RunOptions returns the options that run sc against this OpenSMTPD with
// harness.Run: the relay for sc's settings, its plan and its name.
func (o *OpenSMTPD) RunOptions(sc *scenarios.Scenario) (harness.RunOptions, error) {
	r, err := o.Relay(sc.Relay)
	if err != nil {
		return harness.RunOptions{}, err
	}
	return harness.RunOptions{Relay: r, RelayName: "opensmtpd " + o.version, Plan: o.Plan()}, nil
}

// Relay returns the relay under test for one scenario's relay settings.
// Settings that OpenSMTPD cannot honour are an error naming them; those
// it has no setting for wrap harness.ErrUnsupported.
func (o *OpenSMTPD) Relay(settings scenarios.Relay) (harness.Relay, error) {
	if settings.SubmitAuth != nil || settings.Submission {
		// Render writes the listeners (AUTH after STARTTLS, smtps), but
		// no client can use them in this image.
		return nil, fmt.Errorf("opensmtpd: %w: submit_auth and submission need OpenSMTPD's TLS server (it offers AUTH only under TLS), "+
			"and every TLS handshake on its listeners fails in Debian's OpenSMTPD %s (smtp disconnected reason=\"io-error: error:0A080006:SSL routines::EVP lib\"): %w",
			ErrSettings, o.version, harness.ErrUnsupported)
	}
	if _, err := Render(settings, harness.Network{SMTPPort: 25, CAPEM: []byte("-")}, o.ports, o.version); err != nil {
		return nil, err
	}
	return &scenarioRelay{o: o, settings: settings}, nil
}

// Close removes the container and the log socket.
func (o *OpenSMTPD) Close() error { return o.ctr.Close() }

// scenarioRelay is the harness.Relay of one scenario on an OpenSMTPD.
type scenarioRelay struct {
	o        *OpenSMTPD
	settings scenarios.Relay
	started  bool
}

var (
	_ harness.Relay            = (*scenarioRelay)(nil)
	_ harness.DecisionReporter = (*scenarioRelay)(nil)
	_ harness.QueueReporter    = (*scenarioRelay)(nil)
)

// ReportsDecisions: the adapter reads OpenSMTPD's log into the journal
// (relay.attempt, relay.deliver, relay.defer, relay.bounce; see logs.go).
func (r *scenarioRelay) ReportsDecisions() bool { return true }

// Start configures OpenSMTPD for the scenario on network n and starts a
// fresh smtpd with an empty queue.
func (r *scenarioRelay) Start(ctx context.Context, n harness.Network) error {
	o := r.o
	if err := o.ctr.Claim(); err != nil {
		return err
	}
	if err := r.start(ctx, n); err != nil {
		o.ctr.Attach(nil, nil)
		o.ctr.Release()
		return err
	}
	r.started = true
	return nil
}

func (r *scenarioRelay) start(ctx context.Context, n harness.Network) error {
	o := r.o
	want := netip.AddrPortFrom(mtactr.At(o.cfg.Subnet, 53), 53).String()
	if n.DNSAddr != want {
		return fmt.Errorf("opensmtpd: %w: the network's DNS is at %s, but the container resolves through %s: run the scenario with (*OpenSMTPD).Plan()", ErrSettings, n.DNSAddr, want)
	}
	conf, err := Render(r.settings, n, o.ports, o.version)
	if err != nil {
		return err
	}
	n.Journal.Append(journal.Event{Kind: journal.KindRelayLog, Source: "relay", Text: describe(o.version, r.settings, conf)})
	since := int64(o.ctr.Log().Len())
	o.ctr.Attach(n.Journal, newParser(journalNamer(n.Journal)))
	// One exec: each costs a Docker round trip.
	out, code, err := o.ctr.Exec(ctx, "sh", "-c", restartScript, "sh", conf.Text, string(n.CAPEM), conf.Secrets, conf.Hostname, conf.User, conf.Password)
	switch {
	case err != nil:
		return fmt.Errorf("opensmtpd: %w: restart smtpd: %w", ErrStart, err)
	case code == refusedCode:
		return fmt.Errorf("%w: smtpd -n: %s", ErrRefused, oneLine(out))
	case code != 0:
		return fmt.Errorf("opensmtpd: %w: restart smtpd: exit %d: %s", ErrStart, code, oneLine(out))
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := o.ctr.WaitGreeting(wctx, o.submit); err != nil {
		var lines []string
		for _, e := range o.ctr.Log().Since(since) {
			lines = append(lines, e.Text)
		}
		return fmt.Errorf("opensmtpd: %w: smtpd did not greet at %s: %v; log: %s", ErrStart, o.submit, err, mtactr.LastLines(strings.Join(lines, "\n"), 5))
	}
	return nil
}

// Submission returns OpenSMTPD's listener for the harness (AUTH after
// STARTTLS with the submit_auth user, when the settings have one) and its
// submission services, when the settings ask for them.
func (r *scenarioRelay) Submission() harness.Submission {
	s := harness.Submission{Addr: r.o.submit}
	if a := r.settings.SubmitAuth; a != nil {
		s.User, s.Password = a.User, a.Password
		if r.settings.Submission {
			s.SubmissionAddr, s.SubmissionsAddr = localAddr(r.o.ports.Submission), localAddr(r.o.ports.Submissions)
		}
	}
	return s
}

func localAddr(port int) string {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String()
}

// Flush makes OpenSMTPD retry its queued mail now. Route suspensions and
// connect delays still apply.
func (r *scenarioRelay) Flush(ctx context.Context) error {
	out, code, err := r.o.ctr.Exec(ctx, "smtpctl", "schedule", "all")
	if err != nil || code != 0 {
		return fmt.Errorf("opensmtpd: smtpctl schedule all: exit %d: %s%s", code, oneLine(out), errOrEmpty(err))
	}
	return nil
}

// Queue lists OpenSMTPD's queue with `smtpctl show queue`, one line per
// envelope (recipient). The listing does not carry the message's
// headers: each entry stands for any message from its sender to its
// recipient.
func (r *scenarioRelay) Queue(ctx context.Context) ([]harness.QueuedRecipient, error) {
	out, code, err := r.o.ctr.Exec(ctx, "smtpctl", "show", "queue")
	if err != nil || code != 0 {
		return nil, fmt.Errorf("opensmtpd: smtpctl show queue: exit %d: %s%s", code, oneLine(out), errOrEmpty(err))
	}
	return parseQueue(out)
}

// Stop detaches the scenario's journal, stops smtpd and empties the
// queue; the container keeps running for the next scenario.
func (r *scenarioRelay) Stop(ctx context.Context) error {
	if !r.started {
		return nil
	}
	r.started = false
	o := r.o
	// Lines about the last deliveries may still be on their way: wait for
	// a short silence (at most a second) before detaching the journal.
	o.ctr.Quiet(ctx, 150*time.Millisecond, time.Second)
	o.ctr.Attach(nil, nil)
	var err error
	if out, xerr := o.ctr.Sh(context.WithoutCancel(ctx), stopScript); xerr != nil {
		err = fmt.Errorf("opensmtpd: stop smtpd: %v: %s", xerr, oneLine(out))
	}
	o.ctr.Release()
	return err
}

// CheckPort53 checks that the fake DNS can bind ip:53, which OpenSMTPD
// needs (a resolv.conf has no port), and says what to do when it cannot.
func CheckPort53(ip netip.Addr) error {
	if err := mtactr.CheckPort53(ip); err != nil {
		return fmt.Errorf("opensmtpd: %w", err)
	}
	return nil
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// oneLine joins the lines of a command's output.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// describe is the relay.log line that says how a scenario configured
// OpenSMTPD: the settings, the notes, and smtpd.conf's directives (the
// credentials are in their own file, never in smtpd.conf).
func describe(version string, settings scenarios.Relay, conf Conf) string {
	text := "opensmtpd " + version + " configured: " + summary(settings, conf.Hostname)
	for _, note := range conf.Notes {
		text += "; " + note
	}
	var lines []string
	for _, l := range strings.Split(conf.Text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return text + "; smtpd.conf: " + strings.Join(lines, " | ")
}
