package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// runDemo sends one message through a built-in network: the preferred MX
// is down, the second greylists, the third is never needed. The reference
// relay must fail over, be greylisted, retry, and deliver at mx2.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxsim demo [-v]")
		fmt.Fprintln(stderr, "\nSends one message through a built-in network with the reference relay: the preferred MX is down,")
		fmt.Fprintln(stderr, "the second greylists; the relay must fail over, retry and deliver. Needs nothing but this binary.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	verbose := fs.Bool("v", false, "print every journal event, not only the relay's and the hosts' main ones")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mxsim demo: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}

	window := 300 * time.Millisecond
	env, err := harness.New(ctx, harness.Config{
		Zones: []fakedns.Zone{
			{Name: "example.test", Records: map[string][]string{
				"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test.", "MX 30 mx3.example.test."},
			}},
			{Name: "origin.test", Records: map[string][]string{"@": {"MX 10 mx.origin.test."}}},
		},
		Hosts: []harness.Host{
			{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{State: fakesmtp.Down}},
			{Name: "mx2.example.test", Behavior: fakesmtp.Behavior{
				Greylist: &fakesmtp.Greylist{Window: window},
				TLS:      fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered},
			}},
			{Name: "mx3.example.test"},
			{Name: "mx.origin.test"},
		},
		Relay: harness.Reference(harness.ReferenceConfig{Hostname: "relay.test", TLS: "may"}),
	})
	if err != nil {
		fmt.Fprintf(stderr, "mxsim demo: %v\n", err)
		return exitFail
	}
	defer env.Close()

	fmt.Fprintf(stdout, "network: DNS %s, hosts on port %d\n", env.DNSAddr(), env.SMTPPort())
	for _, h := range env.Hosts() {
		b := h.Behavior()
		state := string(b.State)
		if state == "" {
			state = "up"
		}
		extra := ""
		if b.Greylist != nil {
			extra = fmt.Sprintf(", greylist %v", b.Greylist.Window)
		}
		if b.TLS.StartTLS == fakesmtp.TLSOffered {
			extra += ", STARTTLS"
		}
		fmt.Fprintf(stdout, "  %-18s %-22s %s%s\n", h.Name(), h.Addr(), state, extra)
	}
	fmt.Fprintln(stdout, "example.test MX: 10 mx1 (down), 20 mx2 (greylisting), 30 mx3")
	fmt.Fprintln(stdout)

	msg := harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, Subject: "mxsim demo"}
	fmt.Fprintf(stdout, "1. submit a message from %s to %s\n", msg.From, msg.To[0])
	if err := env.Send(ctx, msg); err != nil {
		fmt.Fprintf(stderr, "mxsim demo: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, "2. wait until the relay defers it (mx1 refuses the connection, mx2 greylists)")
	err = env.Wait(ctx, 10*time.Second, func(j *journal.Journal) error {
		if len(j.Events(journal.OfKind(journal.KindRelayDefer))) == 0 {
			return fmt.Errorf("the relay has not deferred the message")
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "mxsim demo: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "3. wait out the greylisting window (%v), then ask the relay to retry now\n", window)
	select {
	case <-time.After(window):
	case <-ctx.Done():
		fmt.Fprintln(stderr, "mxsim demo: interrupted")
		return exitFail
	}
	if err := env.Flush(ctx); err != nil {
		fmt.Fprintf(stderr, "mxsim demo: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, "4. wait until mx2 accepts it")
	if err := env.WaitDelivered(ctx, 10*time.Second, "bob@example.test", "mx2.example.test"); err != nil {
		fmt.Fprintf(stderr, "mxsim demo: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "what happened:")
	j := env.Journal()
	for _, e := range j.Events() {
		if !*verbose && !demoShows(e) {
			continue
		}
		fmt.Fprintln(stdout, "  "+e.Format(j.Start()))
	}
	fmt.Fprintln(stdout)
	checks := []struct {
		what string
		err  error
	}{
		{"hosts attempted in preference order, mx1 first", harness.CheckAttemptedInOrder(j, "mx1.example.test", "mx2.example.test")},
		{"greylisted (451) at mx2 before delivery", harness.CheckReplied(j, "mx2.example.test", 451)},
		{"delivered at mx2", harness.CheckDelivered(j, "bob@example.test", "mx2.example.test")},
		{"TLS used at mx2", harness.CheckUsedTLS(j, "mx2.example.test")},
		{"never delivered at mx3", harness.CheckNotDelivered(j, "bob@example.test", "mx3.example.test")},
	}
	failed := 0
	for _, c := range checks {
		verdict := "PASS"
		if c.err != nil {
			verdict = "FAIL: " + c.err.Error()
			failed++
		}
		fmt.Fprintf(stdout, "  %-48s %s\n", c.what, verdict)
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

// demoShows picks the events that tell the story without the SMTP
// chatter: queries, connects, replies of note, relay decisions.
func demoShows(e journal.Event) bool {
	switch e.Kind {
	case journal.KindSMTPCommand, journal.KindSMTPDisconnect:
		return false
	case journal.KindSMTPReply:
		return e.Code >= 400 || e.Code == 354
	}
	return true
}
