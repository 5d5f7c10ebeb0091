package harness

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/scenarios"
)

// persistentCA creates a CA in a temporary directory and returns it as
// loaded, with a pool made from its ca.pem alone, as a relay that was
// told to trust the file would have.
func persistentCA(t *testing.T) (*fakesmtp.CA, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	if _, err := fakesmtp.CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	ca, err := fakesmtp.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, fakesmtp.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatal("ca.pem holds no certificate")
	}
	return ca, pool
}

func TestConfigCA(t *testing.T) {
	ca, _ := persistentCA(t)
	env := Start(t, Config{CA: ca, Hosts: []Host{{Name: "mx1.example.test"}}})
	if env.CA() != ca || !bytes.Equal(env.Network().CAPEM, ca.PEM()) || env.Host("mx1.example.test").CA() != ca {
		t.Error("the environment does not use Config.CA")
	}
	fresh := Start(t, Config{Hosts: []Host{{Name: "mx1.example.test"}}})
	if fresh.CA() == nil || fresh.CA() == ca || bytes.Equal(fresh.Network().CAPEM, ca.PEM()) {
		t.Error("without Config.CA the environment does not make a CA of its own")
	}
}

// TestRunAndConformanceCA: a relay that trusts only the persistent CA's
// file verifies the hosts of a TLS verify case when the options carry the
// CA, and cannot when each case makes its own.
func TestRunAndConformanceCA(t *testing.T) {
	ca, pool := persistentCA(t)
	cases, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases, err = scenarios.SelectCases(cases, "TLS-004")
	if err != nil {
		t.Fatal(err)
	}
	relayFor := func(*scenarios.Scenario) (Relay, error) {
		return Reference(ReferenceConfig{TLS: scenarios.TLSVerify, RootCAs: pool}), nil
	}
	profile := Profile{TLS: scenarios.TLSVerify}

	res := Conformance(context.Background(), cases, profile, ConformanceOptions{Relay: relayFor, CA: ca})
	if len(res) != 1 || res[0].Verdict != report.Pass {
		t.Errorf("with the CA: %s %s", res[0].Verdict, res[0].Reason)
	}
	res = Conformance(context.Background(), cases, profile, ConformanceOptions{Relay: relayFor})
	if len(res) != 1 || res[0].Verdict != report.Fail {
		t.Errorf("with a fresh CA per case: %s %s; want FAIL", res[0].Verdict, res[0].Reason)
	}
}
