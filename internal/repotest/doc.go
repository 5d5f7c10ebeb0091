// Package repotest holds tests about the repository as a whole rather than
// about one package: that it stands on its own, and that documents which
// restate the code (the rules table of docs/conformance.md) still agree
// with it. It has no code of its own; `go test ./...` runs it:
//
//  1. find the module root (the directory holding go.mod) from the
//     package directory upwards;
//  2. list the files the repository holds: `git ls-files`, tracked and
//     new but not ignored, or every file but .git when git cannot say;
//  3. check each of them, and name every offending file and line.
package repotest
