package report_test

import (
	"os"
	"time"

	"github.com/mxsim/mxsim/harness/report"
)

func ExampleProgress() {
	report.Progress(os.Stdout, report.Result{
		Name: "mx-failover-on-refused", Verdict: report.Pass, Duration: 410 * time.Millisecond,
	})
	report.Progress(os.Stdout, report.Result{
		Name: "greylist-retry", Verdict: report.Fail, Duration: 10020 * time.Millisecond,
		Failures: []report.Failure{{
			Pos:      "greylist-retry.yaml:14:5",
			Expected: "delivered to bob@example.test at mx3.example.test",
			Actual:   "deferred 451 4.7.1 greylisted, no retry",
		}},
	})
	report.Progress(os.Stdout, report.Result{
		ID: "MX-001", Level: "MUST", Name: "MX lookup before A", Verdict: report.Pass, Duration: 120 * time.Millisecond,
	})
	// Output:
	// PASS  mx-failover-on-refused  (0.41s)
	// FAIL  greylist-retry  (10.02s)  greylist-retry.yaml:14:5: expected delivered to bob@example.test at mx3.example.test, but got deferred 451 4.7.1 greylisted, no retry
	// PASS  MX-001 MUST  MX lookup before A  (0.12s)
}

func ExampleSummary() {
	results := []report.Result{
		{Name: "mx-failover-on-refused", Verdict: report.Pass, Duration: 410 * time.Millisecond},
		{Name: "null-mx", Verdict: report.Fail, Duration: 200 * time.Millisecond,
			Failures: []report.Failure{{Pos: "null-mx.yaml:9:5", Expected: "bounce 556 5.1.10", Actual: "deferred 451"}}},
		{Name: "dane-usage-3", Verdict: report.NotApplicable, Reason: "no DNSSEC"},
	}
	report.Summary(os.Stdout, results, 3200*time.Millisecond)
	// Output:
	// VERDICT  SCENARIO                TIME   REASON
	// PASS     mx-failover-on-refused  0.41s
	// FAIL     null-mx                 0.20s  null-mx.yaml:9:5: expected bounce 556 5.1.10, but got deferred 451
	// SKIP     dane-usage-3            0.00s  no DNSSEC
	//
	// 1 passed, 1 failed, 1 skipped (not applicable), 0 errors, in 3.2s
}
