// Package metrics turns the journal of a simulated network into
// Prometheus counters, so that a sandbox or a load run can be watched
// from an existing Prometheus and Grafana.
//
// A Collector follows one journal: it reads each event once, in order,
// as it is appended (journal.Changed and journal.Since, never the whole
// journal again), and counts it. Each Collector has a registry of its
// own, never the process-wide default one, so several networks in one
// process keep apart. Labels are bounded: per simulated host, per DNS
// type, per outcome; never per message, recipient or session.
//
// The metric names and labels are listed in docs/metrics.md.
package metrics

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mxsim/mxsim/journal"
)

// ErrNoJournal is returned by New when it is given no journal.
var ErrNoJournal = errors.New("metrics: no journal")

// batch is how long the follower lets events gather after it has read
// some: a busy network appends tens of thousands of events a second, and
// one read per batch costs less than one per event. A scrape reads what
// is left first, so it never sees figures older than the scrape itself.
const batch = 50 * time.Millisecond

// maxSessions bounds the sessions whose last command is remembered (to
// tell which command a refusal answers): a session whose disconnect a
// bounded journal dropped would otherwise stay forever.
const maxSessions = 100_000

// Collector counts the events of one journal. Its methods are safe for
// concurrent use.
type Collector struct {
	j   *journal.Journal
	reg *prometheus.Registry

	mu       sync.Mutex // held while events are read and counted
	last     int64      // Seq of the last event counted
	sessions map[string]string

	done   chan struct{}
	exited chan struct{}
	once   sync.Once

	events, missed                          prometheus.Counter
	submitted, attempts                     prometheus.Counter
	deliveries, defers, bounces             prometheus.Counter
	clientSubmits                           *prometheus.CounterVec
	sessionsTotal, refusedConns             *prometheus.CounterVec
	accepted, acceptedBytes                 *prometheus.CounterVec
	refusedMsgs, refusedRcpts, replies      *prometheus.CounterVec
	tls, auth, dnsQueries, dnsFaults, smtpF *prometheus.CounterVec
}

// New returns a Collector that follows j from its first event. Close
// stops it.
func New(j *journal.Journal) (*Collector, error) {
	if j == nil {
		return nil, ErrNoJournal
	}
	c := &Collector{
		j:        j,
		reg:      prometheus.NewRegistry(),
		sessions: map[string]string{},
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mxsim", Name: name, Help: help})
	}
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mxsim", Name: name, Help: help}, labels)
	}
	c.events = counter("metrics_events_total", "Journal events this collector has counted.")
	c.missed = counter("metrics_missed_events_total", "Journal events dropped by a bounded journal before this collector read them (not counted anywhere else).")
	c.submitted = counter("relay_submitted_total", "Messages the relay under test accepted for delivery (relay.submit).")
	c.attempts = counter("relay_attempts_total", "Delivery attempts of the relay under test (relay.attempt).")
	c.deliveries = counter("relay_deliveries_total", "Deliveries reported by the relay under test (relay.deliver).")
	c.defers = counter("relay_defers_total", "Deferrals reported by the relay under test (relay.defer).")
	c.bounces = counter("relay_bounces_total", "Permanent failures reported by the relay under test (relay.bounce).")
	c.clientSubmits = vec("client_submits_total", "Messages the harness client submitted to the relay, by outcome (accepted, refused).", "outcome")
	c.sessionsTotal = vec("smtp_sessions_total", "SMTP sessions (connections accepted) per simulated host.", "host")
	c.refusedConns = vec("smtp_connections_refused_total", "Connections a simulated host turned away before SMTP (down, limits).", "host")
	c.accepted = vec("smtp_messages_accepted_total", "Messages a simulated host accepted.", "host")
	c.acceptedBytes = vec("smtp_message_bytes_total", "Bytes of the messages a simulated host accepted.", "host")
	c.refusedMsgs = vec("smtp_messages_refused_total", "Transactions a simulated host refused (4xx or 5xx to MAIL, DATA, BDAT or the end of data), by reply class.", "host", "class")
	c.refusedRcpts = vec("smtp_recipients_refused_total", "Recipients a simulated host refused (4xx or 5xx to RCPT), by reply class.", "host", "class")
	c.replies = vec("smtp_replies_total", "Replies of all simulated hosts, by the command they answer and reply class (not per host: the refusal counters are).", "command", "class")
	c.tls = vec("smtp_tls_handshakes_total", "TLS handshakes at simulated hosts, by result (ok, failed) and the certificate served.", "host", "result", "cert_kind")
	c.auth = vec("smtp_auth_total", "AUTH attempts at simulated hosts, by mechanism and result (ok, failed).", "host", "mechanism", "result")
	c.smtpF = vec("smtp_faults_total", "Behaviours of simulated hosts that fired (the journal's fault names).", "host", "fault")
	c.dnsQueries = vec("dns_queries_total", "Queries the fake DNS answered, by type and rcode (none: no answer sent).", "type", "rcode")
	c.dnsFaults = vec("dns_faults_total", "DNS faults that fired, by kind.", "fault")
	c.reg.MustRegister(c.events, c.missed, c.submitted, c.attempts, c.deliveries, c.defers, c.bounces,
		c.clientSubmits, c.sessionsTotal, c.refusedConns, c.accepted, c.acceptedBytes, c.refusedMsgs,
		c.refusedRcpts, c.replies, c.tls, c.auth, c.smtpF, c.dnsQueries, c.dnsFaults)
	c.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mxsim", Name: "journal_events_total",
			Help: "Events appended to the journal."}, func() float64 { return float64(j.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mxsim", Name: "journal_dropped_events_total",
			Help: "Events a bounded journal has dropped to stay within its limits."}, func() float64 { return float64(j.Dropped().Events) }),
	)
	go c.follow()
	return c, nil
}

// Registry returns the Collector's own registry, to gather from or to
// add metrics to.
func (c *Collector) Registry() *prometheus.Registry { return c.reg }

// Handler returns the HTTP handler of the Prometheus text format. Each
// scrape first counts the events appended since the last read.
func (c *Collector) Handler() http.Handler {
	h := promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Sync()
		h.ServeHTTP(w, r)
	})
}

// Sync counts the events appended since the last read, at once.
func (c *Collector) Sync() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.j.Since(c.last) {
		c.count(e)
		c.last = e.Seq
	}
}

// Close stops following the journal and waits until the follower has
// ended. The counters keep their values; it is safe to call more than
// once.
func (c *Collector) Close() error {
	c.once.Do(func() { close(c.done) })
	<-c.exited
	return nil
}

func (c *Collector) follow() {
	defer close(c.exited)
	t := time.NewTimer(batch)
	t.Stop()
	for {
		ch := c.j.Changed()
		c.Sync()
		select {
		case <-ch:
		case <-c.done:
			return
		}
		t.Reset(batch)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return
		}
	}
}

// count adds one event to the counters; c.mu is held.
func (c *Collector) count(e journal.Event) {
	if e.Kind == journal.KindDropped {
		// Events the journal dropped before they were read.
		if e.Seq > c.last {
			c.missed.Add(float64(e.Seq - c.last))
		}
		return
	}
	c.events.Inc()
	switch e.Kind {
	case journal.KindDNSQuery:
		typ, rcode := "other", "none"
		if e.DNS != nil {
			typ = dnsType(e.DNS.Type)
			if e.DNS.Rcode != "" {
				rcode = oneOf(e.DNS.Rcode, dnsRcodes)
			}
		}
		c.dnsQueries.WithLabelValues(typ, rcode).Inc()
		if e.Fault != "" {
			c.dnsFaults.WithLabelValues(faultName(e.Fault)).Inc()
		}
	case journal.KindSMTPConnect:
		c.sessionsTotal.WithLabelValues(e.Source).Inc()
		c.remember(e.Session, "connect")
	case journal.KindSMTPRefused:
		c.refusedConns.WithLabelValues(e.Source).Inc()
		c.fault(e)
	case journal.KindSMTPCommand:
		c.remember(e.Session, verb(e.Text))
	case journal.KindSMTPReply:
		c.reply(e)
	case journal.KindSMTPTLS:
		result, kind := "ok", "none"
		if e.Err != "" {
			result = "failed"
		}
		if e.TLS != nil && e.TLS.CertKind != "" {
			kind = e.TLS.CertKind
		}
		c.tls.WithLabelValues(e.Source, result, kind).Inc()
	case journal.KindSMTPAuth:
		mech, result := "other", "failed"
		if e.Auth != nil {
			mech = oneOf(strings.ToUpper(e.Auth.Mechanism), authMechanisms)
			if e.Auth.OK {
				result = "ok"
			}
		}
		c.auth.WithLabelValues(e.Source, mech, result).Inc()
	case journal.KindSMTPMessage:
		c.accepted.WithLabelValues(e.Source).Inc()
		if e.Message != nil {
			c.acceptedBytes.WithLabelValues(e.Source).Add(float64(e.Message.Size))
		}
	case journal.KindSMTPDisconnect:
		delete(c.sessions, e.Session)
		c.fault(e)
	case journal.KindRelaySubmit:
		c.submitted.Inc()
	case journal.KindRelayAttempt:
		c.attempts.Inc()
	case journal.KindRelayDeliver:
		c.deliveries.Inc()
	case journal.KindRelayDefer:
		c.defers.Inc()
	case journal.KindRelayBounce:
		c.bounces.Inc()
	case journal.KindClientSubmit:
		outcome := "accepted"
		if e.Err != "" {
			outcome = "refused"
		}
		c.clientSubmits.WithLabelValues(outcome).Inc()
	}
}

// reply counts one reply of a simulated host by the command it answers.
func (c *Collector) reply(e journal.Event) {
	cmd := c.sessions[e.Session]
	if cmd == "" {
		cmd = "other"
	}
	class := replyClass(e.Code)
	c.replies.WithLabelValues(cmd, class).Inc()
	if e.Code >= 400 {
		switch cmd {
		case "MAIL", "DATA", "BDAT", "end_of_data":
			c.refusedMsgs.WithLabelValues(e.Source, class).Inc()
		case "RCPT":
			c.refusedRcpts.WithLabelValues(e.Source, class).Inc()
		}
	}
	if e.Code == 354 {
		// The next reply answers the end of the data.
		c.remember(e.Session, "end_of_data")
	}
	c.fault(e)
}

func (c *Collector) fault(e journal.Event) {
	if e.Fault != "" {
		c.smtpF.WithLabelValues(e.Source, faultName(e.Fault)).Inc()
	}
}

func (c *Collector) remember(session, cmd string) {
	if session == "" {
		return
	}
	if _, ok := c.sessions[session]; !ok && len(c.sessions) >= maxSessions {
		clear(c.sessions)
	}
	c.sessions[session] = cmd
}

// smtpCommands are the command labels; any other line counts as "other".
var smtpCommands = []string{"EHLO", "HELO", "LHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "EXPN", "HELP", "QUIT"}

var authMechanisms = []string{"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "EXTERNAL"}

var dnsTypes = []string{"A", "AAAA", "MX", "TXT", "TLSA", "CNAME", "NS", "SOA", "PTR", "SRV", "DS", "DNSKEY", "RRSIG", "NSEC", "NSEC3", "CAA", "HTTPS", "SVCB", "ANY"}

var dnsRcodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}

// verb returns the command label of a client line.
func verb(line string) string {
	v, _, _ := strings.Cut(line, " ")
	v, _, _ = strings.Cut(v, ":") // "MAIL FROM:<a>" has a space; "MAIL" alone too
	return oneOf(strings.ToUpper(v), smtpCommands)
}

func dnsType(t string) string { return oneOf(strings.ToUpper(t), dnsTypes) }

// oneOf returns s when it is in set, else "other": label values come from
// the network and are kept to a known set.
func oneOf(s string, set []string) string {
	for _, v := range set {
		if s == v {
			return v
		}
	}
	return "other"
}

// faultName keeps the kind of a fault label ("servfail 1/2" → "servfail").
func faultName(f string) string {
	name, _, _ := strings.Cut(f, " ")
	return name
}

func replyClass(code int) string {
	switch {
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 300 && code < 400:
		return "3xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	}
	return "other"
}
