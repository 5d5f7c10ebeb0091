// Command mtamatrix writes docs/mta-matrix.md from the runs that
// scripts/matrix.sh lists in its manifest (see package mtamatrix). It
// exits 1, naming the cells, when a non-pass has no note, when an
// external run's verdict differs from the adapter's or when a run failed,
// after writing the document; it names the notes no cell uses.
//
//	go run ./internal/mtamatrix/cmd/mtamatrix -manifest DIR/runs.tsv -out docs/mta-matrix.md
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mxsim/mxsim/internal/mtamatrix"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mtamatrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	manifest := fs.String("manifest", "", "the runs, `FILE` written by scripts/matrix.sh (required)")
	out := fs.String("out", "docs/mta-matrix.md", "Markdown `FILE` to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *manifest == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: mtamatrix -manifest FILE [-out FILE]")
		return 2
	}
	notes, err := mtamatrix.Notes()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	runs, err := mtamatrix.ReadManifest(*manifest)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	doc := mtamatrix.Build(runs, notes)
	if err := write(*out, doc); err != nil {
		fmt.Fprintf(stderr, "mtamatrix: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "mtamatrix: wrote %s\n", *out)
	for _, k := range doc.Unused {
		fmt.Fprintf(stderr, "mtamatrix: note %q is no longer used (its cell passes or is gone): remove it from internal/mtamatrix/notes.md\n", "## "+k.String())
	}
	if p := doc.Problems(); len(p) > 0 {
		for _, line := range p {
			fmt.Fprintf(stderr, "mtamatrix: %s\n", line)
		}
		fmt.Fprintf(stderr, "mtamatrix: %d problem(s)\n", len(p))
		return 1
	}
	return 0
}

// write writes through a temporary file and renames it.
func write(path string, doc *mtamatrix.Doc) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".mta-matrix-*.md")
	if err != nil {
		return err
	}
	err = errors.Join(doc.Render(f), f.Close())
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
