package scenarios

import (
	"strings"
	"testing"
)

// A smarthost by MX lookup ("example.test:587") reaches the zone's MX
// hosts on that port: each of them must list it.
func TestSmarthostPortByMXLookup(t *testing.T) {
	src := `name: mx-smarthost
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}, {pref: 20, host: mx2.example.test}]
hosts:
  mx1.example.test: {ports: [25, 587]}
  mx2.example.test: {}
relay:
  smarthost: "example.test:587"
steps:
  - send: {from: alice@origin.test, to: [bob@far.test]}
`
	_, err := Parse("mx.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `mx.yaml:9:14: smarthost "example.test:587": host mx2.example.test does not listen on port 587`) {
		t.Fatalf("error %v, want mx2 named at 9:14", err)
	}
	if strings.Contains(err.Error(), "host mx1.example.test does not listen") {
		t.Errorf("mx1 lists 587 but is named: %v", err)
	}
	ok := strings.Replace(src, "mx2.example.test: {}", "mx2.example.test: {ports: [587]}", 1)
	if _, err := Parse("mx.yaml", []byte(ok)); err != nil {
		t.Fatalf("every MX host lists 587: %v", err)
	}
	// Port 25 (written or not) needs no ports: key; a host whose ports
	// leave 25 out does not listen there.
	for _, sh := range []string{`"[mx2.example.test]"`, `"[mx2.example.test]:25"`} {
		if _, err := Parse("mx.yaml", []byte(strings.Replace(src, `"example.test:587"`, sh, 1))); err != nil {
			t.Errorf("smarthost %s: %v", sh, err)
		}
	}
	no25 := strings.Replace(strings.Replace(src, `"example.test:587"`, `"[mx2.example.test]:25"`, 1), "mx2.example.test: {}", "mx2.example.test: {ports: [587]}", 1)
	if _, err := Parse("mx.yaml", []byte(no25)); err == nil || !strings.Contains(err.Error(), "host mx2.example.test does not listen on port 25 (its ports: [587])") {
		t.Errorf("smarthost on 25 of a host listing only 587: %v", err)
	}
}
