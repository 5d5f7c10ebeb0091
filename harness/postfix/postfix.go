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
//  3. its Start writes the environment's CA, resets main.cf to the base
//     configuration, applies Params with postconf, runs Postfix's smtp and
//     smtpd once in stand-alone mode so that a value Postfix refuses is
//     reported with Postfix's own message, reloads, empties the queue and
//     sends Postfix's log lines into the scenario's journal (relay.log,
//     plus relay.attempt, relay.deliver, relay.defer and relay.bounce);
//  4. Flush is `postqueue -f`; Stop detaches the journal and empties the
//     queue; Close removes the container.
//
// Docker must be reachable (DOCKER_HOST or /var/run/docker.sock), and
// binding port 53 needs root or a lowered
// net.ipv4.ip_unprivileged_port_start. testcontainers-go runs without its
// reaper (TESTCONTAINERS_RYUK_DISABLED=true), so Close must be called.
package postfix

import (
	"bufio"
	"context"
	"encoding/json"
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
	ctr     *mtactr.Container
	known   map[string]bool // main.cf parameter names Postfix knows
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
	port := cfg.SubmitPort
	if port == 0 {
		var err error
		if port, err = mtactr.FreePort(); err != nil {
			return nil, fmt.Errorf("postfix: %w: submission port: %w", ErrStart, err)
		}
	}
	p := &Postfix{cfg: cfg, image: image, known: map[string]bool{}}
	p.submit = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String()
	ctr, err := mtactr.Start(ctx, mtactr.Config{Name: "postfix", Image: image, DNS: dnsIP, Script: startScript(port),
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
	var err error
	if cfg.Subnet, err = mtactr.Subnet(cfg.Subnet); err != nil {
		return fmt.Errorf("postfix: %w: %w", ErrConfig, err)
	}
	if cfg.SubmitPort < 0 || cfg.SubmitPort > 65535 {
		return fmt.Errorf("postfix: %w: submit port %d out of range", ErrConfig, cfg.SubmitPort)
	}
	if cfg.StartTimeout < 0 {
		return fmt.Errorf("postfix: %w: start timeout %v is negative", ErrConfig, cfg.StartTimeout)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if strings.ContainsAny(cfg.Image, " \t\n") {
		return fmt.Errorf("postfix: %w: image %q: not an image reference", ErrConfig, cfg.Image)
	}
	return nil
}

// startScript prepares Postfix for a test network and runs it in the
// foreground: no chroot, no port 25 listener, no local delivery (the
// Postfix adapter in docs/architecture.md; the settings in docs/postfix.md,
// "How it works"). Its main.cf is saved as the base that every scenario
// starts from.
func startScript(port int) string {
	listen := "127.0.0.1:" + strconv.Itoa(port)
	return strings.Join([]string{
		"set -e",
		"ln -sf /run/mxsim/log /dev/log",
		"postconf -F '*/*/chroot = n'",
		"postconf -MX smtp/inet",
		"postconf -M '" + listen + "/inet=" + listen + " inet n - n - - smtpd'",
		"postconf -e 'inet_interfaces = loopback-only' 'inet_protocols = ipv4' 'mydestination =' " +
			"'relay_domains =' 'alias_maps =' 'alias_database =' 'local_recipient_maps =' 'biff = no' " +
			"'smtpd_tls_security_level = none' 'smtp_tls_CApath =' 'smtp_tls_session_cache_database =' " +
			"'smtpd_tls_session_cache_database =' 'smtp_address_preference = ipv4' 'maillog_file =' " +
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
		// Put the last good configuration back, so that no daemon that
		// Postfix starts meanwhile reads the refused one.
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
	if len(n.CAPEM) > 0 {
		if err := p.ctr.WriteFile(ctx, CAFile, n.CAPEM, 0o644); err != nil {
			return fmt.Errorf("postfix: write CA: %w", err)
		}
	}
	args := []string{"sh", "-c", `cp /etc/postfix/main.cf.mxsim /etc/postfix/main.cf && postconf -e "$@"`, "sh"}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		args = append(args, k+" = "+params[k])
	}
	if out, code, err := p.exec(ctx, args...); err != nil || code != 0 || strings.Contains(out, "warning:") || strings.Contains(out, "fatal:") {
		return fmt.Errorf("%w: postconf: %s%v", ErrRefused, strings.TrimSpace(out), errOrEmpty(err))
	}
	if err := p.check(ctx); err != nil {
		return err
	}
	since := int64(p.ctr.Log().Len())
	qmgr, err := p.qmgrPID(ctx)
	if err != nil {
		return err
	}
	if out, code, err := p.exec(ctx, "postfix", "reload"); err != nil || code != 0 {
		return fmt.Errorf("%w: postfix reload: exit %d: %s%v", ErrRefused, code, strings.TrimSpace(out), errOrEmpty(err))
	}
	if err := p.ctr.WaitLog(ctx, since, 10*time.Second, func(s string) bool { return strings.Contains(s, "]: reload -- version") }); err != nil {
		return fmt.Errorf("postfix: %w: no reload: %w", ErrStart, err)
	}
	// The master has the new main.cf, but the queue manager that was
	// running keeps the old one until it restarts "as soon as is
	// convenient" (master(8)): a message deferred before that got the old
	// minimal_backoff_time. Wait for a new qmgr.
	if err := p.waitNewQmgr(ctx, qmgr, 10*time.Second); err != nil {
		return err
	}
	if _, _, err := p.exec(ctx, "postsuper", "-d", "ALL"); err != nil {
		return fmt.Errorf("postfix: empty queue: %w", err)
	}
	p.ctr.Attach(n.Journal, newParser())
	n.Journal.Append(journal.Event{Kind: journal.KindRelayLog, Source: "relay",
		Text: fmt.Sprintf("postfix %s configured: %s", p.version, describeParams(params))})
	return nil
}

// qmgrPID returns the process ID of Postfix's queue manager in the
// container, "" when none runs.
func (p *Postfix) qmgrPID(ctx context.Context) (string, error) {
	out, _, err := p.exec(ctx, "sh", "-c", `for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = qmgr ] && echo "${d#/proc/}"; done; true`)
	if err != nil {
		return "", fmt.Errorf("postfix: find qmgr: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// waitNewQmgr waits until a queue manager other than old runs.
func (p *Postfix) waitNewQmgr(ctx context.Context, old string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		pid, err := p.qmgrPID(ctx)
		if err != nil {
			return err
		}
		if pid != "" && pid != old {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postfix: %w: the queue manager did not restart within %v of postfix reload (still %q)", ErrStart, d, pid)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// check runs Postfix's smtp and smtpd once in stand-alone mode: each
// parses main.cf as a delivery would, and a value it refuses ends it with
// a fatal log line, which becomes the error.
func (p *Postfix) check(ctx context.Context) error {
	since := int64(p.ctr.Log().Len())
	out, code, err := p.exec(ctx, "postfix", "check")
	if err != nil || code != 0 || strings.Contains(out, "fatal:") {
		return fmt.Errorf("%w: postfix check: %s%v", ErrRefused, strings.TrimSpace(out), errOrEmpty(err))
	}
	// smtp parses main.cf first: a refused value ends it with exit 1;
	// with a good one it announces its protocol and waits for a delivery
	// request, and is stopped there. smtpd greets and ends at EOF.
	script := `cd "$(postconf -h queue_directory)" && d="$(postconf -h daemon_directory)" && out=$(mktemp) && ` +
		`{ "$d/smtp" -S -n smtp -t unix </dev/null >"$out" 2>&1 & pid=$!; ` +
		`i=0; while [ $i -lt 100 ] && [ ! -s "$out" ] && kill -0 $pid 2>/dev/null; do sleep 0.05; i=$((i+1)); done; ` +
		`if [ -s "$out" ]; then kill $pid 2>/dev/null; wait $pid; rc=0; else wait $pid; rc=$?; fi; rm -f "$out"; [ $rc -eq 0 ]; } && ` +
		`timeout 10 "$d/smtpd" -S -n smtpd -t inet </dev/null >/dev/null`
	out, code, err = p.exec(ctx, "sh", "-c", script)
	if err != nil {
		return fmt.Errorf("postfix: check configuration: %w", err)
	}
	if code == 0 {
		return nil
	}
	fatal := func(s string) bool { return strings.Contains(s, ": fatal: ") || strings.Contains(s, ": panic: ") }
	if p.ctr.WaitLog(ctx, since, 2*time.Second, fatal) == nil {
		for _, e := range p.ctr.Log().Since(since) {
			if fatal(e.Text) {
				return fmt.Errorf("%w: %s", ErrRefused, e.Text)
			}
		}
	}
	return fmt.Errorf("%w: stand-alone smtp/smtpd exit %d: %s", ErrRefused, code, strings.TrimSpace(out))
}

// Submission returns Postfix's smtpd address; it needs no AUTH.
func (r *scenarioRelay) Submission() harness.Submission { return harness.Submission{Addr: r.p.submit} }

// Flush makes Postfix retry its deferred mail now.
func (r *scenarioRelay) Flush(ctx context.Context) error {
	out, code, err := r.p.exec(ctx, "postqueue", "-f")
	if err != nil || code != 0 {
		return fmt.Errorf("postfix: postqueue -f: exit %d: %s%v", code, strings.TrimSpace(out), errOrEmpty(err))
	}
	return nil
}

var _ harness.QueueReporter = (*scenarioRelay)(nil)

// Queue lists Postfix's queue with `postqueue -j`, one JSON object per
// message. A message in the incoming or active queue is taken as in an
// attempt in progress. Postfix's listing does not carry the message's
// headers: each entry stands for any message from its sender to its
// recipient.
func (r *scenarioRelay) Queue(ctx context.Context) ([]harness.QueuedRecipient, error) {
	out, code, err := r.p.exec(ctx, "postqueue", "-j")
	if err != nil || code != 0 {
		return nil, fmt.Errorf("postfix: postqueue -j: exit %d: %s%v", code, strings.TrimSpace(out), errOrEmpty(err))
	}
	return parseQueue(out)
}

// parseQueue reads the output of postqueue -j.
func parseQueue(out string) ([]harness.QueuedRecipient, error) {
	var list []harness.QueuedRecipient
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var m struct {
			Queue      string `json:"queue_name"`
			ID         string `json:"queue_id"`
			Sender     string `json:"sender"`
			Recipients []struct {
				Address string `json:"address"`
			} `json:"recipients"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("postfix: postqueue -j: %q: %w", line, err)
		}
		for _, rc := range m.Recipients {
			list = append(list, harness.QueuedRecipient{ID: m.ID, From: m.Sender, To: rc.Address,
				InFlight: m.Queue == "incoming" || m.Queue == "active" || m.Queue == "maildrop"})
		}
	}
	return list, nil
}

// Stop detaches the scenario's journal and empties the queue; the
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
	if _, code, xerr := p.exec(ctx, "postsuper", "-d", "ALL"); xerr != nil || code != 0 {
		err = fmt.Errorf("postfix: empty queue: exit %d%v", code, errOrEmpty(xerr))
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
