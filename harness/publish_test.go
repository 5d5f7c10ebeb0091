package harness_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
)

// Two hosts published as one name give it two addresses, in the order of
// the hosts; the reference relay, refused at the first, delivers at the
// second in the same attempt (rule 8).
func TestPublishAsGivesANameTwoAddresses(t *testing.T) {
	t.Parallel()
	env := harness.Start(t, harness.Config{
		Zones: exampleZones(),
		Hosts: []harness.Host{
			{Name: "mx1-a.example.test", Behavior: fakesmtp.Behavior{State: fakesmtp.Down}, PublishAs: []string{"mx1.example.test"}},
			{Name: "mx1-b.example.test", PublishAs: []string{"MX1.example.test."}},
			{Name: "mx2.example.test", PublishAs: []string{"mx.elsewhere.test"}},
			{Name: "mx.origin.test"},
		},
		Relay: harness.Reference(harness.ReferenceConfig{}),
	})
	addr := func(host string) string {
		return netip.MustParseAddrPort(env.Host(host).Addr()).Addr().String()
	}
	records := map[string][]string{}
	for _, z := range env.DNS().Zones() {
		for owner, rrs := range z.Records {
			for _, rr := range rrs {
				if strings.HasPrefix(rr, "A ") {
					records[owner] = append(records[owner], rr)
				}
			}
		}
	}
	if got, want := records["mx1.example.test."], []string{"A " + addr("mx1-a.example.test"), "A " + addr("mx1-b.example.test")}; !slices.Equal(got, want) {
		t.Errorf("mx1.example.test: %q, want %q", got, want)
	}
	if got, want := records["mx.elsewhere.test."], []string{"A " + addr("mx2.example.test")}; !slices.Equal(got, want) {
		t.Errorf("mx.elsewhere.test (outside every zone): %q, want %q", got, want)
	}
	// The hosts keep their own names too.
	if got := records["mx1-b.example.test."]; len(got) != 1 {
		t.Errorf("mx1-b.example.test: %q, want its own A record", got)
	}
	send(t, env, "bob@example.test")
	must(t, env.WaitDelivered(context.Background(), wait, "bob@example.test", "mx1-b.example.test"))
	must(t, harness.CheckNotDelivered(env.Journal(), "bob@example.test", "mx2.example.test"))
}

func TestPublishAsBadForms(t *testing.T) {
	t.Parallel()
	zones := []fakedns.Zone{{Name: "example.test", Records: map[string][]string{
		"@": {"MX 10 mx1.example.test."}, "www": {"A 127.0.0.9"}, "alias.example.test.": {"CNAME www.example.test."},
	}}}
	for _, c := range []struct {
		name      string
		publishAs string
		want      string
	}{
		{"a host", "mx2.example.test", `Hosts[0]: publish_as mx2.example.test: that is a host`},
		{"not a name", "bad..name", `publish as "bad..name": not a valid host name`},
		{"an A record of the zone", "www.example.test", `Hosts[0]: publish_as www.example.test: dns gives the name address records`},
		{"a CNAME of the zone", "alias.example.test", "publish_as alias.example.test: dns gives the name address records"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, err := harness.New(context.Background(), harness.Config{Zones: zones, Hosts: []harness.Host{
				{Name: "mx1.example.test", PublishAs: []string{c.publishAs}},
				{Name: "mx2.example.test"},
			}})
			if err == nil {
				env.Close()
				t.Fatalf("New took publish as %q", c.publishAs)
			}
			if !errors.Is(err, harness.ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrConfig containing %q", err, c.want)
			}
		})
	}
}
