package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeBig writes a valid scenario of n hosts, all in one MX set, and
// returns its path.
func writeBig(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("name: big\ndns:\n  example.test:\n    mx:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - {pref: 10, host: h%d.example.test}\n", i)
	}
	b.WriteString("hosts:\n")
	for i := range n {
		fmt.Fprintf(&b, "  h%d.example.test: {}\n", i)
	}
	b.WriteString("steps:\n  - flush: {}\n")
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateInterrupted(t *testing.T) {
	big := writeBig(t, 50_000)
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errb bytes.Buffer
		code := run(ctx, []string{"validate", scenarioDir, big}, &out, &errb)
		if code != exitFail || !strings.Contains(errb.String(), "mxsim validate: interrupted") {
			t.Errorf("exit %d, stderr %q; want %d and interrupted", code, errb.String(), exitFail)
		}
		if strings.Contains(out.String(), "valid") {
			t.Errorf("an interrupted validate says files are valid:\n%s", out.String())
		}
	})
	t.Run("within-a-file", func(t *testing.T) {
		// Cancelled while the 50,000-host file is read, which takes far
		// longer than 20ms: the error names it.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		var out, errb bytes.Buffer
		code := run(ctx, []string{"validate", big}, &out, &errb)
		if code != exitFail || !strings.Contains(errb.String(), "interrupted") || !strings.Contains(errb.String(), "big.yaml") {
			t.Errorf("exit %d, stderr %q; want %d, interrupted, big.yaml", code, errb.String(), exitFail)
		}
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("validate returned before the deadline: %q", out.String())
		}
	})
}

// TestValidateSIGTERM runs mxsim validate on a large file in a process of
// its own and sends it SIGTERM: it stops while validating, says so and
// exits 1, as main wires the signals.
func TestValidateSIGTERM(t *testing.T) {
	if os.Getenv("MXSIM_MAIN") == "1" {
		os.Args = append([]string{"mxsim"}, strings.Fields(os.Getenv("MXSIM_ARGS"))...)
		main()
		return
	}
	big := writeBig(t, 200_000)
	cmd := exec.Command(os.Args[0], "-test.run=^TestValidateSIGTERM$")
	cmd.Env = append(os.Environ(), "MXSIM_MAIN=1", "MXSIM_ARGS=validate "+big)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the child has spent 1s of CPU, well past starting
	// (main's signal.NotifyContext; the test binary with -race takes
	// about 0.2s to get there, and 0.3s was once too little in CI) and
	// well before the end of the file: 200,000 hosts take tens of seconds
	// with -race.
	waitCPU(t, cmd.Process.Pid, time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFail {
			t.Errorf("exit: %v, want status %d\nstdout:\n%s\nstderr:\n%s", err, exitFail, out.String(), errb.String())
		}
		if !strings.Contains(errb.String(), "mxsim validate: interrupted") {
			t.Errorf("stderr does not say it was interrupted: %q", errb.String())
		}
	case <-time.After(60 * time.Second):
		// Validating the whole file takes well under this even on a
		// loaded machine; still running means SIGTERM was ignored.
		cmd.Process.Kill()
		<-done
		t.Fatalf("mxsim validate still running 60s after SIGTERM")
	}
}

// waitCPU waits until process pid has used at least d of CPU time, read
// from /proc (the test is skipped where there is none).
func waitCPU(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		// Fields after the command name in parentheses: state is 3rd,
		// utime the 14th and stime the 15th of the whole line.
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		var utime, stime int64
		if len(f) > 12 {
			fmt.Sscan(f[11], &utime)
			fmt.Sscan(f[12], &stime)
		}
		if time.Duration(utime+stime)*tick >= d {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d did not use %v of CPU in 30s", pid, d)
}

// TestValidateGoldenCases: mxsim validate fails with exit 1 on every
// broken file of testdata/validate, each error placed as file:line:col.
func TestValidateGoldenCases(t *testing.T) {
	files, err := filepath.Glob("../../testdata/validate/*/in.yaml")
	if err != nil || len(files) < 15 {
		t.Fatalf("golden cases: %d, %v", len(files), err)
	}
	for _, f := range files {
		code, stdout, stderr := runCLI(t, "validate", f)
		if code != exitFail || strings.Contains(stdout, "valid") {
			t.Errorf("%s: exit %d, stdout %q; want %d and no file valid", f, code, stdout, exitFail)
		}
		if !strings.HasPrefix(stderr, f+":") {
			t.Errorf("%s: stderr does not start with its path and position:\n%s", f, stderr)
		}
	}
}
