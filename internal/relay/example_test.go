package relay_test

import (
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/internal/relay"
)

// Start a relay that asks the DNS server at 127.0.0.1:5353 and delivers to
// port 2525 of the MX hosts; submit to r.Addr(), call r.Flush to retry
// deferred mail, r.Idle to wait, and read r.Journal for what happened.
func Example() {
	r, err := relay.Start(relay.Config{DNS: "127.0.0.1:5353", Port: 2525})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.HasPrefix(r.Addr(), "127.0.0.1:"))
	fmt.Println(len(r.Queue()))
	fmt.Println(r.Close())

	_, err = relay.Start(relay.Config{})
	fmt.Println(err)
	// Output:
	// true
	// 0
	// <nil>
	// relay: config DNS is required (IP:port of the DNS server): invalid relay config
}
