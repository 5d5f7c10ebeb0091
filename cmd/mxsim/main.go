// Command mxsim simulates DNS and a network of mail hosts, and checks a
// relay under test against it. Run "mxsim help" for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
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
		{"conformance", "[flags]", "check a relay against the built-in conformance library and print a scorecard", runConformance},
		{"demo", "[-v]", "send mail through a built-in failover network with the reference relay, and tell what happened", runDemo},
		{"sandbox", "[flags] [scenario.yaml]", "start a network (or a built-in demo) with a web page and a control API, until Ctrl-C", runSandbox},
		{"ca", "[-dir DIR]", "create the test CA a real relay can trust once (for -ca DIR), or show it", runCA},
		{"relay", "[flags]", "run the reference relay on its own, as an external relay under test, until Ctrl-C", runRelay},
		{"image", "postfix|exim|opensmtpd [flags]", "build the image of an MTA for -relay postfix (exim, opensmtpd) when it is missing, and print its tag", runImage},
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
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] {
					fmt.Fprintf(stdout, "usage: mxsim %s %s\n\n%s\n", c.name, c.usage, c.short)
					return exitOK
				}
			}
			fmt.Fprintf(stderr, "mxsim help: unknown command %q\n", args[1])
			return exitUsage
		}
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
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
