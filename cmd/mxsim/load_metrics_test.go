package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mxsim/mxsim/journal"
)

// scrape GETs a /metrics URL and parses it with the Prometheus text
// parser.
func scrape(c *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w\n%s", url, err, body)
	}
	return fams, nil
}

// metricSum adds up the counters of a family whose labels match the
// name-value pairs given.
func metricSum(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	var total float64
next:
	for _, m := range fams[name].GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		total += m.GetCounter().GetValue()
	}
	return total
}

// watchWriter is the command's stderr: it keeps everything and hands the
// first text matching re to found.
type watchWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
	sent  bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := w.re.FindString(w.buf.String()); m != "" && !w.sent {
		w.sent = true
		w.found <- m
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// gateWriter is the command's stdout: its first write (the JSON result,
// with -json -) is handed to wrote, and the command waits there until
// the test closes release. The metrics server is still up then: the
// command closes it only after its reports are written.
type gateWriter struct {
	wrote   chan []byte
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	rest    bytes.Buffer
}

func (g *gateWriter) Write(p []byte) (int, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		g.wrote <- bytes.Clone(p)
		<-g.release
		return len(p), nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rest.Write(p)
}

// mxsim load -metrics serves the network's counters over a real socket
// while the run goes on, and until its reports are written: scraped
// during the run and at its end, parsed with the Prometheus text parser,
// the counters agree with the run's own accounting; then the port is
// closed.
func TestLoadMetrics(t *testing.T) {
	const messages = 300
	stderr := &watchWriter{re: regexp.MustCompile(`metrics: (http://\S+/metrics)\n`), found: make(chan string, 1)}
	stdout := &gateWriter{wrote: make(chan []byte, 1), release: make(chan struct{})}
	released := sync.OnceFunc(func() { close(stdout.release) })
	t.Cleanup(released) // never leave the command waiting, even when the test fails
	done := make(chan int, 1)
	// One recipient a message, no null-MX or NXDOMAIN domains, no chaos:
	// every message is one relay.deliver of one pair, and no DSN goes to
	// the sender's host.
	args := []string{"load", "-metrics", "127.0.0.1:0", "-messages", fmt.Sprint(messages), "-rate", "100",
		"-rcpts", "1", "-domains", "20", "-hosts", "4", "-null-mx", "0", "-nxdomain", "0", "-chaos", "none", "-json", "-"}
	go func() { done <- run(context.Background(), args, stdout, stderr) }()
	t.Cleanup(func() {
		released()
		<-done
	})

	var url string
	select {
	case line := <-stderr.found:
		url = stderr.re.FindStringSubmatch(line)[1]
	case code := <-done:
		done <- code
		t.Fatalf("mxsim load ended (exit %d) before printing the metrics URL:\n%s", code, stderr.String())
	case <-time.After(60 * time.Second): // a guard against a hang, not a speed check
		t.Fatalf("mxsim load printed no metrics URL:\n%s", stderr.String())
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0/metrics") {
		t.Fatalf("metrics URL %q: want the bound loopback port", url)
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	// During the run: poll until the first delivery is counted (503 until
	// the network is up).
	var mid map[string]*dto.MetricFamily
	deadline := time.Now().Add(60 * time.Second) // a guard against a hang, not a speed check
	for {
		fams, err := scrape(c, url)
		if err == nil && metricSum(fams, "mxsim_relay_deliveries_total") > 0 {
			mid = fams
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery counted at %s within 60s (last error %v)\nstderr:\n%s", url, err, stderr.String())
		}
		select {
		case <-stdout.wrote:
			t.Fatalf("the run ended before a scrape saw a delivery (last error %v)", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	midDeliveries := metricSum(mid, "mxsim_relay_deliveries_total")
	t.Logf("during the run: %v deliveries, %v submissions accepted", midDeliveries, metricSum(mid, "mxsim_client_submits_total", "outcome", "accepted"))

	// At the end: the command waits in its JSON write, the server still up.
	var raw []byte
	select {
	case raw = <-stdout.wrote:
	case code := <-done:
		done <- code
		t.Fatalf("mxsim load ended (exit %d) without writing its JSON:\n%s", code, stderr.String())
	case <-time.After(3 * time.Minute): // a guard against a hang, not a speed check
		t.Fatalf("mxsim load did not end within 3 minutes:\n%s", stderr.String())
	}
	var res struct {
		Accepted  int `json:"accepted"`
		Delivered int `json:"delivered"`
		Bounced   int `json:"bounced"`
		PerHost   []struct {
			Host     string `json:"host"`
			Conns    int    `json:"conns"`
			Messages int    `json:"messages"`
		} `json:"per_host"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("JSON: %v\n%s", err, raw)
	}
	fams, err := scrape(c, url)
	if err != nil {
		t.Fatalf("scrape at the end of the run: %v", err)
	}
	if res.Accepted != messages || res.Delivered != messages || res.Bounced != 0 {
		t.Errorf("the run: %d accepted, %d delivered, %d bounced; want %d, %d, 0", res.Accepted, res.Delivered, res.Bounced, messages, messages)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   int
	}{
		{"mxsim_relay_deliveries_total", nil, res.Delivered},
		{"mxsim_relay_submitted_total", nil, res.Accepted},
		{"mxsim_client_submits_total", []string{"outcome", "accepted"}, res.Accepted},
		{"mxsim_relay_bounces_total", nil, 0},
		{"mxsim_metrics_missed_events_total", nil, 0},
	} {
		if got := metricSum(fams, c.name, c.labels...); got != float64(c.want) {
			t.Errorf("%s%v = %v, want %d (the run's accounting)", c.name, c.labels, got, c.want)
		}
	}
	var sum int
	for _, h := range res.PerHost {
		sum += h.Messages
		if got := metricSum(fams, "mxsim_smtp_messages_accepted_total", "host", h.Host); got != float64(h.Messages) {
			t.Errorf("mxsim_smtp_messages_accepted_total{host=%q} = %v, want %d", h.Host, got, h.Messages)
		}
		if got := metricSum(fams, "mxsim_smtp_sessions_total", "host", h.Host); got != float64(h.Conns) {
			t.Errorf("mxsim_smtp_sessions_total{host=%q} = %v, want %d", h.Host, got, h.Conns)
		}
	}
	if got := metricSum(fams, "mxsim_smtp_messages_accepted_total"); got != float64(sum) || sum == 0 {
		t.Errorf("mxsim_smtp_messages_accepted_total = %v, want %d over %d hosts", got, sum, len(res.PerHost))
	}
	if metricSum(fams, "mxsim_dns_queries_total", "type", "MX") == 0 {
		t.Error("no MX query counted")
	}
	if end := metricSum(fams, "mxsim_relay_deliveries_total"); midDeliveries > end {
		t.Errorf("deliveries went down: %v during the run, %v at the end", midDeliveries, end)
	}

	tr.CloseIdleConnections()
	released()
	select {
	case code := <-done:
		done <- code
		if code != exitOK {
			t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(60 * time.Second): // a guard against a hang, not a speed check
		t.Fatal("mxsim load did not return after its JSON was written")
	}
	if !strings.Contains(stderr.String(), "mxsim load PASS") {
		t.Errorf("no PASS summary on stderr:\n%s", stderr.String())
	}
	// The port is closed when the command returns.
	if conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics")); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after mxsim load returned", url)
	}
}

// The metrics server on its own: 503 until the network's journal is
// attached, then the counters of that journal; a port in use is refused;
// after Close the port is free again.
func TestLoadMetricsServer(t *testing.T) {
	m, err := listenMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := listenMetrics(m.ln.Addr().String()); err == nil {
		t.Error("a second listenMetrics on the same port succeeded")
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	if _, err := scrape(c, m.URL()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("before attach: %v, want 503", err)
	}
	resp, err := c.Get(strings.TrimSuffix(m.URL(), "metrics"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %s, want 404", resp.Status)
	}
	j := journal.New()
	j.Append(journal.Event{Kind: journal.KindRelayDeliver, Source: "relay"})
	j.Append(journal.Event{Kind: journal.KindRelayDeliver, Source: "relay"})
	m.attach(j)
	fams, err := scrape(c, m.URL())
	if err != nil {
		t.Fatal(err)
	}
	if got := metricSum(fams, "mxsim_relay_deliveries_total"); got != 2 {
		t.Errorf("mxsim_relay_deliveries_total = %v, want 2", got)
	}
	tr.CloseIdleConnections()
	addr := m.ln.Addr().String()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("after Close, %s is still taken: %v", addr, err)
	}
	ln.Close()
}
