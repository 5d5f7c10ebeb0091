package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness/report"
)

func TestRelayCommandBadFlags(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dns := []string{"-dns", "127.0.0.1:5353"}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "-dns IP:PORT is required"},
		{[]string{"-dns", "localhost:53"}, exitUsage, `-dns "localhost:53": want IP:PORT`},
		{[]string{"-dns", "127.0.0.1:0"}, exitUsage, `-dns "127.0.0.1:0"`},
		{append([]string{"-port", "0"}, dns...), exitUsage, "-port 0: want 1..65535"},
		{append([]string{"-port", "70000"}, dns...), exitUsage, "-port 70000"},
		{append([]string{"-tls", "strict"}, dns...), exitUsage, `-tls "strict": want none, may, encrypt, verify or dane`},
		{append([]string{"-ca-file", filepath.Join(dir, "missing.pem")}, dns...), exitUsage, "-ca-file: open " + filepath.Join(dir, "missing.pem")},
		{append([]string{"-ca-file", notPEM}, dns...), exitUsage, "-ca-file " + notPEM + ": no PEM certificate"},
		{append([]string{"-variant", "nope"}, dns...), exitUsage, `-variant "nope": no such variant`},
		{append([]string{"-mynetworks", "127.0.0.1"}, dns...), exitUsage, `-mynetworks "127.0.0.1": "127.0.0.1" is not a network`},
		{append([]string{"-listen", "nowhere"}, dns...), exitUsage, `-listen "nowhere": want IP:PORT`},
		{append([]string{"-hostname", "not a name"}, dns...), exitUsage, "Hostname"},
		{append([]string{"-smarthost", "[bad"}, dns...), exitUsage, "Smarthost"},
		{append([]string{"-listen", busy.Addr().String()}, dns...), exitFail, "address already in use"},
		{append([]string{"extra"}, dns...), exitUsage, `unexpected argument "extra"`},
		{[]string{"-bogus"}, exitUsage, "flag provided but not defined: -bogus"},
	} {
		code, _, stderr := runCLI(t, append([]string{"relay"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("mxsim relay %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// TestRelayCommandServesUntilCancelled: the relay answers on the address
// it prints, and stops cleanly when cancelled (Ctrl-C).
func TestRelayCommandServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errb lockedBuffer
	go func() {
		code := runRelay(ctx, []string{"-listen", "127.0.0.1:0", "-dns", "127.0.0.1:9", "-v"}, pw, &errb)
		pw.Close()
		done <- code
	}()
	lines := bufio.NewScanner(pr)
	var addr string
	for addr == "" && lines.Scan() {
		addr, _ = strings.CutPrefix(lines.Text(), "mxsim relay: listening on ")
	}
	if addr == "" {
		t.Fatalf("no address printed (exit %d): %s", <-done, errb.String())
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.HasPrefix(greeting, "220 ") {
		t.Errorf("greeting %q, %v", greeting, err)
	}
	cancel()
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	if code := <-done; code != exitOK || !strings.Contains(strings.Join(rest, "\n"), "stopped.") {
		t.Errorf("exit %d, output after cancel %q, stderr %q", code, rest, errb.String())
	}
}

// TestRelayVerifiesWithPersistentCA is the reason for mxsim ca: a relay
// that verifies certificates, running in a process of its own and told
// once to trust ca.pem, passes TLS-003..006 when mxsim signs the hosts'
// certificates with that CA (-ca), and the same relay with its checks
// off fails them. Without -ca, each case has a CA of its own that the
// relay cannot trust, and a correct relay cannot pass: it would look no
// different from one that verifies nothing.
func TestRelayVerifiesWithPersistentCA(t *testing.T) {
	if os.Getenv("MXSIM_MAIN") == "1" {
		os.Args = append([]string{"mxsim"}, strings.Fields(os.Getenv("MXSIM_ARGS"))...)
		main()
		return
	}
	caDir := filepath.Join(t.TempDir(), "ca")
	if code, _, stderr := runCLI(t, "ca", "-dir", caDir); code != exitOK {
		t.Fatalf("mxsim ca: %s", stderr)
	}
	dnsAddr, smtpPort := fixedAddrs(t)
	relayArgs := []string{"-listen", "127.0.0.1:0", "-dns", dnsAddr, "-port", strconv.Itoa(smtpPort),
		"-tls", "verify", "-ca-file", filepath.Join(caDir, fakesmtp.CACertFile)}
	conformance := func(submit, cases string, extra ...string) (int, map[string]string, string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "r.json")
		args := append([]string{"conformance", "-relay", "external", "-submit", submit, "-tls", "verify",
			"-dns-addr", dnsAddr, "-smtp-port", strconv.Itoa(smtpPort), "-cases", cases, "-json", path}, extra...)
		code, stdout, stderr := runCLI(t, args...)
		return code, verdicts(t, path), stdout + stderr
	}
	tlsCases := []string{"TLS-003", "TLS-004", "TLS-005", "TLS-006"}

	t.Run("verifying relay, -ca", func(t *testing.T) {
		r := startRelayProcess(t, relayArgs...)
		code, v, out := conformance(r.addr, "TLS-*", "-ca", caDir)
		for _, id := range tlsCases {
			if v[id] != string(report.Pass) {
				t.Errorf("%s: %s, want PASS", id, v[id])
			}
		}
		if code != exitOK {
			t.Errorf("exit %d, want %d\n%s", code, exitOK, out)
		}
		// mxsim run takes -ca as well.
		code, stdout, stderr := runCLI(t, "run", "-relay", "external", "-submit", r.addr, "-ca", caDir, "-tls", "verify",
			"-dns-addr", dnsAddr, "-smtp-port", strconv.Itoa(smtpPort), scenarioDir+"/tls-verify-bad-certs.yaml")
		if code != exitOK {
			t.Errorf("mxsim run -ca: exit %d\n%s%s", code, stdout, stderr)
		}

		// Without -ca each case signs with a CA of its own: the relay,
		// right to refuse it, cannot pass. (One case is enough to show
		// it: each failure waits out its case's 3s.)
		code, v, out = conformance(r.addr, "TLS-004")
		if v["TLS-004"] != string(report.Fail) {
			t.Errorf("without -ca: TLS-004 %s, want FAIL: the relay cannot trust a CA of each case's own", v["TLS-004"])
		}
		if code != exitFail {
			t.Errorf("without -ca: exit %d, want %d\n%s", code, exitFail, out)
		}
		r.stop(t)
	})

	// -tls dane: the relay in its own process checks TLSA records (DANE-*
	// run with -tls dane and the same CA), and the variant that ignores
	// them delivers where it must not.
	daneArgs := append(slices.Clone(relayArgs[:len(relayArgs)-4]), "-tls", "dane", "-ca-file", filepath.Join(caDir, fakesmtp.CACertFile))
	daneConformance := func(submit string) (int, map[string]string, string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "r.json")
		code, stdout, stderr := runCLI(t, "conformance", "-relay", "external", "-submit", submit, "-tls", "dane",
			"-dns-addr", dnsAddr, "-smtp-port", strconv.Itoa(smtpPort), "-cases", "DANE-*", "-ca", caDir, "-json", path)
		return code, verdicts(t, path), stdout + stderr
	}
	t.Run("DANE relay", func(t *testing.T) {
		r := startRelayProcess(t, daneArgs...)
		code, v, out := daneConformance(r.addr)
		if len(v) != 5 || code != exitOK {
			t.Errorf("exit %d, verdicts %v; want 5 DANE cases passed\n%s", code, v, out)
		}
		r.stop(t)
		r = startRelayProcess(t, append(daneArgs, "-variant", "ignores-tlsa")...)
		code, v, out = daneConformance(r.addr)
		if v["DANE-002"] != string(report.Fail) || code != exitFail {
			t.Errorf("ignores-tlsa: exit %d, verdicts %v; want DANE-002 FAIL\n%s", code, v, out)
		}
		r.stop(t)
	})

	t.Run("relay that skips the checks, -ca", func(t *testing.T) {
		r := startRelayProcess(t, append(relayArgs, "-variant", "skips-cert-checks")...)
		code, v, out := conformance(r.addr, "TLS-*", "-ca", caDir)
		for _, id := range tlsCases[1:] {
			if v[id] != string(report.Fail) {
				t.Errorf("%s: %s, want FAIL", id, v[id])
			}
		}
		if code != exitFail {
			t.Errorf("exit %d, want %d\n%s", code, exitFail, out)
		}
		r.stop(t)
	})
}

// verdicts reads a JSON report: case ID to verdict.
func verdicts(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct{ ID, Verdict string }
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	v := make(map[string]string)
	for _, r := range doc.Results {
		v[r.ID] = r.Verdict
	}
	return v
}

// fixedAddrs picks the fixed addresses an operator would configure the
// relay with: a DNS address in a /24 of 127/8 of its own and an SMTP
// port, both free now.
func fixedAddrs(t *testing.T) (dnsAddr string, smtpPort int) {
	t.Helper()
	for range 20 {
		net24 := fmt.Sprintf("127.%d.%d", 100+rand.IntN(150), rand.IntN(256))
		tl, err := net.Listen("tcp", net24+".53:0")
		if err != nil {
			continue
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", fmt.Sprintf("%s.53:%d", net24, port))
		tl.Close()
		if err != nil {
			continue
		}
		ul.Close()
		sl, err := net.Listen("tcp", net24+".10:0")
		if err != nil {
			continue
		}
		smtpPort = sl.Addr().(*net.TCPAddr).Port
		sl.Close()
		return fmt.Sprintf("%s.53:%d", net24, port), smtpPort
	}
	t.Fatal("no free fixed addresses found")
	return "", 0
}

// relayProcess is mxsim relay running in a process of its own (this test
// binary, running main).
type relayProcess struct {
	cmd  *exec.Cmd
	addr string
	out  *lockedBuffer
	done chan struct{} // closed when the process has ended
	err  error         // its Wait's error, once done is closed
}

func startRelayProcess(t *testing.T, args ...string) *relayProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRelayVerifiesWithPersistentCA$")
	cmd.Env = append(os.Environ(), "MXSIM_MAIN=1", "MXSIM_ARGS=relay "+strings.Join(args, " "))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &relayProcess{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = r.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(r.out, sc.Text())
			if a, ok := strings.CutPrefix(sc.Text(), "mxsim relay: listening on "); ok {
				addrc <- a
			}
		}
	}()
	go func() {
		wg.Wait() // stdout read to the end before Wait closes it
		r.err = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
		}
	})
	select {
	case r.addr = <-addrc:
	case <-r.done:
		t.Fatalf("mxsim relay %q ended: %v\n%s", args, r.err, r.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("mxsim relay %q printed no address\n%s", args, r.out.String())
	}
	return r
}

// stop sends SIGTERM: the relay must stop cleanly, with exit status 0.
func (r *relayProcess) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
		if r.err != nil || !strings.Contains(r.out.String(), "stopped") {
			t.Errorf("mxsim relay after SIGTERM: %v\n%s", r.err, r.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("mxsim relay still running 30s after SIGTERM\n%s", r.out.String())
	}
}
