package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
)

// caDirEnv names the CA directory when -dir is not given.
const caDirEnv = "MXSIM_CA_DIR"

// runCA creates the persistent test CA the first time, or shows the one
// there, and prints how to make each MTA trust it.
func runCA(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ca", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim ca [-dir DIR]")
		fmt.Fprintln(stderr, "\nCreates mxsim's test CA the first time, or shows the one there, and prints the line that makes")
		fmt.Fprintln(stderr, "Postfix, Exim or OpenSMTPD trust it. Give the same directory to run, conformance and sandbox")
		fmt.Fprintln(stderr, "with -ca DIR: the hosts' certificates are then signed by this CA. The key (ca-key.pem) stays")
		fmt.Fprintln(stderr, "in DIR. Trust the CA only in a relay under test, never in a production system. See docs/tls.md.")
		fmt.Fprintln(stderr, "Exit status: 0 the CA is there, 1 it cannot be created or used, 2 usage error.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	dirFlag := fs.String("dir", "", "`DIR` of the CA; default $"+caDirEnv+", else mxsim/ca in the user's config directory")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mxsim ca: unexpected argument %q (the directory is given with -dir)\n", fs.Arg(0))
		return exitUsage
	}
	dir, err := caDir(*dirFlag)
	if err != nil {
		fmt.Fprintf(stderr, "mxsim ca: %v\n", err)
		return exitFail
	}

	ca, err := fakesmtp.LoadCA(dir)
	created := false
	if errors.Is(err, fakesmtp.ErrNoCA) {
		ca, err = fakesmtp.CreateCA(dir)
		created = true
	}
	if err != nil {
		fmt.Fprintf(stderr, "mxsim ca: %v\n", err)
		return exitFail
	}

	cert := ca.Certificate()
	pemPath := filepath.Join(dir, fakesmtp.CACertFile)
	if created {
		fmt.Fprintf(stdout, "mxsim ca: created a new test CA in %s\n\n", dir)
	} else {
		fmt.Fprintf(stdout, "mxsim ca: the test CA in %s\n\n", dir)
	}
	fmt.Fprintf(stdout, "certificate:  %s\n", pemPath)
	fmt.Fprintf(stdout, "key:          %s (private: it never leaves this directory)\n", filepath.Join(dir, fakesmtp.CAKeyFile))
	fmt.Fprintf(stdout, "subject:      %s\n", cert.Subject)
	fmt.Fprintf(stdout, "SHA-256:      %s\n", ca.Fingerprint())
	fmt.Fprintf(stdout, "expires:      %s\n", cert.NotAfter.UTC().Format(time.DateOnly))
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Trust it in the relay under test (a test system only: never in production):")
	fmt.Fprintf(stdout, "  Postfix (main.cf):          smtp_tls_CAfile = %s\n", pemPath)
	fmt.Fprintf(stdout, "  Exim (the smtp transport):  tls_verify_certificates = %s\n", pemPath)
	fmt.Fprintf(stdout, "  OpenSMTPD (smtpd.conf):     ca mxsim cert \"%s\"\n", pemPath)
	fmt.Fprintln(stdout, "                              action \"relay\" relay tls ca mxsim")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Then give mxsim the same CA:")
	fmt.Fprintf(stdout, "  mxsim conformance -relay external -submit IP:PORT -tls verify -ca %s\n", dir)
	return exitOK
}

// caDir returns the CA directory: the flag, else $MXSIM_CA_DIR, else
// mxsim/ca in the user's configuration directory; made absolute, since
// the paths printed go into MTA configurations.
func caDir(flagDir string) (string, error) {
	dir := flagDir
	if dir == "" {
		dir = os.Getenv(caDirEnv)
	}
	if dir == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no CA directory: give -dir DIR or set %s (%v)", caDirEnv, err)
		}
		dir = filepath.Join(cfg, "mxsim", "ca")
	}
	return filepath.Abs(dir)
}

// loadCAFlag loads the CA that -ca names; "" is none (each environment
// makes its own). The CA must exist: a typo must not make a new CA that
// no relay trusts.
func loadCAFlag(dir string) (*fakesmtp.CA, error) {
	if dir == "" {
		return nil, nil
	}
	ca, err := fakesmtp.LoadCA(dir)
	if errors.Is(err, fakesmtp.ErrNoCA) {
		return nil, fmt.Errorf("-ca %s: no CA there; create it first with: mxsim ca -dir %s", dir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("-ca %s: %w", dir, err)
	}
	return ca, nil
}

// caFlagUsage is the -ca flag's help, the same for every command.
const caFlagUsage = "sign the hosts' certificates with the test CA in `DIR` (made by mxsim ca -dir DIR), which the relay trusts;\n" +
	"default: a fresh CA per network, which only a relay mxsim starts itself (reference, postfix) is told to trust"
