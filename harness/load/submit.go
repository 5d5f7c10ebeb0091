package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// Sizes is the distribution of message sizes: log-uniform from Min to
// Max bytes of body (Min alone when Max is 0 or equal).
type Sizes struct{ Min, Max int }

func (s Sizes) draw(rng *rand.Rand) int {
	if s.Max <= s.Min {
		return s.Min
	}
	lo, hi := math.Log(float64(max(s.Min, 1))), math.Log(float64(s.Max))
	return int(math.Exp(lo + rng.Float64()*(hi-lo)))
}

// planned is one message to submit, drawn before the run so that the
// seed decides it.
type planned struct {
	to   []string
	size int
}

// accepted is a submission the relay took (250 after the final dot).
type accepted struct {
	id  string
	to  []string
	at  time.Time // when MAIL FROM was sent
	seq int64     // its client.submit event
}

// submitter submits the planned messages at the target rate over Conns
// connections, each carrying up to PerSession messages (then QUIT and a
// new connection: new TCP connections stay few).
type submitter struct {
	cfg     *Config
	sub     harness.Submission
	j       *journal.Journal
	msgs    []planned
	next    atomic.Int64
	idBase  string
	mu      sync.Mutex
	ok      []accepted
	refused int
	errs    map[string]int // refusal reasons, counted
	conns   atomic.Int64
	done    atomic.Int64 // messages finished, accepted or not
	nacc    atomic.Int64 // messages accepted
	stopped atomic.Bool
}

func (s *submitter) run(ctx context.Context, start time.Time) {
	var wg sync.WaitGroup
	for range s.cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker(ctx, start)
		}()
	}
	wg.Wait()
	s.stopped.Store(true)
}

// worker takes the next message, waits for its time (message i leaves
// at start + i/rate) and submits it on its connection.
func (s *submitter) worker(ctx context.Context, start time.Time) {
	var c *smtp.Client
	inSession := 0
	defer func() {
		if c != nil {
			_ = c.Quit()
			c.Close()
		}
	}()
	for ctx.Err() == nil {
		i := int(s.next.Add(1) - 1)
		if i >= len(s.msgs) {
			return
		}
		due := start.Add(time.Duration(float64(i) / s.cfg.Rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if c == nil {
			var err error
			if c, err = s.dial(ctx); err != nil {
				s.record(i, nil, err)
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			inSession = 0
		}
		keep, err := s.send(c, i)
		inSession++
		if !keep || inSession >= s.cfg.PerSession {
			if keep {
				_ = c.Quit()
			}
			c.Close()
			c = nil
		}
		_ = err
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// dial opens a submission session: EHLO, AUTH when the relay wants it.
func (s *submitter) dial(ctx context.Context) (*smtp.Client, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", s.sub.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s.conns.Add(1)
	c := smtp.NewClient(conn)
	// A relay that stalls ends the session, and the run goes on.
	c.CommandTimeout, c.SubmissionTimeout = time.Minute, 2*time.Minute
	if err := c.Hello("load.mxsim.test"); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	if s.sub.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.sub.User, s.sub.Password)); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return c, nil
}

// send submits message i on c. keep says the session may go on.
func (s *submitter) send(c *smtp.Client, i int) (keep bool, err error) {
	m := s.msgs[i]
	id := fmt.Sprintf("%s%d@mxsim.test", s.idBase, i+1)
	msg := harness.Message{From: Sender, To: m.to, Size: m.size, Subject: fmt.Sprintf("mxsim load %d", i+1),
		Headers: map[string]string{harness.SubmissionHeader: id}}
	// The latency runs from here: the relay may deliver before the
	// client reads its 250.
	began := time.Now()
	if err := c.Mail(Sender, nil); err != nil {
		return s.fail(c, i, id, m.to, fmt.Errorf("MAIL: %w", err))
	}
	for _, to := range m.to {
		if err := c.Rcpt(to, nil); err != nil {
			return s.fail(c, i, id, m.to, fmt.Errorf("RCPT TO:<%s>: %w", to, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return s.fail(c, i, id, m.to, fmt.Errorf("DATA: %w", err))
	}
	if _, err := w.Write(msg.Bytes()); err != nil {
		w.Close()
		return s.fail(c, i, id, m.to, fmt.Errorf("message: %w", err))
	}
	if err := w.Close(); err != nil {
		return s.fail(c, i, id, m.to, fmt.Errorf("end of data: %w", err))
	}
	e := s.j.Append(s.event(id, m.to, nil))
	s.mu.Lock()
	s.ok = append(s.ok, accepted{id: id, to: m.to, at: began, seq: e.Seq})
	s.mu.Unlock()
	s.nacc.Add(1)
	s.done.Add(1)
	return true, nil
}

// fail records a refused message; a refusal by reply leaves the session
// usable after RSET, any other error ends it.
func (s *submitter) fail(c *smtp.Client, i int, id string, to []string, err error) (bool, error) {
	s.j.Append(s.event(id, to, err))
	s.record(i, to, err)
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code != 421 {
		return c.Reset() == nil, err
	}
	return false, err
}

func (s *submitter) record(i int, to []string, err error) {
	s.mu.Lock()
	s.refused++
	why := err.Error()
	if len(why) > 120 {
		why = why[:120]
	}
	s.errs[why]++
	s.mu.Unlock()
	s.done.Add(1)
}

// event is the client.submit event of a submission, as harness.Env.Send
// journals it, so that harness.Submissions reads it.
func (s *submitter) event(id string, to []string, err error) journal.Event {
	e := journal.Event{Kind: journal.KindClientSubmit, Source: "client", Remote: s.sub.Addr,
		Text:    fmt.Sprintf("from %s to %d recipient(s)", Sender, len(to)),
		Message: &journal.Message{From: Sender, To: to, Headers: map[string][]string{harness.SubmissionHeader: {id}}}}
	if err != nil {
		e.Err = err.Error()
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			e.Code = se.Code
		}
	}
	return e
}

// accepted returns the submissions accepted so far.
func (s *submitter) accepted() []accepted {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]accepted(nil), s.ok...)
}
