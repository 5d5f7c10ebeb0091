package harness

import (
	"errors"
	"fmt"
	"strconv"
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
	results, err := parseAuthResults(ar)
	if err != nil {
		return "", err
	}
	var bad []string
	for _, m := range []struct{ method, want, domain string }{
		{"spf", want.SPF, ""},
		{"dkim", cmpOr(want.DKIM, want.DKIMDomain != "", want.dkim()), want.DKIMDomain},
		{"dmarc", want.DMARC, ""},
	} {
		if m.want == "" {
			continue
		}
		var seen []string
		ok := false
		for _, r := range results {
			if r.method != m.method {
				continue
			}
			seen = append(seen, r.String())
			if r.value == m.want && (m.domain == "" || strings.EqualFold(strings.TrimSuffix(r.domain, "."), strings.TrimSuffix(m.domain, "."))) {
				ok = true
			}
		}
		if ok {
			continue
		}
		if len(seen) == 0 {
			bad = append(bad, "no "+m.method+" result")
		} else {
			bad = append(bad, strings.Join(seen, ", "))
		}
	}
	return strings.Join(bad, ", "), nil
}

// cmpOr returns v, or, when v is empty and cond holds, def.
func cmpOr(v string, cond bool, def string) string {
	if v == "" && cond {
		return def
	}
	return v
}

// authResult is one result of an Authentication-Results value.
type authResult struct {
	method, value, reason string
	domain                string // DKIM's header.d
}

// String writes r as the failure of a check shows it: "spf=fail (reason)".
func (r authResult) String() string {
	s := r.method + "=" + r.value
	if r.reason != "" {
		s += " (" + r.reason + ")"
	}
	if r.domain != "" {
		s += " header.d=" + r.domain
	}
	return s
}

// parseAuthResults reads an Authentication-Results value (RFC 8601 §2.2)
// as hosts write it: "id; method=value reason=\"…\" prop=value; …".
// Unlike authres.Parse it keeps quoted reasons that hold blanks whole.
func parseAuthResults(ar string) ([]authResult, error) {
	parts := splitQuoted(ar, ';')
	if len(parts) == 0 || strings.TrimSpace(parts[0]) == "" {
		return nil, errors.New("no authserv-id")
	}
	var out []authResult
	for _, p := range parts[1:] {
		toks := splitQuoted(strings.TrimSpace(p), ' ')
		if len(toks) == 0 || toks[0] == "" || toks[0] == "none" {
			continue
		}
		method, value, ok := strings.Cut(toks[0], "=")
		if !ok {
			return nil, fmt.Errorf("result %q: want method=value", toks[0])
		}
		r := authResult{method: strings.ToLower(method), value: strings.ToLower(value)}
		for _, t := range toks[1:] {
			k, v, _ := strings.Cut(t, "=")
			if uq, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
				v = uq
			}
			switch strings.ToLower(k) {
			case "reason":
				r.reason = v
			case "header.d":
				r.domain = v
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// splitQuoted splits s at sep outside double quotes, dropping empty parts.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			if p := s[start:i]; strings.TrimSpace(p) != "" {
				out = append(out, p)
			}
			start = i + 1
		}
	}
	if p := s[start:]; strings.TrimSpace(p) != "" {
		out = append(out, p)
	}
	return out
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
