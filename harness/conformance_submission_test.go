package harness

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

// operatorRelay is the reference relay as an operator would run it:
// configured once, with its submission services on fixed addresses that
// only the profile tells the harness (its Submission names the usual
// address and the credentials, as an external relay's does).
type operatorRelay struct {
	ref *reference
	cfg ReferenceConfig
}

func (o *operatorRelay) Start(ctx context.Context, n Network) error {
	o.ref = &reference{cfg: o.cfg}
	return o.ref.Start(ctx, n)
}

func (o *operatorRelay) Submission() Submission {
	s := o.ref.Submission()
	return Submission{Addr: s.Addr, User: s.User, Password: s.Password}
}
func (o *operatorRelay) Flush(ctx context.Context) error { return o.ref.Flush(ctx) }
func (o *operatorRelay) Stop(ctx context.Context) error  { return o.ref.Stop(ctx) }

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestConformanceSubmissionProfile runs the SUBMIT cases against a relay
// set up by its operator (not per case): without -submission and
// -submissions in the profile they are not applicable, with the flag in
// the reason; with them, the harness submits at the profile's addresses
// and the relay passes.
func TestConformanceSubmissionProfile(t *testing.T) {
	all, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases, err := scenarios.SelectCases(all, "SUBMIT-*")
	if err != nil || len(cases) == 0 {
		t.Fatalf("SUBMIT cases: %d, %v", len(cases), err)
	}
	sub, subs := freeAddr(t), freeAddr(t)
	opts := ConformanceOptions{
		RelayName: "operator",
		Relay: func(sc *scenarios.Scenario) (Relay, error) {
			cfg := referenceConfig(scenarios.Relay{SubmitAuth: &scenarios.Credentials{User: "alice", Password: "secret"}})
			cfg.SubmissionListen, cfg.SubmissionsListen = sub, subs
			return &operatorRelay{cfg: cfg}, nil
		},
	}

	for _, r := range Conformance(context.Background(), cases, Profile{}, opts) {
		if r.Verdict != report.NotApplicable || !strings.Contains(r.Reason, "(--submission") {
			t.Errorf("no profile: %s %s: %s, want not applicable naming the flag", r.ID, r.Verdict, r.Reason)
		}
	}
	p := Profile{Submission: sub, Submissions: subs}
	for _, r := range Conformance(context.Background(), cases, p, opts) {
		if r.Verdict != report.Pass {
			t.Errorf("with profile: %s %s: %s", r.ID, r.Verdict, r.Reason)
		}
	}
	// The reference relay ignores the profile's addresses: it opens its own.
	for _, r := range Conformance(context.Background(), cases, Profile{}, ConformanceOptions{Parallel: 2}) {
		if r.Verdict != report.Pass {
			t.Errorf("reference: %s %s: %s", r.ID, r.Verdict, r.Reason)
		}
	}
}
