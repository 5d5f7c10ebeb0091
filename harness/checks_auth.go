package harness

import (
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/onsi/gomega/types"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// AuthResults is what an auth_results expectation asks of the results a
// host that checks messages (fakesmtp.Behavior.Verify) recorded: any
// subset of SPF, DKIM, DKIMDomain and DMARC, for a message taken at At
// (for To, and with the send id Message, when set). Results are the
// words of Authentication-Results: "pass", "fail", "softfail", "none", …
// DKIM holds when a signature has that result (of DKIMDomain, its d=,
// when set); DKIMDomain alone asks for a signature of that domain that
// passed.
type AuthResults struct {
	At, To, Message       string
	SPF, DKIM, DKIMDomain string
	DMARC                 string
}

// String writes the results asked for: "spf=pass dkim=pass (d=example.test)".
func (w AuthResults) String() string {
	var parts []string
	if w.SPF != "" {
		parts = append(parts, "spf="+w.SPF)
	}
	if w.DKIM != "" || w.DKIMDomain != "" {
		p := "dkim=" + w.dkim()
		if w.DKIMDomain != "" {
			p += " (d=" + w.DKIMDomain + ")"
		}
		parts = append(parts, p)
	}
	if w.DMARC != "" {
		parts = append(parts, "dmarc="+w.DMARC)
	}
	return strings.Join(parts, " ")
}

func (w AuthResults) dkim() string {
	if w.DKIM == "" {
		return authres.ResultPass
	}
	return w.DKIM
}

// CheckAuthResults checks that host want.At took a message (for want.To,
// of send want.Message) whose recorded Authentication-Results has every
// result want asks for. On failure it names what each message got.
func CheckAuthResults(j *journal.Journal, want AuthResults) error {
	var got []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPMessage), sourceIs(want.At)) {
		if want.To != "" && !hasRecipient(e.Message, want.To) || !hasID(e, want.Message) {
			continue
		}
		ar := e.Message.AuthResults
		if ar == "" {
			got = append(got, "a message with no results (the host checks nothing: verify)")
			continue
		}
		mismatch, err := authMismatch(ar, want)
		switch {
		case err != nil:
			got = append(got, fmt.Sprintf("unreadable results %q: %v", ar, err))
		case mismatch == "":
			return nil
		default:
			got = append(got, mismatch)
		}
	}
	what := "at " + canonical(want.At)
	if want.To != "" {
		what += " for " + want.To
	}
	what += ofMessage(want.Message)
	if len(got) == 0 {
		return checkFailed("%s: no message taken, expected %s%s", what, want, authRefusals(j, want.At))
	}
	return checkFailed("%s: %s, expected %s", what, strings.Join(uniq(got), "; "), want)
}

// authMismatch compares one Authentication-Results value with want: ""
// when it has everything, else what it has instead.
func authMismatch(ar string, want AuthResults) (string, error) {
	_, results, err := authres.Parse(ar)
	if err != nil {
		return "", err
	}
	var spf, dmarc []string
	var dkims []*authres.DKIMResult
	for _, r := range results {
		switch r := r.(type) {
		case *authres.SPFResult:
			spf = append(spf, result("spf", r.Value, r.Reason))
		case *authres.DKIMResult:
			dkims = append(dkims, r)
		case *authres.DMARCResult:
			dmarc = append(dmarc, result("dmarc", r.Value, r.Reason))
		}
	}
	var bad []string
	if want.SPF != "" && !anyValue(results, "spf", want.SPF) {
		bad = append(bad, orNone(spf, "spf"))
	}
	if want.DKIM != "" || want.DKIMDomain != "" {
		ok := false
		var seen []string
		for _, d := range dkims {
			s := result("dkim", d.Value, d.Reason)
			if d.Domain != "" {
				s += " header.d=" + d.Domain
			}
			seen = append(seen, s)
			if string(d.Value) == want.dkim() && (want.DKIMDomain == "" || strings.EqualFold(strings.TrimSuffix(d.Domain, "."), strings.TrimSuffix(want.DKIMDomain, "."))) {
				ok = true
			}
		}
		if !ok {
			bad = append(bad, orNone(seen, "dkim"))
		}
	}
	if want.DMARC != "" && !anyValue(results, "dmarc", want.DMARC) {
		bad = append(bad, orNone(dmarc, "dmarc"))
	}
	return strings.Join(bad, ", "), nil
}

// anyValue reports whether a result of method has value want.
func anyValue(results []authres.Result, method, want string) bool {
	for _, r := range results {
		switch r := r.(type) {
		case *authres.SPFResult:
			if method == "spf" && string(r.Value) == want {
				return true
			}
		case *authres.DMARCResult:
			if method == "dmarc" && string(r.Value) == want {
				return true
			}
		}
	}
	return false
}

func result(method string, v authres.ResultValue, reason string) string {
	s := method + "=" + string(v)
	if reason != "" {
		s += " (" + reason + ")"
	}
	return s
}

func orNone(seen []string, method string) string {
	if len(seen) == 0 {
		return "no " + method + " result"
	}
	return strings.Join(seen, ", ")
}

// authRefusals names the messages host refused after its checks
// (fakesmtp.FaultVerifySPF, FaultVerifyDMARC), for a failure that found
// no message taken: "; the host refused 1 message: 550 5.7.23 …".
func authRefusals(j *journal.Journal, host string) string {
	var lines []string
	for _, e := range caseEvents(j, journal.OfKind(journal.KindSMTPReply), sourceIs(host)) {
		if e.Fault == fakesmtp.FaultVerifySPF || e.Fault == fakesmtp.FaultVerifyDMARC {
			lines = append(lines, e.Text)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("; the host refused %d message(s) after its checks: %s", len(lines), strings.Join(uniq(lines), "; "))
}

// HaveAuthResults succeeds when the host want.At recorded the results
// want asks for, for a message it took (CheckAuthResults).
//
//	Eventually(env).Should(harness.HaveAuthResults(harness.AuthResults{At: "mx1.example.test", SPF: "pass", DMARC: "pass"}))
func HaveAuthResults(want AuthResults) types.GomegaMatcher {
	return &checkMatcher{
		desc:  fmt.Sprintf("to have recorded %s at %s", want, want.At),
		check: func(j *journal.Journal) error { return CheckAuthResults(j, want) },
	}
}

// authResultsCheck is the auth_results condition of a scenario.
func authResultsCheck(a *scenarios.AuthResultsCheck) namedCheck {
	want := AuthResults{At: a.At, To: a.To, Message: a.Message, SPF: string(a.SPF), DKIM: string(a.DKIM), DKIMDomain: a.DKIMDomain, DMARC: string(a.DMARC)}
	return namedCheck{
		what:   fmt.Sprintf("auth results %s at %s", want, a.At),
		within: a.Within,
		check:  func(j *journal.Journal) error { return CheckAuthResults(j, want) },
	}
}
