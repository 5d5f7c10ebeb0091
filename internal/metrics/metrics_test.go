package metrics_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/internal/metrics"
	"github.com/mxsim/mxsim/journal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape fetches url over HTTP and parses the Prometheus text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// value returns the counter of family name whose labels are all of want
// ("k", "v", …); -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return -1
}

func session(j *journal.Journal, host string, n string, code int, cmds ...string) {
	s := host + "#" + n
	j.Append(journal.Event{Kind: journal.KindSMTPConnect, Source: host, Session: s})
	j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: host, Session: s, Code: 220})
	for _, c := range cmds {
		j.Append(journal.Event{Kind: journal.KindSMTPCommand, Source: host, Session: s, Text: c})
		code := 250
		if c == "DATA" {
			code = 354
		}
		j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: host, Session: s, Code: code})
	}
	// The end of the data: accepted, or refused with code.
	if code == 250 {
		j.Append(journal.Event{Kind: journal.KindSMTPMessage, Source: host, Session: s, Message: &journal.Message{Size: 100}})
	}
	j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: host, Session: s, Code: code})
	j.Append(journal.Event{Kind: journal.KindSMTPDisconnect, Source: host, Session: s})
}

// TestCounts appends one of each kind of event and scrapes the counters
// over a real socket.
func TestCounts(t *testing.T) {
	j := journal.New()
	c, err := metrics.New(j)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	txn := []string{"EHLO relay.test", "MAIL FROM:<a@origin.test>", "RCPT TO:<b@example.test>", "DATA"}
	session(j, "mx1.example.test", "1", 250, txn...)
	session(j, "mx1.example.test", "2", 250, txn...)
	session(j, "mx2.example.test", "1", 451, txn...)
	j.Append(journal.Event{Kind: journal.KindSMTPRefused, Source: "mx2.example.test", Code: 421, Fault: "limits.max_conns"})
	j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: "mx2.example.test", Session: "mx2.example.test#9", Code: 550}) // no command seen
	j.Append(journal.Event{Kind: journal.KindSMTPCommand, Source: "mx2.example.test", Session: "mx2.example.test#9", Text: "RCPT TO:<x@example.test>"})
	j.Append(journal.Event{Kind: journal.KindSMTPReply, Source: "mx2.example.test", Session: "mx2.example.test#9", Code: 550, Fault: "replies.rcpt"})
	j.Append(journal.Event{Kind: journal.KindSMTPTLS, Source: "mx1.example.test", TLS: &journal.TLS{CertKind: "valid"}})
	j.Append(journal.Event{Kind: journal.KindSMTPTLS, Source: "mx1.example.test", TLS: &journal.TLS{CertKind: "expired"}, Err: "bad certificate"})
	j.Append(journal.Event{Kind: journal.KindSMTPAuth, Source: "mx1.example.test", Auth: &journal.Auth{Mechanism: "PLAIN", OK: true}})
	j.Append(journal.Event{Kind: journal.KindSMTPAuth, Source: "mx1.example.test", Auth: &journal.Auth{Mechanism: "x-made-up", OK: false}})
	j.Append(journal.Event{Kind: journal.KindDNSQuery, DNS: &journal.DNS{Type: "MX", Rcode: "NOERROR"}})
	j.Append(journal.Event{Kind: journal.KindDNSQuery, DNS: &journal.DNS{Type: "MX", Rcode: "SERVFAIL"}, Fault: "servfail 1/2"})
	j.Append(journal.Event{Kind: journal.KindDNSQuery, DNS: &journal.DNS{Type: "TYPE65000", Dropped: true}, Fault: "timeout"})
	for _, k := range []journal.Kind{journal.KindRelaySubmit, journal.KindRelayAttempt, journal.KindRelayAttempt,
		journal.KindRelayDefer, journal.KindRelayDeliver, journal.KindRelayBounce, journal.KindClientSubmit} {
		j.Append(journal.Event{Kind: k, Source: "relay"})
	}
	j.Append(journal.Event{Kind: journal.KindClientSubmit, Err: "550 no"})

	fams := scrape(t, srv.URL)
	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mxsim_smtp_sessions_total", []string{"host", "mx1.example.test"}, 2},
		{"mxsim_smtp_sessions_total", []string{"host", "mx2.example.test"}, 1},
		{"mxsim_smtp_connections_refused_total", []string{"host", "mx2.example.test"}, 1},
		{"mxsim_smtp_messages_accepted_total", []string{"host", "mx1.example.test"}, 2},
		{"mxsim_smtp_message_bytes_total", []string{"host", "mx1.example.test"}, 200},
		{"mxsim_smtp_messages_accepted_total", []string{"host", "mx2.example.test"}, -1},
		{"mxsim_smtp_messages_refused_total", []string{"host", "mx2.example.test", "class", "4xx"}, 1},
		{"mxsim_smtp_messages_refused_total", []string{"host", "mx1.example.test"}, -1},
		{"mxsim_smtp_recipients_refused_total", []string{"host", "mx2.example.test", "class", "5xx"}, 1},
		{"mxsim_smtp_replies_total", []string{"command", "end_of_data", "class", "2xx"}, 2},
		{"mxsim_smtp_replies_total", []string{"command", "end_of_data", "class", "4xx"}, 1},
		{"mxsim_smtp_replies_total", []string{"command", "DATA", "class", "3xx"}, 3},
		{"mxsim_smtp_replies_total", []string{"command", "connect", "class", "2xx"}, 3},
		{"mxsim_smtp_replies_total", []string{"command", "other", "class", "5xx"}, 1},
		{"mxsim_smtp_replies_total", []string{"command", "RCPT", "class", "5xx"}, 1},
		{"mxsim_smtp_faults_total", []string{"host", "mx2.example.test", "fault", "limits.max_conns"}, 1},
		{"mxsim_smtp_faults_total", []string{"host", "mx2.example.test", "fault", "replies.rcpt"}, 1},
		{"mxsim_smtp_tls_handshakes_total", []string{"result", "ok", "cert_kind", "valid"}, 1},
		{"mxsim_smtp_tls_handshakes_total", []string{"result", "failed", "cert_kind", "expired"}, 1},
		{"mxsim_smtp_auth_total", []string{"mechanism", "PLAIN", "result", "ok"}, 1},
		{"mxsim_smtp_auth_total", []string{"mechanism", "other", "result", "failed"}, 1},
		{"mxsim_dns_queries_total", []string{"type", "MX", "rcode", "NOERROR"}, 1},
		{"mxsim_dns_queries_total", []string{"type", "MX", "rcode", "SERVFAIL"}, 1},
		{"mxsim_dns_queries_total", []string{"type", "other", "rcode", "none"}, 1},
		{"mxsim_dns_faults_total", []string{"fault", "servfail"}, 1},
		{"mxsim_dns_faults_total", []string{"fault", "timeout"}, 1},
		{"mxsim_relay_submitted_total", nil, 1},
		{"mxsim_relay_attempts_total", nil, 2},
		{"mxsim_relay_defers_total", nil, 1},
		{"mxsim_relay_deliveries_total", nil, 1},
		{"mxsim_relay_bounces_total", nil, 1},
		{"mxsim_client_submits_total", []string{"outcome", "accepted"}, 1},
		{"mxsim_client_submits_total", []string{"outcome", "refused"}, 1},
		{"mxsim_journal_events_total", nil, float64(j.Len())},
		{"mxsim_metrics_events_total", nil, float64(j.Len())},
		{"mxsim_journal_dropped_events_total", nil, 0},
		{"mxsim_metrics_missed_events_total", nil, 0},
	} {
		if got := value(fams, w.name, w.labels...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}

	// A second scrape counts only what is new.
	j.Append(journal.Event{Kind: journal.KindRelayDeliver})
	fams = scrape(t, srv.URL)
	if got := value(fams, "mxsim_relay_deliveries_total"); got != 2 {
		t.Errorf("deliveries after one more: %v, want 2", got)
	}
}

// TestFollows checks that the collector reads the journal as it grows,
// without a scrape, and that events a bounded journal dropped before it
// read them are counted as missed.
func TestFollows(t *testing.T) {
	j := journal.NewBounded(journal.Limits{MaxEvents: chunk})
	c, err := metrics.New(j)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events := func() float64 {
		fams, err := c.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*dto.MetricFamily{}
		for _, f := range fams {
			m[f.GetName()] = f
		}
		return value(m, "mxsim_metrics_events_total")
	}
	j.Append(journal.Event{Kind: journal.KindRelayDeliver})
	deadline := time.Now().Add(10 * time.Second)
	for events() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the collector did not read the event appended")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Stop following, then let the journal drop events nobody read.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range 4 * chunk {
		j.Append(journal.Event{Kind: journal.KindRelayDeliver})
	}
	c.Sync()
	fams, err := c.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	dropped := float64(j.Dropped().Events)
	if dropped == 0 {
		t.Fatal("the journal dropped nothing")
	}
	if got := value(m, "mxsim_metrics_missed_events_total"); got != dropped-1 {
		t.Errorf("missed = %v, want %v (dropped %v, one read before)", got, dropped-1, dropped)
	}
	if got, want := value(m, "mxsim_relay_deliveries_total")+value(m, "mxsim_metrics_missed_events_total"), float64(j.Len()); got != want {
		t.Errorf("deliveries + missed = %v, want every event appended (%v)", got, want)
	}
	if got := value(m, "mxsim_journal_dropped_events_total"); got != dropped {
		t.Errorf("journal dropped = %v, want %v", got, dropped)
	}
}

// chunk is more than the journal's block, so that a bounded journal drops.
const chunk = 1024

func TestNewNilJournal(t *testing.T) {
	if _, err := metrics.New(nil); !errors.Is(err, metrics.ErrNoJournal) {
		t.Fatalf("New(nil): %v, want ErrNoJournal", err)
	}
}

// TestCollectorsApart checks that two collectors in one process keep
// their own registries (no process-wide default registry).
func TestCollectorsApart(t *testing.T) {
	j1, j2 := journal.New(), journal.New()
	c1, err := metrics.New(j1)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := metrics.New(j2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	j1.Append(journal.Event{Kind: journal.KindRelayDeliver})
	s1, s2 := httptest.NewServer(c1.Handler()), httptest.NewServer(c2.Handler())
	defer s1.Close()
	defer s2.Close()
	if got := value(scrape(t, s1.URL), "mxsim_relay_deliveries_total"); got != 1 {
		t.Errorf("first: %v deliveries, want 1", got)
	}
	if got := value(scrape(t, s2.URL), "mxsim_relay_deliveries_total"); got != 0 {
		t.Errorf("second: %v deliveries, want 0", got)
	}
}
