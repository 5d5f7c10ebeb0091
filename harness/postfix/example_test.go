package postfix_test

import (
	"fmt"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/scenarios"
)

// Params shows the main.cf parameters a scenario's relay settings become;
// Postfix applies them with postconf at each scenario's start. The
// smarthost's port 587 is where the network has the host listen for it:
// here a random plan mapped it to 2587 (Network.PortFor).
func ExampleParams() {
	p, err := postfix.Params(scenarios.Relay{
		TLS:           scenarios.TLSEncrypt,
		Smarthost:     "[smtp-relay.example.test]:587",
		SmarthostAuth: &scenarios.Credentials{User: "relay", Password: "secret"},
		MainCF:        map[string]string{"mynetworks": "127.0.0.1/32"},
	}, harness.Network{SMTPPort: 2525, MappedPorts: map[int]int{587: 2587}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range []string{"relayhost", "smtp_tcp_port", "smtp_tls_security_level", "smtp_sasl_auth_enable", "mynetworks", "minimal_backoff_time"} {
		fmt.Printf("%s = %s\n", k, p[k])
	}
	// Output:
	// relayhost = [smtp-relay.example.test]:2587
	// smtp_tcp_port = 2525
	// smtp_tls_security_level = encrypt
	// smtp_sasl_auth_enable = yes
	// mynetworks = 127.0.0.1/32
	// minimal_backoff_time = 1s
}
