package harness_test

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
)

// A directory of YAML scenarios as a Ginkgo suite: one spec per file, each
// run against the relay the scenario names. Copy this to run your own.
var _ = Describe("the example scenarios", func() {
	files, err := filepath.Glob("../testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		panic("no scenarios found under testdata/scenarios")
	}
	for _, file := range files {
		It(filepath.Base(file), func() {
			res := harness.RunScenario(GinkgoT(), file, nil)
			Expect(res.Verdict).To(Equal(report.Pass), res.Reason)
		})
	}
})
