package sandbox

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// TestMetrics sends messages through the sandbox (the relay, and one
// straight to the smarthost with STARTTLS and AUTH), scrapes /metrics
// over the sandbox's socket, parses it with the Prometheus text parser
// and checks the counters against the journal.
func TestMetrics(t *testing.T) {
	cfg := Demo()
	cfg.Relay = harness.Reference(harness.ReferenceConfig{Hostname: "relay.test"})
	f := newFixtureWith(t, cfg, Config{})
	const sends = 3
	for range sends {
		f.want(http.StatusOK, nil, "POST", "/api/send", ctJSON, map[string]any{"from": "alice@origin.test", "to": []string{"bob@example.test"}})
	}
	f.want(http.StatusOK, nil, "POST", "/api/send", ctJSON, map[string]any{
		"from": "alice@origin.test", "to": []string{"carol@example.test"}, "host": DemoSmarthost, "user": DemoUser, "password": DemoPassword,
	})
	// Wait until the network is still: every message delivered, every
	// session ended.
	f.waitJournal("the relay's deliveries", func(evs []journal.Event) bool {
		n := 0
		for _, e := range evs {
			if e.Kind == journal.KindRelayDeliver {
				n++
			}
		}
		return n == sends
	})
	f.waitSessionsEnded()

	status, body := f.do("GET", "/metrics", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	sum := func(name string, labels ...string) float64 {
		var total float64
		f, ok := fams[name]
		if !ok {
			return 0
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			total += m.GetCounter().GetValue()
		}
		return total
	}
	j := f.env.Journal()
	count := func(kind journal.Kind, source string) float64 {
		n := 0
		for _, e := range j.Events(journal.OfKind(kind)) {
			if source == "" || e.Source == source {
				n++
			}
		}
		return float64(n)
	}
	tlsOK := 0
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPTLS)) {
		if e.Err == "" && e.Source == DemoSmarthost {
			tlsOK++
		}
	}
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"deliveries", sum("mxsim_relay_deliveries_total"), count(journal.KindRelayDeliver, "")},
		{"submitted", sum("mxsim_relay_submitted_total"), count(journal.KindRelaySubmit, "")},
		{"attempts", sum("mxsim_relay_attempts_total"), count(journal.KindRelayAttempt, "")},
		{"defers", sum("mxsim_relay_defers_total"), count(journal.KindRelayDefer, "")},
		{"client submits", sum("mxsim_client_submits_total", "outcome", "accepted"), count(journal.KindClientSubmit, "")},
		{"accepted at mx1", sum("mxsim_smtp_messages_accepted_total", "host", "mx1.example.test"), count(journal.KindSMTPMessage, "mx1.example.test")},
		{"accepted at the smarthost", sum("mxsim_smtp_messages_accepted_total", "host", DemoSmarthost), 1},
		{"sessions at mx1", sum("mxsim_smtp_sessions_total", "host", "mx1.example.test"), count(journal.KindSMTPConnect, "mx1.example.test")},
		{"all sessions", sum("mxsim_smtp_sessions_total"), count(journal.KindSMTPConnect, "")},
		{"DNS queries", sum("mxsim_dns_queries_total"), count(journal.KindDNSQuery, "")},
		{"TLS at the smarthost", sum("mxsim_smtp_tls_handshakes_total", "host", DemoSmarthost, "result", "ok"), float64(tlsOK)},
		{"AUTH at the smarthost", sum("mxsim_smtp_auth_total", "host", DemoSmarthost, "result", "ok"), 1},
		{"journal events", sum("mxsim_journal_events_total"), float64(j.Len())},
	} {
		if c.got != c.want {
			t.Errorf("%s: /metrics says %v, the journal %v", c.what, c.got, c.want)
		}
	}
	if d := sum("mxsim_relay_deliveries_total"); d != sends {
		t.Errorf("deliveries: %v, want %d", d, sends)
	}
	if tlsOK == 0 || sum("mxsim_dns_queries_total", "type", "MX") == 0 {
		t.Errorf("no TLS handshake or no MX query counted:\n%s", body)
	}
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestMetricsToken checks that /metrics asks for the token like the API.
func TestMetricsToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	f := newFixture(t, Config{Token: token})
	ctx := context.Background()
	for _, c := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer wrong-token-wrong-token", http.StatusUnauthorized}, {"Bearer " + token, http.StatusOK}} {
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+f.srv.Addr()+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := f.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET /metrics with %q: %d, want %d", c.auth, resp.StatusCode, c.want)
		}
	}
	// Only GET: the mux answers other methods with 405.
	status, _ := f.do("POST", "/metrics", "", nil)
	if status != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", status)
	}
}
