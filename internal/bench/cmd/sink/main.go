// Command sink serves one fakesmtp host that accepts everything, the way
// Postfix's smtp-sink does, so that smtp-source can drive both alike:
//
//  1. it starts a host with the zero Behavior and a fresh journal on -addr;
//  2. it prints "sink: listening on ADDR" once the host accepts;
//  3. on SIGTERM or SIGINT it closes the host and prints how many messages
//     (and bytes) the journal recorded, to prove that every message was kept:
//     "sink: 20000 messages, 20480000 bytes, 240000 events journaled".
//
// Usage: sink -addr 127.0.0.1:2525 [-name sink.bench.test] [-cpuprofile FILE] [-memprofile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/internal/bench"
	"github.com/mxsim/mxsim/journal"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "`IP:port` to listen on (required)")
	name := fs.String("name", "sink.bench.test", "host `name` (greeting, journal source)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE`")
	memprofile := fs.String("memprofile", "", "write a heap profile (allocations and what is in use) at exit to `FILE`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: sink -addr IP:port [-name NAME] [-cpuprofile FILE]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Stopped before counting, so that the profile shows serving only.
	stopProfile, err := bench.StartCPUProfile(*cpuprofile)
	if err != nil {
		fmt.Fprintf(stderr, "sink: %v\n", err)
		return 1
	}
	defer func() { stopProfile() }()

	j := journal.New()
	h, err := fakesmtp.NewHost(fakesmtp.Config{Name: *name, Addr: *addr, Journal: j})
	if err != nil {
		fmt.Fprintf(stderr, "sink: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "sink: listening on %s\n", h.Addr())
	<-ctx.Done()
	h.Close()
	stopProfile()
	stopProfile = func() {}

	msgs, bytes := 0, 0
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPMessage)) {
		msgs++
		bytes += len(e.Message.Raw)
	}
	fmt.Fprintf(stdout, "sink: %d messages, %d bytes, %d events journaled\n", msgs, bytes, j.Len())
	if *memprofile != "" {
		if err := bench.WriteProfile(*memprofile, "allocs"); err != nil {
			fmt.Fprintf(stderr, "sink: %v\n", err)
			return 1
		}
	}
	return 0
}
