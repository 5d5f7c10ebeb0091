package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"mime"
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
	Deleted  int           `json:"deleted"`  // messages deleted (DELETE /api/messages/{seq}) and still in the journal
	Query    string        `json:"q,omitempty"`
}

// maxQuery bounds the text of a search.
const maxQuery = 1000

// matches reports whether the message of e has q (lower case) in its
// subject, sender, recipients, or readable text (decodeMIME's, the
// headers when there is none).
func matches(e journal.Event, q string) bool {
	m := e.Message
	if strings.Contains(strings.ToLower(decodeWords(m.Subject)), q) || strings.Contains(strings.ToLower(m.From), q) ||
		strings.Contains(strings.ToLower(strings.Join(m.To, "\n")), q) {
		return true
	}
	d := decodeMIME(m.Raw)
	return strings.Contains(strings.ToLower(d.Text), q) || strings.Contains(strings.ToLower(d.HTML), q)
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
	// AuthResults is what the host's checks found (its verify), as an
	// Authentication-Results value; "" when the host checks nothing.
	AuthResults string `json:"auth_results,omitempty"`
}

// messageDetailJSON is one message parsed. Its headers, body and text
// are each cut at maxShown bytes (Truncated says so); EML has it whole.
type messageDetailJSON struct {
	messageJSON
	Headers   []headerJSON `json:"headers"`
	Body      string       `json:"body"`                 // as received
	Text      string       `json:"text"`                 // the readable text: MIME decoded (see decodeMIME)
	Parts     []partJSON   `json:"parts"`                // the MIME leaf parts
	HTML      string       `json:"html,omitempty"`       // path of the HTML part, for a sandboxed frame; "" when there is none
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
		AuthResults: m.AuthResults,
	}
}

func isMessage(e journal.Event) bool { return e.Kind == journal.KindSMTPMessage && e.Message != nil }

// listMessages serves GET /api/messages, and with ?q=text the messages
// whose subject, sender, recipients or text contain text, in any case.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) error {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	if len(q) > maxQuery {
		return badRequest("q: %d bytes, at most %d", len(q), maxQuery)
	}
	out := messageListJSON{Messages: []messageJSON{}, Query: q}
	// One read, so that the list and the count agree: the journal's
	// marker counts the messages among the events it dropped.
	for _, e := range s.env.Journal().Events(func(e journal.Event) bool { return isMessage(e) || e.Kind == journal.KindDropped }) {
		switch {
		case e.Kind == journal.KindDropped:
			out.Dropped += e.Dropped.Messages
		case e.Message.RawDropped:
			out.Dropped++
		case s.isDeleted(e.Seq):
			out.Deleted++
		case q == "" || matches(e, q):
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
	e, err := s.message(num, id)
	if err != nil {
		return err
	}
	seq, raw := e.Seq, e.Message.Raw
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
	for i := range d.Parts {
		d.Parts[i].URL = fmt.Sprintf("/api/messages/%d/parts/%d", seq, i)
	}
	html := ""
	if d.HTML != "" {
		html = fmt.Sprintf("/api/messages/%d/html", seq)
	}
	writeJSON(w, http.StatusOK, messageDetailJSON{messageJSON: messageView(e), Headers: headers, Body: body,
		Text: d.Text, Parts: d.Parts, HTML: html, MIMEErr: d.Err, Truncated: cut || d.Truncated})
	return nil
}

// message finds the message whose journal sequence number is num; id is
// what the path said, for the error.
func (s *Server) message(num, id string) (journal.Event, error) {
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq < 1 {
		return journal.Event{}, badRequest("message %q: want the sequence number of its journal event, e.g. 12 or 12.eml", id)
	}
	j := s.env.Journal()
	e, ok := j.At(seq)
	switch {
	case !ok && seq <= j.Dropped().Events:
		return e, gone("message %d: event %d was dropped with the oldest journal events (%s)", seq, seq, keeps(j.Limits()))
	case !ok || !isMessage(e) || s.isDeleted(seq):
		return e, notFound("message %d: no such message", seq)
	case e.Message.RawDropped:
		return e, gone("message %d: its bytes were dropped (%s)", seq, keeps(j.Limits()))
	}
	return e, nil
}

// The headers of what the sandbox serves from a message: the page's
// origin must never run, or be navigated to, anything a message holds.
// A sandbox CSP gives the answer an opaque origin even when opened
// directly; nothing may load but inline styles and inline images.
const (
	cspMessage    = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
	cspAttachment = "sandbox; default-src 'none'"
)

// getHTML serves GET /api/messages/{id}/html: the message's HTML part,
// decoded, for the page's sandboxed frame.
func (s *Server) getHTML(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	e, err := s.message(id, id)
	if err != nil {
		return err
	}
	d := decodeMIME(e.Message.Raw)
	if d.HTML == "" {
		return notFound("message %d has no HTML part", e.Seq)
	}
	h := w.Header()
	h.Set("Content-Security-Policy", cspMessage)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, d.HTML) // a write error means the client has gone
	return nil
}

// getPart serves GET /api/messages/{id}/parts/{n}: a leaf part, decoded,
// always as a download of bytes (never rendered on the page's origin).
func (s *Server) getPart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	e, err := s.message(id, id)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		return badRequest("part %q: want its number, from 0, as parts lists them", r.PathValue("n"))
	}
	var buf bytes.Buffer
	part, ok, err := copyPart(e.Message.Raw, n, &buf)
	switch {
	case err != nil:
		return badRequest("message %d: part %d: %v", e.Seq, n, err)
	case !ok:
		return notFound("message %d has no part %d", e.Seq, n)
	}
	name := part.Filename
	if name == "" {
		name = fmt.Sprintf("message-%d-part-%d", e.Seq, n)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Security-Policy", cspAttachment)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(buf.Bytes()))
	return nil
}

// deleteMessage serves DELETE /api/messages/{id}: the message is no
// longer listed or served. The journal keeps its event (a journal is
// never rewritten); the sandbox forgets it with the event.
func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	e, err := s.message(id, id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.deleted[e.Seq] = true
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int64{"deleted": e.Seq})
	return nil
}

// deleteMessages serves DELETE /api/messages: every message held goes.
func (s *Server) deleteMessages(w http.ResponseWriter, r *http.Request) error {
	n := 0
	evs := s.env.Journal().Events(isMessage)
	s.mu.Lock()
	for _, e := range evs {
		if !s.deleted[e.Seq] {
			s.deleted[e.Seq] = true
			n++
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
	return nil
}

// isDeleted reports whether the message of event seq was deleted. Seqs
// the journal has dropped since are forgotten here as well.
func (s *Server) isDeleted(seq int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dropped := s.env.Journal().Dropped().Events; len(s.deleted) > 0 && dropped > s.deletedFloor {
		for k := range s.deleted {
			if k <= dropped {
				delete(s.deleted, k)
			}
		}
		s.deletedFloor = dropped
	}
	return s.deleted[seq]
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
// (RFC 5322 §2.2.3) and their encoded words decoded (RFC 2047; the .eml
// has them as received), and the body after the first empty line, with CRLF
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
		headers = append(headers, headerJSON{Name: name, Value: decodeWords(strings.TrimSpace(value))})
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
