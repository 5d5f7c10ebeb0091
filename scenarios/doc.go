// Package scenarios is mxsim's YAML scenario format: the Go types, a strict
// loader that reports every mistake at once as file.yaml:LINE:COL, the
// semantic checks, the JSON Schema and the built-in scenario library.
//
// The flow of Parse:
//
//  1. goccy/go-yaml parses the bytes into an AST (a syntax error stops here,
//     with its position);
//  2. a strict decoder walks the AST into Scenario: unknown keys, wrong
//     types, duplicate keys and names, bad domains, addresses, durations,
//     reply strings (fakesmtp.ParseReply) and enum values are recorded with
//     their line and column, and decoding goes on, so one run reports them
//     all; the decoder also records the position of every value it decodes;
//  3. Validate checks what spans several values: hosts referenced by MX
//     records, expectations and set steps, send ids, records and zones,
//     relay settings that belong to another relay kind. Each host's
//     behaviour, and the parts a set step changes, are checked by
//     fakesmtp.Behavior.Validate — a behaviour is made of fakesmtp's types,
//     and fakesmtp is the one authority on what a valid one is — and each
//     *fakesmtp.FieldError it returns ("replies.rcpt[0].reply.code") is
//     reported at the position recorded for the value its path names;
//  4. defaults are filled in (relay kind reference, TLS may, expect within
//     10s, STARTTLS offered by a host with a tls part, …) so the runner in
//     harness/ reads plain values: time.Duration, int codes, netip.Addr,
//     lowercase names without the final dot;
//  5. every Step and expectation keeps its Pos, and Scenario.PosOf gives
//     the position of any decoded field, so run-time failures can point at
//     the line that asked for them.
//
// Behavior.Apply turns a host into the fakesmtp.Behavior it runs with, and
// Set.Apply does what a set step does to a running host. ParseBehavior,
// ParseZone and ParseFault read one part of a scenario on its own (YAML,
// or JSON, which is YAML too), with the same decoder and checks.
//
// A scenario with a `conformance:` section (ID, title, RFC clause, level,
// requirement, the relay configurations it applies to) is a conformance
// case; the built-in library of them is ConformanceLibrary, loaded with
// LoadConformance (which also rejects duplicate IDs) and filtered with
// SelectCases.
//
// The format is documented for scenario writers in docs/scenarios.md, and
// published as JSON Schema by Schema (`mxsim schema`). schema.json is
// generated from these types, their doc comments and the decoder's tables
// by internal/schemagen: run `go generate ./scenarios` after changing them.
package scenarios
