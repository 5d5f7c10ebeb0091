// Command mxsim simulates DNS and a network of mail hosts, and checks a
// relay under test against it. Run "mxsim help" for the commands.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// Exit statuses: every command uses these three.
const (
	exitOK    = 0 // success
	exitFail  = 1 // a check failed or the work could not be done
	exitUsage = 2 // bad command line
)

// command is one entry of the command table, in the manner of cmd/go.
type command struct {
	name  string
	usage string // the arguments, after "mxsim name"
	short string // one line for "mxsim help"
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "[flags] FILE|DIR...", "run scenarios against a relay and report what happened", runRun},
		{"validate", "FILE|DIR...", "check scenario files without running them", runValidate},
		{"schema", "", "print the JSON Schema of the scenario format", runSchema},
		{"profiles", "[NAME]", "list the provider profiles hosts can take (gmail-like, ses-like…), or print one's YAML", runProfiles},
		{"conformance", "[flags]", "check a relay against the built-in conformance library and print a scorecard", runConformance},
		{"demo", "[-v]", "send mail through a built-in failover network with the reference relay, and tell what happened", runDemo},
		{"sandbox", "[flags] [scenario.yaml]", "start a network (or a built-in demo) with a web page and a control API, until Ctrl-C", runSandbox},
		{"ca", "[-dir DIR]", "create the test CA a real relay can trust once (for -ca DIR), or show it", runCA},
		{"load", "[flags]", "drive a relay at volume through a failing network and check that every message was delivered exactly once", runLoad},
		{"relay", "[flags]", "run the reference relay on its own, as an external relay under test, until Ctrl-C", runRelay},
		{"image", "postfix|exim|opensmtpd [flags]", "build the image of an MTA for -relay postfix (exim, opensmtpd) when it is missing, and print its tag", runImage},
		{"version", "", "print mxsim's version and the Go version it was built with", runVersion},
		{"help", "[command]", "show this help", nil},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || isHelpFlag(name) {
		if len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] && c.run != nil {
					commandHelp(ctx, c, stdout)
					return exitOK
				}
			}
			fmt.Fprintf(stderr, "mxsim help: unknown command %q\n", args[1])
			return exitUsage
		}
		usage(stdout)
		return exitOK
	}
	if name == "--version" || name == "-version" {
		return runVersion(ctx, nil, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			if wantsHelp(args[1:]) {
				// "mxsim run -h" is a request, not a mistake: the help
				// goes to stdout and the exit status is 0.
				commandHelp(ctx, c, stdout)
				return exitOK
			}
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "mxsim: unknown command %q\n", name)
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mxsim simulates DNS and a mail network, and checks a relay under test against it.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: mxsim <command> [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "mxsim help <command>" for a command's arguments.`)
}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// wantsHelp reports whether a command's arguments ask for its help (before
// any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

// commandHelp prints a command's usage line, what it does, and its flags:
// the flag lines its flag set prints for -h (a command without flags has
// none).
func commandHelp(ctx context.Context, c command, w io.Writer) {
	fmt.Fprintf(w, "%s\n\n%s\n", strings.TrimSpace("usage: mxsim "+c.name+" "+c.usage), c.short)
	var out bytes.Buffer
	c.run(ctx, []string{"-h"}, io.Discard, &out)
	lines := strings.Split(out.String(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  -") {
			fmt.Fprintf(w, "\nflags:\n%s\n", strings.TrimRight(strings.Join(lines[i:], "\n"), "\n"))
			break
		}
	}
}

// runVersion is "mxsim version": the module version (a tag when built
// with go install module@version, "(devel)" in a checkout), the VCS
// revision when the build recorded it, and the Go version.
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "mxsim version: unexpected argument %q\n", args[0])
		return exitUsage
	}
	version, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	fmt.Fprintf(stdout, "mxsim %s", version)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(stdout, " (%s", rev)
		if dirty {
			fmt.Fprint(stdout, ", modified")
		}
		fmt.Fprint(stdout, ")")
	}
	fmt.Fprintf(stdout, " %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
