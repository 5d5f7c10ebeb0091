package postfix

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
)

var _ harness.QueueLister = (*scenarioRelay)(nil)

// ListQueue lists Postfix's queue as `postqueue -j` writes it: one entry
// per message, with its queue (incoming, active, deferred, hold,
// corrupt), arrival time, size and each recipient's delay reason in full.
func (r *scenarioRelay) ListQueue(ctx context.Context) ([]harness.Queued, error) {
	out, code, err := r.p.exec(ctx, "postqueue", "-j")
	if err != nil || code != 0 {
		return nil, fmt.Errorf("postfix: postqueue -j: exit %d: %s%v", code, strings.TrimSpace(out), errOrEmpty(err))
	}
	return parseQueueList(out)
}

// parseQueueList reads the output of postqueue -j, one JSON object a line
// (postqueue(1), "JSON OBJECT FORMAT").
func parseQueueList(out string) ([]harness.Queued, error) {
	list := []harness.Queued{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var m struct {
			Queue      string `json:"queue_name"`
			ID         string `json:"queue_id"`
			Arrival    int64  `json:"arrival_time"`
			Size       int64  `json:"message_size"`
			Sender     string `json:"sender"`
			Recipients []struct {
				Address string `json:"address"`
				Reason  string `json:"delay_reason"`
			} `json:"recipients"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("postfix: postqueue -j: %q: %w", line, err)
		}
		q := harness.Queued{ID: m.ID, Queue: m.Queue, From: m.Sender, Size: m.Size, To: []harness.QueuedRcpt{}}
		if m.Arrival > 0 {
			q.Arrival = time.Unix(m.Arrival, 0).UTC()
		}
		for _, rc := range m.Recipients {
			q.To = append(q.To, harness.QueuedRcpt{To: rc.Address, Reason: rc.Reason})
		}
		list = append(list, q)
	}
	return list, nil
}
