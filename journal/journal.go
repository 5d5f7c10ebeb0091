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
//     holds, so a test never sleeps;
//  5. a journal made by New keeps every event, as tests need; one made by
//     NewBounded (a long-running sandbox) keeps the last Limits.MaxEvents
//     events and the bytes of the last Limits.MaxMessages messages, and
//     says what it dropped: reads begin with a KindDropped event that
//     stands for the events no longer held, so a reader that comes back
//     with Since(seq) learns that it missed some instead of skipping them.
//
// A Journal is safe for concurrent use.
package journal

import (
	"context"
	"fmt"
	"slices"
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
	KindClientSend   Kind = "client.send"   // the harness client begins a transaction with the relay (MAIL FROM about to be sent); client.submit follows with the outcome
	KindClientSubmit Kind = "client.submit" // the harness client submitted a message to the relay (its outcome: Err and Code when refused)
	KindControl      Kind = "control"       // a live change to the network (state, record, fault)

	// The journal itself. Never stored: a bounded journal that has dropped
	// events begins each read with one (Dropped set), whose Seq is that of
	// the newest event dropped.
	KindDropped Kind = "journal.dropped"
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
	Dropped *Dropped `json:"dropped,omitempty"` // KindDropped only
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

	// AuthResults is the Authentication-Results value (RFC 8601) of the
	// checks the host made of the message ("mx1.example.test; spf=pass
	// smtp.mailfrom=…; dkim=pass header.d=…; dmarc=pass header.from=…"),
	// when it makes them (fakesmtp Behavior.Verify); "" otherwise.
	AuthResults string `json:"auth_results,omitempty"`

	// RawDropped is set, and Raw nil, when a bounded journal has dropped
	// the bytes to stay within its Limits; the rest is kept.
	RawDropped bool `json:"raw_dropped,omitempty"`
}

// Dropped counts what a bounded journal no longer holds, since it was
// made. It details a KindDropped event.
type Dropped struct {
	Events   int64 `json:"events"`   // events dropped, the oldest first: Seq 1 to Events
	Messages int64 `json:"messages"` // KindSMTPMessage events among them
	Raw      int64 `json:"raw"`      // message events held whose bytes were dropped (Message.RawDropped), counted when they were, whether the event is still held or not
}

// Limits bound what a journal made by NewBounded holds. Each zero value
// means no limit; negative values count as zero.
type Limits struct {
	// MaxEvents is how many events the journal holds: past it, the oldest
	// are dropped (Dropped.Events).
	MaxEvents int
	// MaxMessages is how many events keep the bytes of their message
	// (Message.Raw): past it the oldest lose them (Message.RawDropped) and
	// keep the envelope, size and headers.
	MaxMessages int
	// MaxMessageBytes bounds the bytes of the messages kept, the same way.
	// The newest message keeps its bytes even when it alone is larger.
	MaxMessageBytes int64
}

func (l Limits) bounded() bool {
	return l.MaxEvents > 0 || l.MaxMessages > 0 || l.MaxMessageBytes > 0
}

// chunkSize is how many events one block of the journal holds. Events are
// stored in fixed blocks rather than one growing slice: a busy journal
// (a load test records hundreds of thousands of events) then never copies
// what it holds, readers can walk the blocks without the lock, and a
// bounded journal frees its oldest events a block at a time.
const chunkSize = 512

type chunk = [chunkSize]Event

// A bounded journal releases the bytes of the messages it no longer keeps
// in batches: copying a block for each message (see release) would cost
// more than the append itself. Until then readers are given copies of
// those events without the bytes, so the batch is invisible but for the
// memory it holds: at most releaseBytes, or releaseCount messages.
const (
	releaseBytes = 1 << 20
	releaseCount = 256
)

// Journal is an ordered event log. Events are appended at the end and
// never change, but a bounded journal (NewBounded) drops its oldest and
// the bytes of its oldest messages.
//
// Readers take a view (the blocks, and which events they hold) under the
// lock, then read the events without it. This holds because a stored
// event is never written again: releasing message bytes copies the
// blocks concerned and swaps the copies into a new list of blocks, and
// dropping events drops whole blocks from a new list, so a view taken
// before still reads what it saw.
type Journal struct {
	mu      sync.Mutex
	chunks  []*chunk      // blocks held, oldest first; the last one is being filled
	base    int           // index of chunks[0][0]: a multiple of chunkSize
	first   int           // index of the oldest event held, = events dropped; events in [base, first) are dropped but still in a block
	n       int           // events appended: the index of the next one
	changed chan struct{} // closed at the next Append; nil until someone asks (Changed)
	clock   func() time.Time
	vclock  *Clock // UseClock's, or nil: the real time
	start   time.Time

	limits    Limits
	bounded   bool      // limits.bounded(): the one test Append makes for a journal that keeps everything
	dropped   Dropped   // totals
	droppedAt time.Time // Time of the newest event dropped

	// Message bytes, when MaxMessages or MaxMessageBytes is set. Events
	// that hold bytes are kept in raws, oldest first; dropping bytes pops
	// the oldest, so every event below rawFloor (the oldest still in
	// raws) that holds bytes has lost them. Their blocks still hold the
	// bytes until release: the events to release are in pending.
	rawLimited   bool
	raws         []int // indexes of the events whose bytes are kept
	rawBytes     int64 // their bytes
	rawFloor     int   // events below it keep no bytes
	pending      []int // indexes of events whose bytes are dropped, in blocks not yet released
	pendingBytes int64
}

// New returns an empty journal that keeps every event.
func New() *Journal {
	now := time.Now()
	return &Journal{clock: time.Now, start: now}
}

// UseClock makes c the journal's clock: events are stamped with its
// time, Start becomes its time now, and Now and Clock return it. Call it
// before the journal is shared, before the first Append. A nil c is the
// real time.
func (j *Journal) UseClock(c *Clock) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.vclock, j.clock, j.start = c, c.Now, c.Now()
}

// Clock returns the clock UseClock set: nil when the journal keeps the
// real time (a nil *Clock is the real time).
func (j *Journal) Clock() *Clock {
	if j == nil {
		return nil
	}
	return j.vclock
}

// Now returns the journal's time, by which it stamps its events: the
// virtual clock's (UseClock) or the real time. The components that
// share a journal read the network's time here. A nil Journal gives the
// real time.
func (j *Journal) Now() time.Time { return j.Clock().Now() }

// NewBounded returns an empty journal that holds no more than l allows,
// dropping the oldest events and message bytes first. Seq numbers go on
// from where they were: a dropped event leaves a gap that reads report
// with a KindDropped event. The zero Limits keep everything, as New.
func NewBounded(l Limits) *Journal {
	l.MaxEvents, l.MaxMessages, l.MaxMessageBytes = max(l.MaxEvents, 0), max(l.MaxMessages, 0), max(l.MaxMessageBytes, 0)
	j := New()
	j.limits, j.bounded = l, l.bounded()
	j.rawLimited = l.MaxMessages > 0 || l.MaxMessageBytes > 0
	return j
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
	i := j.n - j.base
	if i%chunkSize == 0 {
		j.chunks = append(j.chunks, new(chunk))
	}
	j.chunks[i/chunkSize][i%chunkSize] = e
	j.n++
	if j.bounded {
		j.enforce(&e)
	}
	ch := j.changed
	j.changed = nil
	j.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return e
}

// enforce brings a bounded journal back within its limits after e was
// appended. Called with j.mu held.
func (j *Journal) enforce(e *Event) {
	l := j.limits
	if j.rawLimited && e.Message != nil && e.Message.Raw != nil {
		j.raws = append(j.raws, j.n-1)
		j.rawBytes += int64(len(e.Message.Raw))
	}
	if l.MaxEvents > 0 {
		for j.n-j.first > l.MaxEvents {
			old := j.at(j.first)
			if old.Kind == KindSMTPMessage {
				j.dropped.Messages++
			}
			j.droppedAt = old.Time
			if len(j.raws) > 0 && j.raws[0] == j.first {
				// Dropped, but its block may stay a while: its bytes
				// count against the batch to release.
				j.popRaw()
			}
			j.first++
		}
		j.dropped.Events = int64(j.first)
		if k := (j.first - j.base) / chunkSize; k > 0 {
			// Whole blocks below the oldest event held: a new list
			// without them, so that they are freed once no reader's view
			// holds them. Bytes waiting for release there go with them.
			for len(j.pending) > 0 && j.pending[0] < j.base+k*chunkSize {
				j.pendingBytes -= int64(len(j.at(j.pending[0]).Message.Raw))
				j.pending = j.pending[1:]
			}
			j.chunks = slices.Clone(j.chunks[k:])
			j.base += k * chunkSize
		}
	}
	// The newest message keeps its bytes, whatever their size.
	for len(j.raws) > 1 && (l.MaxMessages > 0 && len(j.raws) > l.MaxMessages || l.MaxMessageBytes > 0 && j.rawBytes > l.MaxMessageBytes) {
		j.popRaw()
		j.dropped.Raw++
	}
	if j.rawLimited {
		j.rawFloor = j.n
		if len(j.raws) > 0 {
			j.rawFloor = j.raws[0]
		}
	}
	if j.pendingBytes > releaseBytes || len(j.pending) >= releaseCount {
		j.release()
	}
}

// popRaw moves the oldest event whose bytes are kept to pending.
func (j *Journal) popRaw() {
	i := j.raws[0]
	j.raws = j.raws[1:]
	if len(j.raws) == 0 {
		j.raws = nil // lets the queue's array go
	}
	n := int64(len(j.at(i).Message.Raw))
	j.rawBytes -= n
	j.pending = append(j.pending, i)
	j.pendingBytes += n
}

// release frees the bytes of the pending events: each block concerned is
// copied once, the copies changed, and swapped into a new list of blocks
// (stored events are never written: views taken earlier read them without
// the lock).
func (j *Journal) release() {
	chunks := slices.Clone(j.chunks)
	copied := -1
	for _, i := range j.pending { // in increasing order
		k := (i - j.base) / chunkSize
		if k != copied {
			c := new(chunk)
			*c = *chunks[k]
			chunks[k], copied = c, k
		}
		e := &chunks[k][(i-j.base)%chunkSize]
		e.Message = withoutRaw(e.Message)
	}
	j.chunks = chunks
	j.pending, j.pendingBytes = nil, 0
}

// withoutRaw returns a copy of m without its bytes (event details are
// shared and read-only).
func withoutRaw(m *Message) *Message {
	c := *m
	c.Raw, c.RawDropped = nil, true
	return &c
}

// at returns the stored event at index i, which must be held in a block.
// Called with j.mu held.
func (j *Journal) at(i int) *Event {
	i -= j.base
	return &j.chunks[i/chunkSize][i%chunkSize]
}

// view is what a reader sees of the journal: the events at indexes
// [first, n), read without the lock.
type view struct {
	chunks    []*chunk
	base      int
	first, n  int
	rawFloor  int
	dropped   Dropped
	droppedAt time.Time
	max       int
}

// snapshot returns the blocks and which events they hold. Events below n
// in these blocks are never written again, so the caller may read them
// without the lock.
func (j *Journal) snapshot() view {
	j.mu.Lock()
	defer j.mu.Unlock()
	return view{chunks: j.chunks[:len(j.chunks):len(j.chunks)], base: j.base, first: j.first, n: j.n,
		rawFloor: j.rawFloor, dropped: j.dropped, droppedAt: j.droppedAt, max: j.limits.MaxEvents}
}

// event returns the event at index i, in [v.first, v.n), as readers see
// it: without the bytes the journal has dropped but not yet released.
func (v *view) event(i int) Event {
	k := i - v.base
	e := v.chunks[k/chunkSize][k%chunkSize]
	if i < v.rawFloor && e.Message != nil && e.Message.Raw != nil {
		e.Message = withoutRaw(e.Message)
	}
	return e
}

// marker returns the KindDropped event that stands for the events after
// seq that v no longer holds, and whether there are any.
func (v *view) marker(seq int64) (Event, bool) {
	last := int64(v.first) // Seq of the newest event dropped
	if seq >= last {
		return Event{}, false
	}
	d := v.dropped
	return Event{
		Seq: last, Time: v.droppedAt, Kind: KindDropped, Source: "journal",
		Text:    fmt.Sprintf("%d events dropped (seq %d to %d): the journal keeps the last %d", last-seq, seq+1, last, v.max),
		Dropped: &d,
	}, true
}

// Len returns the number of events appended so far: the Seq of the
// newest. A bounded journal may hold fewer (Dropped).
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.n
}

// Dropped returns what the journal has dropped so far (always zero for a
// journal made by New).
func (j *Journal) Dropped() Dropped {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.dropped
}

// Limits returns the limits the journal was made with (zero for New).
func (j *Journal) Limits() Limits { return j.limits }

// At returns the event with the given Seq, if the journal holds it.
func (j *Journal) At(seq int64) (Event, bool) {
	v := j.snapshot()
	if seq <= int64(v.first) || seq > int64(v.n) {
		return Event{}, false
	}
	return v.event(int(seq - 1)), true
}

// Start returns the time the journal was created; reports show event times
// relative to it.
func (j *Journal) Start() time.Time { return j.start }

// Events returns a copy of the events for which every filter returns true
// (all events when no filter is given), in order. When the journal has
// dropped events, the first is a KindDropped event that stands for them
// (if it passes the filters).
func (j *Journal) Events(filters ...func(Event) bool) []Event {
	v := j.snapshot()
	var out []Event
	if len(filters) == 0 && v.n > 0 {
		out = make([]Event, 0, v.n-v.first+1)
	}
	keep := func(e Event) bool {
		for _, f := range filters {
			if !f(e) {
				return false
			}
		}
		return true
	}
	if m, ok := v.marker(0); ok && keep(m) {
		out = append(out, m)
	}
	for i := v.first; i < v.n; i++ {
		if e := v.event(i); keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// Since returns the events with Seq greater than seq. When some of them
// were dropped, the first event returned is a KindDropped event whose Seq
// is that of the newest dropped: a reader that goes on from the Seq of
// the last event it got misses nothing more.
func (j *Journal) Since(seq int64) []Event {
	v := j.snapshot()
	if seq < 0 {
		seq = 0
	}
	if seq >= int64(v.n) {
		return nil
	}
	from := max(int(seq), v.first)
	out := make([]Event, 0, v.n-from+1)
	if m, ok := v.marker(seq); ok {
		out = append(out, m)
	}
	for i := from; i < v.n; i++ {
		out = append(out, v.event(i))
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

// Wait blocks until cond, evaluated over all events held (Events), returns true,
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
