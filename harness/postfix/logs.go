package postfix

import (
	"bytes"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/mxsim/mxsim/journal"
)

// logSink receives Postfix's syslog datagrams on a unix socket that the
// container sees as /dev/log, and records a failed connection before
// anything else: a "connect to mx1…: Connection refused" line must reach
// the journal before the fake host that Postfix tries next records its
// connection. Postfix writes that line before it connects to the next
// host, so the datagram is readable before the connection can be accepted.
type logSink struct {
	conn *net.UnixConn
	all  *journal.Journal // every line, for waiting on Postfix's own messages
	done chan struct{}

	mu      sync.Mutex
	current *journal.Journal  // the running scenario's journal, or nil
	from    map[string]string // queue ID → sender, for bounce events
}

// listenLog binds a unix datagram socket at path, writable by everyone.
func listenLog(path string) (*logSink, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	os.Chmod(path, 0o666) // Postfix's daemons log as user postfix
	s := &logSink{conn: conn, all: journal.New(), done: make(chan struct{}), from: map[string]string{}}
	go s.run()
	return s, nil
}

// attach sends the lines that follow to j (nil: to none).
func (s *logSink) attach(j *journal.Journal) {
	s.mu.Lock()
	s.current = j
	s.from = map[string]string{}
	s.mu.Unlock()
}

// close stops reading; it returns when the reader has ended.
func (s *logSink) close() error {
	err := s.conn.Close() // wakes the reader with net.ErrClosed
	<-s.done
	return err
}

func (s *logSink) run() {
	defer close(s.done)
	buf := make([]byte, 64*1024)
	for {
		n, err := s.conn.Read(buf) // one datagram
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		j := s.current
		s.mu.Unlock()
		// Fast path, before any other work: the failed connection is the
		// event whose order matters (the next MX is being tried already).
		early := quickAttempt(buf[:n])
		if early != nil {
			j.Append(*early) // a nil journal ignores it
		}
		line := syslogText(string(buf[:n]))
		if line == "" {
			continue
		}
		s.mu.Lock()
		evs := events(line, s.from)
		s.mu.Unlock()
		for _, e := range evs {
			if e.Kind != journal.KindRelayAttempt || early == nil {
				j.Append(e)
			}
		}
		s.all.Append(journal.Event{Kind: journal.KindRelayLog, Source: "relay", Text: line})
	}
}

// quickAttempt returns the relay.attempt of a "]: connect to HOST[IP]:PORT:
// REASON" datagram using plain byte searches, or nil.
func quickAttempt(d []byte) *journal.Event {
	const marker = "]: connect to "
	i := bytes.Index(d, []byte(marker))
	if i < 0 {
		return nil
	}
	rest := d[i+len(marker):]
	lb := bytes.IndexByte(rest, '[')
	rb := bytes.IndexByte(rest, ']')
	if lb <= 0 || rb < lb {
		return nil
	}
	host, ip := string(rest[:lb]), string(rest[lb+1:rb])
	reason := ""
	if k := bytes.Index(rest[rb:], []byte(": ")); k >= 0 {
		reason = string(bytes.TrimRight(rest[rb+k+2:], "\x00\r\n"))
	}
	return &journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: host, Remote: ip,
		Text: host + "[" + ip + "]: " + reason, Err: reason}
}

// syslogText strips the priority and time stamp of a syslog datagram:
// "<22>Nov 26 11:34:48 postfix/smtp[12]: text" → "postfix/smtp[12]: text".
func syslogText(d string) string {
	d = strings.TrimRight(d, "\x00\r\n")
	if strings.HasPrefix(d, "<") {
		if i := strings.IndexByte(d, '>'); i > 0 {
			d = d[i+1:]
		}
	}
	// RFC 3164 time stamp: "Mmm dd hh:mm:ss ".
	if len(d) > 16 && d[3] == ' ' && d[6] == ' ' && d[9] == ':' && d[12] == ':' && d[15] == ' ' {
		d = d[16:]
	}
	return strings.TrimSpace(d)
}

var (
	connectRE = regexp.MustCompile(`\]: connect to ([^\[\s]+)\[([^\]]*)\](?::\d+)?: (.*)$`)
	fromRE    = regexp.MustCompile(`\]: ([0-9A-F]{6,}|[0-9A-Za-z]{10,}): from=<([^>]*)>`)
	statusRE  = regexp.MustCompile(`\]: ([0-9A-F]{6,}|[0-9A-Za-z]{10,}): to=<([^>]*)>.*?, relay=([^\[,\s]+)(?:\[[^\]]*\](?::\d+)?)?,.* status=(sent|deferred|bounced)`)
	saidRE    = regexp.MustCompile(`said: ([2-5]\d\d)\b`)
	codeRE    = regexp.MustCompile(`\(([245]\d\d) [245]\.\d{1,3}\.\d{1,3}\b`)
)

// events turns one Postfix log line into journal events: always a
// relay.log, plus relay.attempt for a connection that failed (a host that
// is down leaves no trace of its own), relay.deliver, relay.defer and
// relay.bounce for a recipient's status. from maps queue IDs to senders.
func events(line string, from map[string]string) []journal.Event {
	log := journal.Event{Kind: journal.KindRelayLog, Source: "relay", Text: line}
	if i := strings.Index(line, "]: "); i > 0 {
		rest := line[i+3:]
		for _, p := range []string{"fatal: ", "panic: ", "error: "} {
			if strings.HasPrefix(rest, p) {
				log.Err = strings.TrimPrefix(rest, p)
			}
		}
	}
	out := []journal.Event{log}
	if m := connectRE.FindStringSubmatch(line); m != nil {
		out = append(out, journal.Event{Kind: journal.KindRelayAttempt, Source: "relay", Peer: m[1],
			Remote: m[2], Text: m[1] + "[" + m[2] + "]: " + m[3], Err: m[3]})
		return out
	}
	if m := fromRE.FindStringSubmatch(line); m != nil {
		from[m[1]] = m[2]
		return out
	}
	m := statusRE.FindStringSubmatch(line)
	if m == nil {
		return out
	}
	qid, rcpt, peer, status := m[1], m[2], m[3], m[4]
	e := journal.Event{Source: "relay", Peer: peer, Text: line,
		Message: &journal.Message{From: from[qid], To: []string{rcpt}}}
	if c := saidRE.FindStringSubmatch(line); c != nil {
		e.Code, _ = strconv.Atoi(c[1])
	} else if c := codeRE.FindStringSubmatch(line); c != nil {
		e.Code, _ = strconv.Atoi(c[1])
	}
	switch status {
	case "sent":
		e.Kind = journal.KindRelayDeliver
	case "deferred":
		e.Kind = journal.KindRelayDefer
	case "bounced":
		e.Kind = journal.KindRelayBounce
	}
	if peer == "none" {
		e.Peer = ""
	}
	return append(out, e)
}
