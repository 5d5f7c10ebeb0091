package harness_test

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// The whole flow: a network where the preferred MX is down, the reference
// relay in front of it, one message, and what the journal says.
func Example() {
	env, err := harness.New(context.Background(), harness.Config{
		Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{
			"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test."},
		}}},
		Hosts: []harness.Host{
			{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{State: fakesmtp.Down}},
			{Name: "mx2.example.test"},
		},
		Relay: harness.Reference(harness.ReferenceConfig{}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()

	ctx := context.Background()
	if err := env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		fmt.Println(err)
		return
	}
	if err := env.WaitDelivered(ctx, 10*time.Second, "bob@example.test", ""); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("attempted:", harness.Attempts(env.Journal()))
	fmt.Println(harness.CheckDelivered(env.Journal(), "bob@example.test", "mx2.example.test"))
	// Output:
	// attempted: [mx1.example.test mx2.example.test]
	// <nil>
}

// A reply forced from its text form: fakesmtp.ParseReply reads "451
// 4.7.1 …" (and says what is wrong with a bad one), fakesmtp.Forced makes
// it the host's reply to every RCPT.
func Example_forcedReply() {
	busy, err := fakesmtp.ParseReply("451 4.7.1 try again later")
	if err != nil {
		fmt.Println(err)
		return
	}
	env, err := harness.New(context.Background(), harness.Config{
		Zones: []fakedns.Zone{harness.Zone("example.test", harness.MX(10, "mx1.example.test"))},
		Hosts: []harness.Host{{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{
			Replies: fakesmtp.Replies{Rcpt: fakesmtp.Forced(busy)},
		}}},
		Relay: harness.Reference(harness.ReferenceConfig{}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()

	ctx := context.Background()
	if err := env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
		fmt.Println(err)
		return
	}
	err = env.Wait(ctx, 10*time.Second, func(j *journal.Journal) error {
		return harness.CheckDeferred(j, "bob@example.test", busy.Code)
	})
	fmt.Println(err)
	_, err = fakesmtp.ParseReply("45 try again")
	fmt.Println(err)
	// Output:
	// <nil>
	// bad reply "45 try again": code: want a three-digit code first, like "451 4.7.1 try again later"
}

// Zone, MX and Hosts make the literals of a Config in fewer lines.
func ExampleZone() {
	z := harness.Zone("example.test",
		harness.MX(10, "mx1.example.test"), harness.MX(20, "mx2.example.test"),
		harness.TXT("v=spf1 -all"), harness.Record{Owner: "www", Data: "A 127.0.0.9"})
	fmt.Println(z.Name, z.Records["@"], z.Records["www"])
	for _, h := range harness.Hosts("mx1.example.test", "mx2.example.test") {
		fmt.Printf("%s accepts everything: %v\n", h.Name, reflect.ValueOf(h.Behavior).IsZero())
	}
	// Output:
	// example.test [MX 10 mx1.example.test. MX 20 mx2.example.test. TXT "v=spf1 -all"] [A 127.0.0.9]
	// mx1.example.test accepts everything: true
	// mx2.example.test accepts everything: true
}
