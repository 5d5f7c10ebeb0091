package sandbox

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
)

// TestMessageMemory measures, in this process, how far the peak resident
// memory rises while a 50 MB message is read back as JSON and as .eml:
// the figures of docs/reliability.md. It needs Linux (/proc/self/status,
// clear_refs) and MXSIM_MEMORY=1: it moves 50 MB around, and a peak is
// only meaningful with nothing else running in the process.
func TestMessageMemory(t *testing.T) {
	if os.Getenv("MXSIM_MEMORY") == "" {
		t.Skip("set MXSIM_MEMORY=1 to measure peak memory (Linux)")
	}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak resident memory: %v", err)
	}
	f := newFixture(t, Config{})
	line := strings.Repeat("0123456789", 7) + "abcd\r\n"
	body := strings.Repeat(line, (50<<20)/len(line))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := harness.Submit(ctx, f.env.Host("mx1.example.test").Addr(), harness.Message{
		From: "alice@origin.test", To: []string{"bob@example.test"}, Subject: "50 MB", Body: body}); err != nil {
		t.Fatalf("submit: %v", err)
	}
	body = ""
	e := f.waitEvent("the message", isMessage)
	f.waitSessionsEnded()

	// peak returns by how much the peak resident memory rose above the
	// resident memory before get, in MiB.
	peak := func(path string) float64 {
		runtime.GC()
		debug.FreeOSMemory()
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			t.Fatal(err)
		}
		before := procStatus(t, "VmRSS")
		resp, err := f.http.Get("http://" + f.srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
		}
		rise := float64(procStatus(t, "VmHWM")-before) / 1024
		t.Logf("GET %s: %d bytes; peak resident memory %.1f MiB above the %.1f MiB before", path, n, rise, float64(before)/1024)
		return rise
	}
	if rise := peak("/api/messages/" + itoa(e.Seq) + ".eml"); rise > 16 {
		t.Errorf(".eml: peak rose by %.1f MiB, want under 16", rise)
	}
	if rise := peak("/api/messages/" + itoa(e.Seq)); rise > 48 {
		t.Errorf("JSON: peak rose by %.1f MiB, want under 48", rise)
	}
}

// procStatus returns a field of /proc/self/status in KiB ("VmHWM").
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
