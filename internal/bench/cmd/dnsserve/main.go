// Command dnsserve serves a zone file with fakedns, the way NSD serves it,
// so that dnsperf can drive both alike:
//
//  1. it reads an RFC 1035 zone file (-zone, with -origin) and turns every
//     record into the zone-file text fakedns.Zone takes;
//  2. it starts a fakedns server with a fresh journal on -addr (UDP and
//     TCP) and prints "dnsserve: listening on ADDR";
//  3. on SIGTERM or SIGINT it closes the server and prints how many
//     queries the journal recorded: "dnsserve: 1200000 queries journaled".
//
// Usage: dnsserve -addr 127.0.0.1:5353 -zone FILE -origin bench.test [-cpuprofile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/internal/bench"
	"github.com/mxsim/mxsim/journal"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dnsserve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "`IP:port` to serve on, UDP and TCP (required)")
	zoneFile := fs.String("zone", "", "RFC 1035 zone `file` (required)")
	origin := fs.String("origin", "", "zone `name` (required)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" || *zoneFile == "" || *origin == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: dnsserve -addr IP:port -zone FILE -origin NAME [-cpuprofile FILE]")
		return 2
	}
	f, err := os.Open(*zoneFile)
	if err != nil {
		fmt.Fprintf(stderr, "dnsserve: %v\n", err)
		return 1
	}
	z, err := bench.ReadZone(f, *origin, *zoneFile)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "dnsserve: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Stopped before counting, so that the profile shows serving only.
	stopProfile, err := bench.StartCPUProfile(*cpuprofile)
	if err != nil {
		fmt.Fprintf(stderr, "dnsserve: %v\n", err)
		return 1
	}
	defer func() { stopProfile() }()
	j := journal.New()
	s, err := fakedns.NewServer(fakedns.Config{Addr: *addr, Zones: []fakedns.Zone{z}, Journal: j})
	if err != nil {
		fmt.Fprintf(stderr, "dnsserve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "dnsserve: listening on %s\n", s.Addr())
	<-ctx.Done()
	if err := s.Close(); err != nil {
		fmt.Fprintf(stderr, "dnsserve: %v\n", err)
	}
	stopProfile()
	stopProfile = func() {}
	n := len(j.Events(journal.OfKind(journal.KindDNSQuery)))
	fmt.Fprintf(stdout, "dnsserve: %d queries journaled\n", n)
	return 0
}
