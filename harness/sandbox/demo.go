package sandbox

import (
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
)

// The demo network's smarthost and its credentials.
const (
	DemoSmarthost = "smtp.isp.test" // AUTH PLAIN/LOGIN required, after STARTTLS
	DemoUser      = "relay"
	DemoPassword  = "secret"
)

// DemoGreylistWindow is how long the demo's greylisting host (mx2.example.test)
// refuses a new triplet.
const DemoGreylistWindow = 30 * time.Second

// Demo returns the built-in network of "mxsim sandbox" with no scenario:
//
//   - example.test: MX 10 mx1, 20 mx2 (greylisting, STARTTLS), 30 mx3;
//   - shop.example: two MX of equal preference 10 (RFC 5321 §5.1: the
//     relay picks either at random);
//   - origin.test: where the senders live (bounces go to mx.origin.test);
//   - isp.test: the smarthost smtp.isp.test, STARTTLS offered, AUTH
//     required (DemoUser / DemoPassword), no AUTH before TLS.
//
// Every host starts up; the operator takes them down from the page.
func Demo() harness.Config {
	return harness.Config{
		Zones: []fakedns.Zone{
			{Name: "example.test", Records: map[string][]string{
				"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test.", "MX 30 mx3.example.test.", `TXT "v=spf1 -all"`},
			}},
			{Name: "shop.example", Records: map[string][]string{
				"@": {"MX 10 mx-a.shop.example.", "MX 10 mx-b.shop.example."},
			}},
			{Name: "origin.test", Records: map[string][]string{"@": {"MX 10 mx.origin.test."}}},
			{Name: "isp.test", Records: map[string][]string{}},
		},
		Hosts: []harness.Host{
			{Name: "mx1.example.test"},
			{Name: "mx2.example.test", Behavior: fakesmtp.Behavior{
				Greylist: &fakesmtp.Greylist{Window: DemoGreylistWindow},
				TLS:      fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered},
			}},
			{Name: "mx3.example.test"},
			{Name: "mx-a.shop.example"},
			{Name: "mx-b.shop.example"},
			{Name: "mx.origin.test"},
			{Name: DemoSmarthost, Behavior: fakesmtp.Behavior{
				TLS:  fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered},
				Auth: &fakesmtp.Auth{Mechanisms: []string{fakesmtp.MechPlain, fakesmtp.MechLogin}, Users: map[string]string{DemoUser: DemoPassword}, Required: true},
			}},
		},
	}
}
