package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/journal"
)

// bigMessages is a run whose hosts accepted n messages of size bytes.
func bigMessages(n, size int) []Result {
	r := failoverResult()
	for i := range n {
		raw := []byte(fmt.Sprintf("Subject: m%d\r\n\r\n%s\r\n", i, strings.Repeat("x", size)))
		r.Events = append(r.Events, journal.Event{Seq: int64(100 + i), Time: t0(), Kind: journal.KindSMTPMessage, Source: "mx2.example.test",
			Session: "mx2.example.test#1", Message: &journal.Message{From: "a@origin.test", To: []string{"b@example.test"}, Size: len(raw),
				Subject: fmt.Sprintf("m%d", i), Raw: raw}})
	}
	return []Result{r}
}

// TestJSONRaw: by default the JSON report leaves out the bytes of the
// messages, saying so, with their size and SHA-256, and is much smaller;
// with JSONOptions.Raw it has them and round-trips exactly.
func TestJSONRaw(t *testing.T) {
	results := bigMessages(20, 20000)
	var small, full bytes.Buffer
	if err := WriteJSON(&small, results); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSONWith(&full, results, JSONOptions{Raw: true}); err != nil {
		t.Fatal(err)
	}
	if small.Len()*10 > full.Len() {
		t.Errorf("default JSON %d bytes, with raw %d: want it at least 10 times smaller", small.Len(), full.Len())
	}
	t.Logf("JSON report: %d bytes without the messages' bytes, %d with", small.Len(), full.Len())

	// Default: no bytes, but what was left out is said.
	var doc struct {
		Results []struct {
			Events []struct {
				Kind    journal.Kind `json:"kind"`
				Message *struct {
					Size       int    `json:"size"`
					Subject    string `json:"subject"`
					Raw        []byte `json:"raw"`
					RawOmitted bool   `json:"raw_omitted"`
					RawSHA256  string `json:"raw_sha256"`
				} `json:"message"`
			} `json:"events"`
		} `json:"results"`
	}
	if err := json.Unmarshal(small.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, e := range doc.Results[0].Events {
		orig := results[0].Events[i].Message
		if e.Message == nil || orig == nil || orig.Raw == nil {
			if e.Message != nil && (e.Message.RawOmitted || e.Message.RawSHA256 != "") {
				t.Errorf("event %d: a message without bytes says some were left out", i)
			}
			continue
		}
		n++
		sum := sha256.Sum256(orig.Raw)
		if e.Message.Raw != nil || !e.Message.RawOmitted || e.Message.RawSHA256 != hex.EncodeToString(sum[:]) ||
			e.Message.Size != len(orig.Raw) || e.Message.Subject != orig.Subject {
			t.Errorf("event %d: raw %d bytes, omitted %v, sha256 %s, size %d, subject %q; want none, true, %x, %d, %q",
				i, len(e.Message.Raw), e.Message.RawOmitted, e.Message.RawSHA256, e.Message.Size, e.Message.Subject, sum, len(orig.Raw), orig.Subject)
		}
	}
	if n != 20 {
		t.Errorf("%d messages with bytes in the report, want 20", n)
	}
	// It still decodes into Results, which the writer did not change.
	var back struct{ Results []Result }
	if err := json.Unmarshal(small.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if last := back.Results[0].Events[len(back.Results[0].Events)-1]; last.Message == nil || last.Message.Raw != nil || last.Message.Size == 0 {
		t.Errorf("decoded message: %+v", last.Message)
	}
	if results[0].Events[len(results[0].Events)-1].Message.Raw == nil {
		t.Error("WriteJSON dropped the bytes of the results it was given")
	}

	// With Raw: every byte, as given.
	if !strings.Contains(full.String(), `"raw": "`) || strings.Contains(full.String(), "raw_omitted") || strings.Contains(full.String(), "raw_sha256") {
		t.Error("JSON with Raw: bytes missing, or said to be left out")
	}
}
