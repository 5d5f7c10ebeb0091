package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/mxsim/mxsim/harness/journal"
)

// jsonReport is the document WriteJSON writes.
type jsonReport struct {
	Results []jsonResult `json:"results"`
	Summary Totals       `json:"summary"`
}

// jsonResult is a Result whose events are written with lowercase keys and
// without empty fields. encoding/json matches keys without regard to case,
// so the document still decodes into []Result.
type jsonResult struct {
	Result
	Events []jsonEvent `json:"events,omitempty"` // shadows Result.Events
}

// jsonEvent mirrors journal.Event field for field (a test checks it).
type jsonEvent struct {
	Seq     int64        `json:"seq"`
	Time    time.Time    `json:"time"`
	Kind    journal.Kind `json:"kind"`
	Source  string       `json:"source,omitempty"`
	Session string       `json:"session,omitempty"`
	Remote  string       `json:"remote,omitempty"`
	Local   string       `json:"local,omitempty"`
	Peer    string       `json:"peer,omitempty"`
	Text    string       `json:"text,omitempty"`
	Code    int          `json:"code,omitempty"`
	Err     string       `json:"err,omitempty"`
	Fault   string       `json:"fault,omitempty"`
	DNS     *jsonDNS     `json:"dns,omitempty"`
	TLS     *jsonTLS     `json:"tls,omitempty"`
	Auth    *jsonAuth    `json:"auth,omitempty"`
	Message *jsonMessage `json:"message,omitempty"`
}

// jsonDNS mirrors journal.DNS.
type jsonDNS struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Rcode   string   `json:"rcode"`
	Answer  []string `json:"answer"`
	Proto   string   `json:"proto,omitempty"`
	AD      bool     `json:"ad"`
	TC      bool     `json:"tc"`
	Dropped bool     `json:"dropped"`
}

// jsonTLS mirrors journal.TLS.
type jsonTLS struct {
	Version    string `json:"version"`
	Cipher     string `json:"cipher,omitempty"`
	ServerName string `json:"servername,omitempty"`
	CertKind   string `json:"certkind,omitempty"`
	Implicit   bool   `json:"implicit"`
}

// jsonAuth mirrors journal.Auth.
type jsonAuth struct {
	Mechanism string `json:"mechanism"`
	User      string `json:"user"`
	OK        bool   `json:"ok"`
	TLS       bool   `json:"tls"`
}

// jsonMessage mirrors journal.Message.
type jsonMessage struct {
	From    string              `json:"from"`
	To      []string            `json:"to"`
	Size    int                 `json:"size"`
	Subject string              `json:"subject,omitempty"`
	ID      string              `json:"id,omitempty"`
	Headers map[string][]string `json:"headers,omitempty"`
	Raw     []byte              `json:"raw,omitempty"`
}

// toJSON converts r for WriteJSON.
func toJSON(r Result) jsonResult {
	out := jsonResult{Result: r}
	for _, e := range r.Events {
		je := jsonEvent{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Source: e.Source, Session: e.Session, Remote: e.Remote,
			Local: e.Local, Peer: e.Peer, Text: e.Text, Code: e.Code, Err: e.Err, Fault: e.Fault}
		if d := e.DNS; d != nil {
			je.DNS = &jsonDNS{Name: d.Name, Type: d.Type, Rcode: d.Rcode, Answer: d.Answer, Proto: d.Proto, AD: d.AD, TC: d.TC, Dropped: d.Dropped}
		}
		if t := e.TLS; t != nil {
			je.TLS = &jsonTLS{Version: t.Version, Cipher: t.Cipher, ServerName: t.ServerName, CertKind: t.CertKind, Implicit: t.Implicit}
		}
		if a := e.Auth; a != nil {
			je.Auth = &jsonAuth{Mechanism: a.Mechanism, User: a.User, OK: a.OK, TLS: a.TLS}
		}
		if m := e.Message; m != nil {
			je.Message = &jsonMessage{From: m.From, To: m.To, Size: m.Size, Subject: m.Subject, ID: m.ID, Headers: m.Headers, Raw: m.Raw}
		}
		out.Events = append(out.Events, je)
	}
	return out
}

// WriteJSON writes results as one indented JSON document for tools:
//
//	{"results": [Result…], "summary": {"total": …, "passed": …, …}}
//
// Events are written with lowercase keys ("kind", "text", "dns"…) and
// without their empty fields; the document decodes back into []Result.
// Field order is fixed by the types, so the output is stable for the same
// input. It returns an error, writing nothing, when w is nil or a result
// has an unknown verdict.
func WriteJSON(w io.Writer, results []Result) error {
	if w == nil {
		return fmt.Errorf("report: json: %w", ErrNilWriter)
	}
	if err := checkResults(results); err != nil {
		return err
	}
	doc := jsonReport{Results: make([]jsonResult, 0, len(results)), Summary: Count(results)}
	for _, r := range results {
		doc.Results = append(doc.Results, toJSON(r))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	// Event text is for people and tools, not for embedding in HTML:
	// keep "<" readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: json: encode: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report: json: write: %w", err)
	}
	return nil
}
