package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mxsim/mxsim/scenarios"
)

// runProfiles is "mxsim profiles [NAME]": without a name it lists the
// provider profiles a host can take (profile: NAME), with their faults
// and sources; with one it prints that profile's YAML as shipped.
func runProfiles(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim profiles [NAME]")
		fmt.Fprintln(stderr, "\nLists the provider profiles (a host takes one with profile: NAME and its faults with")
		fmt.Fprintln(stderr, "faults: [...]), or prints the YAML of the profile NAME. See docs/profiles.md.")
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	switch fs.NArg() {
	case 0:
		listProfiles(stdout)
		return exitOK
	case 1:
	default:
		fmt.Fprintf(stderr, "mxsim profiles: want at most one profile name, got %d\n", fs.NArg())
		return exitUsage
	}
	name := fs.Arg(0)
	p, ok := scenarios.LookupProfile(name)
	if !ok {
		fmt.Fprintf(stderr, "mxsim profiles: unknown profile %q (valid: %s)\n", name, strings.Join(scenarios.ProfileName("").Values(), ", "))
		return exitUsage
	}
	stdout.Write(p.YAML)
	return exitOK
}

// listProfiles writes each profile: name, role and description, its
// faults, its ports (where a host with it listens) and its sources.
func listProfiles(w io.Writer) {
	for i, p := range scenarios.Profiles() {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (%s): %s\n", p.Name, p.Role, p.Description)
		for _, f := range p.Faults {
			fmt.Fprintf(w, "  fault %-24s %s\n", f.Name, f.Description)
		}
		ports := make([]string, len(p.Ports))
		for j, port := range p.Ports {
			ports[j] = fmt.Sprint(port)
		}
		// A host with the profile listens on them.
		where := "25 is the shared MX port"
		switch {
		case slices.Equal(p.Ports, []int{25}):
			where = "the shared MX port"
		case !slices.Contains(p.Ports, 25):
			where = fmt.Sprintf("not the shared port 25: relay.smarthost \"[HOST]:%d\"", p.Ports[0])
		}
		fmt.Fprintf(w, "  ports  %s (%s)\n", strings.Join(ports, ", "), where)
		for _, s := range p.Sources {
			fmt.Fprintf(w, "  source %s\n", s)
		}
	}
	fmt.Fprintln(w, "\nUse one on a host: profile: NAME, faults: [FAULT, ...]; \"mxsim profiles NAME\" prints its YAML.")
}
