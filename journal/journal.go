// Package journal is the one ordered, timestamped log of a simulated mail
// network. Every component of mxsim writes what happened into it, and
// nothing else keeps its own history:
//
//  1. fakedns appends one KindDNSQuery event per query, with its answer and
//     the fault that fired;
//  2. fakesmtp appends connects, refusals, every command and reply, TLS and
//     AUTH outcomes, each accepted message and each disconnect;
//  3. relays under test and the harness client append what they did;
//  4. expectations are predicates over Events, and Wait blocks until one
//     holds, so a test never sleeps.
//
// A Journal is safe for concurrent use. Events are never removed.
package journal

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Kind names what an Event records. Kinds are dotted: the part before the
// dot is the component that writes them.
type Kind string

// Kinds written by mxsim's components.
const (
	// DNS.
	KindDNSQuery Kind = "dns.query" // one query and its answer (DNS set)

	// SMTP, written by fakesmtp hosts. Session is set on all but Refused.
	KindSMTPRefused    Kind = "smtp.refused"    // connection refused or dropped before a session (host down, limit)
	KindSMTPConnect    Kind = "smtp.connect"    // TCP connection accepted
	KindSMTPCommand    Kind = "smtp.command"    // a line from the client ("C:")
	KindSMTPReply      Kind = "smtp.reply"      // a reply from the host ("S:"), Code set
	KindSMTPTLS        Kind = "smtp.tls"        // TLS handshake finished (TLS set) or failed (Err set)
	KindSMTPAuth       Kind = "smtp.auth"       // AUTH attempt (Auth set)
	KindSMTPMessage    Kind = "smtp.message"    // a message accepted (Message set)
	KindSMTPDisconnect Kind = "smtp.disconnect" // session ended

	// Relay under test (reference relay, or adapters reporting for a real MTA).
	KindRelaySubmit  Kind = "relay.submit"  // a message accepted for delivery
	KindRelayAttempt Kind = "relay.attempt" // a delivery attempt to a host (Text says which)
	KindRelayDefer   Kind = "relay.defer"   // delivery deferred, will retry (Code, Text)
	KindRelayDeliver Kind = "relay.deliver" // delivered to a host
	KindRelayBounce  Kind = "relay.bounce"  // permanent failure; a bounce is generated (Code, Text)
	KindRelayLog     Kind = "relay.log"     // free-form line from the relay (e.g. a Postfix log line)

	// Harness.
	KindClientSubmit Kind = "client.submit" // the harness client submitted a message to the relay
	KindControl      Kind = "control"       // a live change to the network (state, record, fault)
)

// Event is one thing that happened in the network. Only the fields that
// fit the Kind are set. The details behind its pointers (DNS, TLS, Auth,
// Message) may be shared by several events (fakedns shares one DNS per
// record set among the queries it answers alike): read them, never modify
// them. Its JSON form (lower-case keys, empty fields left out) is the one
// that reports and the sandbox API write.
type Event struct {
	Seq    int64     `json:"seq"`  // position in the journal, from 1
	Time   time.Time `json:"time"` // when it was appended
	Kind   Kind      `json:"kind"`
	Source string    `json:"source,omitempty"` // who wrote it: "dns", a host name ("mx1.example.test"), "relay", "client", "harness"

	Session string `json:"session,omitempty"` // SMTP session ID ("mx1.example.test#3"); empty outside a session
	Remote  string `json:"remote,omitempty"`  // peer address ("127.0.0.1:53211")
	Local   string `json:"local,omitempty"`   // local address of the writer
	Peer    string `json:"peer,omitempty"`    // relay and client events: the host name they concern ("mx1.example.test")

	Text  string `json:"text,omitempty"`  // one human-readable line: "EHLO relay.test", "MX example.test. → NOERROR (2)"
	Code  int    `json:"code,omitempty"`  // SMTP reply code, when there is one
	Err   string `json:"err,omitempty"`   // an error, when the event records one
	Fault string `json:"fault,omitempty"` // the fault that fired (DNS or SMTP behaviour), if any

	DNS     *DNS     `json:"dns,omitempty"`
	TLS     *TLS     `json:"tls,omitempty"`
	Auth    *Auth    `json:"auth,omitempty"`
	Message *Message `json:"message,omitempty"`
}

// DNS details a KindDNSQuery event.
type DNS struct {
	Name    string   `json:"name"`              // query name, fully qualified ("example.test.")
	Type    string   `json:"type"`              // "MX", "A", …
	Rcode   string   `json:"rcode,omitempty"`   // "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"; "" when no answer was sent
	Answer  []string `json:"answer,omitempty"`  // answer records in zone-file form
	Proto   string   `json:"proto,omitempty"`   // "udp" or "tcp"
	AD      bool     `json:"ad,omitempty"`      // authenticated data bit set
	TC      bool     `json:"tc,omitempty"`      // truncated
	Dropped bool     `json:"dropped,omitempty"` // no answer was sent (timeout fault)
}

// TLS details a KindSMTPTLS event.
type TLS struct {
	Version    string `json:"version,omitempty"` // "TLS 1.3"
	Cipher     string `json:"cipher,omitempty"`
	ServerName string `json:"server_name,omitempty"` // SNI sent by the client
	CertKind   string `json:"cert_kind,omitempty"`   // the certificate served: "valid", "self-signed", "wrong-name", "expired"
	Implicit   bool   `json:"implicit,omitempty"`    // TLS from connect (port 465 style) rather than STARTTLS
}

// Auth details a KindSMTPAuth event.
type Auth struct {
	Mechanism string `json:"mechanism"` // "PLAIN", "LOGIN", "CRAM-MD5"
	User      string `json:"user,omitempty"`
	OK        bool   `json:"ok"`
	TLS       bool   `json:"tls"` // whether the session was under TLS at the time
}

// Message details a KindSMTPMessage (or relay.deliver/relay.bounce) event.
type Message struct {
	From    string              `json:"from"`
	To      []string            `json:"to"`
	Size    int                 `json:"size"`
	Subject string              `json:"subject,omitempty"`
	ID      string              `json:"message_id,omitempty"` // Message-ID header
	Headers map[string][]string `json:"headers,omitempty"`
	Raw     []byte              `json:"raw,omitempty"` // the bytes as received
}

// chunkSize is how many events one block of the journal holds. Events are
// stored in fixed blocks rather than one growing slice: a busy journal
// (a load test records hundreds of thousands of events) then never copies
// what it holds, and readers can walk the blocks without the lock.
const chunkSize = 512

// Journal is an ordered, append-only event log.
type Journal struct {
	mu      sync.Mutex
	chunks  []*[chunkSize]Event // full blocks, then the one being filled
	n       int                 // events recorded
	changed chan struct{}       // closed at the next Append; nil until someone asks (Changed)
	clock   func() time.Time
	start   time.Time
}

// New returns an empty journal.
func New() *Journal {
	now := time.Now()
	return &Journal{clock: time.Now, start: now}
}

// Append records e, setting its Seq and Time, and returns the stored event.
// Appending to a nil Journal does nothing, so components can run without one.
func (j *Journal) Append(e Event) Event {
	if j == nil {
		return e
	}
	j.mu.Lock()
	e.Seq = int64(j.n) + 1
	e.Time = j.clock()
	if j.n%chunkSize == 0 {
		j.chunks = append(j.chunks, new([chunkSize]Event))
	}
	j.chunks[j.n/chunkSize][j.n%chunkSize] = e
	j.n++
	ch := j.changed
	j.changed = nil
	j.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return e
}

// snapshot returns the blocks and the number of events recorded so far.
// Events below n are never written again, so the caller may read them
// without the lock.
func (j *Journal) snapshot() ([]*[chunkSize]Event, int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.chunks[:len(j.chunks):len(j.chunks)], j.n
}

// Len returns the number of events recorded so far.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.n
}

// Start returns the time the journal was created; reports show event times
// relative to it.
func (j *Journal) Start() time.Time { return j.start }

// Events returns a copy of the events for which every filter returns true
// (all events when no filter is given), in order.
func (j *Journal) Events(filters ...func(Event) bool) []Event {
	chunks, n := j.snapshot()
	var out []Event
	if len(filters) == 0 && n > 0 {
		out = make([]Event, 0, n)
	}
next:
	for i := 0; i < n; i++ {
		e := &chunks[i/chunkSize][i%chunkSize]
		for _, f := range filters {
			if !f(*e) {
				continue next
			}
		}
		out = append(out, *e)
	}
	return out
}

// Since returns the events with Seq greater than seq.
func (j *Journal) Since(seq int64) []Event {
	chunks, n := j.snapshot()
	if seq < 0 {
		seq = 0
	}
	if seq >= int64(n) {
		return nil
	}
	out := make([]Event, 0, n-int(seq))
	for i := int(seq); i < n; i++ {
		out = append(out, chunks[i/chunkSize][i%chunkSize])
	}
	return out
}

// Changed returns a channel that is closed at the next Append. Use it to
// wait for news without polling.
func (j *Journal) Changed() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.changed == nil {
		// Made on demand: a journal nobody waits on allocates no channel
		// per Append.
		j.changed = make(chan struct{})
	}
	return j.changed
}

// Wait blocks until cond, evaluated over all events so far, returns true,
// or ctx ends. It re-evaluates cond after every Append.
func (j *Journal) Wait(ctx context.Context, cond func([]Event) bool) error {
	for {
		ch := j.Changed()
		if cond(j.Events()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// String renders the whole journal, one event per line, the way failure
// messages print it.
func (j *Journal) String() string {
	var b strings.Builder
	for _, e := range j.Events() {
		b.WriteString(e.Format(j.start))
		b.WriteByte('\n')
	}
	return b.String()
}

// Format renders e on one line, with its time relative to start.
func (e Event) Format(start time.Time) string {
	rel := e.Time.Sub(start)
	who := e.Source
	if e.Session != "" {
		who = e.Session
	}
	line := fmt.Sprintf("%4d %9.3fms %-16s %-24s %s", e.Seq, float64(rel.Microseconds())/1000, e.Kind, who, e.Text)
	if e.Fault != "" {
		line += " [fault: " + e.Fault + "]"
	}
	if e.Err != "" {
		line += " (error: " + e.Err + ")"
	}
	return strings.TrimRight(line, " ")
}

// Transcript returns the C:/S: lines of one SMTP session, in order,
// with TLS and AUTH outcomes as comments ("* TLS 1.3 …").
func (j *Journal) Transcript(session string) []string {
	var out []string
	for _, e := range j.Events(func(e Event) bool { return e.Session == session }) {
		switch e.Kind {
		case KindSMTPCommand:
			out = append(out, "C: "+e.Text)
		case KindSMTPReply:
			out = append(out, "S: "+e.Text)
		case KindSMTPConnect, KindSMTPTLS, KindSMTPAuth, KindSMTPMessage, KindSMTPDisconnect:
			out = append(out, "* "+e.Text)
		}
	}
	return out
}

// Sessions returns the IDs of the SMTP sessions opened at a host (all
// hosts when host is empty), in the order they connected.
func (j *Journal) Sessions(host string) []string {
	var out []string
	for _, e := range j.Events(func(e Event) bool {
		return e.Kind == KindSMTPConnect && (host == "" || e.Source == host)
	}) {
		out = append(out, e.Session)
	}
	return out
}

// Filters for Events.

// OfKind matches events of any of the given kinds.
func OfKind(kinds ...Kind) func(Event) bool {
	return func(e Event) bool {
		for _, k := range kinds {
			if e.Kind == k {
				return true
			}
		}
		return false
	}
}

// From matches events written by source (a host name, "dns", "relay"…).
func From(source string) func(Event) bool {
	return func(e Event) bool { return e.Source == source }
}
