package scenarios

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/scenarios/internal/schemagen"
)

// TestSchemaGenerated regenerates the schema from the types and their
// comments and compares it with the embedded schema.json.
func TestSchemaGenerated(t *testing.T) {
	got, err := schemagen.Generate(reflect.TypeFor[Scenario](), ".")
	if err != nil {
		t.Fatalf("generate the schema: %v", err)
	}
	if bytes.Equal(got, schemaJSON) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(schemaJSON), "\n")
	i := 0
	for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
		i++
	}
	line := func(l []string) string {
		if i < len(l) {
			return l[i]
		}
		return "(end of file)"
	}
	t.Fatalf("scenarios/schema.json is stale: run go generate ./scenarios\nfirst difference at line %d:\n  generated: %s\n  schema.json: %s", i+1, line(gl), line(wl))
}

// TestSchemaEnums holds every enum of the schema to the table the decoder
// checks values against.
func TestSchemaEnums(t *testing.T) {
	var root struct {
		Defs map[string]struct {
			Enum []string `json:"enum"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &root); err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	n := 0
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		if en, ok := reflect.Zero(typ).Interface().(enum); ok {
			n++
			if got := root.Defs[typ.Name()].Enum; !slices.Equal(got, en.validValues()) {
				t.Errorf("schema enum of %s = %q, the decoder takes %q", typ.Name(), got, en.validValues())
			}
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			walk(typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				walk(typ.Field(i).Type)
			}
		}
	}
	walk(reflect.TypeFor[Scenario]())
	if n < 10 {
		t.Errorf("found %d enum types below Scenario, want at least 10", n)
	}
}
