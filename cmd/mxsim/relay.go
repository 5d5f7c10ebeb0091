package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/mxsim/mxsim/internal/relay"
	"github.com/mxsim/mxsim/journal"
)

// relayJournalLimits bound what a standalone relay keeps of its own
// events: it runs for as long as its operator wants.
var relayJournalLimits = journal.Limits{MaxEvents: 10_000, MaxMessages: 100, MaxMessageBytes: 16 << 20}

// runRelay runs the reference relay on its own, as an MTA that mxsim can
// test as an external relay (-relay external -submit ADDR), until ctx is
// cancelled (Ctrl-C, SIGTERM).
func runRelay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim relay -dns IP:PORT [flags]")
		fmt.Fprintln(stderr, "\nRuns the reference relay (mxsim's small, correct Go MTA) on its own until Ctrl-C, so that mxsim")
		fmt.Fprintln(stderr, "can test it as an external relay: mxsim conformance -relay external -submit LISTEN -dns-addr DNS")
		fmt.Fprintln(stderr, "-smtp-port PORT. Mail it has queued is lost when it stops. See docs/tls.md.")
		fmt.Fprintln(stderr, "Exit status: 0 stopped cleanly, 1 it could not start or stop cleanly, 2 usage error.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:2525", "submission address `IP:PORT` (port 0: a free port, printed)")
	dnsAddr := fs.String("dns", "", "the DNS server to ask, `IP:PORT` (mxsim's -dns-addr); required")
	port := fs.Int("port", relay.DefaultPort, "TCP `port` of the remote SMTP hosts (mxsim's -smtp-port)")
	tlsPolicy := fs.String("tls", string(relay.TLSMay), "outbound TLS `policy`: none, may, encrypt, verify or dane (RFC 7672: secure TLSA records make TLS and a matching certificate mandatory)")
	caFile := fs.String("ca-file", "", "PEM `FILE` of the CAs to trust under -tls verify (mxsim ca's ca.pem); default: the system roots")
	hostname := fs.String("hostname", relay.DefaultHostname, "the `name` the relay gives in EHLO")
	smarthost := fs.String("smarthost", "", "send all mail through `HOST`: \"host\" (its MX), \"[host]\" (its address), optional \":port\"")
	variant := fs.String("variant", "", "plant a known bug (`NAME`; mxsim conformance -list-variants lists them)")
	mynetworks := fs.String("mynetworks", "127.0.0.1/32,::1/128", "client `networks` that may relay without AUTH, comma-separated")
	verbose := fs.Bool("v", false, "print the relay's events as they happen")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usageErr := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "mxsim relay: "+format+"\n", args...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}

	cfg := relay.Config{
		Hostname:  *hostname,
		Listen:    *listen,
		Port:      *port,
		Smarthost: *smarthost,
		TLS:       relay.TLSPolicy(*tlsPolicy),
		Journal:   journal.NewBounded(relayJournalLimits),
	}
	if *dnsAddr == "" {
		return usageErr("-dns IP:PORT is required (the DNS that mxsim runs: its -dns-addr)")
	}
	ap, err := netip.ParseAddrPort(*dnsAddr)
	if err != nil || ap.Port() == 0 {
		return usageErr("-dns %q: want IP:PORT, such as 127.0.0.53:53", *dnsAddr)
	}
	cfg.DNS = ap.String()
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usageErr("-listen %q: want IP:PORT", *listen)
	}
	if *port < 1 || *port > 65535 {
		return usageErr("-port %d: want 1..65535", *port)
	}
	switch cfg.TLS {
	case relay.TLSNone, relay.TLSMay, relay.TLSEncrypt, relay.TLSVerify, relay.TLSDane:
	default:
		return usageErr("-tls %q: want none, may, encrypt, verify or dane", *tlsPolicy)
	}
	if *caFile != "" {
		data, err := os.ReadFile(*caFile)
		if err != nil {
			return usageErr("-ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return usageErr("-ca-file %s: no PEM certificate in it", *caFile)
		}
		cfg.RootCAs = pool
	}
	if *variant != "" {
		v, ok := relay.LookupVariant(*variant)
		if !ok {
			return usageErr("-variant %q: no such variant (mxsim conformance -list-variants)", *variant)
		}
		cfg.Bugs = v.Bugs
	}
	for s := range strings.SplitSeq(*mynetworks, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return usageErr("-mynetworks %q: %q is not a network such as 127.0.0.1/32", *mynetworks, s)
		}
		cfg.Mynetworks = append(cfg.Mynetworks, p.Masked())
	}
	if cfg.Mynetworks == nil {
		// Empty means no client is trusted, not every client: relay.Config
		// reads nil as "trust all".
		cfg.Mynetworks = []netip.Prefix{}
	}

	r, err := relay.Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim relay: %v\n", err)
		if errors.Is(err, relay.ErrConfig) {
			return exitUsage
		}
		return exitFail
	}
	trust := "the system roots"
	if *caFile != "" {
		trust = *caFile
	}
	how := "by MX"
	if *smarthost != "" {
		how = "through " + *smarthost
	}
	fmt.Fprintf(stdout, "mxsim relay: listening on %s\n", r.Addr())
	fmt.Fprintf(stdout, "delivers %s, resolving through %s, to port %d; TLS %s", how, cfg.DNS, *port, cfg.TLS)
	if cfg.TLS == relay.TLSVerify {
		fmt.Fprintf(stdout, ", trusting %s", trust)
	}
	if *variant != "" {
		fmt.Fprintf(stdout, "; planted bug: %s", *variant)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	var wg sync.WaitGroup
	stopEvents := make(chan struct{})
	if *verbose {
		wg.Add(1)
		go func() {
			defer wg.Done()
			printEvents(r.Journal(), stdout, stopEvents)
		}()
	}
	<-ctx.Done()
	err = r.Close()
	close(stopEvents)
	wg.Wait()
	if err != nil {
		fmt.Fprintf(stderr, "mxsim relay: close: %v\n", err)
		return exitFail
	}
	if n := len(r.Queue()); n > 0 {
		fmt.Fprintf(stdout, "stopped; %d deferred message(s) dropped.\n", n)
	} else {
		fmt.Fprintln(stdout, "stopped.")
	}
	return exitOK
}

// printEvents prints j's events as they are appended, until stop is
// closed; then what is left.
func printEvents(j *journal.Journal, w io.Writer, stop <-chan struct{}) {
	var seq int64
	flush := func() {
		for _, e := range j.Since(seq) {
			fmt.Fprintln(w, e.Format(j.Start()))
			seq = max(seq, e.Seq)
		}
	}
	for {
		changed := j.Changed()
		flush()
		select {
		case <-changed:
		case <-stop:
			flush()
			return
		}
	}
}
