package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestGroupRunAndStop(t *testing.T) {
	g := &Group{}
	defer g.StopAll()
	out, _, err := g.Run(context.Background(), "sh", "-c", "echo hello; exit 3")
	if err == nil || !strings.Contains(out, "hello") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Run = %q, %v; want output hello and exit status 3", out, err)
	}

	// A process that forks: Stop must end the child too.
	p, err := g.Start("sh", "-c", "sleep 30 & echo child $!; wait")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "child "); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	var child int
	fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(p.Output(), "child ")), "%d", &child)
	if child <= 0 {
		t.Fatalf("no child pid in %q", p.Output())
	}
	if alive(child) {
		t.Errorf("child %d still runs after Stop", child)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	_, _, err = g.Run(short, "sleep", "30")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run past its context: %v, want DeadlineExceeded", err)
	}
	if _, err := g.Start("/nonexistent/tool"); err == nil {
		t.Error("Start of a missing program: no error")
	}
}

// alive reports whether pid exists and is not a zombie, waiting a little
// for a killed process to go.
func alive(pid int) bool {
	for range 100 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return false
		}
		if unix.Kill(pid, 0) != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
