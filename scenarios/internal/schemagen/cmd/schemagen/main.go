// Command schemagen writes the JSON Schema of the scenario format, derived
// from the Go types of package scenarios and their doc comments. Run it
// through go generate from the scenarios directory:
//
//	go generate ./scenarios
//
// It takes the output file as its only argument and rewrites the file only
// when the schema changed.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/mxsim/mxsim/scenarios"
	"github.com/mxsim/mxsim/scenarios/internal/schemagen"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: schemagen OUTPUT.json")
		return 2
	}
	out := args[0]
	data, err := schemagen.Generate(reflect.TypeFor[scenarios.Scenario](), ".")
	if err != nil {
		fmt.Fprintf(stderr, "schemagen: %v\n", err)
		return 1
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, data) {
		return 0
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		fmt.Fprintf(stderr, "schemagen: %v\n", err)
		return 1
	}
	return 0
}
