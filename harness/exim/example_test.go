package exim_test

import (
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/exim"
	"github.com/mxsim/mxsim/scenarios"
)

// Conf shows the parts of Exim's configuration that a scenario's relay
// settings change; Exim reads the whole file at each scenario's start.
func ExampleConf() {
	conf, err := exim.Conf(scenarios.Relay{
		TLS:           scenarios.TLSEncrypt,
		Smarthost:     "[smtp-relay.example.test]:587",
		SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "secret"},
		RetryInterval: 30e9,
	}, harness.Network{SMTPPort: 25, HostPorts: map[string]int{"smtp-relay.example.test": 587}},
		exim.Ports{Submit: 2525, Submission: 2587, Submissions: 2465})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range strings.Split(conf, "\n") {
		for _, p := range []string{"route_list", "port =", "hosts_require", "client_send", "*   *"} {
			if strings.HasPrefix(strings.TrimSpace(l), p) {
				fmt.Println(strings.TrimSpace(l))
			}
		}
	}
	// Output:
	// route_list = * smtp-relay.example.test bydns
	// port = 587
	// hosts_require_tls = *
	// hosts_require_auth = *
	// *   *   F,4d,30s
	// client_send = ^relay^secret
	// client_send = : relay : secret
}
