package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/journal"
)

// What a JUnit consumer reads back.
type (
	xSuites struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Errors   int      `xml:"errors,attr"`
		Skipped  int      `xml:"skipped,attr"`
		Suites   []xSuite `xml:"testsuite"`
	}
	xSuite struct {
		Name     string  `xml:"name,attr"`
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Errors   int     `xml:"errors,attr"`
		Skipped  int     `xml:"skipped,attr"`
		Time     string  `xml:"time,attr"`
		Cases    []xCase `xml:"testcase"`
	}
	xCase struct {
		Classname string     `xml:"classname,attr"`
		Name      string     `xml:"name,attr"`
		Time      string     `xml:"time,attr"`
		Failures  []xProblem `xml:"failure"`
		Errors    []xProblem `xml:"error"`
		Skipped   *xProblem  `xml:"skipped"`
		SystemOut string     `xml:"system-out"`
		SystemErr string     `xml:"system-err"`
	}
	xProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
)

func TestJUnit(t *testing.T) {
	results := sampleResults()
	// A control character that XML 1.0 cannot carry must not break the file.
	results[0].Events[0].Text += " \x01bell\x07 ]]> end"
	var b bytes.Buffer
	if err := WriteJUnit(&b, "mxsim run", results); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML declaration: %.60q", out)
	}
	// Markup in text is either escaped or inside CDATA, where it is data.
	if outside := regexp.MustCompile(`(?s)<!\[CDATA\[.*?\]\]>`).ReplaceAllString(out, ""); strings.Contains(outside, hostile) {
		t.Errorf("hostile text appears unescaped outside CDATA")
	}
	if !strings.Contains(out, "<system-out><![CDATA[") {
		t.Errorf("journal is not kept readable in CDATA")
	}
	var doc xSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("output is not valid XML: %v\n%s", err, out)
	}
	if doc.Tests != 4 || doc.Failures != 1 || doc.Errors != 1 || doc.Skipped != 1 {
		t.Errorf("testsuites counts = tests %d failures %d errors %d skipped %d, want 4 1 1 1", doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("got %d testsuite elements, want 1", len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "mxsim run" || s.Tests != 4 || s.Failures != 1 || s.Errors != 1 || s.Skipped != 1 || s.Time != "10.460" {
		t.Errorf("testsuite = %+v", s)
	}
	if len(s.Cases) != 4 {
		t.Fatalf("got %d testcases, want 4", len(s.Cases))
	}
	pass, fail, errc, skip := s.Cases[0], s.Cases[1], s.Cases[2], s.Cases[3]
	if pass.Name != "mx-failover-on-refused" || pass.Classname != "mxsim run" || pass.Time != "0.410" {
		t.Errorf("pass case = %q %q %q", pass.Classname, pass.Name, pass.Time)
	}
	if len(pass.Failures)+len(pass.Errors) != 0 || pass.Skipped != nil {
		t.Errorf("pass case has failure/error/skipped: %+v", pass)
	}
	for _, want := range []string{"EHLO relay.test", "smtp.command", "mx2.example.test#1", "\uFFFDbell\uFFFD ]]> end"} {
		if !strings.Contains(pass.SystemOut, want) {
			t.Errorf("system-out of the pass case lacks %q:\n%s", want, pass.SystemOut)
		}
	}
	if len(fail.Failures) != 1 {
		t.Fatalf("fail case has %d <failure>, want 1", len(fail.Failures))
	}
	f := fail.Failures[0]
	if !strings.HasPrefix(f.Message, "scenario.yaml:14:5: expected a message") || f.Type != "expectation" {
		t.Errorf("failure message=%q type=%q", f.Message, f.Type)
	}
	for _, want := range []string{"scenario.yaml:14:5", "scenario.yaml:15:5", "expected: attempts [mx3.example.test, mx3.example.test]",
		"actual:   attempts [mx3.example.test]", hostile} {
		if !strings.Contains(f.Text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, f.Text)
		}
	}
	if !strings.Contains(fail.SystemOut, "451 4.7.1 greylisted, try again later "+hostile) {
		t.Errorf("system-out does not round-trip the hostile reply:\n%s", fail.SystemOut)
	}
	if len(errc.Errors) != 1 || !strings.Contains(errc.Errors[0].Message, "address already in use") || len(errc.Failures) != 0 {
		t.Errorf("error case = %+v", errc)
	}
	if skip.Skipped == nil || !strings.Contains(skip.Skipped.Message, "DANE") || len(skip.Failures)+len(skip.Errors) != 0 {
		t.Errorf("not-applicable case = %+v", skip)
	}
}

func TestJUnitConformance(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, "", conformanceResults()); err != nil {
		t.Fatal(err)
	}
	var doc xSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Suites[0]
	if s.Name != "mxsim" {
		t.Errorf("default suite name = %q, want mxsim", s.Name)
	}
	if s.Tests != 4 || s.Failures != 1 || s.Errors != 0 || s.Skipped != 0 {
		t.Errorf("counts = %d %d %d %d, want 4 1 0 0", s.Tests, s.Failures, s.Errors, s.Skipped)
	}
	c := s.Cases[0]
	if c.Classname != "mxsim.MX" || c.Name != "MX-013 MUST failover on connection refused" {
		t.Errorf("case 0 = %q %q", c.Classname, c.Name)
	}
	if ns := s.Cases[1]; len(ns.Failures) != 0 || !strings.HasPrefix(ns.SystemErr, "NON-STRICT: ") {
		t.Errorf("non-strict case = %+v", ns)
	}
	if f := s.Cases[3].Failures; len(f) != 1 || f[0].Type != "MUST RFC 6647 §2.1" {
		t.Errorf("conformance failure = %+v", f)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	results := append(sampleResults(), conformanceResults()...)
	results[0].Events[len(results[0].Events)-4].Message = &journal.Message{From: "a@origin.test", To: []string{"b@example.test"},
		Headers: map[string][]string{"Subject": {"hi"}, "From": {"a@origin.test"}}, Raw: []byte("Subject: hi\r\n\r\nbody\r\n")}
	var b bytes.Buffer
	if err := WriteJSONWith(&b, results, JSONOptions{Raw: true}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []Result `json:"results"`
		Summary Totals   `json:"summary"`
	}
	dec := json.NewDecoder(bytes.NewReader(b.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(doc.Results, results) {
		t.Errorf("results do not round-trip:\n%s", b.String())
	}
	want := Totals{Total: 8, Passed: 2, Failed: 2, Errors: 1, NonStrict: 1, Informational: 1, NotApplicable: 1}
	if doc.Summary != want {
		t.Errorf("summary = %+v, want %+v", doc.Summary, want)
	}
	if !strings.Contains(b.String(), "\n  \"results\": [\n") || !strings.Contains(b.String(), hostile) ||
		!strings.Contains(b.String(), `"kind": "smtp.command"`) || strings.Contains(b.String(), `"TLS": null`) {
		t.Errorf("output is not indented, or escapes < for HTML:\n%.300s", b.String())
	}
	// Stable: the same input gives the same bytes.
	var again bytes.Buffer
	if err := WriteJSONWith(&again, results, JSONOptions{Raw: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Error("two writes of the same results differ")
	}
}

// TestJournalJSONTags fails when journal grows a field without a JSON
// name, which reports would then write under its Go name.
func TestJournalJSONTags(t *testing.T) {
	for _, v := range []any{journal.Event{}, journal.DNS{}, journal.TLS{}, journal.Auth{}, journal.Message{}} {
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			if f := rt.Field(i); f.IsExported() && f.Tag.Get("json") == "" {
				t.Errorf("%s.%s has no json tag", rt, f.Name)
			}
		}
	}
}

func TestJSONEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"results": []`) {
		t.Errorf("empty run: %s", b.String())
	}
}

// failWriter fails every write.
type failWriter struct{}

var errDisk = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errDisk }

func TestWritersBadInput(t *testing.T) {
	writers := map[string]func(w interface{ Write([]byte) (int, error) }, rs []Result) error{
		"junit": func(w interface{ Write([]byte) (int, error) }, rs []Result) error { return WriteJUnit(w, "s", rs) },
		"json":  func(w interface{ Write([]byte) (int, error) }, rs []Result) error { return WriteJSON(w, rs) },
		"json-raw": func(w interface{ Write([]byte) (int, error) }, rs []Result) error {
			return WriteJSONWith(w, rs, JSONOptions{Raw: true})
		},
		"html": func(w interface{ Write([]byte) (int, error) }, rs []Result) error { return WriteHTML(w, "t", rs) },
	}
	for name, write := range writers {
		t.Run(name, func(t *testing.T) {
			if err := write(nil, sampleResults()); !errors.Is(err, ErrNilWriter) {
				t.Errorf("nil writer: err = %v, want ErrNilWriter", err)
			}
			var b bytes.Buffer
			bad := append(sampleResults(), Result{Name: "odd", Verdict: "passed"})
			err := write(&b, bad)
			if !errors.Is(err, ErrUnknownVerdict) {
				t.Errorf("unknown verdict: err = %v, want ErrUnknownVerdict", err)
			} else if !strings.Contains(err.Error(), `result 5 "odd"`) || !strings.Contains(err.Error(), `"passed"`) {
				t.Errorf("error does not name the result: %v", err)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", b.Len())
			}
			if err := write(failWriter{}, sampleResults()); !errors.Is(err, errDisk) {
				t.Errorf("failing writer: err = %v, want it wrapped", err)
			}
		})
	}
}
