package harness_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// TestSubmitJournaledFirst runs a scenario over real sockets with the
// reference relay: the journal records the client's submission
// (client.send) before anything the relay did with the message, the
// outcome (client.submit) after, and the report's sequence diagram draws
// the submit arrow before the relay's first DNS query.
func TestSubmitJournaledFirst(t *testing.T) {
	sc, err := scenarios.LoadFile("../testdata/scenarios/mx-priority.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := harness.Run(context.Background(), sc, harness.RunOptions{})
	if res.Verdict != report.Pass {
		t.Fatalf("verdict %s: %s %+v", res.Verdict, res.Reason, res.Failures)
	}
	first := func(match func(journal.Event) bool) int {
		for i, e := range res.Events {
			if match(e) {
				return i
			}
		}
		return -1
	}
	send := first(func(e journal.Event) bool { return e.Kind == journal.KindClientSend })
	submit := first(func(e journal.Event) bool { return e.Kind == journal.KindClientSubmit })
	relay := first(func(e journal.Event) bool {
		return e.Kind == journal.KindRelaySubmit || e.Kind == journal.KindDNSQuery || e.Kind == journal.KindSMTPConnect
	})
	var b strings.Builder
	for _, e := range res.Events {
		b.WriteString(e.Format(res.Started) + "\n")
	}
	switch {
	case send < 0 || submit < 0 || relay < 0:
		t.Fatalf("client.send at %d, client.submit at %d, first relay event at %d; journal:\n%s", send, submit, relay, b.String())
	case send > relay:
		t.Fatalf("client.send (event %d) after the relay's first event (%d); journal:\n%s", send+1, relay+1, b.String())
	case submit < send:
		t.Fatalf("client.submit (event %d) before client.send (%d)", submit+1, send+1)
	}
	if e := res.Events[send]; e.Message == nil || len(e.Message.Headers[harness.SubmissionHeader]) != 1 ||
		e.Message.Headers[harness.SubmissionHeader][0] != res.Events[submit].Message.Headers[harness.SubmissionHeader][0] {
		t.Errorf("client.send and client.submit do not name the same submission: %+v / %+v", e.Message, res.Events[submit].Message)
	}

	// The diagram: the submit arrow, then the relay's MX query, then the
	// relay's answer to the client.
	var page bytes.Buffer
	if err := report.WriteHTML(&page, "order", []report.Result{res}); err != nil {
		t.Fatal(err)
	}
	svg := page.String()
	svg = svg[strings.Index(svg, "<svg"):strings.Index(svg, "</svg>")]
	arrow := strings.Index(svg, ">submit → bob@example.test<")
	query := strings.Index(svg, ">MX example.test?<")
	answer := strings.Index(svg, ">accepted<")
	if arrow < 0 || query < 0 || answer < 0 || arrow > query {
		t.Errorf("diagram: submit arrow at %d, MX query at %d, accepted at %d; want the submit arrow first", arrow, query, answer)
	}
}
