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
	"github.com/mxsim/mxsim/journal"
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

var _ = Describe("a relay that sends through an authenticating smarthost", func() {
	var env *harness.Env

	BeforeEach(func() {
		env = harness.Start(GinkgoT(), harness.Config{
			Zones: []fakedns.Zone{
				{Name: "provider.test"},
				{Name: "origin.test", Records: map[string][]string{"@": {"MX 10 mx.origin.test."}}},
			},
			Hosts: []harness.Host{
				{Name: "smtp.provider.test", Behavior: fakesmtp.Behavior{
					TLS:  fakesmtp.TLS{StartTLS: fakesmtp.TLSRequired},
					Auth: &fakesmtp.Auth{Users: map[string]string{"relay": "secret"}, Required: true},
				}},
				{Name: "mx.origin.test"},
			},
			Relay: harness.Reference(harness.ReferenceConfig{
				Smarthost:     "[smtp.provider.test]",
				SmarthostAuth: &harness.ReferenceCredentials{User: "relay", Password: "secret"},
				TLS:           "verify",
			}),
		})
	})

	It("authenticates as its configured user, after TLS", func(ctx SpecContext) {
		Expect(env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}})).To(Succeed())
		Eventually(env).WithTimeout(10 * time.Second).Should(harness.HaveDelivered("bob@example.test", "smtp.provider.test"))
		Expect(env).To(harness.HaveAuthenticated("smtp.provider.test", "relay"))
		Expect(env).NotTo(harness.HaveAuthenticated("smtp.provider.test", "someone-else"))
		Expect(env).To(harness.Satisfy("no AUTH before TLS", func(j *journal.Journal) error {
			return harness.CheckNoAuthBeforeTLS(j, "smtp.provider.test")
		}))
	})
})

var _ = Describe("a relay facing a domain that accepts no mail", func() {
	It("bounces at once with RFC 7505's status", func(ctx SpecContext) {
		env := harness.Start(GinkgoT(), harness.Config{
			Zones: []fakedns.Zone{
				{Name: "nomail.test", Records: map[string][]string{"@": {"MX 0 ."}}},
				{Name: "origin.test", Records: map[string][]string{"@": {"MX 10 mx.origin.test."}}},
			},
			Hosts: []harness.Host{{Name: "mx.origin.test"}},
			Relay: harness.Reference(harness.ReferenceConfig{}),
		})
		Expect(env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@nomail.test"}})).To(Succeed())
		Eventually(env).WithTimeout(10 * time.Second).Should(harness.HaveBounced("alice@origin.test", "5.1.10"))
		Expect(env).NotTo(harness.HaveBounced("alice@origin.test", "5.7.1"))
	})
})
