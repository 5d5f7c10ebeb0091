package fakesmtp

import (
	"bytes"
	"io"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// data answers DATA (RFC 5321 §4.1.1.4) and reads the message: 354, the
// body up to <CRLF>.<CRLF>, then the end-of-data reply.
func (s *session) data(b *Behavior, arg string) bool {
	if !s.delay(b.Delays.Data) {
		return false
	}
	if !s.greeted() {
		return true
	}
	if arg != "" {
		s.reply(codeParamSyntax, "501 5.5.4 Syntax: DATA", "")
		return true
	}
	if s.bdat {
		s.reply(codeBadSequence, "503 5.5.1 Error: DATA during BDAT", "")
		return true
	}
	if !s.inTx || len(s.rcpts) == 0 {
		s.reply(codeBadSequence, "503 5.5.1 Error: need RCPT command", "")
		return true
	}
	if r := s.h.pick("data", b.Replies.Data, ""); r != nil {
		return s.forced(*r, FaultData)
	}
	s.reply(codeStartData, lineStartData, "")
	s.startBody()
	s.bodySt, s.bodyRaw = bodyBeginLine, 0
	if s.evented && b.DisconnectInData == 0 {
		s.phase = phaseBody // the loop feeds the body to unstuff
		return true
	}
	// Here, on the loop, DisconnectInData (a count inline should have
	// left to a goroutine) makes readBody panic (mayWait).
	if !s.readBody(b.DisconnectInData) {
		return false
	}
	return s.endOfData(s.behavior())
}

// startBody readies s.body for a new message, reusing a pooled buffer.
func (s *session) startBody() {
	buf, _ := s.h.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	s.body, s.bodySize = buf, 0
}

// releaseBody returns s.body to the pool.
func (s *session) releaseBody() {
	if s.body != nil && s.body.Cap() <= maxPooledBody {
		s.h.bodies.Put(s.body)
	}
	s.body, s.bodySize = nil, 0
}

// Body states of the end-of-data search (RFC 5321 §4.1.1.4) and of
// dot-unstuffing (§4.5.2).
const (
	bodyBeginLine = iota
	bodyDot
	bodyDotCR
	bodyCR
	bodyData
)

// readBody reads a DATA body into s.body, undoing dot-stuffing, up to and
// including the end marker. With limit > 0 it hangs up once limit bytes
// have been read (Behavior.DisconnectInData). It reports whether the
// session goes on.
func (s *session) readBody(limit int) bool {
	s.mayWait("DATA body read")
	for {
		if limit > 0 && s.bodyRaw >= limit {
			s.hangup("disconnect in data after "+strconv.Itoa(s.bodyRaw)+" bytes", FaultDisconnect)
			return false
		}
		if !s.fill() {
			return false
		}
		n := s.br.Buffered()
		if limit > 0 {
			n = min(n, limit-s.bodyRaw)
		}
		chunk, _ := s.br.Peek(n)
		used, done := s.unstuff(chunk)
		_, _ = s.br.Discard(used)
		s.bodyRaw += used
		if done {
			return true
		}
	}
}

// fill makes sure message data is buffered: when none is, the waiting
// replies go out first (the 354, if the client pipelined DATA) and the
// deadline moves before the read. It reports whether the session goes on.
func (s *session) fill() bool {
	s.mayWait("message data read")
	if s.br.Buffered() == 0 {
		if s.flush() != nil {
			return false
		}
		s.touch()
	}
	if _, err := s.br.Peek(1); err != nil {
		s.setReason(closeReason(err), "")
		return false
	}
	return true
}

// unstuff runs chunk through the end-of-data state machine, appending the
// message bytes (leading dots removed, RFC 5321 §4.5.2) to s.body. It
// returns how many bytes it used and whether the end marker was among
// them.
func (s *session) unstuff(chunk []byte) (used int, done bool) {
	st := s.bodySt
	run := 0 // start of the bytes not yet emitted
	for i := 0; i < len(chunk); i++ {
		switch c := chunk[i]; st {
		case bodyBeginLine:
			switch c {
			case '.':
				// RFC 5321 §4.5.2: a leading dot is removed.
				s.emit(chunk[run:i])
				run, st = i+1, bodyDot
			case '\r':
				st = bodyCR
			default:
				st = bodyData
			}
		case bodyDot:
			if c == '\r' {
				s.emit(chunk[run:i])
				run, st = i+1, bodyDotCR
			} else {
				st = bodyData
			}
		case bodyDotCR:
			if c == '\n' {
				s.emit(chunk[run:i])
				s.bodySt = bodyBeginLine
				return i + 1, true
			}
			st = bodyData
		case bodyCR:
			if c == '\n' {
				st = bodyBeginLine
			} else {
				st = bodyData
			}
		case bodyData:
			// Inside a line only CR matters: skip to it.
			j := bytes.IndexByte(chunk[i:], '\r')
			if j < 0 {
				i = len(chunk)
				continue
			}
			i += j
			st = bodyCR
		}
	}
	s.emit(chunk[run:])
	s.bodySt = st
	return len(chunk), false
}

// emit appends message bytes to s.body. Past the size limit it only
// counts them: the message will be refused (552) anyway.
func (s *session) emit(b []byte) {
	s.bodySize += int64(len(b))
	if s.maxSize <= 0 || int64(s.body.Len()) <= s.maxSize {
		s.body.Write(b)
	}
}

// chunk answers BDAT (RFC 3030 §2): the chunk of the given size follows
// the command, and is read even when the command is refused.
//
// BDAT has the stages of DATA (see data). The first chunk of a message is
// the data stage, as the DATA command is: the data delay comes before it
// is answered, and a forced data reply answers it (the chunk is read and
// dropped, and the transaction ends, RFC 3030 §2: the client sends no
// further chunk, and chunks it had pipelined are refused with 503). The
// reply to BDAT LAST, the end of the message, is the end-of-data stage,
// as the reply to the final dot is (endOfData); a message sent in one
// chunk, "BDAT n LAST", goes through both stages, as a DATA message does.
// The replies to the other chunks are 250 "n octets received".
// DisconnectInData counts the bytes of the chunks, and hangs up before
// the end of the message as during a DATA body.
//
// A host that does not advertise CHUNKING (Extensions.NoChunking) does
// not know BDAT: it answers 502, as Postfix does when CHUNKING is turned
// off, and the chunk that follows is read as command lines.
func (s *session) chunk(b *Behavior, arg string) bool {
	s.mayWait("BDAT")
	if b.Extensions.NoChunking {
		return s.protocolError(codeNotImpl, lineNoBDAT)
	}
	f := strings.Fields(arg)
	size, err := uint64(0), error(nil)
	if len(f) > 0 {
		size, err = strconv.ParseUint(f[0], 10, 63)
	}
	last := len(f) == 2 && strings.EqualFold(f[1], "LAST")
	if len(f) == 0 || len(f) > 2 || err != nil || len(f) == 2 && !last {
		// Without a size the chunk cannot be skipped: the client is lost.
		return s.protocolError(codeParamSyntax, "501 5.5.4 Syntax: BDAT size [LAST]")
	}
	refuse := func(code int, line, fault string) bool {
		if !s.skip(int64(size)) {
			return false
		}
		s.reply(code, line, fault)
		return true
	}
	switch {
	case !s.greeted():
		return s.skip(int64(size))
	case !s.inTx || len(s.rcpts) == 0:
		return refuse(codeBadSequence, "503 5.5.1 Error: need RCPT command", "")
	}
	if !s.bdat {
		// The first chunk: the data stage.
		if !s.delay(b.Delays.Data) {
			return false
		}
		if r := s.h.pick("data", b.Replies.Data, ""); r != nil {
			if !s.skip(int64(size)) {
				return false
			}
			s.reset()
			return s.forced(*r, FaultData)
		}
		s.bdat = true
		s.startBody()
		s.bodyRaw = 0
	}
	if !s.readChunk(int64(size), b.DisconnectInData) {
		return false
	}
	if s.maxSize > 0 && s.bodySize > s.maxSize {
		s.reset()
		s.fail(replyTooBig, FaultMaxSize)
		return true
	}
	if !last {
		s.reply(codeOK, "250 2.0.0 "+strconv.FormatUint(size, 10)+" octets received", "")
		return true
	}
	return s.endOfData(b)
}

// readChunk reads n bytes of a BDAT chunk into s.body. With limit > 0 it
// hangs up once limit bytes of the message's chunks have been read and
// more are to come (Behavior.DisconnectInData), as readBody does.
func (s *session) readChunk(n int64, limit int) bool {
	for n > 0 {
		if limit > 0 && s.bodyRaw >= limit {
			s.hangup("disconnect in data after "+strconv.Itoa(s.bodyRaw)+" bytes", FaultDisconnect)
			return false
		}
		if !s.fill() {
			return false
		}
		k := int64(s.br.Buffered())
		if k > n {
			k = n
		}
		if limit > 0 {
			k = min(k, int64(limit-s.bodyRaw))
		}
		p, _ := s.br.Peek(int(k))
		s.emit(p)
		_, _ = s.br.Discard(int(k))
		n -= k
		s.bodyRaw += int(k)
	}
	return true
}

// skip reads and drops n bytes (a refused BDAT chunk).
func (s *session) skip(n int64) bool {
	s.mayWait("BDAT chunk skip")
	if s.flush() != nil {
		return false
	}
	if _, err := io.CopyN(io.Discard, s.br, n); err != nil {
		s.setReason(closeReason(err), "")
		return false
	}
	return true
}

// endOfData ends a message (DATA's final dot, BDAT LAST): the size limit,
// the end-of-data delay and forced reply; an accepted message is journaled
// before its 250 is written, so nothing acknowledged is missing.
func (s *session) endOfData(b *Behavior) bool {
	defer s.reset()
	if s.maxSize > 0 && s.bodySize > s.maxSize {
		s.fail(replyTooBig, FaultMaxSize)
		return true
	}
	if !s.delay(b.Delays.EndOfData) {
		return false
	}
	forced := s.h.pick("end_of_data", b.Replies.EndOfData, "")
	if forced != nil && forced.Code >= 400 {
		return s.forced(*forced, FaultEndOfData)
	}
	raw := bytes.Clone(s.body.Bytes())
	hdr := parseHeader(raw)
	ar, refusal, fault := s.authenticate(b, raw, hdr)
	if refusal != nil {
		return s.forced(*refusal, fault)
	}
	s.recordMessage(raw, hdr, ar)
	if forced != nil {
		s.fail(*forced, FaultEndOfData)
		return true
	}
	s.reply(codeOK, lineQueued, "")
	return true
}

func (s *session) recordMessage(raw []byte, hdr map[string][]string, authResults string) {
	to := append([]string(nil), s.rcpts...)
	m := &journal.Message{From: s.from, To: to, Size: len(raw), Raw: raw, Headers: hdr, AuthResults: authResults}
	if v := hdr["Subject"]; len(v) > 0 {
		m.Subject = v[0]
	}
	if v := hdr["Message-Id"]; len(v) > 0 {
		m.ID = v[0]
	}
	e := s.event(journal.KindSMTPMessage, "message from <"+s.from+"> to <"+strings.Join(to, ">, <")+"> ("+strconv.Itoa(len(raw))+" bytes)")
	e.Message = m
	s.append(e)
}

// parseHeader reads the header section of a message (RFC 5322 §2.2),
// unfolding continuation lines; keys are canonical MIME keys. It copies
// the header section once: keys and values are substrings of that copy,
// and the values of all fields share one backing array.
func parseHeader(raw []byte) map[string][]string {
	end := len(raw)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		end = i + 2
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		end = i + 1
	}
	text := string(raw[:end])
	vals := make([]string, 0, strings.Count(text, "\n")+1)
	h := make(map[string][]string)
	var key string
	for len(text) > 0 {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if vs := h[key]; key != "" && len(vs) > 0 {
				vs[len(vs)-1] += " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			break // not a header: the body started without a blank line
		}
		key = textproto.CanonicalMIMEHeaderKey(k)
		v = strings.TrimSpace(v)
		if vs, seen := h[key]; seen {
			h[key] = append(vs, v)
			continue
		}
		n := len(vals)
		vals = append(vals, v)
		h[key] = vals[n : n+1 : n+1]
	}
	return h
}
