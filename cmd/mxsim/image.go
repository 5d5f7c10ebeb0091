package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/exim"
	"github.com/mxsim/mxsim/harness/opensmtpd"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/internal/mtaimage"
	"github.com/mxsim/mxsim/scenarios"
)

// runImage is "mxsim image postfix|exim|opensmtpd": it prints the tag of
// the MTA's image, building it first when it is missing (or when -force is
// given).
func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim image postfix|exim|opensmtpd [flags]")
		fmt.Fprintln(stderr, "\nPrints the tag of the MTA's image (mxsim/NAME:VERSION-rN), building it when it is missing:")
		fmt.Fprintln(stderr, "from a Dockerfile (debian:"+mtaimage.DefaultSuite+"-slim) where an image registry is reachable,")
		fmt.Fprintln(stderr, "else with debootstrap from this machine's apt sources and docker import. Needs a Docker engine.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	force := fs.Bool("force", false, "build even when the image exists")
	method := fs.String("method", "", "build `method`: dockerfile or debootstrap (default: dockerfile when a registry answers)")
	mirror := fs.String("mirror", "", "debootstrap mirror `URL` (default: from /etc/apt/sources.list*)")
	suite := fs.String("suite", mtaimage.DefaultSuite, "Debian `release` to install the MTA from")
	// The image name may come before the flags ("image postfix -force").
	var names []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		names, args = args[:1], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	names = append(names, fs.Args()...)
	if len(names) != 1 {
		fmt.Fprintln(stderr, "mxsim image: want exactly one image name: postfix, exim or opensmtpd")
		fs.Usage()
		return exitUsage
	}
	mta, err := mtaimage.Lookup(names[0])
	if err != nil {
		fmt.Fprintf(stderr, "mxsim image: %v\n", err)
		return exitUsage
	}
	tag, err := mtaimage.Ensure(ctx, mta, mtaimage.Options{
		Method: mtaimage.Method(*method), Suite: *suite, Mirror: *mirror, Force: *force, Log: stderr,
	})
	if errors.Is(err, mtaimage.ErrOptions) {
		fmt.Fprintf(stderr, "mxsim image: %v\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "mxsim image: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, tag)
	return exitOK
}

// containerMTA is an MTA that mxsim runs in a container as the relay
// under test (-relay postfix, exim or opensmtpd): one container for a
// whole run, configured by each scenario from its relay section.
type containerMTA interface {
	Version() string
	Plan() harness.Plan
	Relay(settings scenarios.Relay) (harness.Relay, error)
	Close() error
}

// containerMTAs starts each kind's container on the /24 of its resolver
// (the zero prefix: a random one), building its image when it is missing.
var containerMTAs = map[string]func(ctx context.Context, subnet netip.Prefix, buildLog io.Writer) (containerMTA, error){
	"postfix": func(ctx context.Context, subnet netip.Prefix, buildLog io.Writer) (containerMTA, error) {
		p, err := postfix.New(ctx, postfix.Config{Subnet: subnet, BuildLog: buildLog})
		if err != nil {
			return nil, err
		}
		return p, nil
	},
	"exim": func(ctx context.Context, subnet netip.Prefix, buildLog io.Writer) (containerMTA, error) {
		x, err := exim.New(ctx, exim.Config{Subnet: subnet, BuildLog: buildLog})
		if err != nil {
			return nil, err
		}
		return x, nil
	},
	"opensmtpd": func(ctx context.Context, subnet netip.Prefix, buildLog io.Writer) (containerMTA, error) {
		o, err := opensmtpd.New(ctx, opensmtpd.Config{Subnet: subnet, BuildLog: buildLog})
		if err != nil {
			return nil, err
		}
		return o, nil
	},
}

// containerKinds lists the kinds of containerMTAs, sorted.
func containerKinds() []string { return slices.Sorted(maps.Keys(containerMTAs)) }

// checkContainerFlags checks the flags that go with -relay postfix (exim,
// opensmtpd). A real MTA needs its DNS on port 53 (a resolv.conf has no
// port); without -dns-addr the adapter picks a random 127.A.B.53:53.
func checkContainerFlags(f *relayFlags) error {
	if f.submit != "" || f.flushCmd != "" || f.resetCmd != "" || f.user != "" || f.password != "" {
		return fmt.Errorf("-submit, -submit-user, -submit-password, -flush-cmd and -reset-cmd go with -relay external, not %s", f.kind)
	}
	if f.dnsAddr == "" {
		return nil
	}
	ap, err := netip.ParseAddrPort(f.dnsAddr)
	if err == nil && ap.Port() != 53 {
		return fmt.Errorf("-dns-addr %q: -relay %s needs DNS on port 53", f.dnsAddr, f.kind)
	}
	return nil
}

// openContainer starts the one container a whole run uses, on the subnet
// of the -dns-addr the flags fixed. Each scenario then configures it from
// its own relay section.
func openContainer(ctx context.Context, f *relayFlags, stderr io.Writer) (*relaySuite, error) {
	m, err := containerMTAs[f.kind](ctx, f.plan().Subnet, stderr)
	if err != nil {
		return nil, err
	}
	return &relaySuite{
		name:         f.kind + " " + m.Version(),
		plan:         m.Plan(),
		configurable: true,
		relay:        func(sc *scenarios.Scenario) (harness.Relay, error) { return m.Relay(sc.Relay) },
		close:        m.Close,
	}, nil
}
