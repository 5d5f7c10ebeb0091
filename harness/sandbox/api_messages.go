package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// /api/messages: the messages the hosts accepted (their smtp.message
// events), as a list, parsed, or as received (.eml).

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

type messageDetailJSON struct {
	messageJSON
	Headers []headerJSON `json:"headers"`
	Body    string       `json:"body"`                 // as received
	Text    string       `json:"text"`                 // the readable text: MIME decoded (see decodeMIME)
	Parts   []partJSON   `json:"parts"`                // the MIME leaf parts
	MIMEErr string       `json:"mime_error,omitempty"` // what could not be decoded
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
	out := []messageJSON{}
	for _, e := range s.env.Journal().Events(isMessage) {
		out = append(out, messageView(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getMessage serves /api/messages/{seq} (parsed, JSON) and
// /api/messages/{seq}.eml (the bytes as received).
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	num, eml := strings.CutSuffix(id, ".eml")
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq < 1 {
		return badRequest("message %q: want the sequence number of its journal event, e.g. 12 or 12.eml", id)
	}
	evs := s.env.Journal().Since(seq - 1)
	if len(evs) == 0 || !isMessage(evs[0]) {
		return notFound("message %d: no such message", seq)
	}
	e := evs[0]
	if eml {
		w.Header().Set("Content-Type", "message/rfc822")
		w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=\"message-%d.eml\"", seq))
		w.Write(e.Message.Raw) // a write error means the client has gone
		return nil
	}
	headers, body := splitMessage(e.Message.Raw)
	d := decodeMIME(e.Message.Raw)
	if d.Parts == nil {
		d.Parts = []partJSON{}
	}
	writeJSON(w, http.StatusOK, messageDetailJSON{messageJSON: messageView(e), Headers: headers, Body: body,
		Text: d.Text, Parts: d.Parts, MIMEErr: d.Err})
	return nil
}

// splitMessage returns the header fields of raw in order, unfolded
// (RFC 5322 §2.2.3), and the body after the first empty line.
func splitMessage(raw []byte) ([]headerJSON, string) {
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	head, body, _ := strings.Cut(text, "\n\n")
	if strings.HasPrefix(text, "\n") {
		head, body = "", text[1:]
	}
	headers := []headerJSON{}
	for _, line := range strings.Split(head, "\n") {
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
	return headers, body
}
