package harness_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// TestUnknownDomainBounces: a recipient domain with no zone at all does
// not exist, as on the Internet (NXDOMAIN from the simulated root), so a
// correct relay bounces at once; the bounce to a sender whose domain has
// no zone either meets NXDOMAIN too, and the reference relay drops it
// rather than retry it.
func TestUnknownDomainBounces(t *testing.T) {
	t.Parallel()
	env := harness.Start(t, harness.Config{
		Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test."}}}},
		Hosts: []harness.Host{{Name: "mx1.example.test"}},
		Relay: harness.Reference(harness.ReferenceConfig{}),
	})
	send(t, env, "bob@nowhere.test")
	must(t, env.Wait(context.Background(), wait, func(j *journal.Journal) error {
		return harness.CheckBounced(j, "alice@origin.test", "5.1.2")
	}))
	must(t, env.Wait(context.Background(), wait, func(j *journal.Journal) error {
		for _, e := range j.Events(journal.OfKind(journal.KindRelayBounce)) {
			if strings.Contains(e.Text, "to=alice@origin.test") && strings.Contains(e.Text, "undeliverable DSN: dropped") {
				return nil
			}
		}
		return errors.New("the DSN to alice@origin.test is not dropped yet")
	}))
	var nx int
	for _, e := range env.Journal().Events(journal.OfKind(journal.KindDNSQuery)) {
		switch {
		case e.DNS != nil && e.DNS.Rcode == "NXDOMAIN":
			nx++
		case e.DNS != nil && e.DNS.Rcode == "REFUSED":
			t.Errorf("REFUSED for a name outside every zone: %s", e.Text)
		}
	}
	if nx < 2 {
		t.Errorf("%d NXDOMAIN answers, want them for nowhere.test and origin.test:\n%s", nx, env.Journal())
	}
	if n := len(env.Journal().Events(journal.OfKind(journal.KindRelayDefer))); n != 0 {
		t.Errorf("%d defers: nothing here is temporary", n)
	}
}
