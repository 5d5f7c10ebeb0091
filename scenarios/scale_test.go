package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bigScenario writes a scenario with n hosts (h0.example.test … as
// `hN.example.test: {}`) and one zone whose MX set names every one of
// them, the shape of the file that once took minutes and gigabytes to
// validate: every host is looked up by name once per MX record.
func bigScenario(n int) []byte {
	var b strings.Builder
	b.Grow(n * 72)
	b.WriteString("name: big\ndns:\n  example.test:\n    mx:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - {pref: %d, host: h%d.example.test}\n", i%100, i)
	}
	b.WriteString("hosts:\n")
	for i := range n {
		b.WriteString("  h" + strconv.Itoa(i) + ".example.test: {}\n")
	}
	b.WriteString("steps:\n")
	b.WriteString("  - send: {from: a@example.test, to: [b@example.test]}\n")
	b.WriteString("  - expect: {delivered: {to: b@example.test, at: h1.example.test}}\n")
	return []byte(b.String())
}

func TestBigScenarioParses(t *testing.T) {
	s, err := Parse("big.yaml", bigScenario(2000))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Hosts) != 2000 || len(s.DNS[0].MX) != 2000 {
		t.Fatalf("got %d hosts and %d MX records, want 2000 each", len(s.Hosts), len(s.DNS[0].MX))
	}
}

// BenchmarkParseHosts parses scenarios of two sizes, the second four
// times the first: with Parse linear in the file, ns/op and B/op grow
// four times too (a quadratic step would make it sixteen).
func BenchmarkParseHosts(b *testing.B) {
	for _, n := range []int{10_000, 40_000} {
		src := bigScenario(n)
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse("big.yaml", src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLoadAllContextStops: a done context stops LoadAllContext before the
// first file, and within a large one; the error wraps ctx's and names the
// file, and no scenario comes back.
func TestLoadAllContextStops(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.yaml")
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(small, []byte("name: small\nsteps:\n  - flush: {}\n"), 0o644)
	os.WriteFile(big, bigScenario(50_000), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	scs, err := LoadAllContext(ctx, small)
	if !errors.Is(err, context.Canceled) || len(scs) != 0 || !strings.Contains(err.Error(), "small.yaml") {
		t.Errorf("cancelled before: %d scenarios, error %v", len(scs), err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	scs, err = LoadAllContext(ctx, small, big)
	if !errors.Is(err, context.DeadlineExceeded) || len(scs) != 0 || !strings.Contains(err.Error(), "big.yaml") {
		t.Errorf("cancelled within big.yaml: %d scenarios, error %v", len(scs), err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("an interrupted load reads as invalid scenarios: %v", err)
	}
}
