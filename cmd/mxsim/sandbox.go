package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/sandbox"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// defaultSandboxListen is where the page and API listen unless --listen
// says otherwise. When it is taken, a free port on loopback is used.
const defaultSandboxListen = "127.0.0.1:8025"

// sandboxRelayReference is the in-process relay of --relay; the other
// kinds are containerMTAs.
const sandboxRelayReference = "reference"

// runSandbox starts a network (a scenario's, or the built-in demo), an
// optional relay, and the control API and page over them; prints how to
// reach everything; and serves until ctx is cancelled (Ctrl-C).
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", defaultSandboxListen, "address of the web page and control API; beyond loopback needs a token")
	token := fs.String("token", "", "token the API requires (Authorization: Bearer); generated when --listen is beyond loopback")
	relayKind := fs.String("relay", "", "also start a relay under test, `kind`: reference (in process), or postfix, exim, opensmtpd (that MTA in a container; needs Docker, and the DNS on port 53)")
	dnsPort := fs.Int("dns-port", 0, "`port` of the fake DNS (53 for a real MTA's resolv.conf; needs root); 0: a free port")
	smtpPort := fs.Int("smtp-port", 0, "`port` every simulated host listens on (25 for a real MTA; needs root); 0: a free port")
	caDir := fs.String("ca", "", caFlagUsage)
	// A sandbox runs for days: what it keeps is bounded by default.
	maxEvents := fs.Int("max-events", sandbox.DefaultMaxEvents, "journal events kept, the newest (older ones are dropped, with a marker); 0: keep every event")
	maxMessages := fs.Int("max-messages", sandbox.DefaultMaxMessages, "messages whose bytes are kept, the newest; 0: no count limit")
	maxMessageBytes := byteSize(sandbox.DefaultMaxMessageBytes)
	fs.Var(&maxMessageBytes, "max-message-bytes", "`size` of the message bytes kept, the newest message always kept (1048576, 64KiB, 128MiB, 1GiB); 0: no size limit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim sandbox [flags] [scenario.yaml]")
		fmt.Fprintln(stderr, "\nStarts a simulated network (the scenario's, or a built-in demo) with a web page and a control API.")
		fs.PrintDefaults()
	}
	// Flags may come before or after the scenario file.
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var file string
	if fs.NArg() > 0 {
		file = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return exitUsage
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "mxsim sandbox: unexpected argument %q (one scenario at most)\n", fs.Arg(0))
			return exitUsage
		}
	}
	if *dnsPort < 0 || *dnsPort > 65535 || *smtpPort < 0 || *smtpPort > 65535 {
		fmt.Fprintf(stderr, "mxsim sandbox: --dns-port and --smtp-port take 0..65535\n")
		return exitUsage
	}
	if *maxEvents < 0 || *maxMessages < 0 {
		fmt.Fprintf(stderr, "mxsim sandbox: --max-events and --max-messages take 0 (no limit) or more\n")
		return exitUsage
	}
	ca, err := loadCAFlag(*caDir)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim sandbox: %v\n", err)
		return exitUsage
	}
	limits := journal.Limits{MaxEvents: *maxEvents, MaxMessages: *maxMessages, MaxMessageBytes: int64(maxMessageBytes)}
	loopback, err := loopbackListen(*listen)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim sandbox: --listen %q: %v\n", *listen, err)
		return exitUsage
	}
	if *token != "" && len(*token) < sandbox.MinTokenLen {
		fmt.Fprintf(stderr, "mxsim sandbox: --token: %d characters, want at least %d (leave it out and one is made)\n", len(*token), sandbox.MinTokenLen)
		return exitUsage
	}
	generated := false
	if !loopback && *token == "" {
		b := make([]byte, 16)
		rand.Read(b) // never fails (crypto/rand)
		*token, generated = hex.EncodeToString(b), true
	}

	started := time.Now()
	cfg, sc, what, err := sandboxConfig(file)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim sandbox: %v\n", err)
		return exitFail
	}
	switch *relayKind {
	case "":
	case sandboxRelayReference:
		if sc != nil && (sc.Relay.Kind == scenarios.RelayReference || sc.Relay.Kind == "") {
			if cfg.Relay, err = harness.RelayFor(sc.Relay); err != nil {
				fmt.Fprintf(stderr, "mxsim sandbox: %v\n", err)
				return exitFail
			}
		} else {
			cfg.Relay = harness.Reference(harness.ReferenceConfig{Hostname: "relay.test", RetryInterval: 30 * time.Second})
		}
	default:
		if containerMTAs[*relayKind] == nil {
			fmt.Fprintf(stderr, "mxsim sandbox: --relay %q: want reference, %s\n", *relayKind, strings.Join(containerKinds(), ", "))
			return exitUsage
		}
		if *dnsPort != 0 && *dnsPort != 53 {
			fmt.Fprintf(stderr, "mxsim sandbox: --relay %s needs DNS on port 53, not --dns-port %d\n", *relayKind, *dnsPort)
			return exitUsage
		}
	}
	cfg.Plan = harness.Plan{DNSPort: *dnsPort, SMTPPort: *smtpPort}
	cfg.JournalLimits = limits
	cfg.CA = ca
	if open := containerMTAs[*relayKind]; open != nil {
		// An MTA in a container, resolving through the sandbox's DNS on
		// port 53 of its own subnet; closed after the network.
		m, err := open(ctx, netip.Prefix{}, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "mxsim sandbox: --relay %s: %v\n", *relayKind, err)
			return exitFail
		}
		defer m.Close()
		settings := scenarios.Relay{Kind: scenarios.RelayKind(*relayKind)}
		if sc != nil && sc.Relay.Kind == settings.Kind {
			settings = sc.Relay
		}
		if cfg.Relay, err = m.Relay(settings); err != nil {
			fmt.Fprintf(stderr, "mxsim sandbox: --relay %s: %v\n", *relayKind, err)
			return exitFail
		}
		plan := m.Plan()
		plan.SMTPPort = *smtpPort
		cfg.Plan = plan
	}

	env, err := harness.New(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim sandbox: %v\n", err)
		return exitFail
	}
	defer env.Close()
	note := ""
	srv, err := sandbox.New(sandbox.Config{Env: env, Listen: *listen, Token: *token})
	if err != nil && *listen == defaultSandboxListen && errors.Is(err, syscall.EADDRINUSE) {
		note = fmt.Sprintf(" (%s is taken)", defaultSandboxListen)
		srv, err = sandbox.New(sandbox.Config{Env: env, Listen: "127.0.0.1:0", Token: *token})
	}
	if err != nil {
		fmt.Fprintf(stderr, "mxsim sandbox: %v\n", err)
		if errors.Is(err, sandbox.ErrConfig) {
			return exitUsage
		}
		return exitFail
	}
	defer srv.Close()

	fmt.Fprintf(stdout, "mxsim sandbox: %s up in %v\n\n", what, time.Since(started).Round(time.Millisecond))
	printSandboxTable(stdout, env, srv, sc)
	fmt.Fprintf(stdout, "\nkeeps: %s\n", describeLimits(limits))
	if ca != nil {
		fmt.Fprintf(stdout, "certificates: signed by the test CA in %s (trust %s in the relay under test)\n", *caDir, filepath.Join(*caDir, fakesmtp.CACertFile))
	}
	fmt.Fprintf(stdout, "\nmetrics: %s (Prometheus; docs/metrics.md)\n", metricsURL(srv.URL()))
	fmt.Fprintf(stdout, "page and API: %s%s\n", srv.URL(), note)
	if *token != "" {
		how := "given"
		if generated {
			how = "generated"
		}
		fmt.Fprintf(stdout, "token (%s): %s  (API: Authorization: Bearer %s)\n", how, *token, *token)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping…")
	errSrv := srv.Close()
	errEnv := env.Close()
	if err := errors.Join(errSrv, errEnv); err != nil {
		fmt.Fprintf(stderr, "mxsim sandbox: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, "stopped.")
	return exitOK
}

// metricsURL is the /metrics URL next to a sandbox page's URL (without
// the page's #token fragment: a scraper sends the token as a header).
func metricsURL(page string) string {
	page, _, _ = strings.Cut(page, "#")
	return page + "metrics"
}

// describeLimits says what the sandbox keeps, for its banner.
func describeLimits(l journal.Limits) string {
	events := "every journal event"
	if l.MaxEvents > 0 {
		events = fmt.Sprintf("the last %d journal events", l.MaxEvents)
	}
	var msgs string
	switch {
	case l.MaxMessages > 0 && l.MaxMessageBytes > 0:
		msgs = fmt.Sprintf("the bytes of the last %d messages, %s at most", l.MaxMessages, byteSize(l.MaxMessageBytes))
	case l.MaxMessages > 0:
		msgs = fmt.Sprintf("the bytes of the last %d messages", l.MaxMessages)
	case l.MaxMessageBytes > 0:
		msgs = fmt.Sprintf("the bytes of the last messages, %s at most", byteSize(l.MaxMessageBytes))
	default:
		msgs = "the bytes of every message"
	}
	return events + " and " + msgs + " (--max-events, --max-messages, --max-message-bytes)"
}

// byteSize is a flag.Value for a number of bytes: "1048576", or with a
// binary unit, "64KiB", "128MiB", "1GiB" (K, KB, M, MB, G, GB too: the
// same binary units).
type byteSize int64

var _ flag.Value = (*byteSize)(nil)

var byteUnits = []struct {
	names []string
	n     int64
}{
	{[]string{"GiB", "GB", "G"}, 1 << 30},
	{[]string{"MiB", "MB", "M"}, 1 << 20},
	{[]string{"KiB", "KB", "K"}, 1 << 10},
}

func (b byteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.names[0]
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		for _, name := range u.names {
			if n, ok := strings.CutSuffix(num, name); ok && mult == 1 {
				num, mult = strings.TrimSpace(n), u.n
			}
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q: want a size in bytes, such as 1048576, 64KiB, 128MiB or 1GiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// loopbackListen checks a --listen address and reports whether it stays
// on loopback.
func loopbackListen(listen string) (bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, fmt.Errorf("want host:port: %w", err)
	}
	if host == "" {
		return false, nil
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, errors.New("the host must be an IP address or localhost")
	}
	return ip.IsLoopback(), nil
}

// sandboxConfig returns the network to start: the scenario's, or the demo.
func sandboxConfig(file string) (harness.Config, *scenarios.Scenario, string, error) {
	if file == "" {
		return sandbox.Demo(), nil, "demo network", nil
	}
	if _, err := os.Stat(file); err != nil {
		return harness.Config{}, nil, "", err
	}
	sc, err := scenarios.LoadFile(file)
	if err != nil {
		return harness.Config{}, nil, "", err
	}
	cfg, err := harness.ConfigFor(sc)
	if err != nil {
		return harness.Config{}, nil, "", err
	}
	return cfg, sc, fmt.Sprintf("network of scenario %s", sc.Name), nil
}

// printSandboxTable prints every host, the DNS, the domains' MX sets and
// ready-to-paste lines for Postfix and swaks.
func printSandboxTable(w io.Writer, env *harness.Env, srv *sandbox.Server, sc *scenarios.Scenario) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tPORT\tBEHAVIOUR")
	var smarthost *fakesmtp.Host // the first host with AUTH users: where swaks and Postfix relay
	var user, password string
	for _, h := range env.Hosts() {
		ip, port, _ := net.SplitHostPort(h.Addr())
		b := h.Behavior()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name(), ip, port, harness.Describe(b))
		if smarthost == nil && b.Auth != nil && len(b.Auth.Users) > 0 {
			smarthost = h
			users := make([]string, 0, len(b.Auth.Users))
			for u := range b.Auth.Users {
				users = append(users, u)
			}
			sort.Strings(users)
			user, password = users[0], b.Auth.Users[users[0]]
		}
	}
	dnsIP, dnsPort, _ := net.SplitHostPort(env.DNSAddr())
	fmt.Fprintf(tw, "(fake DNS)\t%s\t%s\tUDP and TCP\n", dnsIP, dnsPort)
	if r := env.Relay(); r != nil {
		sub := r.Submission()
		ip, port, _ := net.SplitHostPort(sub.Addr)
		fmt.Fprintf(tw, "(relay under test)\t%s\t%s\tsubmit here\n", ip, port)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tMX (preference host)")
	for _, z := range env.DNS().Zones() {
		type pm struct {
			pref int
			host string
		}
		var set []pm
		for _, rec := range z.Records[z.Name] {
			f := strings.Fields(rec)
			if len(f) == 4 {
				f = f[1:] // a TTL first
			}
			if len(f) == 3 && f[0] == "MX" {
				p, _ := strconv.Atoi(f[1])
				set = append(set, pm{p, strings.TrimSuffix(f[2], ".")})
			}
		}
		// RFC 5321 §5.1: lower preference is tried first.
		sort.Slice(set, func(i, j int) bool {
			return set[i].pref < set[j].pref || set[i].pref == set[j].pref && set[i].host < set[j].host
		})
		var mx []string
		for _, m := range set {
			mx = append(mx, fmt.Sprintf("%d %s", m.pref, m.host))
		}
		if len(mx) == 0 {
			mx = []string{"(none)"}
		}
		fmt.Fprintf(tw, "%s\t%s\n", strings.TrimSuffix(z.Name, "."), strings.Join(mx, ", "))
	}
	tw.Flush()

	port := env.SMTPPort()
	from, to := "alice@origin.test", "bob@example.test"
	if sc != nil {
		from = "alice@sender.test"
		if len(sc.DNS) > 0 {
			to = "bob@" + sc.DNS[0].Name
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Postfix (main.cf):")
	fmt.Fprintf(w, "  smtp_tcp_port = %d\n", port)
	if smarthost != nil {
		ip, _, _ := net.SplitHostPort(smarthost.Addr())
		fmt.Fprintf(w, "  relayhost = [%s]:%d\n", ip, port)
		fmt.Fprintln(w, "  smtp_sasl_auth_enable = yes")
		fmt.Fprintf(w, "  smtp_sasl_password_maps = inline:{ [%s]:%d=%s:%s }\n", ip, port, user, password)
		fmt.Fprintln(w, "  smtp_sasl_security_options = noanonymous")
		fmt.Fprintln(w, "  smtp_tls_security_level = encrypt")
		fmt.Fprintln(w, "  (leave relayhost empty to deliver by MX through the fake DNS)")
	}
	if dnsPort == "53" {
		fmt.Fprintf(w, "  resolver: /etc/resolv.conf \"nameserver %s\" (or: docker run --dns %s)\n", dnsIP, dnsIP)
	} else {
		fmt.Fprintf(w, "  resolver: DNS is on port %s; a resolv.conf has no port: start with --dns-port 53 (root) for Postfix\n", dnsPort)
		fmt.Fprintf(w, "            (Go relays take %s directly)\n", env.DNSAddr())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "swaks:")
	if smarthost != nil {
		fmt.Fprintf(w, "  swaks --server %s --tls --auth-user %s --auth-password %s --from %s --to %s\n",
			smarthost.Addr(), user, password, from, to)
	} else if hs := env.Hosts(); len(hs) > 0 {
		fmt.Fprintf(w, "  swaks --server %s --from %s --to %s\n", hs[0].Addr(), from, to)
	}
	if r := env.Relay(); r != nil {
		sub := r.Submission()
		auth := ""
		if sub.User != "" {
			auth = fmt.Sprintf(" --auth-user %s --auth-password %s", sub.User, sub.Password)
		}
		fmt.Fprintf(w, "  swaks --server %s%s --from %s --to %s   (through the relay under test)\n", sub.Addr, auth, from, to)
	}
}
