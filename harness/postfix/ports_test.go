package postfix_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
)

// TestSmarthostOn587 runs Postfix against a smarthost that answers on
// 25 and 587: with relayhost = [smtp.example.test]:587 Postfix connects
// to 587 (its smtp_tcp_port, 25, is only the default for a destination
// without a port), and the journal shows the session there.
func TestSmarthostOn587(t *testing.T) {
	pf := needPostfix(t)
	res := runScenario(t, pf, "testdata/smarthost-ports-25-587.yaml")
	if res.Verdict != report.Pass {
		t.Fatalf("%s", describe(res))
	}
	var on587, on25 int
	for _, e := range res.Events {
		if e.Kind != journal.KindSMTPConnect || e.Source != "smtp.example.test" {
			continue
		}
		ap, err := netip.ParseAddrPort(e.Local)
		if err != nil {
			t.Fatalf("connect event without a local address: %+v", e)
		}
		switch ap.Port() {
		case 587:
			on587++
			if !strings.HasSuffix(e.Text, ":587 (submission)") {
				t.Errorf("connect event %q does not name port 587 and its mode", e.Text)
			}
		case 25:
			on25++
		}
	}
	if on587 == 0 || on25 != 0 {
		t.Errorf("sessions at smtp.example.test: %d on 587, %d on 25; want all on 587:\n%s", on587, on25, describe(res))
	}
}
