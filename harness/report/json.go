package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/mxsim/mxsim/journal"
)

// JSONOptions are the choices of WriteJSONWith.
type JSONOptions struct {
	// Raw keeps the bytes of every message (Message.Raw, in base64) in
	// the events. Without it they are left out, which makes the report
	// several times smaller: each message keeps its envelope, headers and
	// size, and says what was left out ("raw_omitted": true) with the
	// SHA-256 of the bytes ("raw_sha256") to tell messages apart.
	Raw bool
}

// jsonReport is the document WriteJSONWith writes.
type jsonReport struct {
	Results []jsonResult `json:"results"`
	Summary Totals       `json:"summary"`
}

// jsonResult is a Result whose events may leave out message bytes: its
// Events hide the Result's (encoding/json writes the shallower field).
type jsonResult struct {
	Result
	Events []jsonEvent `json:"events,omitempty"`
}

// jsonEvent is a journal event whose message may be without its bytes.
type jsonEvent struct {
	journal.Event
	Message *jsonMessage `json:"message,omitempty"`
}

// jsonMessage is a message, and what was left out of it.
type jsonMessage struct {
	journal.Message
	RawOmitted bool   `json:"raw_omitted,omitempty"` // Raw was left out of the report (JSONOptions.Raw not set)
	RawSHA256  string `json:"raw_sha256,omitempty"`  // of the bytes left out, hex
}

// WriteJSON writes results as WriteJSONWith does with the zero
// JSONOptions: without the bytes of the messages.
func WriteJSON(w io.Writer, results []Result) error {
	return WriteJSONWith(w, results, JSONOptions{})
}

// WriteJSONWith writes results as one indented JSON document for tools:
//
//	{"results": [Result…], "summary": {"total": …, "passed": …, …}}
//
// Events are written in the journal's JSON form (lowercase keys, empty
// fields left out); the document decodes back into []Result, the bytes
// of the messages included only with opts.Raw (see JSONOptions).
// Field order is fixed by the types, so the output is stable for the same
// input. It returns an error, writing nothing, when w is nil or a result
// has an unknown verdict.
func WriteJSONWith(w io.Writer, results []Result, opts JSONOptions) error {
	if w == nil {
		return fmt.Errorf("report: json: %w", ErrNilWriter)
	}
	if err := checkResults(results); err != nil {
		return err
	}
	doc := jsonReport{Results: make([]jsonResult, len(results)), Summary: Count(results)}
	for i, r := range results {
		doc.Results[i] = jsonResult{Result: r, Events: jsonEvents(r.Events, opts.Raw)}
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

// jsonEvents returns events for the JSON report, their messages without
// their bytes unless raw.
func jsonEvents(events []journal.Event, raw bool) []jsonEvent {
	if events == nil {
		return nil
	}
	out := make([]jsonEvent, len(events))
	for i, e := range events {
		out[i].Event = e
		if e.Message == nil {
			continue
		}
		m := &jsonMessage{Message: *e.Message}
		if !raw && m.Raw != nil {
			sum := sha256.Sum256(m.Raw)
			m.Raw, m.RawOmitted, m.RawSHA256 = nil, true, hex.EncodeToString(sum[:])
		}
		out[i].Message = m
	}
	return out
}
