package harness

import (
	"context"
	"errors"
	"slices"
	"time"
)

// QueueLister is implemented by a relay under test that can show its
// queue as an operator reads it (postqueue -p, exim -bp): message by
// message, with why each recipient is still there. The sandbox's page
// shows it. QueueReporter, which the checks use, lists recipients only.
type QueueLister interface {
	// ListQueue returns the messages the relay holds, in the order the
	// relay lists them.
	ListQueue(ctx context.Context) ([]Queued, error)
}

// Queued is one message in the queue of a relay under test. The fields a
// relay does not know are left zero.
type Queued struct {
	ID       string       `json:"id"`                 // the relay's queue ID
	Queue    string       `json:"queue,omitempty"`    // the relay's name for where it is: "deferred", "active", "hold", …
	From     string       `json:"from"`               // envelope sender; "" for a bounce
	Arrival  time.Time    `json:"arrival,omitzero"`   // when the relay accepted it
	Size     int64        `json:"size,omitempty"`     // bytes
	Attempts int          `json:"attempts,omitempty"` // delivery attempts made so far
	NextTry  time.Time    `json:"next_try,omitzero"`  // when it is retried without a flush
	To       []QueuedRcpt `json:"to"`                 // the recipients still pending
}

// QueuedRcpt is one recipient of a queued message.
type QueuedRcpt struct {
	To string `json:"to"`
	// Reason is why the last attempt did not deliver to it, in full, as
	// the relay wrote it ("host mx1.example.test[…] said: 451 4.7.1 …");
	// "" before the first attempt or when the relay does not say.
	Reason string `json:"reason,omitempty"`
}

var _ QueueLister = (*reference)(nil)

// ListQueue lists the reference relay's queue: one entry per message and
// destination (recipient domain, or the smarthost), as it retries them,
// with the last attempt's error as the reason of each recipient.
func (ref *reference) ListQueue(ctx context.Context) ([]Queued, error) {
	if ref.r == nil {
		return nil, errors.New("reference relay: not started")
	}
	var out []Queued
	for _, q := range ref.r.Queue() {
		state := "deferred"
		if q.Attempts == 0 || !q.NextTry.After(ref.r.Journal().Now()) { // the network's time: NextTry is on its clock
			state = "active"
		}
		e := Queued{ID: q.ID, Queue: state, From: q.From, Attempts: q.Attempts, NextTry: q.NextTry}
		for _, to := range slices.Clone(q.To) {
			e.To = append(e.To, QueuedRcpt{To: to, Reason: q.LastError})
		}
		out = append(out, e)
	}
	return out, nil
}
