package harness_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/scenarios"
)

// internet is a zone that would send a relay to a public resolver's
// address.
func internet() []fakedns.Zone {
	return []fakedns.Zone{{Name: "example.test", Records: map[string][]string{
		"@":   {"MX 10 mx1.example.test."},
		"mx1": {"A 8.8.8.8"},
	}}}
}

func TestNewRefusesNonLoopback(t *testing.T) {
	env, err := harness.New(context.Background(), harness.Config{Zones: internet()})
	if err == nil {
		env.Close()
		t.Fatal("New took an A record of 8.8.8.8")
	}
	if !errors.Is(err, fakedns.ErrNotLoopback) {
		t.Errorf("error %v does not wrap fakedns.ErrNotLoopback", err)
	}
}

// TestLiveChangesStayOnLoopback: the sandbox API and set steps change
// records through Env.DNS(), where the rule holds too.
func TestLiveChangesStayOnLoopback(t *testing.T) {
	env := harness.Start(t, harness.Config{Zones: exampleZones(), Hosts: harness.Hosts("mx1.example.test", "mx2.example.test", "mx.origin.test")})
	err := env.DNS().SetRecords("mx1.example.test", "A", "A 8.8.8.8")
	if !errors.Is(err, fakedns.ErrNotLoopback) {
		t.Errorf("SetRecords A 8.8.8.8: %v, want ErrNotLoopback", err)
	}
	if err := env.DNS().AddRecord("www.example.test", "AAAA 2001:4860:4860::8888"); !errors.Is(err, fakedns.ErrNotLoopback) {
		t.Errorf("AddRecord AAAA: %v, want ErrNotLoopback", err)
	}
}

func TestAllowNonLoopback(t *testing.T) {
	env := harness.Start(t, harness.Config{Zones: internet(), AllowNonLoopback: true})
	if err := env.DNS().SetRecords("mx1.example.test", "A", "A 8.8.4.4"); err != nil {
		t.Errorf("SetRecords with AllowNonLoopback: %v", err)
	}
}

// TestConfigForCarriesTheOptIn: a scenario's allow_non_loopback reaches
// the Config, and without it the network refuses what validation would.
func TestConfigForCarriesTheOptIn(t *testing.T) {
	for _, allow := range []bool{false, true} {
		sc := &scenarios.Scenario{Name: "x", AllowNonLoopback: allow}
		cfg, err := harness.ConfigFor(sc)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.AllowNonLoopback != allow {
			t.Errorf("allow_non_loopback %v: Config.AllowNonLoopback %v", allow, cfg.AllowNonLoopback)
		}
	}
}
