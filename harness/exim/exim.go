// Package exim runs a real Exim, in a container, as the relay under test.
// One container serves a whole suite; each scenario reconfigures it:
//
//  1. New finds or builds the image mxsim/exim:VERSION-rN (package
//     internal/mtaimage), checks that 127.A.B.53:53 can be bound for the
//     fake DNS, and starts the container (package internal/mtactr) with
//     host networking, that DNS address as its only resolver and a unix
//     socket as /dev/log. Exim runs as a foreground daemon (exim -bdf
//     -q1s) on three ports of 127.0.0.1 of its own: plain submission,
//     587-style and 465-style;
//  2. Relay(settings) checks a scenario's relay settings (those Exim
//     cannot honour are an error naming them) and returns a harness.Relay;
//  3. its Start writes the environment's CA, renders exim4.conf.tmpl
//     from the settings, has Exim check it (exim -C FILE -bV: a refused
//     file ends the run with Exim's own message), puts it in place, stops
//     deliveries left from the scenario before, empties the queue and the
//     hints databases (retry, wait-, callout data), sends the daemon a
//     SIGHUP (it re-executes itself with the new file) and sends Exim's
//     log lines into the scenario's journal (relay.log, plus
//     relay.attempt, relay.deliver, relay.defer and relay.bounce);
//  4. Flush is `exim -qff`; Queue parses `exim -bp`; Stop detaches the
//     journal and empties the queue; Close removes the container.
//
// Docker must be reachable (DOCKER_HOST or /var/run/docker.sock), and
// binding port 53 needs root or a lowered
// net.ipv4.ip_unprivileged_port_start. testcontainers-go runs without its
// reaper (TESTCONTAINERS_RYUK_DISABLED=true), so Close must be called.
package exim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"regexp"
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
	// ErrImage means the Exim image could not be found or built.
	ErrImage = mtaimage.ErrBuild
	// ErrConfig means a Config is not valid.
	ErrConfig = errors.New("bad config")
	// ErrPort53 means the fake DNS cannot bind port 53, which Exim needs.
	ErrPort53 = mtactr.ErrPort53
	// ErrStart means the container or Exim in it did not start.
	ErrStart = mtactr.ErrStart
	// ErrSettings means relay settings that Exim cannot honour.
	ErrSettings = errors.New("bad relay settings")
	// ErrRefused means Exim refused its configuration; the error carries
	// Exim's own message.
	ErrRefused = errors.New("exim refused its configuration")
	// ErrBusy means a scenario is already running on this Exim.
	ErrBusy = mtactr.ErrBusy
	// ErrClosed means the Exim was closed.
	ErrClosed = mtactr.ErrClosed
)

// Config configures an Exim container.
type Config struct {
	// Image is the image to run; empty: the newest mxsim/exim:VERSION-rN,
	// built first when there is none.
	Image string
	// Subnet is the 127.A.B.0/24 whose .53 is the container's resolver;
	// every scenario run on this Exim must use it (see Plan). The zero
	// value picks one at random.
	Subnet netip.Prefix
	// SubmitPort is the port of 127.0.0.1 where Exim takes mail from the
	// harness; 0 picks a free one. The 587-style and 465-style services
	// get free ports of their own.
	SubmitPort int
	// StartTimeout bounds the container start; default 60s.
	StartTimeout time.Duration
	// BuildLog receives image build progress; nil discards it.
	BuildLog io.Writer
}

// Exim is a running Exim container. One scenario at a time runs on it;
// its methods are safe for concurrent use.
type Exim struct {
	cfg     Config
	image   string
	version string
	ports   Ports
	ctr     *mtactr.Container
}

// New starts an Exim container as cfg says. On error nothing is left
// running. The caller must Close it.
func New(ctx context.Context, cfg Config) (*Exim, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := mtactr.CheckDocker(ctx); err != nil {
		return nil, fmt.Errorf("exim: %w", err)
	}
	dnsIP := mtactr.At(cfg.Subnet, 53)
	if err := mtactr.CheckPort53(dnsIP); err != nil {
		return nil, fmt.Errorf("exim: %w", err)
	}
	image := cfg.Image
	if image == "" {
		var err error
		if image, err = mtaimage.Ensure(ctx, mtaimage.Exim, mtaimage.Options{Log: cfg.BuildLog}); err != nil {
			return nil, fmt.Errorf("exim: image: %w", err)
		}
	}
	x := &Exim{cfg: cfg, image: image, ports: Ports{Submit: cfg.SubmitPort}}
	used := map[int]bool{cfg.SubmitPort: true}
	for _, p := range []*int{&x.ports.Submit, &x.ports.Submission, &x.ports.Submissions} {
		for *p == 0 {
			port, err := mtactr.FreePort()
			if err != nil {
				return nil, fmt.Errorf("exim: %w: listening port: %w", ErrStart, err)
			}
			if !used[port] {
				*p, used[port] = port, true
			}
		}
	}
	cert, key, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("exim: %w: certificate: %w", ErrStart, err)
	}
	base, err := Conf(scenarios.Relay{}, harness.Network{SMTPPort: 25}, x.ports)
	if err != nil {
		return nil, err
	}
	ctr, err := mtactr.Start(ctx, mtactr.Config{Name: "exim", Image: image, DNS: dnsIP,
		Script:   startScript(base, cert, key),
		Greeting: x.SubmitAddr(), StartTimeout: cfg.StartTimeout, Early: quickAttempt})
	if err != nil {
		return nil, err
	}
	x.ctr = ctr
	out, err := ctr.Sh(ctx, "exim -bV")
	if err != nil {
		ctr.Close()
		return nil, fmt.Errorf("exim: %w: exim -bV: %w", ErrStart, err)
	}
	if m := versionRE.FindStringSubmatch(out); m != nil {
		x.version = m[1]
	} else {
		ctr.Close()
		return nil, fmt.Errorf("exim: %w: exim -bV: no version in %q", ErrStart, mtactr.LastLines(out, 3))
	}
	return x, nil
}

var versionRE = regexp.MustCompile(`Exim version (\S+)`)

func (cfg *Config) check() error {
	c := mtactr.Common{Subnet: cfg.Subnet, Image: cfg.Image, StartTimeout: cfg.StartTimeout,
		Ports: []mtactr.Port{{Name: "submit port", N: cfg.SubmitPort}}}
	if err := c.Check(); err != nil {
		return fmt.Errorf("exim: %w: %w", ErrConfig, err)
	}
	cfg.Subnet, cfg.StartTimeout = c.Subnet, c.StartTimeout
	return nil
}

// startScript writes the base configuration and the certificate of
// Exim's own STARTTLS, and runs Exim as a foreground daemon that starts a
// queue runner every second (test network: a retry that is due is made
// within a second). Debian's exim4 reads /etc/exim4/exim4.conf when it
// exists, instead of the configuration its update-exim4.conf generates.
func startScript(conf string, cert, key []byte) string {
	return strings.Join([]string{
		"set -e",
		"ln -sf /run/mxsim/log /dev/log",
		// glibc hands Exim the AD bit of an answer only with trust-ad
		// (DANE, tls dane: the fake DNS marks secure zones with AD).
		"grep -q trust-ad /etc/resolv.conf || echo 'options trust-ad' >> /etc/resolv.conf",
		"cat > " + ConfFile + " <<'MXSIM_EOF'\n" + conf + "MXSIM_EOF",
		"cat > " + ServerCert + " <<'MXSIM_EOF'\n" + string(cert) + "MXSIM_EOF",
		"cat > " + ServerKey + " <<'MXSIM_EOF'\n" + string(key) + "MXSIM_EOF",
		// Exim reads the key as its own user when a client starts TLS.
		"chown root:Debian-exim " + ServerKey + " && chmod 640 " + ServerKey,
		"rm -f " + spoolDir + "/db/* " + spoolDir + "/input/* " + spoolDir + "/msglog/*",
		"exec exim -bdf -q1s",
	}, "\n")
}

// selfSigned returns a certificate and key (PEM) for Exim's own STARTTLS
// and implicit TLS: the harness client does not check it.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: DefaultHostname},
		DNSNames:     []string{DefaultHostname},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// Version returns Exim's version ("4.96").
func (x *Exim) Version() string { return x.version }

// Image returns the image the container runs.
func (x *Exim) Image() string { return x.image }

// SubmitAddr returns "127.0.0.1:port" where Exim takes mail from the
// harness.
func (x *Exim) SubmitAddr() string { return x.addr(x.ports.Submit) }

func (x *Exim) addr(port int) string {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String()
}

// Ports returns the ports of 127.0.0.1 Exim listens on.
func (x *Exim) Ports() Ports { return x.ports }

// Plan returns the address plan every scenario on this Exim must use: its
// subnet, DNS on .53 port 53 (a resolv.conf has no port), hosts on port
// 25 of their own addresses, as on the Internet.
func (x *Exim) Plan() harness.Plan {
	return harness.Plan{Subnet: x.cfg.Subnet, DNSPort: 53, SMTPPort: 25}
}

// RunOptions returns the options that run sc against this Exim with
// harness.Run: the relay for sc's settings, its plan and its name.
func (x *Exim) RunOptions(sc *scenarios.Scenario) (harness.RunOptions, error) {
	r, err := x.Relay(sc.Relay)
	if err != nil {
		return harness.RunOptions{}, err
	}
	return harness.RunOptions{Relay: r, RelayName: "exim " + x.version, Plan: x.Plan()}, nil
}

// Relay returns the relay under test for one scenario's relay settings.
// Settings that Exim cannot honour are an error naming them.
func (x *Exim) Relay(settings scenarios.Relay) (harness.Relay, error) {
	if _, err := confFor(settings, harness.Network{SMTPPort: 25}, x.ports); err != nil {
		return nil, err
	}
	return &scenarioRelay{x: x, settings: settings}, nil
}

// CheckConf has Exim parse a configuration file, as every Exim process
// does at its start (exim -C FILE -bV): nil when Exim accepts it, else an
// error wrapping ErrRefused with Exim's message. Use it to check a
// configuration of your own, such as the one for an external Exim in
// docs/mtas/exim.
func (x *Exim) CheckConf(ctx context.Context, conf string) error {
	out, code, err := x.ctr.Exec(ctx, "sh", "-c", checkScript, "sh", conf)
	switch {
	case err != nil:
		return fmt.Errorf("exim: check configuration: %w", err)
	case code == refusedExit:
		return fmt.Errorf("%w: %s", ErrRefused, strings.Join(strings.Fields(out), " "))
	case code != 0:
		return fmt.Errorf("exim: check configuration: exit %d: %s", code, mtactr.LastLines(out, 5))
	}
	return nil
}

// checkScript has Exim parse the configuration $1.
const checkScript = `f=$(mktemp) && printf '%s' "$1" > "$f" || exit 1
if ! out=$(exim -C "$f" -bV 2>&1); then printf '%s\n' "$out"; rm -f "$f"; exit 3; fi
rm -f "$f"`

// Close removes the container and the log socket.
func (x *Exim) Close() error { return x.ctr.Close() }

// scenarioRelay is the harness.Relay of one scenario on an Exim.
type scenarioRelay struct {
	x        *Exim
	settings scenarios.Relay
	started  bool
}

var (
	_ harness.Relay            = (*scenarioRelay)(nil)
	_ harness.DecisionReporter = (*scenarioRelay)(nil)
	_ harness.QueueReporter    = (*scenarioRelay)(nil)
)

// ReportsDecisions: the adapter reads Exim's log into the journal
// (relay.attempt, relay.deliver, relay.defer, relay.bounce; see logs.go).
func (r *scenarioRelay) ReportsDecisions() bool { return true }

// Start reconfigures Exim for the scenario on network n.
func (r *scenarioRelay) Start(ctx context.Context, n harness.Network) error {
	if err := r.x.ctr.Claim(); err != nil {
		return err
	}
	if err := r.start(ctx, n); err != nil {
		r.x.ctr.Release()
		return err
	}
	r.started = true
	return nil
}

func (r *scenarioRelay) start(ctx context.Context, n harness.Network) error {
	x := r.x
	want := netip.AddrPortFrom(mtactr.At(x.cfg.Subnet, 53), 53).String()
	if n.DNSAddr != want {
		return fmt.Errorf("exim: %w: the network's DNS is at %s, but the container resolves through %s: run the scenario with (*Exim).Plan()", ErrSettings, n.DNSAddr, want)
	}
	d, err := confFor(r.settings, n, x.ports)
	if err != nil {
		return err
	}
	conf, err := render(d)
	if err != nil {
		return err
	}
	// One exec, as each costs a round trip to the Docker engine.
	since := int64(x.ctr.Log().Len())
	out, code, err := x.ctr.Exec(ctx, "sh", "-c", installScript, "sh", conf, string(n.CAPEM))
	switch {
	case err != nil:
		return fmt.Errorf("exim: %w: install configuration: %w", ErrStart, err)
	case code == refusedExit:
		return fmt.Errorf("%w: %s", ErrRefused, strings.Join(strings.Fields(out), " "))
	case code != 0:
		return fmt.Errorf("exim: %w: install configuration: exit %d: %s", ErrStart, code, mtactr.LastLines(out, 5))
	}
	// The daemon re-executes itself with the new file and says so.
	if err := x.ctr.WaitLog(ctx, since, 10*time.Second, func(s string) bool { return strings.Contains(s, " daemon started: ") }); err != nil {
		return fmt.Errorf("exim: %w: the daemon did not restart after SIGHUP: %w; %s", ErrStart, err, x.ctr.Output())
	}
	x.ctr.Attach(n.Journal, newParser())
	shown, _ := render(d.masked())
	n.Journal.Append(journal.Event{Kind: journal.KindRelayLog, Source: "relay",
		Text: fmt.Sprintf("exim %s configured: %s", x.version, describe(shown))})
	return nil
}

// installScript installs a configuration ($1) and the environment's CA
// ($2, when not empty): Exim parses the file first, as every Exim process
// will (a refused one ends with refusedExit and Exim's message, and the
// file in use stays); then the queue is emptied (cleanScript) and the
// daemon gets a SIGHUP, on which it re-executes itself with the new file.
const installScript = `set -e
[ -z "$2" ] || printf '%s' "$2" > ` + CAFile + `
printf '%s' "$1" > ` + newConf + `
if ! out=$(exim -C ` + newConf + ` -bV 2>&1); then printf '%s\n' "$out"; exit 3; fi
` + cleanScript + `
mv ` + newConf + ` ` + ConfFile + `
kill -HUP 1`

// refusedExit is installScript's exit status when Exim refuses the file.
const refusedExit = 3

// cleanScript stops every Exim process but the daemon (deliveries and
// queue runners left from the scenario before), then removes every
// message and the hints databases: retry times of hosts and messages,
// wait- records of connections to reuse, callout caches. The spool is
// emptied before and after, so that a queue runner the daemon starts
// meanwhile finds nothing to deliver.
const cleanScript = `empty() { rm -rf ` + spoolDir + `/input/* ` + spoolDir + `/msglog/* ` + spoolDir + `/db/*; }
empty
for d in /proc/[0-9]*; do
	p=${d#/proc/}
	[ "$p" = 1 ] && continue
	case "$(cat "$d/comm" 2>/dev/null)" in exim|exim4) kill -9 "$p" 2>/dev/null || true;; esac
done
empty`

// clean empties the queue and the hints databases.
func (x *Exim) clean(ctx context.Context) error {
	if _, err := x.ctr.Sh(ctx, cleanScript); err != nil {
		return fmt.Errorf("exim: empty the queue: %w", err)
	}
	return nil
}

// Submission returns where Exim takes mail: the plain port, and with
// submission, its 587-style and 465-style services; with submit_auth, the
// credentials the harness submits with.
func (r *scenarioRelay) Submission() harness.Submission {
	s := harness.Submission{Addr: r.x.SubmitAddr()}
	if a := r.settings.SubmitAuth; a != nil {
		s.User, s.Password = a.User, a.Password
	}
	if r.settings.Submission {
		s.SubmissionAddr, s.SubmissionsAddr = r.x.addr(r.x.ports.Submission), r.x.addr(r.x.ports.Submissions)
	}
	return s
}

// Flush makes Exim retry its queue now: exim -qff, a queue run that
// forces a delivery attempt for every message, retry times not reached and
// frozen ones included, as postqueue -f does in Postfix. It runs in the
// background, so that a host that never answers does not hold the
// scenario's step.
func (r *scenarioRelay) Flush(ctx context.Context) error {
	if _, err := r.x.ctr.Sh(ctx, "exim -qff </dev/null >/dev/null 2>&1 &"); err != nil {
		return fmt.Errorf("exim: exim -qff: %w", err)
	}
	return nil
}

// Queue lists Exim's queue with `exim -bp`, and the submission header of
// each message from its spool header file. Exim's listing does not say
// whether a delivery is in progress: no entry is in flight.
func (r *scenarioRelay) Queue(ctx context.Context) ([]harness.QueuedRecipient, error) {
	out, err := r.x.ctr.Sh(ctx, queueScript)
	if err != nil {
		return nil, fmt.Errorf("exim: exim -bp: %w", err)
	}
	return parseQueue(out)
}

// Stop detaches the scenario's journal and empties the queue; the
// container keeps running for the next scenario.
func (r *scenarioRelay) Stop(ctx context.Context) error {
	if !r.started {
		return nil
	}
	r.started = false
	x := r.x
	// Lines about the last deliveries may still be on their way: wait for
	// a short silence (at most a second) before detaching the journal.
	x.ctr.Quiet(ctx, 150*time.Millisecond, time.Second)
	x.ctr.Attach(nil, nil)
	err := x.clean(ctx)
	x.ctr.Release()
	return err
}

// CheckPort53 checks that the fake DNS can bind ip:53, which Exim needs
// (a resolv.conf has no port), and says what to do when it cannot.
func CheckPort53(ip netip.Addr) error {
	if err := mtactr.CheckPort53(ip); err != nil {
		return fmt.Errorf("exim: %w", err)
	}
	return nil
}
