package sandbox

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/mxsim/mxsim/scenarios"
)

// GET /api/schema: what the page builds its behaviour form from. It is
// the JSON Schema of scenario files (scenarios.Schema, generated from the
// Go types, their enums from Values()), the one whose shape PUT
// /api/hosts/{name} reads: a behaviour field added there shows up on the
// page with no change to the page.

// schemaJSON is the answer: Behavior names the definition of a host's
// behaviour in Schema ("#/$defs/Host") and Keys its parts, in order (the
// keys of that definition that a behaviour has; a host in a scenario has
// more, as publish_as). Schema is written as scenarios.Schema has it, so
// that properties keep their order.
type schemaJSON struct {
	Behavior string          `json:"behavior"`
	Keys     []string        `json:"keys"`
	Schema   json.RawMessage `json:"schema"`
}

// behaviorDef is the definition of a host in the scenario schema.
const behaviorDef = "#/$defs/Host"

var schemaOnce = sync.OnceValue(func() []byte {
	data, err := json.Marshal(schemaJSON{Behavior: behaviorDef, Keys: scenarios.BehaviorKeys(), Schema: scenarios.Schema()})
	if err != nil {
		panic("sandbox: schema: " + err.Error()) // the embedded schema is valid JSON: a test checks it
	}
	return data
})

func (s *Server) getSchema(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(schemaOnce()) // a write error means the client has gone
	return nil
}
