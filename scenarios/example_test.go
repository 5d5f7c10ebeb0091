package scenarios_test

import (
	"fmt"

	"github.com/mxsim/mxsim/scenarios"
)

func ExampleParse() {
	src := `name: mx-failover
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}, {pref: 20, host: mx2.example.test}]
hosts:
  mx1.example.test: {state: down}
  mx2.example.test: {greylist: {window: 2s}}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test, at: mx2.example.test}}
`
	s, err := scenarios.Parse("failover.yaml", []byte(src))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, rr := range s.Zone("example.test").ZoneFile() {
		fmt.Println(rr)
	}
	for _, h := range s.Hosts {
		fmt.Println(h.Name, h.State)
	}
	fmt.Println("greylist:", s.Host("mx2.example.test").Greylist.Window)
	ex := s.Steps[1].Expect
	fmt.Printf("%s:%v: delivered at %s within %v\n", s.File, ex.Pos, ex.Delivered.At, ex.Within)
	// Output:
	// example.test. 300 IN MX 10 mx1.example.test.
	// example.test. 300 IN MX 20 mx2.example.test.
	// mx1.example.test down
	// mx2.example.test up
	// greylist: 2s
	// failover.yaml:10:13: delivered at mx2.example.test within 10s
}

func ExampleParse_errors() {
	src := `name: broken
hosts:
  mx1.example.test: {state: dwn}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test], body: hi, size: 10}
  - expect: {delivered: {to: bob@example.test, at: mx2.example.test}, within: 10}
`
	_, err := scenarios.Parse("broken.yaml", []byte(src))
	fmt.Println(err)
	// Output:
	// broken.yaml:3:29: invalid state "dwn" (valid: up, down, blackhole) (did you mean "down"?)
	//       mx1.example.test: {state: dwn}
	//                                 ^
	// broken.yaml:5:77: send takes body or size, not both
	//       - send: {from: alice@origin.test, to: [bob@example.test], body: hi, size: 10}
	//                                                                                 ^
	// broken.yaml:6:52: host "mx2.example.test" is not defined in hosts
	//       - expect: {delivered: {to: bob@example.test, at: mx2.example.test}, within: 10}
	//                                                        ^
	// broken.yaml:6:79: "within" must be a duration such as "2s" or "1m30s", got an integer
	//       - expect: {delivered: {to: bob@example.test, at: mx2.example.test}, within: 10}
	//                                                                                   ^
}
