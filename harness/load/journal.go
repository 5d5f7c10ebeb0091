package load

import (
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// The package reads the journal in two places only: the tail below,
// while the run goes on (live counts, and the bytes of the relay's DSNs
// before a bounded journal drops them), and account (account.go) once,
// at the end, when the network is closed and the journal moves no more.
// An observer of the live events (metrics) attaches through
// Config.Journal.

// rcptRE finds the load generator's recipient addresses in a text (a
// relay's log line, a DSN).
var rcptRE = regexp.MustCompile(`m[0-9]+r[0-9]+@[a-z0-9.-]+[a-z0-9]`)

// finalRecipientRE finds the recipients a DSN reports on (RFC 3464
// §2.3.2); the quoted headers of the message name the others too.
var finalRecipientRE = regexp.MustCompile(`(?im)^Final-Recipient:[ \t]*rfc822;[ \t]*<?([^>\s]+)`)

// dsnRecipients returns the recipients a DSN's bytes report on.
func dsnRecipients(raw []byte) []string {
	var out []string
	for _, m := range finalRecipientRE.FindAllSubmatch(raw, -1) {
		out = append(out, strings.ToLower(string(m[1])))
	}
	return out
}

// recipientsOf returns the load recipients an event is about: its
// message's, else those its text names.
func recipientsOf(e journal.Event) []string {
	if e.Message != nil && len(e.Message.To) > 0 && e.Message.From != "" {
		return e.Message.To
	}
	return rcptRE.FindAllString(strings.ToLower(e.Text), -1)
}

// tail follows the journal while the run goes on.
type tail struct {
	j    *journal.Journal
	seq  int64
	mu   sync.Mutex
	c    tailCounts
	seen map[string]bool // recipients with an outcome
	// dsn are the recipients the relay's DSNs (delivered to the sender's
	// host) report as failed, with the DSN's event: read here, live,
	// because a journal keeps the bytes of its last messages only.
	dsn  map[string]int64
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

type tailCounts struct {
	delivered, deferred, bounced, conns int
	settled                             int  // distinct load recipients delivered or bounced
	dropped                             bool // the journal dropped events before the tail read them
	dsnUnread                           int  // DSNs whose bytes were dropped before the tail read them
}

func newTail(j *journal.Journal) *tail {
	return &tail{j: j, seen: map[string]bool{}, dsn: map[string]int64{}, quit: make(chan struct{})}
}

func (t *tail) start() {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			t.read()
			select {
			case <-t.quit:
				t.read()
				return
			case <-tick.C:
			}
		}
	}()
}

func (t *tail) stop() {
	t.once.Do(func() { close(t.quit) })
	t.wg.Wait()
}

// read takes in the events appended since the last read.
func (t *tail) read() {
	events := t.j.Since(t.seq)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range events {
		t.seq = max(t.seq, e.Seq)
		switch e.Kind {
		case journal.KindDropped:
			t.c.dropped = true
		case journal.KindSMTPMessage:
			switch {
			case e.Message == nil:
			case e.Message.From != "":
				t.c.delivered += len(e.Message.To)
				t.settle(e.Message.To)
			case e.Message.RawDropped:
				t.c.dsnUnread++
			default:
				rcpts := dsnRecipients(e.Message.Raw)
				for _, r := range rcpts {
					if _, ok := t.dsn[r]; !ok {
						t.dsn[r] = e.Seq
					}
				}
				t.settle(rcpts)
			}
		case journal.KindRelayDefer:
			t.c.deferred++
		case journal.KindRelayBounce:
			t.c.bounced++
			t.settle(recipientsOf(e))
		case journal.KindSMTPConnect, journal.KindSMTPRefused:
			t.c.conns++
		}
	}
}

func (t *tail) settle(rcpts []string) {
	for _, r := range rcpts {
		r = strings.ToLower(r)
		if !t.seen[r] {
			t.seen[r] = true
			t.c.settled++
		}
	}
}

// dsnBounced returns the recipients the DSNs reported as failed.
func (t *tail) dsnBounced() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.dsn))
	for k, v := range t.dsn {
		out[k] = v
	}
	return out
}

func (t *tail) counts() tailCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.c
}
