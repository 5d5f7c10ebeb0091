package scenarios

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

// update rewrites the golden want.txt files: go test ./scenarios -update
var update = flag.Bool("update", false, "rewrite golden files under testdata/validate")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
