package harness_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
)

// TestGinkgoSuite runs the Ginkgo specs below inside go test: the way a
// user's own suite drives mxsim with GinkgoT() and the matchers.
func TestGinkgoSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "harness (Ginkgo)")
}

var _ = Describe("a relay in front of a two-host MX set", func() {
	var env *harness.Env

	BeforeEach(func() {
		env = harness.Start(GinkgoT(), harness.Config{
			Zones: []fakedns.Zone{
				{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test."}}},
				{Name: "origin.test", Records: map[string][]string{"@": {"MX 10 mx.origin.test."}}},
			},
			Hosts: []harness.Host{
				{Name: "mx1.example.test", Behavior: fakesmtp.Behavior{State: fakesmtp.Down}},
				{Name: "mx2.example.test", Behavior: fakesmtp.Behavior{TLS: fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered}}},
				{Name: "mx.origin.test"},
			},
			Relay: harness.Reference(harness.ReferenceConfig{TLS: "may"}),
		})
	})

	It("fails over to the backup MX when the primary refuses connections", func(ctx SpecContext) {
		Expect(env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}})).To(Succeed())
		Eventually(env).WithTimeout(10 * time.Second).Should(harness.HaveDelivered("bob@example.test", "mx2.example.test"))
		Expect(env).To(harness.HaveAttemptedInOrder("mx1.example.test", "mx2.example.test"))
		Expect(env).To(harness.HaveUsedTLS("mx2.example.test"))
	})

	It("goes back to the primary once it is up again", func(ctx SpecContext) {
		Expect(env.Host("mx1.example.test").Up()).To(Succeed())
		Expect(env.Send(context.Background(), harness.Message{From: "alice@origin.test", To: []string{"carol@example.test"}})).To(Succeed())
		Eventually(env).WithTimeout(10 * time.Second).Should(harness.HaveDelivered("carol@example.test", "mx1.example.test"))
		Expect(env).NotTo(harness.HaveDelivered("carol@example.test", "mx2.example.test"))
	})
})
