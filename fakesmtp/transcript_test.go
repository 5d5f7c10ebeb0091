package fakesmtp

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/journal"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

var remoteRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)

func transcript(j *journal.Journal, session string) string {
	return remoteRE.ReplaceAllString(strings.Join(j.Transcript(session), "\n"), "CLIENT") + "\n"
}

func TestTranscriptGolden(t *testing.T) {
	h := newHost(t, Behavior{
		Relay:   &RelayPolicy{Accept: []string{"example.test"}},
		Replies: Replies{Rcpt: []Rule{{Match: "full@*", Reply: *mustReply(t, "452 4.2.2 mailbox full")}}},
	})
	c := dial(t, h)
	if err := c.Hello("relay.origin.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@origin.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("someone@elsewhere.test", nil); code(err) != 550 {
		t.Fatalf("relay refusal: %v", err)
	}
	if err := c.Rcpt("full@example.test", nil); code(err) != 452 {
		t.Fatalf("forced rcpt: %v", err)
	}
	if err := c.Rcpt("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(message("golden")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	waitDisconnects(t, h, 1)
	golden(t, "transcript.golden", transcript(h.Journal(), hostName+"#1"))
}
