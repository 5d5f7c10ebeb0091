package sandbox

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/mxsim/mxsim/scenarios"
)

// The bodies of hosts, zones and faults are the parts of a scenario file,
// in the shape scenario files write them: package scenarios reads them
// (ParseBehavior, ParseHostSet, ParseZone, ParseZoneFault, ParseFault)
// with its strict decoder and checks, and writes the views back in the
// same shape (BehaviorOf, ZoneFromRecords and their MarshalJSON), so that
// a host pasted from a scenario is a request body, and a GET is a body for
// the PUT of the same resource. JSON is YAML too: a body may be either.

// Media types of the scenario-shaped bodies.
const (
	ctYAML       = "application/yaml" // RFC 9512
	ctMergePatch = "application/merge-patch+json"
)

// readShape returns a body in the scenario's shape, JSON or YAML.
func readShape(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readBody(w, r, "application/json", ctYAML)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		// JSON may indent with tabs, which YAML refuses as indentation.
		// A tab in JSON is whitespace between tokens (in a string it must
		// be escaped), so a blank in its place keeps every line:col.
		body = []byte(strings.ReplaceAll(string(body), "\t", " "))
	}
	return body, nil
}

// shapeError turns the mistakes a scenarios fragment decoder found in a
// body into a 400 naming what was read ("host mx1.example.test") and each
// mistake at its line:col within the body.
func shapeError(what string, err error) error {
	var list scenarios.ErrorList
	if !errors.As(err, &list) {
		return badRequest("%s: %v", what, err)
	}
	msgs := make([]string, len(list))
	for i, e := range list {
		msgs[i] = e.Msg
		if e.Line > 0 {
			msgs[i] = fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
		}
	}
	return badRequest("%s: %s", what, strings.Join(msgs, "; "))
}

// invalid is a 400 for a value its owner refused (fakesmtp.Validate
// joins one error a line): what, then each error.
func invalid(what string, err error) error {
	return badRequest("%s: %s", what, strings.ReplaceAll(err.Error(), "\n", "; "))
}

// canonical writes a domain name as scenarios do: lower case, no final
// dot.
func canonical(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "." {
		return n
	}
	return strings.TrimSuffix(n, ".")
}
