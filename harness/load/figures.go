package load

import (
	"slices"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// summarize returns the percentiles of lats (sorted in place).
func summarize(lats []time.Duration) Latency {
	if len(lats) == 0 {
		return Latency{}
	}
	slices.Sort(lats)
	at := func(q float64) time.Duration {
		i := int(q * float64(len(lats)-1))
		return lats[i]
	}
	return Latency{N: len(lats), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: lats[len(lats)-1]}
}

// timeline counts deliveries in about 120 bins from start, each a
// multiple of 100 ms.
func timeline(start time.Time, deliveries map[string][]harness.Delivery) []Bin {
	var last time.Duration
	for _, ds := range deliveries {
		for _, d := range ds {
			last = max(last, d.Time.Sub(start))
		}
	}
	width := max(100*time.Millisecond, (last / 120).Round(100*time.Millisecond))
	n := int(last/width) + 1
	bins := make([]Bin, n)
	for i := range bins {
		bins[i].At = time.Duration(i) * width
	}
	for _, ds := range deliveries {
		for _, d := range ds {
			if i := int(d.Time.Sub(start) / width); i >= 0 && i < n {
				bins[i].Count++
			}
		}
	}
	return bins
}

// histogram counts latencies (sorted) in about 40 bins.
func histogram(lats []time.Duration) []Bin {
	if len(lats) == 0 {
		return nil
	}
	top := lats[len(lats)-1]
	width := max(time.Millisecond, top/40)
	bins := make([]Bin, int(top/width)+1)
	for i := range bins {
		bins[i].At = time.Duration(i) * width
	}
	for _, l := range lats {
		bins[max(0, int(l/width))].Count++
	}
	return bins
}

// preference measures whether the relay honoured MX preference under
// load: of the first attempts per (message, domain), made while at
// least one host of the domain's best preference was up, the share at
// such a host. It reads the relay's own attempts (relay.attempt: "…
// id=ID to=a,b", Peer the host); a relay that reports none leaves it at 0.
func (r *Result) preference(attempts []journal.Event, doms map[string]domain) {
	seen := map[string]bool{}
	for _, e := range attempts {
		id := field(e.Text, "id=")
		to := recipientsOf(e)
		if id == "" || len(to) == 0 || e.Peer == "" {
			continue
		}
		_, dom, _ := strings.Cut(strings.ToLower(to[0]), "@")
		key := id + "|" + dom
		if seen[key] {
			continue
		}
		seen[key] = true
		d, ok := doms[dom]
		if !ok || len(d.MX) == 0 {
			continue
		}
		best := d.best()
		at := e.Time.Sub(r.Start)
		if !slices.ContainsFunc(best, func(h string) bool { return !r.Chaos.down(h, at) }) {
			continue // no best host was up: any choice is right
		}
		r.FirstAttempts++
		if slices.Contains(best, strings.ToLower(strings.TrimSuffix(e.Peer, "."))) {
			r.FirstAtBest++
		}
	}
	if r.FirstAttempts > 0 {
		r.PreferenceShare = float64(r.FirstAtBest) / float64(r.FirstAttempts)
	}
}

// field returns the value after key in a "k=v k=v" text.
func field(text, key string) string {
	i := strings.Index(text, key)
	if i < 0 {
		return ""
	}
	v := text[i+len(key):]
	if j := strings.IndexAny(v, " :,"); j >= 0 {
		v = v[:j]
	}
	return v
}

// down reports whether the schedule has host h down at d.
func (s Schedule) down(h string, d time.Duration) bool {
	for _, e := range s.Events {
		if e.Kind == KindDown && d >= e.At && d < e.End() && slices.Contains(e.Hosts, h) {
			return true
		}
	}
	return false
}
