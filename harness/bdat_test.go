package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// chunkRelay is a minimal relay for tests: it takes submissions, looks up
// the MX of each recipient's domain in the fake DNS, and delivers with
// BDAT (RFC 3030, as Exim does when the host offers CHUNKING) or with
// DATA, keeping what a host deferred (4yz) for the next Flush.
type chunkRelay struct {
	bdat bool

	net   Network
	srv   *smtp.Server
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex // serialises deliveries and guards queue
	queue []queued
}

type queued struct {
	from string
	to   string
	data []byte
}

func (r *chunkRelay) Start(ctx context.Context, n Network) error {
	r.net = n
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r.ln = ln
	r.srv = smtp.NewServer(chunkBackend{r})
	r.srv.Domain = "relay.test"
	r.srv.AllowInsecureAuth = true
	r.wg.Add(1)
	go func() { defer r.wg.Done(); _ = r.srv.Serve(ln) }()
	return nil
}

func (r *chunkRelay) Submission() Submission { return Submission{Addr: r.ln.Addr().String()} }

func (r *chunkRelay) Flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keep []queued
	for _, q := range r.queue {
		if r.deliver(ctx, q) {
			keep = append(keep, q)
		}
	}
	r.queue = keep
	return nil
}

func (r *chunkRelay) Stop(ctx context.Context) error {
	err := r.srv.Close()
	r.wg.Wait()
	return err
}

// take queues a submitted message, one entry per recipient, and tries it
// at once.
func (r *chunkRelay) take(from string, to []string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rcpt := range to {
		q := queued{from, rcpt, data}
		if r.deliver(context.Background(), q) {
			r.queue = append(r.queue, q)
		}
	}
}

// deliver makes one attempt and reports whether q stays queued (a 4yz or
// a broken connection).
func (r *chunkRelay) deliver(ctx context.Context, q queued) bool {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, r.net.DNSAddr)
	}}
	_, domain, _ := strings.Cut(q.to, "@")
	mxs, err := res.LookupMX(ctx, domain)
	if err != nil || len(mxs) == 0 {
		return true
	}
	for _, mx := range mxs { // in order of preference
		ips, err := res.LookupHost(ctx, mx.Host)
		if err != nil || len(ips) == 0 {
			continue
		}
		if code := r.attempt(ctx, net.JoinHostPort(ips[0], strconv.Itoa(r.net.SMTPPort)), q); code == 250 || code >= 500 {
			// Delivered, or refused for good (a real relay would bounce).
			return false
		}
	}
	return true
}

// attempt sends q to the host at addr and returns the last reply code;
// 0 when the connection broke or the host did not answer.
func (r *chunkRelay) attempt(ctx context.Context, addr string, q queued) int {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	reply := func() int {
		for {
			line, err := br.ReadString('\n')
			if err != nil || len(line) < 4 {
				return 0
			}
			if line[3] != '-' {
				code, _ := strconv.Atoi(line[:3])
				return code
			}
		}
	}
	cmd := func(s string) int {
		if _, err := io.WriteString(conn, s); err != nil {
			return 0
		}
		return reply()
	}
	if c := reply(); c != 220 {
		return c
	}
	for _, line := range []string{"EHLO relay.test\r\n", "MAIL FROM:<" + q.from + ">\r\n", "RCPT TO:<" + q.to + ">\r\n"} {
		if c := cmd(line); c != 250 {
			cmd("QUIT\r\n")
			return c
		}
	}
	var c int
	if r.bdat {
		c = cmd(fmt.Sprintf("BDAT %d LAST\r\n%s", len(q.data), q.data))
	} else if c = cmd("DATA\r\n"); c == 354 {
		body := strings.ReplaceAll("\n"+string(q.data), "\n.", "\n..")[1:]
		c = cmd(body + ".\r\n")
	}
	cmd("QUIT\r\n")
	return c
}

type chunkBackend struct{ r *chunkRelay }

func (b chunkBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &chunkSession{r: b.r}, nil
}

type chunkSession struct {
	r    *chunkRelay
	from string
	to   []string
}

func (s *chunkSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *chunkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *chunkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	// go-smtp gives LF line ends; SMTP wants CRLF.
	data = []byte(strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n", "\r\n"))
	s.r.take(s.from, s.to, data)
	return nil
}
func (s *chunkSession) Reset()        { s.from, s.to = "", nil }
func (s *chunkSession) Logout() error { return nil }

// TestBDATJudgedLikeDATA: a relay that delivers with BDAT gets the verdict
// a relay that delivers with DATA gets, on scenarios that judge the end
// of data and the data stage: a 4yz after the message is filed at stage
// end_of_data for BDAT LAST as for the final dot, and a host that hangs
// up during the message does so during the chunks too.
func TestBDATJudgedLikeDATA(t *testing.T) {
	for _, path := range []string{
		"../testdata/scenarios/defer-4xx-retry.yaml",
		"../testdata/scenarios/hangup-disconnect.yaml",
		"testdata/bdat-data-stage.yaml",
	} {
		for _, bdat := range []bool{false, true} {
			name := path[strings.LastIndexByte(path, '/')+1:] + "/data"
			if bdat {
				name = path[strings.LastIndexByte(path, '/')+1:] + "/bdat"
			}
			t.Run(name, func(t *testing.T) {
				sc, err := scenarios.LoadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				res := Run(context.Background(), sc, RunOptions{Relay: &chunkRelay{bdat: bdat}, RelayName: "chunk"})
				if res.Verdict != report.Pass {
					var b strings.Builder
					for _, f := range res.Failures {
						fmt.Fprintf(&b, "\n%s: %s\n    expected: %s\n    actual:   %s", f.Pos, f.Step, f.Expected, f.Actual)
					}
					for _, e := range res.Events {
						b.WriteString("\n" + e.Format(res.Started))
					}
					t.Fatalf("verdict %s (%s)%s", res.Verdict, res.Reason, b.String())
				}
				// The relay did use the command under test.
				verb := "DATA"
				if bdat {
					verb = "BDAT"
				}
				used := false
				for _, e := range res.Events {
					used = used || e.Kind == journal.KindSMTPCommand && strings.HasPrefix(e.Text, verb)
				}
				if !used {
					t.Errorf("the relay never sent %s", verb)
				}
			})
		}
	}
}

// TestReplyStageOfBDAT: the reply to BDAT LAST is at stage end_of_data,
// the replies to the chunks before it at stage data, 250 included, and a
// forced data reply to a one-chunk BDAT LAST at stage data.
func TestReplyStageOfBDAT(t *testing.T) {
	j := journal.New()
	add := func(session string, kind journal.Kind, text string, code int, fault string) {
		j.Append(journal.Event{Kind: kind, Source: "mx1.example.test", Session: session, Text: text, Code: code, Fault: fault})
	}
	add("a", journal.KindSMTPCommand, "BDAT 10", 0, "")
	add("a", journal.KindSMTPReply, "250 2.0.0 10 octets received", 250, "")
	add("a", journal.KindSMTPCommand, "bdat 5 last", 0, "")
	add("a", journal.KindSMTPReply, "451 4.3.0 try again", 451, fakesmtp.FaultEndOfData)
	add("b", journal.KindSMTPCommand, "BDAT 5 LAST", 0, "")
	add("b", journal.KindSMTPReply, "452 4.3.1 no room", 452, fakesmtp.FaultData)
	for _, tc := range []struct {
		code  int
		stage string
		ok    bool
	}{
		{451, "end_of_data", true}, {451, "data", false},
		{250, "data", true}, {250, "end_of_data", false},
		{452, "data", true}, {452, "end_of_data", false},
	} {
		if err := checkReplyAtStage(j, "mx1.example.test", tc.code, tc.stage); (err == nil) != tc.ok {
			t.Errorf("%d at %s: %v, want found %v", tc.code, tc.stage, err, tc.ok)
		}
	}
}
