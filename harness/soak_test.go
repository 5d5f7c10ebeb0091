//go:build linux

package harness_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// The soak test runs only with MXSIM_SOAK=1 (`make soak`): it takes
// minutes. Its sizes can be changed for a shorter run.
const (
	soakGate        = "MXSIM_SOAK"
	soakCyclesVar   = "MXSIM_SOAK_CYCLES"   // environments started and closed; default 1000
	soakMessagesVar = "MXSIM_SOAK_MESSAGES" // messages through the flapping network; default 100000
	soakRateVar     = "MXSIM_SOAK_RATE"     // submissions per second at most; default 250
)

// soakWindow bounds the messages submitted but not yet delivered, so that
// the relay's queue stays short while hosts are down.
const soakWindow = 200

// soakPerSession is how many messages the soak client submits per SMTP
// session before it says QUIT and connects again.
const soakPerSession = 250

// soakFlaps is the flapping schedule: each host is down for Down out of
// every Period, starting Offset into the run. mx1 and mx2 are the two MX
// hosts of example.test (failover), mx.other.test the only one of
// other.test (deferral, then retry); at times all are down at once.
var soakFlaps = []struct {
	Host                 string
	Period, Down, Offset time.Duration
}{
	{"mx1.example.test", 3 * time.Second, 700 * time.Millisecond, 0},
	{"mx2.example.test", 4100 * time.Millisecond, 600 * time.Millisecond, 1500 * time.Millisecond},
	{"mx.other.test", 2300 * time.Millisecond, 400 * time.Millisecond, 700 * time.Millisecond},
}

// soakConfig is the network of the soak test: two domains, three hosts,
// the reference relay retrying deferred mail every 300ms.
func soakConfig() harness.Config {
	return harness.Config{
		Zones: []fakedns.Zone{
			{Name: "example.test", Records: map[string][]string{"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test."}}},
			{Name: "other.test", Records: map[string][]string{"@": {"MX 10 mx.other.test."}}},
		},
		Hosts: []harness.Host{{Name: "mx1.example.test"}, {Name: "mx2.example.test"}, {Name: "mx.other.test"}},
		Relay: harness.Reference(harness.ReferenceConfig{
			RetryInterval: 300 * time.Millisecond,
			MaxLifetime:   10 * time.Minute,
		}),
	}
}

// TestSoak starts and closes many environments, then sends many messages
// through one whose hosts go down and up on a schedule, and checks that
// nothing leaks (goroutines, descriptors, addresses) and that the hosts'
// journal agrees with what the relay says it delivered. It prints the
// figures docs/reliability.md quotes.
func TestSoak(t *testing.T) {
	if os.Getenv(soakGate) == "" {
		t.Skipf("soak test: run it with `make soak` (%s=1)", soakGate)
	}
	cycles := soakInt(t, soakCyclesVar, 1000)
	messages := soakInt(t, soakMessagesVar, 100000)
	rate := soakInt(t, soakRateVar, 250)

	// One cycle first, so that what the runtime opens once (the poller,
	// the resolver's files) is open before counting.
	soakCycle(t, 0)
	before := sampleProcess(t)
	ignore := goleak.IgnoreCurrent()
	t0 := time.Now()

	var plan harness.Plan
	t.Run("cycles", func(t *testing.T) { soakCycles(t, cycles) })
	t.Run("flapping", func(t *testing.T) { plan = soakFlapping(t, messages, rate) })

	// Addresses: a fresh network on the flapping network's very addresses
	// (DNS port, SMTP port, every host) binds again.
	if plan.Subnet.IsValid() {
		cfg := soakConfig()
		cfg.Plan = plan
		env, err := harness.New(context.Background(), cfg)
		if err != nil {
			t.Errorf("addresses: a new environment cannot bind the soak's addresses %v again: %v", plan, err)
		} else if err := env.Close(); err != nil {
			t.Errorf("addresses: close: %v", err)
		}
	}

	// Goroutines and descriptors: back to where they were.
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines: %v", err)
	}
	var after processSample
	for range 50 { // closed sockets are released at once; allow a moment anyway
		if after = sampleProcess(t); after.FDs <= before.FDs && after.Goroutines <= before.Goroutines {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after.FDs > before.FDs {
		t.Errorf("descriptors: %d open before, %d after: %v", before.FDs, after.FDs, fdTargets())
	}
	if after.Goroutines > before.Goroutines {
		t.Errorf("goroutines: %d before, %d after", before.Goroutines, after.Goroutines)
	}
	t.Logf("soak: whole run %s; goroutines %d before, %d after; descriptors %d before, %d after; peak RSS %s",
		time.Since(t0).Round(time.Second), before.Goroutines, after.Goroutines, before.FDs, after.FDs, mib(after.PeakRSS))
}

// soakCycles starts and closes n environments with the reference relay,
// each closed right after it accepted one message: the message is
// delivered or stays queued, never half-delivered.
func soakCycles(t *testing.T, n int) {
	durs := make([]time.Duration, 0, n)
	delivered := 0
	t0 := time.Now()
	for i := 1; i <= n; i++ {
		c0 := time.Now()
		delivered += soakCycle(t, i)
		durs = append(durs, time.Since(c0))
		if t.Failed() {
			return
		}
	}
	slices.Sort(durs)
	t.Logf("soak: cycles: %d environments (DNS, 3 hosts, CA, reference relay; one message each, closed at once) in %s: cycle median %s, p99 %s, max %s; %d messages delivered before Close, %d still queued",
		n, time.Since(t0).Round(time.Millisecond), durs[len(durs)/2].Round(time.Microsecond),
		durs[len(durs)*99/100].Round(time.Microsecond), durs[len(durs)-1].Round(time.Microsecond), delivered, n-delivered)
}

// soakCycle runs one environment: New, one message, Close. It returns
// how many messages a host accepted (0 or 1) and checks that the relay
// and the host agree on it.
func soakCycle(t *testing.T, i int) int {
	t.Helper()
	ctx := context.Background()
	env, err := harness.New(ctx, soakConfig())
	if err != nil {
		t.Fatalf("cycle %d: %v", i, err)
	}
	err = env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}})
	if cerr := env.Close(); cerr != nil {
		t.Errorf("cycle %d: close: %v", i, cerr)
	}
	if err != nil {
		t.Fatalf("cycle %d: send: %v", i, err)
	}
	j := env.Journal()
	accepted := len(j.Events(journal.OfKind(journal.KindSMTPMessage)))
	reported := len(j.Events(journal.OfKind(journal.KindRelayDeliver)))
	if accepted != reported {
		t.Errorf("cycle %d: hosts accepted %d messages, the relay reported %d delivered\n%s", i, accepted, reported, j)
	}
	for _, e := range j.Events(journal.From("relay")) {
		if cutByClose(e) {
			t.Errorf("cycle %d: teardown cut a session: %s", i, e.Format(j.Start()))
		}
	}
	return accepted
}

// soakFlapping sends n messages at up to rate a second through one
// environment while its hosts go down and up, and returns its plan.
func soakFlapping(t *testing.T, n, rate int) harness.Plan {
	ctx := context.Background()
	env, err := harness.New(ctx, soakConfig())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			env.Close()
		}
	}()
	dns := netip.MustParseAddrPort(env.DNSAddr())
	plan := harness.Plan{Subnet: netip.PrefixFrom(dns.Addr(), 24).Masked(), DNSPort: int(dns.Port()), SMTPPort: env.SMTPPort()}

	flapCtx, stopFlapping := context.WithCancel(ctx)
	flapDone := make(chan flapResult, 1)
	go func() { flapDone <- flap(flapCtx, env) }()
	defer stopFlapping()

	tr := newTracker(env.Journal())
	sub := &soakClient{addr: env.Relay().Submission().Addr}
	defer sub.close()
	usage0 := rusage(t)
	t0 := time.Now()
	for i := range n {
		// Pace: no faster than rate, and no more than soakWindow in flight.
		if d := time.Until(t0.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d)
		}
		for tr.poll(); i-len(tr.delivered) >= soakWindow; tr.poll() {
			time.Sleep(2 * time.Millisecond)
		}
		to := "bob@example.test"
		if i%3 == 2 {
			to = "carol@other.test"
		}
		if err := sub.send(soakID(i), to); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	submitted := time.Since(t0)
	sub.close() // an idle session would hold Close for its grace

	// Every host up again; what is deferred goes out at once.
	stopFlapping()
	fr := <-flapDone
	if fr.err != nil {
		t.Errorf("flapping: %v", fr.err)
	}
	if err := env.Flush(ctx); err != nil {
		t.Errorf("flush: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for tr.poll(); len(tr.delivered) < n && time.Now().Before(deadline); tr.poll() {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(t0)
	usage := rusage(t).sub(usage0)
	// What the environment keeps: mostly its journal.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	c0 := time.Now()
	if err := env.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	closed = true
	closeTime := time.Since(c0)
	tr.poll() // what the relay's last sessions wrote

	// Every message submitted was delivered once by the relay's account,
	// every delivery it reports was accepted by a host, and every message
	// a host accepted was one of ours. A host that goes down between its
	// 250 and the relay reading it delivers twice (at least once, RFC 5321
	// §6.1); a Down ends at most one session per relay worker.
	for i := range n {
		if _, ok := tr.delivered[soakID(i)]; !ok {
			t.Errorf("message %d (%s) never delivered (%d of %d delivered)", i, soakID(i), len(tr.delivered), n)
			break
		}
	}
	if tr.deliverEvents != n {
		t.Errorf("the relay reported %d deliveries of %d messages", tr.deliverEvents, n)
	}
	dups := 0
	for id, k := range tr.accepted {
		if _, ok := tr.delivered[id]; !ok {
			t.Errorf("a host accepted %s, which the relay never reported delivered", id)
		}
		dups += k - 1
	}
	if len(tr.accepted) != len(tr.delivered) {
		t.Errorf("hosts accepted %d distinct messages, the relay reported %d", len(tr.accepted), len(tr.delivered))
	}
	if bound := 4 * fr.downs; dups > bound {
		t.Errorf("%d duplicate deliveries for %d downs: more than one per relay worker per down", dups, fr.downs)
	}
	if tr.bounces != 0 {
		t.Errorf("%d bounces: a host that comes back must get the mail", tr.bounces)
	}
	if tr.cut != 0 {
		t.Errorf("%d relay events show a session cut by the relay's own Close", tr.cut)
	}

	cpu := usage.user + usage.sys
	t.Logf("soak: flapping: %d messages (rate cap %d/s, window %d) in %s: %.0f msgs/s (submission %s); CPU %s user + %s sys = %s per message; %d downs; %d deferrals; %d duplicate deliveries; close %s; journal %d events (%.1f per message); live heap with it %s (%.1f KiB per message); peak RSS %s",
		n, rate, soakWindow, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), submitted.Round(time.Millisecond),
		usage.user.Round(time.Millisecond), usage.sys.Round(time.Millisecond), (cpu / time.Duration(n)).Round(time.Microsecond),
		fr.downs, tr.defers, dups, closeTime.Round(time.Millisecond), env.Journal().Len(), float64(env.Journal().Len())/float64(n),
		mib(int64(ms.HeapAlloc)), float64(ms.HeapAlloc)/1024/float64(n), mib(usage.maxRSS))
	runtime.GC()
	debug.FreeOSMemory()
	return plan
}

// soakID is the Message-ID of the soak's message i.
func soakID(i int) string { return fmt.Sprintf("<soak-%d@client.test>", i) }

// soakClient submits messages over long SMTP sessions (one connection per
// soakPerSession messages rather than one per message: the loopback's
// connection tracking counts every connection).
type soakClient struct {
	addr string
	c    *smtp.Client
	n    int
}

// send submits one message with Message-ID id to to.
func (s *soakClient) send(id, to string) error {
	if s.c != nil && s.n >= soakPerSession {
		s.close()
	}
	if s.c == nil {
		c, err := smtp.Dial(s.addr)
		if err != nil {
			return err
		}
		if err := c.Hello("client.test"); err != nil {
			c.Close()
			return err
		}
		s.c, s.n = c, 0
	}
	s.n++
	msg := fmt.Sprintf("From: <alice@origin.test>\r\nTo: <%s>\r\nSubject: soak\r\nMessage-ID: %s\r\n\r\nSoak test message.\r\n", to, id)
	if err := s.c.SendMail("alice@origin.test", []string{to}, strings.NewReader(msg)); err != nil {
		s.c.Close()
		s.c = nil
		return err
	}
	return nil
}

// close ends the session with QUIT, and closes the connection in any case.
func (s *soakClient) close() {
	if s.c != nil {
		_ = s.c.Quit()
		_ = s.c.Close()
		s.c = nil
	}
}

// flapResult is what the flapper did.
type flapResult struct {
	downs int
	err   error
}

// flap takes hosts down and up by soakFlaps until ctx ends, then brings
// every host up. It reports errors rather than failing the test: it runs
// on a goroutine of its own.
func flap(ctx context.Context, env *harness.Env) flapResult {
	var res flapResult
	t0 := time.Now()
	down := map[string]bool{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, f := range soakFlaps {
				if err := env.Host(f.Host).Up(); err != nil {
					res.err = errors.Join(res.err, err)
				}
			}
			return res
		case <-tick.C:
		}
		el := time.Since(t0)
		for _, f := range soakFlaps {
			want := (el+f.Offset)%f.Period < f.Down
			if want == down[f.Host] {
				continue
			}
			h := env.Host(f.Host)
			var err error
			if want {
				err = h.Down()
				res.downs++
			} else {
				err = h.Up()
			}
			if err != nil {
				res.err = errors.Join(res.err, err)
			}
			down[f.Host] = want
		}
	}
}

// tracker reads the journal as it grows (never all of it again: that
// would be quadratic at a few million events) and counts what the soak
// checks.
type tracker struct {
	j             *journal.Journal
	seq           int64
	delivered     map[string]struct{} // Message-IDs the relay reported delivered
	accepted      map[string]int      // Message-IDs the hosts accepted, and how often
	deliverEvents int
	defers        int
	bounces       int
	cut           int // relay events that show the relay's own Close cutting a session
}

func newTracker(j *journal.Journal) *tracker {
	return &tracker{j: j, delivered: map[string]struct{}{}, accepted: map[string]int{}}
}

// poll reads the events appended since the last poll.
func (tr *tracker) poll() {
	evs := tr.j.Since(tr.seq)
	for _, e := range evs {
		switch e.Kind {
		case journal.KindRelayDeliver:
			tr.deliverEvents++
			if e.Message != nil {
				tr.delivered[e.Message.ID] = struct{}{}
			}
		case journal.KindSMTPMessage:
			if e.Message != nil {
				tr.accepted[e.Message.ID]++
			}
		case journal.KindRelayDefer:
			tr.defers++
		case journal.KindRelayBounce:
			tr.bounces++
		}
		if e.Source == "relay" && cutByClose(e) {
			tr.cut++
		}
	}
	if len(evs) > 0 {
		tr.seq = evs[len(evs)-1].Seq
	}
}

// cutByClose reports a relay event that shows a session cut by the
// relay's own Close: its grace ran out ("session cut short"), or, without
// a grace, the socket's "use of closed network connection". No host of the
// soak hangs, so every session ends well within the grace.
func cutByClose(e journal.Event) bool {
	return strings.Contains(e.Text+e.Err, closedConn) || strings.Contains(e.Text, "session cut short")
}

// processSample is what the soak counts of the whole process.
type processSample struct {
	Goroutines int
	FDs        int   // entries of /proc/self/fd
	PeakRSS    int64 // VmHWM, bytes
}

func sampleProcess(t *testing.T) processSample {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count descriptors: %v", err)
	}
	return processSample{Goroutines: runtime.NumGoroutine(), FDs: len(fds), PeakRSS: rusage(t).maxRSS}
}

// fdTargets lists what the open descriptors point at.
func fdTargets() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"->"+l)
	}
	return out
}

// usage is CPU time and peak resident memory of the process.
type usage struct {
	user, sys time.Duration
	maxRSS    int64 // bytes
}

func rusage(t *testing.T) usage {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return usage{
		user:   time.Duration(ru.Utime.Nano()),
		sys:    time.Duration(ru.Stime.Nano()),
		maxRSS: ru.Maxrss << 10, // Linux reports KiB
	}
}

// sub returns the CPU used since u0 (the peak stays the peak).
func (u usage) sub(u0 usage) usage {
	return usage{user: u.user - u0.user, sys: u.sys - u0.sys, maxRSS: u.maxRSS}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// soakInt reads a positive integer from the environment variable name.
func soakInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
