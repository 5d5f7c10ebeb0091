package sandbox

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// /api/messages: the messages the hosts accepted (their smtp.message
// events), as a list, parsed, or as received (.eml).
//
// The messages live in the journal, so its limits are theirs: a message
// whose event was dropped, or whose bytes were (journal.Limits
// MaxMessages, MaxMessageBytes), is no longer listed; the list counts
// them, and asking for one answers 410 Gone.

// messageListJSON is the answer of GET /api/messages.
type messageListJSON struct {
	Messages []messageJSON `json:"messages"` // the messages held, oldest first
	Dropped  int64         `json:"dropped"`  // older messages no longer held: their bytes or their whole event dropped
}

type messageJSON struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`
	Session string    `json:"session"`
	From    string    `json:"from"`
	To      []string  `json:"to"`
	Subject string    `json:"subject,omitempty"` // RFC 2047 encoded words decoded
	ID      string    `json:"message_id,omitempty"`
	Size    int       `json:"size"`
	EML     string    `json:"eml"` // path of the raw message
}

// messageDetailJSON is one message parsed. Its headers, body and text
// are each cut at maxShown bytes (Truncated says so); EML has it whole.
type messageDetailJSON struct {
	messageJSON
	Headers   []headerJSON `json:"headers"`
	Body      string       `json:"body"`                 // as received
	Text      string       `json:"text"`                 // the readable text: MIME decoded (see decodeMIME)
	Parts     []partJSON   `json:"parts"`                // the MIME leaf parts
	MIMEErr   string       `json:"mime_error,omitempty"` // what could not be decoded
	Truncated bool         `json:"truncated,omitempty"`  // headers, body or text cut: the whole message is at EML
}

type headerJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func messageView(e journal.Event) messageJSON {
	m := e.Message
	return messageJSON{
		Seq: e.Seq, Time: e.Time, Host: e.Source, Session: e.Session, From: m.From, To: m.To,
		Subject: decodeWords(m.Subject), ID: m.ID, Size: m.Size, EML: fmt.Sprintf("/api/messages/%d.eml", e.Seq),
	}
}

func isMessage(e journal.Event) bool { return e.Kind == journal.KindSMTPMessage && e.Message != nil }

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) error {
	out := messageListJSON{Messages: []messageJSON{}}
	// One read, so that the list and the count agree: the journal's
	// marker counts the messages among the events it dropped.
	for _, e := range s.env.Journal().Events(func(e journal.Event) bool { return isMessage(e) || e.Kind == journal.KindDropped }) {
		switch {
		case e.Kind == journal.KindDropped:
			out.Dropped += e.Dropped.Messages
		case e.Message.RawDropped:
			out.Dropped++
		default:
			out.Messages = append(out.Messages, messageView(e))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getMessage serves /api/messages/{seq} (parsed, JSON) and
// /api/messages/{seq}.eml (the bytes as received, streamed from the
// journal's copy: nothing is built in memory).
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	num, eml := strings.CutSuffix(id, ".eml")
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq < 1 {
		return badRequest("message %q: want the sequence number of its journal event, e.g. 12 or 12.eml", id)
	}
	j := s.env.Journal()
	e, ok := j.At(seq)
	switch {
	case !ok && seq <= j.Dropped().Events:
		return gone("message %d: event %d was dropped with the oldest journal events (%s)", seq, seq, keeps(j.Limits()))
	case !ok || !isMessage(e):
		return notFound("message %d: no such message", seq)
	case e.Message.RawDropped:
		return gone("message %d: its bytes were dropped (%s)", seq, keeps(j.Limits()))
	}
	raw := e.Message.Raw
	if eml {
		w.Header().Set("Content-Type", "message/rfc822")
		w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=\"message-%d.eml\"", seq))
		w.Header().Set("Cache-Control", "no-store")
		// Content-Length, HEAD and Range come with it.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(raw))
		return nil
	}
	headers, body, cut := splitMessage(raw)
	d := decodeMIME(raw)
	if d.Parts == nil {
		d.Parts = []partJSON{}
	}
	writeJSON(w, http.StatusOK, messageDetailJSON{messageJSON: messageView(e), Headers: headers, Body: body,
		Text: d.Text, Parts: d.Parts, MIMEErr: d.Err, Truncated: cut || d.Truncated})
	return nil
}

// keeps says what the sandbox keeps, for the errors about what it dropped.
func keeps(l journal.Limits) string {
	var what []string
	if l.MaxEvents > 0 {
		what = append(what, fmt.Sprintf("the last %d journal events", l.MaxEvents))
	}
	if l.MaxMessages > 0 {
		what = append(what, fmt.Sprintf("the bytes of the last %d messages", l.MaxMessages))
	}
	if l.MaxMessageBytes > 0 {
		what = append(what, fmt.Sprintf("%d bytes of messages", l.MaxMessageBytes))
	}
	return "the sandbox keeps " + strings.Join(what, ", ")
}

// splitMessage returns the header fields of raw in order, unfolded
// (RFC 5322 §2.2.3), and the body after the first empty line, with CRLF
// shown as LF. Each of the header section and the body is cut at
// maxShown bytes (cut says so): only that much of raw is copied.
func splitMessage(raw []byte) (headers []headerJSON, body string, cut bool) {
	end, start := headerEnd(raw)
	head, rest := raw[:end], raw[start:]
	if len(head) > maxShown {
		head, cut = head[:maxShown], true
	}
	if len(rest) > maxShown {
		rest, cut = rest[:maxShown], true
	}
	headers = []headerJSON{}
	for _, line := range strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(headers) > 0 {
			headers[len(headers)-1].Value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		headers = append(headers, headerJSON{Name: name, Value: strings.TrimSpace(value)})
	}
	return headers, strings.ReplaceAll(string(rest), "\r\n", "\n"), cut
}

// headerEnd returns where the header section of raw ends and where the
// body begins: after the first empty line (LF or CRLF), or at the end
// when there is none.
func headerEnd(raw []byte) (end, body int) {
	for off := 0; off < len(raw); {
		line := raw[off:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		if string(line) == "\n" || string(line) == "\r\n" {
			return off, off + len(line)
		}
		off += len(line)
	}
	return len(raw), len(raw)
}
