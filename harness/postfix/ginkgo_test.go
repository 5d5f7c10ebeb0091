package postfix_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// TestGinkgoMainCF is the suite docs/postfix.md gives users to test their
// own main.cf; here the main.cf is inline, and the container is the
// package's shared one.
func TestGinkgoMainCF(t *testing.T) {
	pf := needPostfix(t)
	RegisterFailHandler(Fail)
	specPostfix = pf
	RunSpecs(t, "my main.cf against Postfix (Ginkgo)")
}

// specPostfix is the Postfix the specs run on (docs: postfix.New in
// BeforeSuite, Close in AfterSuite).
var specPostfix *postfix.Postfix

const myMainCF = `
myhostname = relay.origin.test
mynetworks = 127.0.0.0/8
smtp_tls_security_level = may
`

var _ = Describe("my main.cf", Ordered, func() {
	var env *harness.Env

	BeforeEach(func() {
		mainCF, err := postfix.ReadMainCF(strings.NewReader(myMainCF))
		Expect(err).NotTo(HaveOccurred())
		relay, err := specPostfix.Relay(scenarios.Relay{MainCF: mainCF})
		Expect(err).NotTo(HaveOccurred())
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
			Plan:  specPostfix.Plan(), // the container's DNS address, port 53
			Relay: relay,
		})
	})

	It("fails over to the backup MX, over TLS, when the primary refuses connections", func(ctx SpecContext) {
		Expect(env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}})).To(Succeed())
		Eventually(env).WithTimeout(15 * time.Second).Should(harness.HaveDelivered("bob@example.test", "mx2.example.test"))
		// The down host leaves no trace; Postfix's log line is the attempt.
		Eventually(env).Should(harness.Satisfy("attempted mx1.example.test", func(j *journal.Journal) error {
			for _, h := range harness.Attempts(j) {
				if h == "mx1.example.test" {
					return nil
				}
			}
			return errors.New("no attempt at mx1.example.test")
		}))
		Expect(env).To(harness.HaveUsedTLS("mx2.example.test"))
	})

	It("goes back to the primary once it is up, after postqueue -f", func(ctx SpecContext) {
		Expect(env.Host("mx1.example.test").Up()).To(Succeed())
		Expect(env.Send(context.Background(), harness.Message{From: "alice@origin.test", To: []string{"carol@example.test"}})).To(Succeed())
		Expect(env.Flush(ctx)).To(Succeed())
		Eventually(env).WithTimeout(15 * time.Second).Should(harness.HaveDelivered("carol@example.test", "mx1.example.test"))
		Expect(env).NotTo(harness.HaveDelivered("carol@example.test", "mx2.example.test"))
	})
})
