package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// isTerminal reports whether w is a terminal: a character device other
// than the null device (2>/dev/null is not someone watching). Tests
// replace it to take the terminal path without a tty.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// heartbeatEvery is how long a terminal run stays silent before it says
// what it is waiting for.
var heartbeatEvery = 5 * time.Second

// progress tells someone watching a terminal how far a run is: a line per
// finished scenario ("[12/40] PASS  name  (1.2s)") and, when nothing has
// finished for heartbeatEvery, a heartbeat naming what the run waits for:
// the relay starting, or the scenarios running and for how long.
//
// The run dispatches its scenarios in order to n workers, each taking the
// next one as soon as it finishes one; progress follows the same rule to
// know which are running, so it needs only to be told what finished.
type progress struct {
	w      io.Writer
	names  []string
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	state  []int // 0 waiting, 1 running, 2 finished
	since  []time.Time
	steps  []string // the step each running scenario is at: "step 3 (wait, x.yaml:12:5)"
	next   int      // the next scenario to start
	done   int
	phase  string // what the run waits for before any scenario starts
	spoken bool   // a line was written since the last tick
}

// newProgress starts the heartbeat; close stops it.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.tick()
			}
		}
	}()
	return p
}

// waitFor names what the run waits for before its scenarios start.
func (p *progress) waitFor(what string) {
	p.mu.Lock()
	p.phase = what
	p.mu.Unlock()
}

// begin starts the count: names are the scenarios in the order they are
// dispatched to n workers.
func (p *progress) begin(names []string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.names, p.phase = names, ""
	p.state, p.since, p.steps = make([]int, len(names)), make([]time.Time, len(names)), make([]string, len(names))
	now := time.Now()
	for p.next = 0; p.next < min(n, len(names)); p.next++ {
		p.state[p.next], p.since[p.next] = 1, now
	}
}

// finished prints line, prefixed with the count, for the i-th scenario
// (line ends with a newline, as report.Progress writes it); the next
// waiting scenario starts.
func (p *progress) finished(i int, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= 0 && i < len(p.state) && p.state[i] != 2 {
		wasRunning := p.state[i] == 1
		p.state[i] = 2
		p.done++
		if wasRunning && p.next < len(p.state) {
			p.state[p.next], p.since[p.next] = 1, time.Now()
			p.next++
		}
	} else if i < 0 {
		p.done++ // a line progress cannot place still counts
	}
	fmt.Fprintf(p.w, "[%d/%d] %s", p.done, len(p.names), line)
	p.spoken = true
}

// step says that the i-th scenario is at step n, of kind kind, at pos.
func (p *progress) step(i, n int, kind, pos string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= 0 && i < len(p.steps) {
		p.steps[i] = fmt.Sprintf("step %d %s at %s", n, kind, pos)
	}
}

// tick writes a heartbeat unless a line was written since the last one.
func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.spoken {
		p.spoken = false
		return
	}
	if line := p.heartbeat(time.Now()); line != "" {
		fmt.Fprintln(p.w, line)
	}
}

// heartbeat says what the run waits for at now: "… waiting for the
// postfix container to start", or "… 3/25 done; waiting for
// mx-failover-refused (14s, step 3 wait at mx.yaml:12:5), greylist-flush (9s)".
func (p *progress) heartbeat(now time.Time) string {
	if p.names == nil {
		if p.phase == "" {
			return ""
		}
		return "… waiting for " + p.phase
	}
	var running []string
	for i, s := range p.state {
		if s == 1 {
			what := now.Sub(p.since[i]).Truncate(time.Second).String()
			if p.steps[i] != "" {
				what += ", " + p.steps[i]
			}
			running = append(running, fmt.Sprintf("%s (%s)", p.names[i], what))
		}
	}
	if len(running) == 0 {
		return ""
	}
	return fmt.Sprintf("… %d/%d done; waiting for %s", p.done, len(p.names), strings.Join(running, ", "))
}

// close stops the heartbeat.
func (p *progress) close() {
	close(p.stop)
	p.wg.Wait()
}

// caseLines is the io.Writer harness.Conformance writes its progress
// lines to (one Write per finished case): each line goes to progress as
// the case's whose ID it names.
type caseLines struct {
	p   *progress
	ids []string
	mu  sync.Mutex
	hit []bool
}

func (c *caseLines) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hit == nil {
		c.hit = make([]bool, len(c.ids))
	}
	line := string(b)
	words := strings.Fields(line)
	i := -1
	for j, id := range c.ids {
		if !c.hit[j] && slices.Contains(words, id) {
			i = j
			break
		}
	}
	if i >= 0 {
		c.hit[i] = true
	}
	c.p.finished(i, line)
	return len(b), nil
}
