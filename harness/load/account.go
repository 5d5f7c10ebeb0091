package load

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// Result is what a run found: the accounting and the figures.
type Result struct {
	Relay       string    `json:"relay"`
	Seed        uint64    `json:"seed"`
	Chaos       Schedule  `json:"chaos"`
	Start       time.Time `json:"start"`
	SubmitEnd   time.Time `json:"submit_end"`
	DrainEnd    time.Time `json:"drain_end"`
	Interrupted bool      `json:"interrupted,omitempty"`

	// Submission.
	Planned     int            `json:"planned"`  // messages drawn
	Accepted    int            `json:"accepted"` // messages the relay accepted
	Refused     int            `json:"refused"`  // messages refused or failed at submission
	Refusals    map[string]int `json:"refusals,omitempty"`
	Pairs       int            `json:"pairs"`        // accepted (message, recipient) pairs
	ClientConns int            `json:"client_conns"` // connections to the relay

	// The exactly-once check.
	Delivered      int       `json:"delivered"`        // pairs delivered exactly once
	Bounced        int       `json:"bounced"`          // pairs bounced with a 5yz from the network
	Queued         int       `json:"queued"`           // pairs the relay still holds
	Lost           []Problem `json:"lost"`             // neither delivered, bounced nor queued
	Duplicated     []Problem `json:"duplicated"`       // delivered more than once, or delivered and bounced
	WronglyBounced []Problem `json:"wrongly_bounced"`  // bounced where the network said no 5yz
	QueueListed    bool      `json:"queue_listed"`     // the relay could list its queue
	Undecided      int       `json:"undecided"`        // pairs with no outcome from a relay that cannot list its queue: lost or queued
	JournalEvents  int       `json:"journal_events"`   // events appended
	JournalDropped int64     `json:"journal_dropped"`  // events the journal dropped: the accounting is then not trustworthy
	Strays         int       `json:"strays,omitempty"` // messages from another network delivered here

	// Figures.
	SubmitRate       float64        `json:"submit_rate"`       // accepted messages per second of submission
	DeliverRate      float64        `json:"deliver_rate"`      // delivered pairs per second, first submission to last delivery
	Latency          Latency        `json:"latency"`           // submit → delivered, over delivered pairs
	Phases           []PhaseLatency `json:"phases"`            // the same, by the chaos phase at submission
	Attempts         int            `json:"attempts"`          // relay.attempt events (0: the relay does not report them)
	AttemptsPerMsg   float64        `json:"attempts_per_msg"`  // per accepted message
	HostConns        int            `json:"host_conns"`        // connections to the hosts, accepted and refused
	ConnsPerMsg      float64        `json:"conns_per_msg"`     // per accepted message
	CPU              time.Duration  `json:"cpu_ns"`            // CPU time of this process (the reference relay included when it runs here)
	CPUPerMsg        time.Duration  `json:"cpu_per_msg_ns"`    // per accepted message
	FirstAttempts    int            `json:"first_attempts"`    // first attempts per (message, domain) while a best MX was up
	FirstAtBest      int            `json:"first_at_best"`     // of which at a host of the best preference
	PreferenceShare  float64        `json:"preference_share"`  // FirstAtBest / FirstAttempts
	Timeline         []Bin          `json:"timeline"`          // deliveries over time
	Histogram        []Bin          `json:"latency_histogram"` // latency counts
	PerHost          []HostFigures  `json:"per_host"`          // attempts and messages per host
	Notes            []string       `json:"notes,omitempty"`
	DeliveredByClass map[string]int `json:"delivered_by_class,omitempty"`
}

// Problem is one (message, recipient) pair the check found wrong, with
// the journal's evidence: the events about it, one a line.
type Problem struct {
	Message   string   `json:"message"` // its X-Mxsim-Submission
	Recipient string   `json:"recipient"`
	Why       string   `json:"why"`
	Evidence  []string `json:"evidence"`
}

// Latency summarises submit → delivered times.
type Latency struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// PhaseLatency is the latency of the pairs submitted during one phase.
type PhaseLatency struct {
	Phase   string  `json:"phase"`
	Latency Latency `json:"latency"`
}

// Bin is one bar of a chart: from At (since the start, or a latency)
// the Count.
type Bin struct {
	At    time.Duration `json:"at_ns"`
	Count int           `json:"count"`
}

// HostFigures are one host's counts.
type HostFigures struct {
	Host     string `json:"host"`
	Conns    int    `json:"conns"`    // connections accepted
	Refused  int    `json:"refused"`  // connections refused (down, limits)
	Messages int    `json:"messages"` // messages accepted
}

// OK reports whether the run proves what it must: nothing lost, nothing
// duplicated, nothing bounced without cause, and a journal that kept
// every event.
func (r *Result) OK() bool {
	return len(r.Lost) == 0 && len(r.Duplicated) == 0 && len(r.WronglyBounced) == 0 && r.Undecided == 0 && r.JournalDropped == 0 && !r.Interrupted
}

// maxListed bounds the problems listed with evidence; the counts cover
// every one.
const maxListed = 50

type accountInput struct {
	doms        []domain
	subs        []accepted
	planned     int
	refused     int
	refusals    map[string]int
	clientConns int
	queue       []harness.QueuedRecipient
	queueListed bool
	dsn         map[string]int64 // recipients reported failed by a DSN: the event
}

// account fills r from the journal j, closed (nothing moves any more).
func account(r *Result, j *journal.Journal, in accountInput) {
	r.Planned, r.Accepted, r.Refused, r.Refusals, r.ClientConns = in.planned, len(in.subs), in.refused, in.refusals, in.clientConns
	r.QueueListed = in.queueListed
	r.JournalEvents = j.Len()
	r.JournalDropped = j.Dropped().Events
	if r.JournalDropped > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("THE JOURNAL DROPPED %d EVENTS: the accounting below is not trustworthy", r.JournalDropped))
	}
	r.Strays = len(harness.Strays(j))
	class := map[string]domain{}
	for _, d := range in.doms {
		class[d.Name] = d
	}
	domOf := func(rcpt string) domain {
		_, dom, _ := strings.Cut(rcpt, "@")
		return class[dom]
	}

	pairs := map[string]*pair{} // by recipient: unique in the run
	for _, s := range in.subs {
		for _, to := range s.to {
			pairs[strings.ToLower(to)] = &pair{msg: s.id, to: to, at: s.at, seq: s.seq}
		}
	}
	r.Pairs = len(pairs)

	// Deliveries as the harness counts them (a delivery the relay may not
	// have seen the 250 of is none).
	deliveries := map[string][]harness.Delivery{}
	for _, d := range harness.Deliveries(j) {
		if d.From == "" {
			continue // a DSN
		}
		to := strings.ToLower(d.To)
		deliveries[to] = append(deliveries[to], d)
	}
	events := j.Events()
	bounces := map[string][]journal.Event{}
	var attempts []journal.Event
	hosts := map[string]*HostFigures{}
	hostOf := func(h string) *HostFigures {
		h = strings.ToLower(h)
		if hosts[h] == nil {
			hosts[h] = &HostFigures{Host: h}
		}
		return hosts[h]
	}
	for _, e := range events {
		switch e.Kind {
		case journal.KindRelayBounce:
			for _, to := range recipientsOf(e) {
				bounces[strings.ToLower(to)] = append(bounces[strings.ToLower(to)], e)
			}
		case journal.KindRelayAttempt:
			attempts = append(attempts, e)
		case journal.KindSMTPConnect:
			hostOf(e.Source).Conns++
		case journal.KindSMTPRefused:
			hostOf(e.Source).Refused++
		case journal.KindSMTPMessage:
			if e.Message != nil && e.Message.From != "" {
				hostOf(e.Source).Messages++
			}
		}
	}
	queued := map[string]bool{}
	for _, q := range in.queue {
		queued[strings.ToLower(q.To)] = true
	}

	var lats []time.Duration
	phaseLats := map[string][]time.Duration{}
	var phaseOrder []string
	var lost, dup, wrong []*pair
	why := map[*pair]string{}
	r.DeliveredByClass = map[string]int{}
	keys := make([]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		return pairs[keys[a]].seq < pairs[keys[b]].seq || pairs[keys[a]].seq == pairs[keys[b]].seq && keys[a] < keys[b]
	})
	var lastDelivery time.Time
	for _, k := range keys {
		p := pairs[k]
		ds, bs := deliveries[k], bounces[k]
		switch {
		case len(ds) > 1:
			dup = append(dup, p)
			why[p] = fmt.Sprintf("delivered %d times", len(ds))
		case len(ds) == 1 && (len(bs) > 0 || in.dsn[k] > 0):
			dup = append(dup, p)
			why[p] = "delivered and bounced"
		case len(ds) == 1:
			r.Delivered++
			r.DeliveredByClass[domOf(k).Class]++
			lat := ds[0].Time.Sub(p.at)
			lats = append(lats, lat)
			ph := r.Chaos.phaseAt(p.at.Sub(r.Start))
			if _, ok := phaseLats[ph]; !ok {
				phaseOrder = append(phaseOrder, ph)
			}
			phaseLats[ph] = append(phaseLats[ph], lat)
			if ds[0].Time.After(lastDelivery) {
				lastDelivery = ds[0].Time
			}
		case len(bs) > 0 || in.dsn[k] > 0:
			d := domOf(k)
			code := 0
			if len(bs) > 0 {
				code = bs[0].Code
			}
			// A DSN alone (a relay that does not report its decisions)
			// carries no code: it is right where the network says 5yz.
			if code >= 500 || code == 0 && d.Class != classMX || d.Name == "" {
				r.Bounced++
			} else {
				wrong = append(wrong, p)
				why[p] = fmt.Sprintf("bounced (%d) although the network said no 5yz: domain %s is %s", code, d.Name, d.Class)
			}
		case queued[k]:
			r.Queued++
		case !in.queueListed:
			r.Undecided++
			lost = append(lost, p)
			why[p] = "neither delivered nor bounced; the relay cannot list its queue, so it may still hold it"
		default:
			lost = append(lost, p)
			why[p] = "neither delivered, bounced nor in the relay's queue"
		}
	}
	if !in.queueListed && r.Undecided > 0 {
		r.Notes = append(r.Notes, "the relay cannot list its queue: recipients without an outcome are counted as undecided (lost, or still queued)")
	}

	r.Lost, r.Duplicated, r.WronglyBounced = problems(lost, why, j), problems(dup, why, j), problems(wrong, why, j)
	for _, list := range [][]Problem{r.Duplicated, r.WronglyBounced} {
		for i := range list {
			if seq := in.dsn[strings.ToLower(list[i].Recipient)]; seq > 0 && list[i].Evidence != nil {
				list[i].Evidence = append(list[i].Evidence, fmt.Sprintf("event %d smtp.message: a DSN reports it failed", seq))
			}
		}
	}
	evidence(j.Start(), events, deliveries, r.Lost, r.Duplicated, r.WronglyBounced)

	// Figures.
	if sub := r.SubmitEnd.Sub(r.Start).Seconds(); sub > 0 {
		r.SubmitRate = float64(r.Accepted) / sub
	}
	if span := lastDelivery.Sub(r.Start).Seconds(); span > 0 {
		r.DeliverRate = float64(r.Delivered) / span
	}
	r.Latency = summarize(lats)
	for _, ph := range phaseOrder {
		r.Phases = append(r.Phases, PhaseLatency{Phase: ph, Latency: summarize(phaseLats[ph])})
	}
	r.Attempts = len(attempts)
	for _, h := range hosts {
		r.HostConns += h.Conns + h.Refused
		r.PerHost = append(r.PerHost, *h)
	}
	slices.SortFunc(r.PerHost, func(a, b HostFigures) int { return strings.Compare(a.Host, b.Host) })
	if r.Accepted > 0 {
		r.AttemptsPerMsg = float64(r.Attempts) / float64(r.Accepted)
		r.ConnsPerMsg = float64(r.HostConns) / float64(r.Accepted)
		r.CPUPerMsg = r.CPU / time.Duration(r.Accepted)
	}
	r.preference(attempts, class)
	r.Timeline = timeline(r.Start, deliveries)
	r.Histogram = histogram(lats)
}

// pair is one accepted (message, recipient).
type pair struct {
	msg, to string
	at      time.Time
	seq     int64
}

// problems turns pairs into Problems; the first maxListed get the
// submission as their first evidence (evidence adds the rest).
func problems(list []*pair, why map[*pair]string, j *journal.Journal) []Problem {
	out := make([]Problem, 0, len(list))
	for i, p := range list {
		pr := Problem{Message: p.msg, Recipient: p.to, Why: why[p]}
		if i < maxListed {
			pr.Evidence = []string{fmt.Sprintf("event %d +%s client.submit: accepted by the relay", p.seq, p.at.Sub(j.Start()).Round(time.Millisecond))}
		}
		out = append(out, pr)
	}
	return out
}

// evidence adds to the listed problems the events that name their
// recipient: the relay's decisions and the hosts' deliveries.
func evidence(start time.Time, events []journal.Event, deliveries map[string][]harness.Delivery, lists ...[]Problem) {
	want := map[string]*Problem{}
	for _, list := range lists {
		for i := range list {
			if list[i].Evidence != nil {
				want[strings.ToLower(list[i].Recipient)] = &list[i]
			}
		}
	}
	if len(want) == 0 {
		return
	}
	for _, e := range events {
		if !strings.HasPrefix(string(e.Kind), "relay.") {
			continue
		}
		for _, to := range recipientsOf(e) {
			if p := want[strings.ToLower(to)]; p != nil && len(p.Evidence) < 40 {
				p.Evidence = append(p.Evidence, fmt.Sprintf("event %d +%s %s %s", e.Seq, e.Time.Sub(start).Round(time.Millisecond), e.Kind, e.Text))
			}
		}
	}
	for to, p := range want {
		for _, d := range deliveries[to] {
			p.Evidence = append(p.Evidence, fmt.Sprintf("event %d +%s smtp.message at %s in session %s: delivered", d.Seq, d.Time.Sub(start).Round(time.Millisecond), d.Host, d.Session))
		}
	}
}
