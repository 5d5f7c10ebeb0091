package exim

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
)

var _ harness.QueueLister = (*scenarioRelay)(nil)

// queueListScript lists the queue (exim -bp), then the deferrals each
// message's log has ("ID:TIME RCPT R=… defer (…) …: reason").
const queueListScript = `exim -bp && echo '` + deferMarker + `' && cd ` + spoolDir + `/msglog && ` +
	`{ grep -H ' defer ' -- * 2>/dev/null || true; }`

const deferMarker = "--- mxsim: deferrals"

var (
	// " 0m   320 1rAbCd-0001Ef-Gh <alice@origin.test> *** frozen ***"
	queueListRE = regexp.MustCompile(`^\s*(\d+)([smhdw])\s+(\S+)\s+([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})\s+<([^>]*)>(.*)$`)
	// "1rAbCd-0001Ef-Gh:2026-12-02 13:00:00 bob@example.test R=dnslookup T=remote_smtp defer (-44) H=…: SMTP error …: 451 …"
	deferRE = regexp.MustCompile(`^([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}):\S+ \S+ (?:== )?(\S+)(?: <[^>]*>)? (R=.*)$`)
)

// ListQueue lists Exim's queue with `exim -bp`: each message with its age
// (as its arrival), size and recipients not yet delivered, and each
// recipient's last deferral from the message's log, in full. A frozen
// message is in queue "frozen".
func (r *scenarioRelay) ListQueue(ctx context.Context) ([]harness.Queued, error) {
	out, err := r.x.ctr.Sh(ctx, queueListScript)
	if err != nil {
		return nil, fmt.Errorf("exim: exim -bp: %w", err)
	}
	return parseQueueList(out, time.Now())
}

// parseQueueList reads the output of queueListScript; now turns the ages
// exim -bp gives into times.
func parseQueueList(out string, now time.Time) ([]harness.Queued, error) {
	list := []harness.Queued{}
	byID := map[string]int{}
	reasons := map[string]string{} // "ID rcpt" -> the last deferral
	attempts := map[string]int{}
	cur := -1
	inDefers := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		switch {
		case t == deferMarker:
			inDefers = true
		case inDefers:
			if m := deferRE.FindStringSubmatch(t); m != nil {
				reasons[m[1]+" "+m[2]] = m[3]
				attempts[m[1]]++
			}
		case t == "":
			cur = -1
		case queueListRE.MatchString(line):
			m := queueListRE.FindStringSubmatch(line)
			n, _ := strconv.Atoi(m[1])
			unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
			q := harness.Queued{ID: m[4], Queue: "queued", From: m[5], Size: exSize(m[3]), Arrival: now.Add(-time.Duration(n) * unit).UTC(), To: []harness.QueuedRcpt{}}
			if strings.Contains(m[6], "frozen") {
				q.Queue = "frozen"
			}
			list = append(list, q)
			cur = len(list) - 1
			byID[q.ID] = cur
		case cur < 0:
			return nil, fmt.Errorf("exim: exim -bp: %q: not a message or a recipient", line)
		case strings.HasPrefix(t, "D "):
			// delivered already
		default:
			to, _, _ := strings.Cut(t, " ")
			list[cur].To = append(list[cur].To, harness.QueuedRcpt{To: to})
		}
	}
	for i := range list {
		q := &list[i]
		q.Attempts = attempts[q.ID]
		if q.Attempts > 0 && q.Queue == "queued" {
			q.Queue = "deferred"
		}
		for j := range q.To {
			q.To[j].Reason = reasons[q.ID+" "+q.To[j].To]
		}
	}
	return list, nil
}

// exSize reads the size exim -bp writes: "320", "2.9K", "1.2M".
func exSize(s string) int64 {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1024, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1024*1024, strings.TrimSuffix(s, "M")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return int64(f * mult)
}
