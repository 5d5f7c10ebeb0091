package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// jsonReport is the document WriteJSON writes.
type jsonReport struct {
	Results []Result `json:"results"`
	Summary Totals   `json:"summary"`
}

// WriteJSON writes results as one indented JSON document for tools:
//
//	{"results": [Result…], "summary": {"total": …, "passed": …, …}}
//
// Events are written in the journal's JSON form (lowercase keys, empty
// fields left out); the document decodes back into []Result.
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
	doc := jsonReport{Results: results, Summary: Count(results)}
	if doc.Results == nil {
		doc.Results = []Result{}
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
