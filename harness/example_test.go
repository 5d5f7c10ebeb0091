package harness_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
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
