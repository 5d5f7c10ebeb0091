package relay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// message is one accepted message.
type message struct {
	ID       string // queue ID
	From     string // envelope sender; "" for a DSN (null reverse-path)
	To       []string
	Data     []byte // as delivered, with the relay's Received header
	MsgID    string // Message-ID header
	Subject  string
	Received time.Time
}

// journal returns the journal view of m for recipients to.
func (m *message) journal(to []string) *journal.Message {
	return &journal.Message{
		From: m.From, To: append([]string(nil), to...), Size: len(m.Data),
		Subject: m.Subject, ID: m.MsgID, Raw: m.Data,
	}
}

// isDSN reports whether m is a bounce (null reverse-path, RFC 5321 §4.5.5).
func (m *message) isDSN() bool { return m.From == "" }

// job is one message towards one destination.
type job struct {
	msg      *message
	domain   string   // recipient domain; "" when delivered through the smarthost
	rcpts    []string // still pending
	attempts int
	lastErr  string
	nextTry  time.Time
	running  bool
	flush    bool // Flush was called while running: retry at once
}

// all returns every recipient of the message towards jb's destination,
// delivered or not.
func (jb *job) all() []string {
	var out []string
	for _, rc := range jb.msg.To {
		if jb.domain == "" || domainOf(rc) == jb.domain {
			out = append(out, rc)
		}
	}
	return out
}

// queue splits m into jobs, one per recipient domain (or one in all for
// the smarthost), due now.
func (r *Relay) queue(m *message) {
	now := r.j.Now()
	byDomain := map[string]*job{}
	var jobs []*job
	for _, rc := range m.To {
		d := ""
		if r.smart == nil {
			d = domainOf(rc)
		}
		jb := byDomain[d]
		if jb == nil {
			jb = &job{msg: m, domain: d, nextTry: now}
			byDomain[d] = jb
			jobs = append(jobs, jb)
		}
		jb.rcpts = append(jb.rcpts, rc)
	}
	r.mu.Lock()
	r.jobs = append(r.jobs, jobs...)
	r.notifyLocked()
	r.mu.Unlock()
	r.wake()
}

// domainOf returns the lower-cased domain of an address.
func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// wake nudges the runner without blocking.
func (r *Relay) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// notifyLocked tells Idle waiters that the state changed. r.mu is held.
func (r *Relay) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// run is the queue runner: it starts due jobs on at most maxWorkers
// workers and sleeps until the next job is due, a new one arrives, a worker
// finishes, or Flush is called. It ends when Close begins. Times are the
// journal's (Journal.Now): under a virtual clock the runner also wakes
// when the clock is moved on, and measures again.
func (r *Relay) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	clock := r.j.Clock()
	for {
		moved := clock.Moved() // before reading the time: a move after it wakes the runner
		now := r.j.Now()
		var start []*job
		next := now.Add(time.Hour)
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return
		}
		for _, jb := range r.jobs {
			if jb.running {
				continue
			}
			if !jb.nextTry.After(now) && r.running < maxWorkers {
				jb.running = true
				r.running++
				start = append(start, jb)
				continue
			}
			if jb.nextTry.Before(next) {
				next = jb.nextTry
			}
		}
		if len(start) > 0 {
			r.notifyLocked()
		}
		r.mu.Unlock()
		for _, jb := range start {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.work(jb)
			}()
		}
		timer.Reset(max(next.Sub(now), time.Millisecond))
		select {
		case <-r.quit:
			return
		case <-r.kick:
		case <-timer.C:
		case <-moved:
		}
	}
}

// work runs one delivery attempt of jb and files its outcome.
func (r *Relay) work(jb *job) {
	r.mu.Lock()
	rcpts := slices.Clone(jb.rcpts)
	if r.cfg.Bugs.ResendAccepted && jb.attempts > 0 {
		// Planted bug: rule 18 says each recipient has its own outcome;
		// here a retry goes to every recipient of the job again.
		rcpts = jb.all()
	}
	jb.attempts++
	r.mu.Unlock()

	results := r.deliver(r.ctx, jb.msg, jb.domain, rcpts)

	var deferred []string
	var lastDefer reply
	var bounced []rcptResult
	expired := r.j.Now().Sub(jb.msg.Received) >= r.cfg.MaxLifetime
	for _, res := range results {
		switch {
		case res.Verdict == verdictDelivered:
		case res.Verdict == verdictBounced && r.cfg.Bugs.RetryAfter5xx && res.Reply.Host != "" && !r.closing():
			// Planted bug: rule 14 says a 5yz reply is final.
			deferred = append(deferred, res.Rcpt)
			lastDefer = res.Reply
			r.j.Append(journal.Event{Kind: journal.KindRelayDefer, Source: source, Code: res.Reply.Code,
				Text: fmt.Sprintf("id=%s to=%s: %s", jb.msg.ID, res.Rcpt, res.Reply)})
		case res.Verdict == verdictBounced:
			bounced = append(bounced, res)
		case r.cfg.Bugs.BounceOn4xx && !r.closing():
			// Planted bug: rules 13 and 17 say a temporary failure is retried.
			bounced = append(bounced, res)
		case r.closing():
			// Closing: keep the recipient queued, say nothing more (the
			// attempt was stopped, or cut, by Close; see there).
			deferred = append(deferred, res.Rcpt)
		case expired:
			// RFC 5321 §4.5.4.1: give up after the configured lifetime (rule 15).
			res.Reply = reply{Code: codeTransactionFail, Status: statusExpired,
				Text: fmt.Sprintf("delivery time expired after %s, last error: %s", r.cfg.MaxLifetime, res.Reply)}
			res.Verdict = verdictBounced
			bounced = append(bounced, res)
		default:
			deferred = append(deferred, res.Rcpt)
			lastDefer = res.Reply
			r.j.Append(journal.Event{Kind: journal.KindRelayDefer, Source: source, Code: res.Reply.Code,
				Text: fmt.Sprintf("id=%s to=%s: %s", jb.msg.ID, res.Rcpt, res.Reply)})
		}
	}
	for _, b := range bounced {
		text := fmt.Sprintf("id=%s to=%s: %s", jb.msg.ID, b.Rcpt, b.Reply)
		if jb.msg.isDSN() {
			// RFC 5321 §6.1: never send a notification about a notification.
			text += " (undeliverable DSN: dropped)"
		}
		r.j.Append(journal.Event{Kind: journal.KindRelayBounce, Source: source, Code: b.Reply.Code, Text: text,
			Message: jb.msg.journal([]string{b.Rcpt})})
	}
	if len(bounced) > 0 && !jb.msg.isDSN() && !r.closing() {
		r.bounce(jb.msg, bounced)
	}

	r.mu.Lock()
	jb.running = false
	r.running--
	jb.rcpts = deferred
	if len(deferred) > 0 && r.cfg.Bugs.NoRetry && !r.closing() {
		// Planted bug: rule 17 says deferred mail is retried; here it is lost.
		r.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source,
			Text: fmt.Sprintf("id=%s to=%s: dropped, never retried", jb.msg.ID, strings.Join(deferred, ","))})
		deferred, jb.rcpts = nil, nil
	}
	if len(deferred) == 0 {
		r.jobs = slices.DeleteFunc(r.jobs, func(x *job) bool { return x == jb })
	} else {
		if lastDefer.Code != 0 {
			jb.lastErr = lastDefer.String()
		}
		jb.nextTry = r.j.Now().Add(r.retryDelay())
		if jb.flush {
			jb.nextTry = r.j.Now()
		}
	}
	jb.flush = false
	r.notifyLocked()
	r.mu.Unlock()
	r.wake()
}

// retryDelay is how long a deferred job waits before its next attempt:
// the retry interval (rule 15, RFC 5321 §4.5.4.1: the sender MUST delay
// retrying).
func (r *Relay) retryDelay() time.Duration {
	if r.cfg.Bugs.RetryAtOnce {
		// Planted bug: hammer the destination. A tenth of a second, not
		// zero, keeps the bug's connections under ten a second.
		return hammerDelay
	}
	return r.cfg.RetryInterval
}

// hammerDelay is the retry delay of the planted bug RetryAtOnce.
const hammerDelay = 100 * time.Millisecond

// Flush makes every deferred message due now, like postqueue -f. It
// returns at once; a delivery attempt in progress is retried right after.
func (r *Relay) Flush() {
	now := r.j.Now()
	r.mu.Lock()
	for _, jb := range r.jobs {
		if jb.running {
			jb.flush = true
		} else {
			jb.nextTry = now
		}
	}
	r.notifyLocked()
	r.mu.Unlock()
	r.wake()
}

// Idle waits until no delivery attempt is in progress and nothing is due
// now (deferred mail waiting for its retry time does not count). It returns
// ctx's error when ctx ends first and ErrClosed when the relay is closed.
func (r *Relay) Idle(ctx context.Context) error {
	for {
		r.mu.Lock()
		ch := r.changed
		closed := r.closed
		idle := r.running == 0
		now := r.j.Now()
		for _, jb := range r.jobs {
			if !jb.nextTry.After(now) {
				idle = false
			}
		}
		r.mu.Unlock()
		if closed {
			return fmt.Errorf("relay %s: idle: %w", r.cfg.Hostname, ErrClosed)
		}
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("relay %s: idle: %w", r.cfg.Hostname, ctx.Err())
		}
	}
}

// Queue returns a snapshot of the jobs still queued, one per message and
// destination (recipient domain, or the smarthost), in the order they were
// queued: deferred ones, and those whose attempt is in progress. After
// Idle it holds exactly the deferred mail.
func (r *Relay) Queue() []Queued {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Queued, 0, len(r.jobs))
	for _, jb := range r.jobs {
		out = append(out, Queued{
			ID: jb.msg.ID, From: jb.msg.From, To: slices.Clone(jb.rcpts),
			Attempts: jb.attempts, LastError: jb.lastErr, NextTry: jb.nextTry,
		})
	}
	return out
}

// Pending is one recipient still queued: deferred, or in an attempt in
// progress.
type Pending struct {
	ID   string // queue ID
	From string // envelope sender ("" for a DSN)
	To   string // the recipient
	Data []byte // the message as queued; shared, read only
	// Running says an attempt for it is in progress, or due now.
	Running bool
}

// Pending returns every recipient still queued, one entry each, in the
// order they were queued. A recipient leaves the listing only once its
// attempt is over and its outcome journaled (delivered at the host,
// relay.bounce, or deferred and still listed).
func (r *Relay) Pending() []Pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Pending
	now := r.j.Now()
	for _, jb := range r.jobs {
		for _, rc := range jb.rcpts {
			out = append(out, Pending{ID: jb.msg.ID, From: jb.msg.From, To: rc, Data: jb.msg.Data, Running: jb.running || !jb.nextTry.After(now)})
		}
	}
	return out
}

// Quiet reports, at one instant, whether the relay is idle as Idle means
// it (no attempt in progress, nothing due now), and when its next
// deferred job is due (the zero time when none waits). Whoever moves a
// virtual clock (journal.Clock) moves it no further than next while the
// relay is quiet: every retry then happens at its time.
func (r *Relay) Quiet() (quiet bool, next time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, time.Time{}
	}
	now := r.j.Now()
	quiet = r.running == 0
	for _, jb := range r.jobs {
		if jb.running || !jb.nextTry.After(now) {
			quiet = false
		}
		if next.IsZero() || jb.nextTry.Before(next) {
			next = jb.nextTry
		}
	}
	return quiet, next
}
