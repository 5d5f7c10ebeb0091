package fakedns_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/journal"
)

func ExampleNewServer() {
	s, err := fakedns.NewServer(fakedns.Config{
		Zones: []fakedns.Zone{{
			Name: "example.test",
			Records: map[string][]string{
				"@":   {"MX 10 mx1", "MX 20 mx2"},
				"mx1": {"A 127.0.0.11"},
				"mx2": {"A 127.0.0.12"},
			},
		}},
		Faults: []fakedns.Fault{{Name: "flaky.test", Kind: fakedns.ServFail, Times: 1}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	mxs, err := s.Resolver().LookupMX(context.Background(), "example.test")
	if err != nil {
		log.Fatal(err)
	}
	for _, mx := range mxs {
		fmt.Println(mx.Pref, mx.Host)
	}
	for _, e := range s.Journal().Events(journal.OfKind(journal.KindDNSQuery)) {
		fmt.Println(e.Text)
	}
	// Output:
	// 10 mx1.example.test.
	// 20 mx2.example.test.
	// MX example.test. → NOERROR 2 answers
}
