package opensmtpd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
)

var _ harness.QueueLister = (*scenarioRelay)(nil)

// ListQueue lists OpenSMTPD's queue with `smtpctl show queue`, its
// envelopes (one a recipient) gathered by message: the message ID is the
// first 8 hex digits of an envelope's. The reason of a recipient is its
// envelope's last error, in full.
func (r *scenarioRelay) ListQueue(ctx context.Context) ([]harness.Queued, error) {
	out, code, err := r.o.ctr.Exec(ctx, "smtpctl", "show", "queue")
	if err != nil || code != 0 {
		return nil, fmt.Errorf("opensmtpd: smtpctl show queue: exit %d: %s%s", code, oneLine(out), errOrEmpty(err))
	}
	return parseQueueList(out, time.Now())
}

// parseQueueList reads the output of `smtpctl show queue` (see
// parseQueue for its fields); now turns "next", seconds from now, into a
// time.
func parseQueueList(out string, now time.Time) ([]harness.Queued, error) {
	list := []harness.Queued{}
	byID := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "|", 14)
		if len(f) < 13 || len(f[0]) != 16 {
			return nil, fmt.Errorf("opensmtpd: smtpctl show queue: %q: not an envelope line", line)
		}
		id := f[0][:8]
		i, ok := byID[id]
		if !ok {
			from := f[4]
			if from == "@" {
				from = "" // a bounce: the null sender
			}
			q := harness.Queued{ID: id, Queue: f[11], From: from, To: []harness.QueuedRcpt{}}
			if t, err := strconv.ParseInt(f[7], 10, 64); err == nil && t > 0 {
				q.Arrival = time.Unix(t, 0).UTC()
			}
			list = append(list, q)
			i = len(list) - 1
			byID[id] = i
		}
		q := &list[i]
		if n, err := strconv.Atoi(f[10]); err == nil && n > q.Attempts {
			q.Attempts = n
		}
		if next, err := strconv.ParseInt(f[12], 10, 64); err == nil && next > 0 && f[11] == "pending" {
			if t := now.Add(time.Duration(next) * time.Second).UTC(); q.NextTry.IsZero() || t.Before(q.NextTry) {
				q.NextTry = t
			}
		}
		if f[11] == "inflight" {
			q.Queue = "inflight"
		}
		reason := ""
		if len(f) == 14 {
			reason = strings.TrimSpace(f[13])
		}
		q.To = append(q.To, harness.QueuedRcpt{To: f[5], Reason: reason})
	}
	return list, nil
}
