package load

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
)

// Kind is what a chaos event does.
type Kind string

// Chaos event kinds. Every one is temporary (4yz, SERVFAIL, a refused
// connection): a correct relay delivers everything once the event ends.
const (
	KindDown      Kind = "down"      // the hosts refuse connections
	KindGreylist  Kind = "greylist"  // the hosts greylist (451 4.7.1 to a first attempt, Window)
	KindReply     Kind = "reply"     // the hosts answer Stage with Reply (a 4xx), to Match at MAIL and RCPT
	KindSlow      Kind = "slow"      // the hosts wait Delay before they answer Stage
	KindRateLimit Kind = "ratelimit" // the hosts take Count messages per Per from one client, then 421
	KindServFail  Kind = "servfail"  // the DNS answers SERVFAIL to the Domains' MX queries
)

// Values lists the kinds.
func (Kind) Values() []string {
	return []string{string(KindDown), string(KindGreylist), string(KindReply), string(KindSlow), string(KindRateLimit), string(KindServFail)}
}

// Stages a reply or slow event can act at (fakesmtp's stage names).
var stageNames = []string{"greeting", "ehlo", "mail", "rcpt", "data", "end_of_data"}

// Event is one change of the network during a run: from At (after the
// first submission) for For.
type Event struct {
	At      time.Duration `json:"at"`
	For     time.Duration `json:"for"`
	Kind    Kind          `json:"kind"`
	Hosts   []string      `json:"hosts,omitempty"`   // down, greylist, reply, slow, ratelimit
	Domains []string      `json:"domains,omitempty"` // servfail
	Stage   string        `json:"stage,omitempty"`   // reply, slow
	Reply   string        `json:"reply,omitempty"`   // reply: "451 4.3.0 try again"
	Match   string        `json:"match,omitempty"`   // reply at mail or rcpt: address glob ("*r1@*"); "" any
	Delay   time.Duration `json:"delay,omitempty"`   // slow
	Window  time.Duration `json:"window,omitempty"`  // greylist
	Count   int           `json:"count,omitempty"`   // ratelimit
	Per     time.Duration `json:"per,omitempty"`     // ratelimit
	Pos     string        `json:"pos,omitempty"`     // file:line:col of a YAML schedule
}

// End is when the event ends.
func (e Event) End() time.Duration { return e.At + e.For }

// Label says the event in a few words: "mx3 down", "servfail 12 domains".
func (e Event) Label() string {
	what := ""
	switch {
	case len(e.Domains) > 3:
		what = fmt.Sprintf("%d domains", len(e.Domains))
	case len(e.Domains) > 0:
		what = short(e.Domains)
	default:
		what = short(e.Hosts)
	}
	switch e.Kind {
	case KindServFail:
		return "servfail " + what
	case KindReply:
		s := fmt.Sprintf("%s %s at %s", what, strings.Fields(e.Reply + " ")[0], e.Stage)
		if e.Match != "" {
			s += " to " + e.Match
		}
		return s
	case KindSlow:
		return fmt.Sprintf("%s slow %s at %s", what, e.Delay, e.Stage)
	case KindGreylist:
		return fmt.Sprintf("%s greylist %s", what, e.Window)
	case KindRateLimit:
		return fmt.Sprintf("%s ratelimit %d/%s", what, e.Count, e.Per)
	}
	return what + " " + string(e.Kind)
}

// short names hosts without the zone.
func short(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimSuffix(n, "."+Zone)
	}
	return strings.Join(out, ",")
}

// Schedule is a run's chaos: events in order of start.
type Schedule struct {
	Name   string  `json:"name"` // none, flaky, storm, or the file
	Seed   uint64  `json:"seed"`
	Events []Event `json:"events"`
}

// String prints the schedule, one event a line: the same seed and run
// length print the same text.
func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos %s (seed %d): %d event(s)\n", s.Name, s.Seed, len(s.Events))
	for _, e := range s.Events {
		fmt.Fprintf(&b, "  +%-8s for %-8s %s\n", e.At.Round(100*time.Millisecond), e.For.Round(100*time.Millisecond), e.Label())
	}
	return b.String()
}

// Builtins are the built-in schedules' names.
func Builtins() []string { return []string{"none", "flaky", "storm"} }

// Builtin returns the built-in schedule name for a run of length length
// over the hosts and domains given, drawn from seed:
//
//   - none: no event;
//   - flaky: a few events that do not overlap much: two hosts down for a
//     while, one host greylisting, one answering 451 to a share of the
//     recipients, one slow at DATA, one rate-limiting, and a SERVFAIL
//     burst on a twentieth of the domains;
//   - storm: three times as many, overlapping, the primary MX hosts of
//     many domains down at once, 4xx at MAIL and RCPT, and SERVFAIL on a
//     fifth of the domains.
func Builtin(name string, seed uint64, length time.Duration, hosts, domains []string) (Schedule, error) {
	s := Schedule{Name: name, Seed: seed}
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	pick := func(from []string, n int) []string {
		n = max(1, min(n, len(from)))
		idx := rng.Perm(len(from))[:n]
		slices.Sort(idx)
		out := make([]string, n)
		for i, k := range idx {
			out[i] = from[k]
		}
		return out
	}
	frac := func(lo, hi float64) time.Duration {
		return time.Duration((lo + rng.Float64()*(hi-lo)) * float64(length)).Round(100 * time.Millisecond)
	}
	add := func(e Event) { s.Events = append(s.Events, e) }
	rounds := 0
	switch name {
	case "none":
		return s, nil
	case "flaky":
		rounds = 1
	case "storm":
		rounds = 3
	default:
		return s, fmt.Errorf("load: %w: chaos %q: want %s, or a YAML file", ErrConfig, name, strings.Join(Builtins(), ", "))
	}
	if len(hosts) == 0 {
		return s, nil
	}
	for range rounds {
		for range 2 {
			add(Event{At: frac(0.05, 0.6), For: frac(0.08, 0.2), Kind: KindDown, Hosts: pick(hosts, rounds)})
		}
		add(Event{At: frac(0.1, 0.5), For: frac(0.2, 0.35), Kind: KindGreylist, Hosts: pick(hosts, 1), Window: time.Second})
		add(Event{At: frac(0.1, 0.6), For: frac(0.1, 0.2), Kind: KindReply, Hosts: pick(hosts, rounds), Stage: "rcpt",
			Reply: "451 4.3.0 mxsim chaos: try again later", Match: "*r1@*"})
		add(Event{At: frac(0.1, 0.6), For: frac(0.1, 0.25), Kind: KindSlow, Hosts: pick(hosts, 1), Stage: "data", Delay: 300 * time.Millisecond})
		add(Event{At: frac(0.1, 0.6), For: frac(0.1, 0.25), Kind: KindRateLimit, Hosts: pick(hosts, 1), Count: 20, Per: time.Second})
		if len(domains) > 0 {
			add(Event{At: frac(0.1, 0.7), For: frac(0.05, 0.12), Kind: KindServFail, Domains: pick(domains, len(domains)*rounds*rounds/20)})
		}
		if rounds > 1 {
			add(Event{At: frac(0.1, 0.6), For: frac(0.1, 0.2), Kind: KindReply, Hosts: pick(hosts, 2), Stage: "mail",
				Reply: "421 4.3.2 mxsim chaos: closing"})
			add(Event{At: frac(0.2, 0.5), For: frac(0.1, 0.2), Kind: KindDown, Hosts: pick(hosts, len(hosts)/3)})
		}
	}
	s.sort()
	return s, nil
}

func (s *Schedule) sort() {
	slices.SortStableFunc(s.Events, func(a, b Event) int { return int(a.At - b.At) })
}

// modify applies a host event to b.
func (e Event) modify(b *fakesmtp.Behavior) error {
	switch e.Kind {
	case KindDown:
		b.State = fakesmtp.Down
	case KindGreylist:
		b.Greylist = &fakesmtp.Greylist{Window: e.Window}
	case KindReply:
		r, err := fakesmtp.ParseReply(e.Reply)
		if err != nil {
			return err
		}
		rules := stageRules(&b.Replies, e.Stage)
		if rules == nil {
			return fmt.Errorf("stage %q: want one of %s", e.Stage, strings.Join(stageNames, ", "))
		}
		*rules = append(*rules, fakesmtp.Rule{Match: e.Match, Reply: r})
	case KindSlow:
		d := stageDelay(&b.Delays, e.Stage)
		if d == nil {
			return fmt.Errorf("stage %q: want one of %s", e.Stage, strings.Join(stageNames, ", "))
		}
		*d = e.Delay
	case KindRateLimit:
		b.Limits.MessagesPerClient = &fakesmtp.RateLimit{Count: e.Count, Per: e.Per}
	}
	return nil
}

func stageRules(r *fakesmtp.Replies, stage string) *[]fakesmtp.Rule {
	switch stage {
	case "greeting":
		return &r.Greeting
	case "ehlo":
		return &r.EHLO
	case "mail":
		return &r.Mail
	case "rcpt":
		return &r.Rcpt
	case "data":
		return &r.Data
	case "end_of_data":
		return &r.EndOfData
	}
	return nil
}

func stageDelay(d *fakesmtp.Delays, stage string) *time.Duration {
	switch stage {
	case "greeting":
		return &d.Greeting
	case "ehlo":
		return &d.EHLO
	case "mail":
		return &d.Mail
	case "rcpt":
		return &d.Rcpt
	case "data":
		return &d.Data
	case "end_of_data":
		return &d.EndOfData
	}
	return nil
}

// check reports what is wrong with e on its own (not which hosts exist).
func (e Event) check() []string {
	var bad []string
	if e.At < 0 {
		bad = append(bad, "at: want 0 or more")
	}
	if e.For <= 0 {
		bad = append(bad, "for: want a duration above 0")
	}
	switch e.Kind {
	case KindServFail:
		if len(e.Domains) == 0 {
			bad = append(bad, "domains: servfail needs the domains it fails")
		}
		if len(e.Hosts) > 0 {
			bad = append(bad, "hosts: servfail acts on domains, not hosts")
		}
		return bad
	case KindDown, KindGreylist, KindReply, KindSlow, KindRateLimit:
	case "":
		return append(bad, "kind: missing (want "+strings.Join(Kind("").Values(), ", ")+")")
	default:
		return append(bad, fmt.Sprintf("kind %q: want %s", e.Kind, strings.Join(Kind("").Values(), ", ")))
	}
	if len(e.Hosts) == 0 {
		bad = append(bad, "hosts: "+string(e.Kind)+" needs the hosts it acts on")
	}
	if e.Kind == KindReply {
		r, err := fakesmtp.ParseReply(e.Reply)
		switch {
		case e.Reply == "":
			bad = append(bad, `reply: missing (want a 4xx such as "451 4.3.0 try again")`)
		case err != nil:
			bad = append(bad, "reply: "+err.Error())
		case r.Code < 400 || r.Code > 499:
			bad = append(bad, fmt.Sprintf("reply %q: chaos is temporary, want a 4xx", e.Reply))
		}
	}
	var b fakesmtp.Behavior
	if err := e.modify(&b); err != nil {
		bad = append(bad, err.Error())
	} else if e.Kind != KindReply || len(bad) == 0 {
		if err := b.Validate(); err != nil {
			bad = append(bad, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	if e.Kind == KindSlow && e.Delay <= 0 {
		bad = append(bad, "delay: want a duration above 0")
	}
	return bad
}

// chaos applies a schedule to a running network. Each host's behaviour
// is recomputed from its behaviour at start and the events active on
// it, so events that overlap on one host add up and end one by one.
type chaos struct {
	sched  Schedule
	base   map[string]fakesmtp.Behavior
	active map[int]bool
	host   func(name string) *fakesmtp.Host
	dns    *fakedns.Server
	note   func(format string, args ...any)
}

// transition is a start or an end of event i, at.
type transition struct {
	at    time.Duration
	i     int
	start bool
}

func (s Schedule) transitions() []transition {
	var ts []transition
	for i, e := range s.Events {
		ts = append(ts, transition{e.At, i, true}, transition{e.End(), i, false})
	}
	slices.SortStableFunc(ts, func(a, b transition) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		// An end before a start at the same time.
		if a.start != b.start {
			if a.start {
				return 1
			}
			return -1
		}
		return 0
	})
	return ts
}

// apply starts or ends an event.
func (c *chaos) apply(t transition) error {
	e := c.sched.Events[t.i]
	c.active[t.i] = t.start
	verb := "chaos start"
	if !t.start {
		verb = "chaos end"
	}
	c.note("%s: %s", verb, e.Label())
	if e.Kind == KindServFail {
		for _, d := range e.Domains {
			if t.start {
				if err := c.dns.SetFault(fakedns.Fault{Name: d, Type: "MX", Kind: fakedns.ServFail}); err != nil {
					return err
				}
			} else {
				c.dns.ClearFault(d, "MX")
			}
		}
		return nil
	}
	for _, h := range e.Hosts {
		if err := c.recompute(h); err != nil {
			return err
		}
	}
	return nil
}

// recompute sets host h's behaviour: its behaviour at start with every
// active event on it applied, in schedule order.
func (c *chaos) recompute(h string) error {
	host := c.host(h)
	if host == nil {
		return fmt.Errorf("load: chaos: no host %s", h)
	}
	b, ok := c.base[h]
	if !ok {
		b = host.Behavior()
		c.base[h] = b
	}
	b = b.Clone()
	for i, e := range c.sched.Events {
		if c.active[i] && e.Kind != KindServFail && slices.Contains(e.Hosts, h) {
			if err := e.modify(&b); err != nil {
				return err
			}
		}
	}
	return host.SetBehavior(b)
}

// endAll ends every active event, so that the relay can drain.
func (c *chaos) endAll() error {
	var first error
	for i := range c.sched.Events {
		if c.active[i] {
			if err := c.apply(transition{i: i}); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// phaseAt labels the events active at d ("calm" when none).
func (s Schedule) phaseAt(d time.Duration) string {
	var on []string
	for _, e := range s.Events {
		if d >= e.At && d < e.End() {
			on = append(on, e.Label())
		}
	}
	if len(on) == 0 {
		return "calm"
	}
	return strings.Join(on, " + ")
}
