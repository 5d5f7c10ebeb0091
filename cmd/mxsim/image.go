package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/internal/postfiximage"
	"github.com/mxsim/mxsim/scenarios"
)

// runImage is "mxsim image postfix": it prints the tag of the Postfix
// image, building it first when it is missing (or when -force is given).
func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim image postfix [flags]")
		fmt.Fprintln(stderr, "\nPrints the tag of the Postfix image (mxsim/postfix:VERSION), building it when it is missing:")
		fmt.Fprintln(stderr, "from a Dockerfile (debian:"+postfiximage.DefaultSuite+"-slim) where an image registry is reachable,")
		fmt.Fprintln(stderr, "else with debootstrap from this machine's apt sources and docker import. Needs a Docker engine.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	force := fs.Bool("force", false, "build even when the image exists")
	method := fs.String("method", "", "build `method`: dockerfile or debootstrap (default: dockerfile when a registry answers)")
	mirror := fs.String("mirror", "", "debootstrap mirror `URL` (default: from /etc/apt/sources.list*)")
	suite := fs.String("suite", postfiximage.DefaultSuite, "Debian `release` to install Postfix from")
	// The image name may come before the flags ("image postfix -force").
	var names []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		names, args = args[:1], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	names = append(names, fs.Args()...)
	if len(names) != 1 || names[0] != "postfix" {
		fmt.Fprintln(stderr, "mxsim image: want exactly one image name: postfix")
		fs.Usage()
		return exitUsage
	}
	tag, err := postfiximage.Ensure(ctx, postfiximage.Options{
		Method: postfiximage.Method(*method), Suite: *suite, Mirror: *mirror, Force: *force, Log: stderr,
	})
	if errors.Is(err, postfiximage.ErrOptions) {
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

// checkPostfixFlags checks the flags that go with -relay postfix. Postfix
// needs its DNS on port 53 (a resolv.conf has no port); without -dns-addr
// the adapter picks a random 127.A.B.53:53 of its own.
func checkPostfixFlags(f *relayFlags) error {
	if f.submit != "" || f.flushCmd != "" || f.resetCmd != "" || f.user != "" || f.password != "" {
		return errors.New("-submit, -submit-user, -submit-password, -flush-cmd and -reset-cmd go with -relay external, not postfix")
	}
	if f.dnsAddr == "" {
		return nil
	}
	ap, err := netip.ParseAddrPort(f.dnsAddr)
	if err == nil && ap.Port() != 53 {
		return fmt.Errorf("-dns-addr %q: -relay postfix needs DNS on port 53", f.dnsAddr)
	}
	return nil
}

// openPostfix starts the one Postfix container a whole run uses, on the
// subnet of the -dns-addr the flags fixed. Each scenario then configures it
// from its own relay section.
func openPostfix(ctx context.Context, f *relayFlags, stderr io.Writer) (*relaySuite, error) {
	plan := f.plan()
	p, err := postfix.New(ctx, postfix.Config{Subnet: plan.Subnet, BuildLog: stderr})
	if err != nil {
		return nil, err
	}
	return &relaySuite{
		name:         "postfix " + p.Version(),
		plan:         p.Plan(),
		configurable: true,
		relay:        func(sc *scenarios.Scenario) (harness.Relay, error) { return p.Relay(sc.Relay) },
		close:        p.Close,
	}, nil
}
