package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/sandbox"
)

// lockedBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningSandbox is "mxsim sandbox" running in a goroutine.
type runningSandbox struct {
	cancel context.CancelFunc
	done   chan int    // exit status
	lines  chan string // stdout, line by line; closed when the command ends
	stderr *lockedBuffer
	head   []string // stdout up to and including the page line
	url    string
}

// startSandbox runs runSandbox with args and reads its output until the
// page's URL is printed.
func startSandbox(t *testing.T, args ...string) *runningSandbox {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	rs := &runningSandbox{cancel: cancel, done: make(chan int, 1), lines: make(chan string, 256), stderr: &lockedBuffer{}}
	go func() {
		code := runSandbox(ctx, args, pw, rs.stderr)
		pw.Close()
		rs.done <- code
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			rs.lines <- sc.Text()
		}
		close(rs.lines)
	}()
	t.Cleanup(func() {
		cancel()
		for range rs.lines {
		}
	})
	timeout := time.After(30 * time.Second) // a guard against a hang, not a speed check
	for rs.url == "" {
		select {
		case line, ok := <-rs.lines:
			if !ok {
				t.Fatalf("mxsim sandbox ended before printing the page URL (exit %d)\nstdout:\n%s\nstderr:\n%s",
					<-rs.done, strings.Join(rs.head, "\n"), rs.stderr.String())
			}
			rs.head = append(rs.head, line)
			if u, ok := strings.CutPrefix(line, "page and API: "); ok {
				rs.url = strings.Fields(u)[0]
			}
		case <-timeout:
			t.Fatalf("mxsim sandbox printed no page URL\nstdout:\n%s", strings.Join(rs.head, "\n"))
		}
	}
	return rs
}

// stop cancels the command (as Ctrl-C does) and returns its exit status
// and the rest of its output.
func (rs *runningSandbox) stop() (int, string) {
	rs.cancel()
	var rest []string
	for l := range rs.lines {
		rest = append(rest, l)
	}
	return <-rs.done, strings.Join(rest, "\n")
}

func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// waitJSON GETs url until done holds for its answer, and returns that
// answer; it fails the test after 30s. A test waits so before it reads
// what the network may still be writing: the network runs on its own
// goroutines, and a host journals its smtp.disconnect after the client
// has its 221.
func waitJSON[T any](t *testing.T, c *http.Client, url, what string, done func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a guard against a hang, not a speed check
	for {
		var v T
		getJSON(t, c, url, &v)
		if done(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s; GET %s last said %+v", what, url, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSandboxDemoServesUntilCancelled(t *testing.T) {
	rs := startSandbox(t, "--listen", "127.0.0.1:0")
	out := strings.Join(rs.head, "\n")
	if m := regexp.MustCompile(`demo network up in (\S+)`).FindStringSubmatch(out); m == nil {
		t.Errorf("no start line:\n%s", out)
	} else {
		t.Logf("start time: %s", m[1])
	}
	for _, want := range []string{"mx1.example.test", "greylist 30s", "AUTH PLAIN/LOGIN required", "(fake DNS)",
		"example.test  10 mx1.example.test, 20 mx2.example.test, 30 mx3.example.test",
		"relayhost = [", "smtp_tcp_port = ", "swaks --server ",
		"keeps: the last 100000 journal events and the bytes of the last 1000 messages, 128MiB at most"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var hosts []struct{ Name, State string }
	getJSON(t, c, rs.url+"api/hosts", &hosts)
	if len(hosts) != len(sandbox.Demo().Hosts) {
		t.Fatalf("api/hosts: %+v", hosts)
	}

	// What the printed swaks line does: STARTTLS, AUTH, deliver.
	m := regexp.MustCompile(`swaks --server (\S+) --tls --auth-user (\S+) --auth-password (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no swaks line for the smarthost:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := harness.Submit(ctx, m[1], harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"},
		Subject: "as swaks would", StartTLS: true, User: m[2], Password: m[3]})
	if err != nil {
		t.Fatalf("submit as the printed swaks line: %v", err)
	}
	waitJSON(t, c, rs.url+"api/sessions?host="+sandbox.DemoSmarthost, "the smarthost's session to end", func(ss []struct{ Ended bool }) bool {
		return len(ss) == 1 && ss[0].Ended
	})
	var list struct {
		Messages []struct{ Subject, Host string }
		Dropped  int
	}
	getJSON(t, c, rs.url+"api/messages", &list)
	if msgs := list.Messages; len(msgs) != 1 || list.Dropped != 0 || msgs[0].Subject != "as swaks would" || msgs[0].Host != sandbox.DemoSmarthost {
		t.Fatalf("api/messages: %+v", list)
	}
	// The printed metrics URL serves the same network's counters.
	mu := regexp.MustCompile(`\nmetrics: (\S+) `).FindStringSubmatch(out)
	if mu == nil || mu[1] != rs.url+"metrics" {
		t.Fatalf("metrics line %q, want %smetrics:\n%s", mu, rs.url, out)
	}
	fams, err := scrape(c, mu[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := metricSum(fams, "mxsim_smtp_messages_accepted_total", "host", sandbox.DemoSmarthost); got != 1 {
		t.Errorf("mxsim_smtp_messages_accepted_total{host=%q} = %v, want 1", sandbox.DemoSmarthost, got)
	}
	tr.CloseIdleConnections()

	code, rest := rs.stop()
	if code != exitOK || !strings.Contains(rest, "stopped.") {
		t.Fatalf("exit %d, output after cancel %q, stderr %q", code, rest, rs.stderr.String())
	}
}

func TestSandboxScenarioWithRelay(t *testing.T) {
	rs := startSandbox(t, "../../testdata/scenarios/greylist-flush.yaml", "--listen", "127.0.0.1:0", "--relay", "reference")
	out := strings.Join(rs.head, "\n")
	for _, want := range []string{"network of scenario greylist-flush", "mx1.example.test", "greylist 2s", "(relay under test)", "through the relay under test"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	var info struct{ Relay *struct{ Addr string } }
	getJSON(t, &http.Client{Transport: tr}, rs.url+"api/info", &info)
	if info.Relay == nil || info.Relay.Addr == "" {
		t.Fatalf("api/info: no relay")
	}
	tr.CloseIdleConnections()
	if code, _ := rs.stop(); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, rs.stderr.String())
	}
}

// TestSandboxWithPostfix: the demo network with a real Postfix in front
// of it; a message submitted to Postfix reaches a simulated host and
// shows up in the API.
func TestSandboxWithPostfix(t *testing.T) {
	requireDockerCLI(t)
	rs := startSandbox(t, "--listen", "127.0.0.1:0", "--relay", "postfix")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var info struct{ Relay *struct{ Addr string } }
	getJSON(t, c, rs.url+"api/info", &info)
	if info.Relay == nil || info.Relay.Addr == "" {
		t.Fatalf("api/info: no relay\n%s", strings.Join(rs.head, "\n"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := harness.Submit(ctx, info.Relay.Addr, harness.Message{From: "alice@origin.test", To: []string{"bob@shop.example"}, Subject: "via postfix"}); err != nil {
		t.Fatalf("submit to Postfix: %v", err)
	}
	waitJSON(t, c, rs.url+"api/messages", "the message to reach a host", func(list struct{ Messages []struct{ To []string } }) bool {
		msgs := list.Messages
		return len(msgs) > 0 && len(msgs[len(msgs)-1].To) > 0 && msgs[len(msgs)-1].To[0] == "bob@shop.example"
	})
	tr.CloseIdleConnections()
	if code, _ := rs.stop(); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, rs.stderr.String())
	}
}

func TestSandboxBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"--relay", "sendmail", "--listen", "127.0.0.1:0"}, exitUsage, `--relay "sendmail": want reference, ` + strings.Join(containerKinds(), ", ")},
		{[]string{"--relay", "postfix", "--dns-port", "5353", "--listen", "127.0.0.1:0"}, exitUsage, "needs DNS on port 53"},
		{[]string{"--listen", "nope"}, exitUsage, "want host:port"},
		{[]string{"--listen", "127.0.0.1:0", "--token", "a"}, exitUsage, "--token: 1 characters, want at least 16"},
		{[]string{"--listen", "sandbox.example:0"}, exitUsage, "IP address or localhost"},
		{[]string{"--listen", "127.0.0.1:99999"}, exitUsage, "bad port"},
		{[]string{"--dns-port", "-1"}, exitUsage, "0..65535"},
		{[]string{"--max-events", "-1"}, exitUsage, "--max-events and --max-messages take 0"},
		{[]string{"--max-messages", "-5"}, exitUsage, "--max-events and --max-messages take 0"},
		{[]string{"--max-message-bytes", "12XB"}, exitUsage, "want a size in bytes"},
		{[]string{"--max-message-bytes", "-1"}, exitUsage, "want a size in bytes"},
		{[]string{"a.yaml", "b.yaml"}, exitUsage, `unexpected argument "b.yaml"`},
		{[]string{"--listen", "127.0.0.1:0", "no-such-file.yaml"}, exitFail, "no-such-file.yaml"},
		{[]string{"--listen", "127.0.0.1:0", "../../testdata/validate"}, exitFail, ""},
	} {
		var out, errb bytes.Buffer
		code := runSandbox(context.Background(), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("mxsim sandbox %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}

// TestSandboxLimits: the flags bound what the sandbox keeps, and the API
// says so.
func TestSandboxLimits(t *testing.T) {
	rs := startSandbox(t, "--listen", "127.0.0.1:0", "--max-events", "500", "--max-messages", "3", "--max-message-bytes", "1MiB")
	if out := strings.Join(rs.head, "\n"); !strings.Contains(out, "keeps: the last 500 journal events and the bytes of the last 3 messages, 1MiB at most") {
		t.Errorf("banner does not say what it keeps:\n%s", out)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var info struct {
		Limits struct {
			MaxEvents       int64 `json:"max_events"`
			MaxMessages     int64 `json:"max_messages"`
			MaxMessageBytes int64 `json:"max_message_bytes"`
		}
	}
	getJSON(t, c, rs.url+"api/info", &info)
	if l := info.Limits; l.MaxEvents != 500 || l.MaxMessages != 3 || l.MaxMessageBytes != 1<<20 {
		t.Errorf("api/info limits %+v, want 500, 3, 1 MiB", l)
	}
	var hosts []struct{ Name, Addr string }
	getJSON(t, c, rs.url+"api/hosts", &hosts)
	var mx1 string
	for _, h := range hosts {
		if h.Name == "mx1.example.test" {
			mx1 = h.Addr
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 5; i++ {
		if err := harness.Submit(ctx, mx1, harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}, Subject: "limits"}); err != nil {
			t.Fatalf("submit %d to %s: %v", i, mx1, err)
		}
	}
	type list struct {
		Messages []struct{ Seq int64 }
		Dropped  int
	}
	waitJSON(t, c, rs.url+"api/messages", "3 messages kept and 2 dropped", func(l list) bool {
		return len(l.Messages) == 3 && l.Dropped == 2
	})
	tr.CloseIdleConnections()
	if code, _ := rs.stop(); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, rs.stderr.String())
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "64KiB": 64 << 10, "128MiB": 128 << 20, "128 MB": 128 << 20, "2G": 2 << 30, "1000": 1000} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "-1", "1TiB", "9223372036854775807GiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, b)
		}
	}
	if s := byteSize(128 << 20).String(); s != "128MiB" {
		t.Errorf("String() = %q, want 128MiB", s)
	}
}
