package scenarios

import (
	"errors"
	"strings"
	"testing"
)

// A fault name the decoder refuses is one error, at the name, not also a
// "missing name".
func TestBadFaultNameReportedOnce(t *testing.T) {
	src := `name: bad-fault
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
    faults: [{name: "bad name!", kind: servfail}]
hosts:
  mx1.example.test: {}
steps:
  - send: {from: a@origin.test, to: [b@example.test]}
`
	_, err := Parse("f.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse: %v, want an ErrorList", err)
	}
	if len(list) != 1 || !strings.Contains(list[0].Error(), "f.yaml:5:21") || !strings.Contains(list[0].Error(), "bad domain name") {
		t.Errorf("errors %v, want one bad domain name at f.yaml:5:21", list)
	}
}
